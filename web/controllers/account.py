"""My account: password, operation password, sessions, API tokens; and the dashboard."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Response

from agency import agents, sessions, users
from core.errors import N_
from money import prices, wallets
from web.auth import AUTHENTICATED, access
from web.controllers.forms import form_action, redirect
from web.i18n import gettext as _
from web.rendering import render


@get("/", opt=access(AUTHENTICATED), name="dashboard")
async def dashboard(request: Request) -> Response:
    actor = request.user
    agent = await agents.get_agent(actor, actor.agent_id) if actor.agent_id else None
    _rows, subtree = await agents.list_agents(actor, per_page=1)
    money = await wallets.money_summary(actor, agent["id"]) if agent and actor.can("view_money") else None
    return render(
        request,
        "dashboard.html",
        agent=agent,
        money=money,
        subtree_count=subtree - (1 if agent else 0),
        below_cost_from=await prices.below_cost_from(agent) if agent else None,
        has_operation_password=await users.has_operation_password(actor),
    )


async def _account_context(request: Request) -> dict:
    actor = request.user
    return dict(
        sessions=await sessions.list_sessions(actor),
        tokens=await sessions.list_api_tokens(actor),
        has_operation_password=await users.has_operation_password(actor),
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
        lambda d: sessions.create_api_token(request.user, d.get("name")),
        N_("The API token was created. Copy it now: it is shown only once."),
    )


@post("/account/tokens/{token_id:int}/revoke", opt=access(AUTHENTICATED))
async def revoke_token(request: Request, token_id: FromPath[int]) -> Response:
    await sessions.revoke_api_token(request.user, token_id)
    return redirect(request, "/account")


ROUTES = [
    dashboard,
    account,
    change_password,
    set_operation_password,
    revoke_other_sessions,
    create_token,
    revoke_token,
]
