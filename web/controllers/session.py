"""Login, logout, language choice and the health check."""

from __future__ import annotations

import os

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Response

from agency import sessions
from core.errors import LoginFailed
from web import i18n
from web.auth import (
    AUTHENTICATED,
    PUBLIC,
    SESSION_COOKIE,
    access,
    client_address,
    session_cookie_header,
)
from web.controllers.forms import form_data, redirect
from web.i18n import gettext as _
from web.rendering import render
from web.settings import Settings


def _safe_next(target: object) -> str:
    """Only local paths, so the login form cannot send anyone to another site."""
    if isinstance(target, str) and target.startswith("/") and not target.startswith("//") and len(target) < 200:
        return target
    return "/"


@get("/login", opt=access(PUBLIC), name="login")
async def login_page(request: Request, next: FromQuery[str] = "/") -> Response:
    return render(request, "login.html", next=_safe_next(next), error=None, username="")


@post("/login", opt=access(PUBLIC))
async def login(request: Request, settings: NamedDependency[Settings]) -> Response:
    data = await form_data(request)
    try:
        token, _actor = await sessions.log_in(
            data.get("username", ""),
            data.get("password", ""),
            address=client_address(request.scope),
            user_agent=request.headers.get("user-agent", ""),
            replaces=request.cookies.get(SESSION_COOKIE),
            policy=settings.session_policy(),
        )
    except LoginFailed as exc:
        return render(
            request,
            "login.html",
            status_code=401,
            next=_safe_next(data.get("next")),
            error=_(exc.message),
            username=str(data.get("username", ""))[:64],
        )
    response = redirect(request, _safe_next(data.get("next")))
    response.set_cookie(**session_cookie_header(settings, token))
    return response


@post("/logout", opt=access(AUTHENTICATED))
async def logout(request: Request, settings: NamedDependency[Settings]) -> Response:
    await sessions.log_out(request.user)
    response = redirect(request, "/login")
    response.set_cookie(**session_cookie_header(settings, None))
    return response


@post("/language", opt=access(PUBLIC))
async def choose_language(request: Request, settings: NamedDependency[Settings]) -> Response:
    data = await form_data(request)
    language = data.get("language")
    response = redirect(request, _safe_next(data.get("next")))
    if language in i18n.LANGUAGES:
        response.set_cookie(
            key=i18n.LANGUAGE_COOKIE,
            value=language,
            path="/",
            max_age=365 * 86400,
            samesite="lax",
            secure=settings.secure_cookies,
        )
    return response


@get("/healthz", opt=access(PUBLIC), media_type="application/json")
async def health() -> dict[str, object]:
    """Liveness, and which worker process answered (used by the multi-worker test)."""
    return {"status": "ok", "pid": os.getpid()}


ROUTES = [login_page, login, logout, choose_language, health]
