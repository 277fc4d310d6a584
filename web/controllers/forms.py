"""Helpers shared by the controllers: reading forms and query values, the one way a form
refuses, redirects."""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request
from litestar.response import Redirect, Response

from core.errors import N_, DomainError, ValidationFailed
from web import flash
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
    """After a successful POST: a normal redirect, or HX-Redirect for htmx; what the action said
    (web/flash.py) goes along in a cookie, for the next page to show."""
    message = flash.said(request)
    cookies = [flash.cookie_for(request, message)] if message else []
    if is_htmx(request):
        return Response(content="", headers={"HX-Redirect": url}, status_code=200, cookies=cookies)
    return Redirect(url, status_code=303, cookies=cookies)


def confirmed(data: dict[str, Any]) -> bool:
    """Whether the user confirmed on the confirmation page (confirm_page) an action that cannot be undone."""
    return data.get("confirm") == "1"


def confirm_page(
    request: Request,
    *,
    title: str,
    summary: list[tuple[str, object]],
    data: dict[str, Any],
    button: str,
    back: str,
    password: bool = False,
    items: list[str] | None = None,
) -> Response:
    """The first step of an action that cannot be undone: what it will do (`summary`, label and
    value pairs, and `items`, e.g. the accounts it touches), and a form posting the same fields
    again, with confirm=1 and, where SPEC R-3 asks for it, the operation password (never sent back
    in the page). Nothing was changed."""
    fields = {k: v for k, v in data.items() if k not in ("confirm", "operation_password")}
    return render(
        request,
        "_confirm.html",
        title=title,
        summary=summary,
        items=items or [],
        fields=fields,
        action=request.url.path,
        button=button,
        back=back,
        password=password,
    )


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


def unreadable_days(request: Request, *days: str) -> None:
    """A filter's day that is not a date is not guessed at: the list is shown without it, and the
    page says so (web/flash.py)."""
    if any(day and parse_day(day) is None for day in days):
        flash.say(request, "date_not_understood")


def refuse_unreadable_days(**days: str) -> None:
    """The API's form of unreadable_days: a filter's day that is not a date is refused (400, naming
    the field), never guessed at or dropped."""
    errors = {name: N_("Enter a date as YYYY-MM-DD.") for name, day in days.items() if day and parse_day(day) is None}
    if errors:
        raise ValidationFailed(errors)


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
