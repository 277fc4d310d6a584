"""The subscriber portal (R-19), phone first: log in with account number and password, replace
the initial password, see balance and days to expiry, recharge with a card, see the history."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Response

from accounts import portal, sip, switch
from cards.services import authenticate_subscriber, redeem_card
from core.errors import LoginFailed, ValidationFailed
from web import flash
from web.auth import (
    PUBLIC,
    SUBSCRIBER,
    SUBSCRIBER_ANY,
    SUBSCRIBER_COOKIE,
    access,
    client_address,
    session_cookie_header,
)
from web.charts import Line, line_chart
from web.controllers.forms import form_data, redirect, refusal
from web.controllers.paging import PER_PAGE, page_count
from web.errors import FORM_REFUSALS
from web.formatting import number
from web.i18n import gettext as _
from web.rendering import render
from web.settings import Settings


@get("/portal/login", opt=access(PUBLIC))
async def login_page(request: Request, account_number: FromQuery[str] = "") -> Response:
    """`account_number` comes filled in from the QR code of an e-card (cards.sheets)."""
    number = account_number if account_number.isascii() and account_number.isdigit() else ""
    return render(request, "portal/login.html", error=None, account_number=number[:20])


@post("/portal/login", opt=access(PUBLIC))
async def login(request: Request, settings: NamedDependency[Settings]) -> Response:
    data = await form_data(request)
    try:
        subscriber = await authenticate_subscriber(
            data.get("account_number"),
            data.get("password"),
            address=client_address(request.scope),
            card_key=settings.card_key,
        )
    except LoginFailed as exc:
        return render(
            request,
            "portal/login.html",
            status_code=401,
            error=_(exc.message),
            account_number=str(data.get("account_number", ""))[:20],
        )
    token = await portal.open_session(
        subscriber["id"], settings.session_policy(), replaces=request.cookies.get(SUBSCRIBER_COOKIE)
    )
    response = redirect(request, "/portal/password" if subscriber["must_change_password"] else "/portal")
    response.set_cookie(**session_cookie_header(settings, token, SUBSCRIBER_COOKIE))
    return response


@post("/portal/logout", opt=access(SUBSCRIBER_ANY))
async def logout(request: Request, settings: NamedDependency[Settings]) -> Response:
    await portal.close_session(request.scope["subscriber"]["session_id"])
    flash.say(request, "logged_out")
    response = redirect(request, "/portal/login")
    response.set_cookie(**session_cookie_header(settings, None, SUBSCRIBER_COOKIE))
    return response


@get("/portal/password", opt=access(SUBSCRIBER_ANY))
async def password_page(request: Request) -> Response:
    return render(request, "portal/password.html", errors={})


@post("/portal/password", opt=access(SUBSCRIBER_ANY))
async def change_password(request: Request) -> Response:
    """The current password, then the new one twice; the first change, from the initial password
    printed on the e-card, does not ask for the current one (accounts.portal.change_password)."""
    data = await form_data(request)
    me = request.scope["subscriber"]
    if data.get("new_password") != data.get("repeat_password"):
        return render(
            request, "portal/password.html", status_code=400, errors={"repeat_password": _("The two passwords differ.")}
        )
    try:
        await portal.change_password(
            me["id"], data.get("current_password"), data.get("new_password"), address=client_address(request.scope)
        )
    except ValidationFailed as exc:
        return refusal(request, "portal/password.html", exc)
    await portal.end_other_sessions(me["id"], keep=me["session_id"])
    flash.say(request, "portal_password_changed")
    return redirect(request, "/portal")


@get("/portal/sip", opt=access(SUBSCRIBER))
async def sip_page(request: Request, settings: NamedDependency[Settings]) -> Response:
    """What a phone needs to register (SIP username, realm), whether a SIP password is set, and
    the form that sets it."""
    state = await sip.sip_state(request.scope["subscriber"]["id"], settings.sip_realm)
    return render(request, "portal/sip.html", sip=state, errors={}, error=None)


@post("/portal/sip", opt=access(SUBSCRIBER))
async def set_sip_password(request: Request, settings: NamedDependency[Settings]) -> Response:
    """The SIP password twice and the current portal password (accounts.sip.set_sip_password)."""
    data = await form_data(request)
    me = request.scope["subscriber"]
    if data.get("sip_password") != data.get("repeat_sip_password"):
        state = await sip.sip_state(me["id"], settings.sip_realm)
        errors = {"repeat_sip_password": _("The two passwords differ.")}
        return render(request, "portal/sip.html", status_code=400, sip=state, errors=errors, error=None)
    try:
        await sip.set_sip_password(
            me["id"],
            data.get("current_password"),
            data.get("sip_password"),
            realm=settings.sip_realm,
            address=client_address(request.scope),
        )
    except FORM_REFUSALS as exc:
        state = await sip.sip_state(me["id"], settings.sip_realm)
        return refusal(request, "portal/sip.html", exc, sip=state, errors={}, error=None)
    flash.say(request, "sip_password_set")
    return redirect(request, "/portal/sip")


async def _home_context(subscriber_id: int) -> dict[str, Any]:
    rows, total = await portal.history(subscriber_id, per_page=10)
    usage = await portal.daily_usage(subscriber_id)
    return {
        "me": await portal.overview(subscriber_id),
        "usage": usage,
        "usage_chart": line_chart(
            _("Minutes used, the last 30 days"),
            [day["day"][5:] for day in usage],
            [Line(_("Minutes used"), [day["used_seconds"] // 60 for day in usage])],
        ),
        "history": rows,
        "calls": await switch.calls_of(subscriber_id),
        "message": None,
        "error": None,
        "errors": {},
        "idempotency_key": uuid.uuid4().hex,
    }


@get("/portal", opt=access(SUBSCRIBER))
async def home(request: Request) -> Response:
    return render(request, "portal/home.html", **await _home_context(request.scope["subscriber"]["id"]))


@post("/portal/recharge", opt=access(SUBSCRIBER))
async def recharge(request: Request, settings: NamedDependency[Settings]) -> Response:
    data = await form_data(request)
    me = request.scope["subscriber"]
    try:
        result = await redeem_card(
            data.get("serial"),
            data.get("pin"),
            subscriber_id=me["id"],
            address=client_address(request.scope),
            card_key=settings.card_key,
            idempotency_key=data.get("idempotency_key"),
        )
    except FORM_REFUSALS as exc:
        return refusal(request, "portal/home.html", exc, **await _home_context(me["id"]))
    context = await _home_context(me["id"])
    context["message"] = _("Recharged %(n)s minutes.") % {"n": number(result["minutes"])}
    return render(request, "portal/home.html", **context)


@get("/portal/history", opt=access(SUBSCRIBER))
async def history(request: Request, page: FromQuery[int] = 1) -> Response:
    rows, total = await portal.history(request.scope["subscriber"]["id"], page=page, per_page=PER_PAGE)
    return render(request, "portal/history.html", history=rows, total=total, page=page, pages=page_count(total))


ROUTES = [
    login_page,
    login,
    logout,
    password_page,
    change_password,
    sip_page,
    set_sip_password,
    home,
    recharge,
    history,
]
