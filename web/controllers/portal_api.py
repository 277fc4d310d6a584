"""JSON API v1 for subscribers (the portal's twin): balance, calls and recharge, with the
portal's session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody

from accounts import portal, switch
from cards.services import redeem_card
from web.auth import SUBSCRIBER, access, client_address
from web.settings import Settings


@dataclass
class RechargeIn:
    serial: str
    pin: str


@get("/api/v1/portal/balance", opt=access(SUBSCRIBER))
async def api_balance(request: Request) -> dict[str, Any]:
    """The subscriber's balance (seconds and minutes), status and days to expiry."""
    me = await portal.overview(request.scope["subscriber"]["id"])
    return {
        "account_number": me["account_number"],
        "status": me["status"],
        "balance_seconds": me["balance_seconds"],
        "balance_minutes": me["balance_seconds"] // 60,
        "days_left": me["days_left"],
    }


@get("/api/v1/portal/calls", opt=access(SUBSCRIBER))
async def api_calls(request: Request, limit: FromQuery[int] = 50) -> list[dict[str, Any]]:
    """The subscriber's latest rated calls (at most 200), newest first; seconds of airtime."""
    return await switch.calls_of(request.scope["subscriber"]["id"], limit=limit)


@post("/api/v1/portal/recharge", opt=access(SUBSCRIBER), status_code=200)
async def api_recharge(request: Request, data: JSONBody[RechargeIn], settings: NamedDependency[Settings]) -> dict:
    """Redeem a recharge card (serial + PIN); one generic error whatever went wrong."""
    return await redeem_card(
        data.serial,
        data.pin,
        subscriber_id=request.scope["subscriber"]["id"],
        address=client_address(request.scope),
        card_key=settings.card_key,
    )


ROUTES = [api_balance, api_calls, api_recharge]
