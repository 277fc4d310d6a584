"""Login, logout and language choice."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Response

from agency import sessions, twofactor
from core.errors import LoginFailed
from web import flash, i18n
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
    if (
        isinstance(target, str)
        and target.startswith("/")
        and not target.startswith(("//", "/\\"))
        and len(target) < 1000
    ):
        return target
    return "/"


@get("/login", opt=access(PUBLIC), name="login")
async def login_page(request: Request, next: FromQuery[str] = "/") -> Response:
    return render(request, "login.html", next=_safe_next(next), error=None, username="")


PENDING_COOKIE = "vs_pending"  # a right password waiting for its second factor (sessions.PENDING_LOGIN)
DEVICE_COOKIE = "vs_device"  # a browser remembered for 30 days: no second factor asked (twofactor)


def _login_cookie(settings: Settings, key: str, value: str | None, max_age: int) -> dict:
    """The pending-login and remembered-browser cookies: HttpOnly, and only sent to /login."""
    return dict(
        key=key,
        value=value or "",
        path="/login",
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        max_age=max_age if value else 0,
    )


@post("/login", opt=access(PUBLIC))
async def login(request: Request, settings: NamedDependency[Settings]) -> Response:
    """Both steps of a login: the password (`username`, `password`), then, for a user with
    two-factor login, a code (`code`, `remember`) for the pending login the first step began."""
    data = await form_data(request)
    next_url = _safe_next(data.get("next"))
    second_step = "code" in data
    where = dict(
        address=client_address(request.scope),
        user_agent=request.headers.get("user-agent", ""),
        replaces=request.cookies.get(SESSION_COOKIE),
        policy=settings.session_policy(),
    )
    device = None
    try:
        if second_step:
            token, _actor, device = await sessions.complete_login(
                request.cookies.get(PENDING_COOKIE), data.get("code"), remember=data.get("remember") == "1", **where
            )
        else:
            token, _actor = await sessions.log_in(
                data.get("username", ""), data.get("password", ""), device=request.cookies.get(DEVICE_COOKIE), **where
            )
    except sessions.SecondFactorNeeded as step:
        response = render(request, "login_code.html", next=next_url, error=None)
        max_age = int(sessions.PENDING_LOGIN.total_seconds())
        response.set_cookie(**_login_cookie(settings, PENDING_COOKIE, step.pending, max_age))
        return response
    except LoginFailed as exc:
        if second_step and not isinstance(exc, sessions.LoginExpired):
            return render(request, "login_code.html", status_code=401, next=next_url, error=_(exc.message))
        return render(
            request,
            "login.html",
            status_code=401,
            next=next_url,
            error=_(exc.message),
            username=str(data.get("username", ""))[:64],
        )
    response = redirect(request, next_url)  # a user who must set up two-factor login is sent there (web.auth)
    response.set_cookie(**session_cookie_header(settings, token))
    if second_step:
        response.set_cookie(**_login_cookie(settings, PENDING_COOKIE, None, 0))
    if device:
        response.set_cookie(**_login_cookie(settings, DEVICE_COOKIE, device, twofactor.DEVICE_DAYS * 86400))
    return response


@post("/logout", opt=access(AUTHENTICATED, before_two_factor=True))
async def logout(request: Request, settings: NamedDependency[Settings]) -> Response:
    await sessions.log_out(request.user)
    flash.say(request, "logged_out")
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


ROUTES = [login_page, login, logout, choose_language]
