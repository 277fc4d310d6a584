"""Jinja environment with gettext, and page rendering: full page or, for htmx, the partial."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request
from litestar.response import Template

from agency.roles import ROLE_LABELS
from web import i18n
from web.formatting import airtime, datetime_local, money

TEMPLATE_DIR = Path(__file__).parent / "templates"


def build_environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(languages=i18n.LANGUAGES, role_labels=ROLE_LABELS, current_language=i18n.current_language)
    env.filters.update(dt=datetime_local, money=money, airtime=airtime)
    return env


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-history-restore-request") != "true"


def render(
    request: Request, template: str, *, status_code: int = 200, partial: str | None = None, **context: Any
) -> Template:
    """The full page, or only `partial` when htmx asks for a fragment."""
    name = partial if partial and is_htmx(request) else template
    return Template(
        template_name=name,
        context={
            "actor": request.scope.get("user"),
            "portal_user": request.scope.get("subscriber"),
            "csrf_token": request.scope.get("csrf_token", ""),
            # Where the language switch comes back to: the page with its query (filters, period).
            "request_path": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            **context,
        },
        status_code=status_code,
    )
