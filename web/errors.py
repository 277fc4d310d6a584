"""One place that turns errors into responses in the user's language: JSON under /api/, an
HTML page elsewhere. Nothing a client sends should reach the 500 handler."""

from __future__ import annotations

import logging
from typing import Annotated

import msgspec
from litestar import Litestar, MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import Redirect
from litestar.routes import HTTPRoute

from cards.errors import RedemptionFailed
from core.errors import (
    N_,
    Conflict,
    DomainError,
    Forbidden,
    LoginFailed,
    NotFound,
    OperationPasswordRejected,
    ValidationFailed,
)
from web.auth import CsrfRejected, PasswordChangeRequired
from web.i18n import gettext as _
from web.rendering import render

log = logging.getLogger("voipagency")

STATUS_OF = {
    NotFound: 404,
    Forbidden: 403,
    Conflict: 409,
    LoginFailed: 401,
    OperationPasswordRejected: 403,
    ValidationFailed: 400,
}
# Refusals a form shows on its own page (web.controllers.forms.refusal); the others (not found,
# forbidden) get the error page. Any other domain error is bad input (400), a failed redemption too.
FORM_REFUSALS = (ValidationFailed, Conflict, OperationPasswordRejected, RedemptionFailed)
MESSAGE_OF_STATUS = {
    400: N_("The request is not valid."),
    401: N_("Please log in."),
    403: N_("You are not allowed to do that."),
    404: N_("Not found, or not yours to see."),
    405: N_("This address does not accept that kind of request."),
    409: N_("That conflicts with the current state."),
    413: N_("The request is too large."),
    415: N_("This kind of content is not accepted here."),
    429: N_("Too many requests; try again later."),
    500: N_("Something went wrong on our side. The error was logged."),
}
CSRF_MESSAGE = N_("This form has expired or did not come from this site. Reload the page and try again.")


class ErrorBody(msgspec.Struct):
    """The body of every error answer of the JSON API."""

    error: Annotated[str, msgspec.Meta(description="What went wrong, in the user's language.")]
    errors: (
        Annotated[
            dict[str, str],
            msgspec.Meta(description="Bad input: a message per field, in the user's language."),
        ]
        | msgspec.UnsetType
    ) = msgspec.UNSET


API_PATH = "/api/"
# The OpenAPI document's description of the API's error answers (describe_api_errors).
ERROR_RESPONSES = {
    status: ResponseSpec(data_container=ErrorBody, description=MESSAGE_OF_STATUS[status])
    for status in (400, 401, 403, 404, 409)
}


def describe_api_errors(app: Litestar) -> None:
    """Documents ErrorBody as the 400/401/403/404/409 answer of every API route, in place of
    Litestar's own validation error body, which this app never sends. Call it once, on the new
    app, before the OpenAPI document is first built."""
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path.startswith(API_PATH):
            for handler in route.route_handlers:
                handler.responses = {**ERROR_RESPONSES, **(handler.responses or {})}


def wants_json(request: Request) -> bool:
    return request.url.path.startswith(API_PATH) or request.url.path == "/schema"


def _respond(request: Request, status: int, message: str, errors: dict[str, str] | None = None) -> Response:
    if wants_json(request):
        body = ErrorBody(error=message, errors=errors) if errors else ErrorBody(error=message)
        return Response(body, status_code=status, media_type=MediaType.JSON)
    return render(request, "error.html", status_code=status, message=message, errors=errors or {})


def translated(message: str, params: dict) -> str:
    return _(message) % params if params else _(message)


def field_errors(exc: ValidationFailed) -> dict[str, str]:
    return {field: translated(message, exc.params) for field, message in exc.errors.items()}


def error_text(exc: DomainError) -> str:
    """A refusal in one line of the user's language: bad input's field messages, else the error's."""
    if isinstance(exc, ValidationFailed):
        return " ".join(field_errors(exc).values())
    return translated(exc.message, exc.params)


def status_of(exc: DomainError) -> int:
    """The one status of a domain error, on a page as in the API."""
    return next((code for cls, code in STATUS_OF.items() if isinstance(exc, cls)), 400)


def domain_error(request: Request, exc: DomainError) -> Response:
    status = status_of(exc)
    message = translated(exc.message, exc.params)
    errors = field_errors(exc) if isinstance(exc, ValidationFailed) else None
    return _respond(request, status, message, errors)


def csrf_error(request: Request, exc: CsrfRejected) -> Response:
    return _respond(request, 403, _(CSRF_MESSAGE))


def not_authorized(request: Request, exc: NotAuthorizedException) -> Response:
    if wants_json(request):
        return _respond(request, 401, _(MESSAGE_OF_STATUS[401]))
    if request.url.path.startswith("/portal"):
        return Redirect("/portal/login")
    return Redirect(f"/login?next={request.url.path}")


def password_change_required(request: Request, exc: PasswordChangeRequired) -> Response:
    if wants_json(request):
        return _respond(request, 403, _(N_("Replace your initial password first.")))
    return Redirect("/portal/password")


def http_error(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    if status >= 500:
        log.error("HTTP %s on %s %s: %s", status, request.method, request.url.path, exc.detail)
    message = _(MESSAGE_OF_STATUS.get(status, MESSAGE_OF_STATUS[400 if status < 500 else 500]))
    errors = None
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list):
        errors = {
            str(e.get("key") or e.get("source") or "body"): _(N_("The value is missing or of the wrong type."))
            for e in exc.extra
            if isinstance(e, dict)
        }
    return _respond(request, status, message, errors)


def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _respond(request, 500, _(MESSAGE_OF_STATUS[500]))


EXCEPTION_HANDLERS = {
    DomainError: domain_error,
    CsrfRejected: csrf_error,
    PasswordChangeRequired: password_change_required,
    NotAuthorizedException: not_authorized,
    HTTPException: http_error,
    Exception: server_error,
}
