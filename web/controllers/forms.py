"""Helpers shared by the HTML controllers: reading forms, form errors, redirects."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.response import Redirect, Response

from agency.errors import ValidationFailed
from web.auth import CSRF_FIELD
from web.errors import field_errors
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


def form_errors(
    request: Request, template: str, exc: ValidationFailed, *, partial: str | None = None, **context: Any
) -> Response:
    """Re-render the form with the messages next to their fields; nothing was changed."""
    return render(request, template, status_code=400, partial=partial, errors=field_errors(exc), **context)


def to_int(value: object) -> int | None:
    try:
        return int(str(value)) if value not in (None, "") else None
    except ValueError:
        return None
