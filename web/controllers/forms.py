"""Helpers shared by the controllers: reading forms and query values, the one way a form
refuses, redirects."""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request
from litestar.response import Redirect, Response

from core.errors import DomainError, ValidationFailed
from web.auth import CSRF_FIELD
from web.errors import FORM_REFUSALS, error_text, field_errors, status_of
from web.rendering import is_htmx, render


async def form_data(request: Request) -> dict[str, Any]:
    """The posted form as a plain dict of strings, without the CSRF field."""
    form = await request.form()
    return {k: v for k, v in form.items() if k != CSRF_FIELD and isinstance(v, str)}


async def uploaded_file(request: Request, field: str) -> tuple[str, bytes] | None:
    """The file posted in `field` of a multipart form as (name, content), or None."""
    upload = (await request.form()).get(field)
    if upload is None or isinstance(upload, str) or not upload.filename:
        return None
    return upload.filename, await upload.read()


def redirect(request: Request, url: str) -> Response:
    """After a successful POST: a normal redirect, or HX-Redirect for htmx."""
    if is_htmx(request):
        return Response(content="", headers={"HX-Redirect": url}, status_code=200)
    return Redirect(url, status_code=303)


def refusal(
    request: Request, template: str, exc: DomainError, *, partial: str | None = None, **context: Any
) -> Response:
    """The form's page again, refusing, under the status the error has everywhere (web.errors):
    bad input beside its fields (`errors`, in place of any the context holds), any other refusal
    in one line (`error`). Nothing was changed."""
    if isinstance(exc, ValidationFailed):
        context = {**context, "errors": field_errors(exc)}
    else:
        context = {**context, "error": error_text(exc)}
    return render(request, template, status_code=status_of(exc), partial=partial, **context)


async def form_action(
    request: Request,
    action: Callable[[dict[str, Any]], Awaitable[Any]],
    *,
    done: Callable[[Any], Response | Awaitable[Response]],
    page: str,
    context: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]],
) -> Response:
    """Run a form's use case on the posted fields: `done(result)` answers when it succeeded; a
    refusal (FORM_REFUSALS) shows `page` again with `context(posted fields)`."""
    data = await form_data(request)
    try:
        result = await action(data)
    except FORM_REFUSALS as exc:
        return refusal(request, page, exc, **await context(data))
    answer = done(result)
    return await answer if inspect.isawaitable(answer) else answer


def parse_day(value: str) -> dt.datetime | None:
    """An ISO date from a query as midnight UTC, or None when empty or malformed."""
    try:
        return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(0), tzinfo=dt.timezone.utc) if value else None
    except ValueError:
        return None


def period(since: str, until: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """[since, until) from two ISO days of a filter form; the `until` day itself is included."""
    until_day = parse_day(until)
    return parse_day(since), until_day + dt.timedelta(days=1) if until_day else None


def query_id(text: str, digits: int = 9) -> int | None:
    """A positive id typed into a filter (ASCII digits, at most `digits` of them), else None."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= digits else None


def to_int(value: object) -> int | None:
    try:
        return int(str(value)) if value not in (None, "") else None
    except ValueError:
        return None
