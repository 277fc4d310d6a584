"""My account: password, operation password, sessions, API tokens, two-factor login."""

from __future__ import annotations

import segno
from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Response

from agency import sessions, twofactor, users
from core.errors import N_
from web import flash
from web.auth import AUTHENTICATED, TWO_FACTOR_SETUP_PATH, access
from web.controllers.forms import form_action, redirect
from web.i18n import gettext as _
from web.rendering import render


async def _account_context(request: Request) -> dict:
    actor = request.user
    return dict(
        sessions=await sessions.list_sessions(actor),
        tokens=await sessions.list_api_tokens(actor),
        has_operation_password=await users.has_operation_password(actor),
        two_factor=await twofactor.is_enabled(actor.user_id),
        token_days=sessions.API_TOKEN_DAYS,
        token_max_days=sessions.API_TOKEN_MAX_DAYS,
        errors={},
        message=None,
        new_token=None,
    )


@get("/account", opt=access(AUTHENTICATED))
async def account(request: Request) -> Response:
    return render(request, "account.html", **await _account_context(request))


async def _account_action(request: Request, action, message: str) -> Response:
    async def done(result) -> Response:
        context = {**await _account_context(request), "message": _(message)}
        if isinstance(result, str):
            context["new_token"] = result
        return render(request, "account.html", **context)

    return await form_action(
        request, action, done=done, page="account.html", context=lambda _: _account_context(request)
    )


@post("/account/password", opt=access(AUTHENTICATED))
async def change_password(request: Request) -> Response:
    return await _account_action(
        request,
        lambda d: users.change_own_password(request.user, d.get("current_password"), d.get("new_password")),
        N_("Your password was changed; your other sessions were logged out."),
    )


@post("/account/operation-password", opt=access(AUTHENTICATED))
async def set_operation_password(request: Request) -> Response:
    return await _account_action(
        request,
        lambda d: users.set_operation_password(request.user, d.get("login_password"), d.get("operation_password")),
        N_("Your operation password was saved."),
    )


@post("/account/sessions/revoke-others", opt=access(AUTHENTICATED))
async def revoke_other_sessions(request: Request) -> Response:
    return await _account_action(
        request, lambda d: sessions.revoke_other_sessions(request.user), N_("Your other sessions were logged out.")
    )


@post("/account/tokens", opt=access(AUTHENTICATED))
async def create_token(request: Request) -> Response:
    return await _account_action(
        request,
        lambda d: sessions.create_api_token(request.user, d.get("name"), d.get("days") or sessions.API_TOKEN_DAYS),
        N_("The API token was created. Copy it now: it is shown only once."),
    )


@post("/account/tokens/{token_id:int}/revoke", opt=access(AUTHENTICATED))
async def revoke_token(request: Request, token_id: FromPath[int]) -> Response:
    await sessions.revoke_api_token(request.user, token_id)
    flash.say(request, "token_revoked")
    return redirect(request, "/account")


# Two-factor login: open to a session that must still set it up (web.auth.BEFORE_TWO_FACTOR).
SETUP = access(AUTHENTICATED, before_two_factor=True)


async def _two_factor_context(request: Request) -> dict:
    status = await twofactor.status(request.user)
    enrolment = status["enrolment"]
    return dict(
        status=status,
        qr_code=segno.make(enrolment.uri, error="m").svg_data_uri(scale=5, border=2) if enrolment else "",
        setup_pending=bool(request.scope.get("two_factor_setup")),
        recovery_codes=None,
        errors={},
        message=None,
    )


@get(TWO_FACTOR_SETUP_PATH, opt=SETUP)
async def two_factor(request: Request) -> Response:
    return render(request, "two_factor.html", **await _two_factor_context(request))


async def _two_factor_action(request: Request, action, message: str) -> Response:
    async def done(result) -> Response:
        context = await _two_factor_context(request)
        if isinstance(result, list):
            context["recovery_codes"] = result
        # Set up just now: no longer pending (the middleware looked before the change).
        context["setup_pending"] = context["setup_pending"] and not context["status"]["enabled"]
        return render(request, "two_factor.html", **{**context, "message": _(message)})

    return await form_action(
        request, action, done=done, page="two_factor.html", context=lambda _: _two_factor_context(request)
    )


@post(TWO_FACTOR_SETUP_PATH + "/start", opt=SETUP)
async def start_two_factor(request: Request) -> Response:
    return await _two_factor_action(
        request,
        lambda d: twofactor.start_enrolment(request.user),
        N_("Scan the code with your authenticator app, then enter the code it shows."),
    )


@post(TWO_FACTOR_SETUP_PATH + "/confirm", opt=SETUP)
async def confirm_two_factor(request: Request) -> Response:
    return await _two_factor_action(
        request,
        lambda d: twofactor.confirm_enrolment(request.user, d.get("code")),
        N_("Two-factor login is on."),
    )


@post(TWO_FACTOR_SETUP_PATH + "/disable", opt=SETUP)
async def disable_two_factor(request: Request) -> Response:
    return await _two_factor_action(
        request,
        lambda d: twofactor.disable(request.user, d.get("password"), d.get("code")),
        N_("Two-factor login is off."),
    )


ROUTES = [
    account,
    change_password,
    set_operation_password,
    revoke_other_sessions,
    create_token,
    revoke_token,
    two_factor,
    start_two_factor,
    confirm_two_factor,
    disable_two_factor,
]
