"""JSON API v1 for subscribers (the portal's twin): balance, calls, recharge and the SIP phone's
settings, with the portal's session."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody

from accounts import portal, sip, switch
from cards.services import redeem_card
from web.auth import SUBSCRIBER, access, client_address
from web.controllers.answers import answer, answers
from web.controllers.cards_api import RechargeAnswer
from web.controllers.subscribers_api import CallOut, SipStateOut
from web.settings import Settings


@dataclass
class RechargeIn:
    serial: str
    pin: str
    idempotency_key: str


@dataclass
class SipPasswordIn:
    sip_password: str
    current_password: str


class BalanceOut(msgspec.Struct):
    """The subscriber's balance in seconds and whole minutes, status, and days to expiry (null: none)."""

    account_number: str
    status: str
    balance_seconds: int
    balance_minutes: int
    days_left: int | None


@get("/api/v1/portal/balance", opt=access(SUBSCRIBER))
async def api_balance(request: Request) -> BalanceOut:
    """The subscriber's balance (seconds and minutes), status and days to expiry."""
    me = await portal.overview(request.scope["subscriber"]["id"])
    return answer(BalanceOut, {**me, "balance_minutes": me["balance_seconds"] // 60})


@get("/api/v1/portal/calls", opt=access(SUBSCRIBER))
async def api_calls(request: Request, limit: FromQuery[int] = 50) -> list[CallOut]:
    """The subscriber's latest rated calls (at most 200), newest first; seconds of airtime."""
    return answers(CallOut, await switch.calls_of(request.scope["subscriber"]["id"], limit=limit))


@post("/api/v1/portal/recharge", opt=access(SUBSCRIBER), status_code=200)
async def api_recharge(
    request: Request, data: JSONBody[RechargeIn], settings: NamedDependency[Settings]
) -> RechargeAnswer:
    """Redeem a recharge card (serial + PIN); one generic error whatever went wrong. Idempotent
    by `idempotency_key`: a retry gets the first answer."""
    redeemed = await redeem_card(
        data.serial,
        data.pin,
        subscriber_id=request.scope["subscriber"]["id"],
        address=client_address(request.scope),
        card_key=settings.card_key,
        idempotency_key=data.idempotency_key,
    )
    return answer(RechargeAnswer, redeemed)


@get("/api/v1/portal/sip", opt=access(SUBSCRIBER))
async def api_sip(request: Request, settings: NamedDependency[Settings]) -> SipStateOut:
    """The SIP phone's settings: username (the account number) and realm, and whether a SIP
    password is set."""
    return answer(SipStateOut, await sip.sip_state(request.scope["subscriber"]["id"], settings.sip_realm))


@post("/api/v1/portal/sip", opt=access(SUBSCRIBER), status_code=200)
async def api_set_sip(
    request: Request, data: JSONBody[SipPasswordIn], settings: NamedDependency[Settings]
) -> SipStateOut:
    """Sets the SIP password (8 to 64 printable ASCII characters, no spaces), confirmed by the
    current portal password (checked and throttled as at the login)."""
    state = await sip.set_sip_password(
        request.scope["subscriber"]["id"],
        data.current_password,
        data.sip_password,
        realm=settings.sip_realm,
        address=client_address(request.scope),
    )
    return answer(SipStateOut, state)


ROUTES = [api_balance, api_calls, api_recharge, api_sip, api_set_sip]
