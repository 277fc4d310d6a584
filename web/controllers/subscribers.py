"""Subscriber pages for agents: the list and search, one account with its calls, and suspend,
resume, close and recharge on the subscriber's behalf."""

from __future__ import annotations

import uuid

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Response

from accounts import controls, sip, switch
from accounts import services as subscribers
from cards import services
from web import flash
from web.auth import access, client_address
from web.controllers.forms import confirm_page, confirmed, form_action, redirect
from web.controllers.paging import PER_PAGE, page_count
from web.formatting import airtime
from web.i18n import gettext as _
from web.rendering import render
from web.settings import Settings


@get("/subscribers", opt=access("view_cards"))
async def subscribers_page(
    request: Request, q: FromQuery[str] = "", status: FromQuery[str] = "", page: FromQuery[int] = 1
) -> Response:
    rows, total = await subscribers.list_subscribers(
        request.user, search=q[:20], status=status[:16], page=page, per_page=PER_PAGE
    )
    return render(
        request,
        "subscribers/list.html",
        partial="subscribers/_rows.html",
        rows=rows,
        total=total,
        page=page,
        pages=page_count(total),
        filters={"q": q[:20], "status": status[:16]},
    )


@get("/subscribers/{subscriber_id:int}", opt=access("view_cards"))
async def subscriber_page(request: Request, subscriber_id: FromPath[int]) -> Response:
    return render(request, "subscribers/detail.html", **await _detail_context(request, subscriber_id))


async def _detail_context(request: Request, subscriber_id: int) -> dict:
    row = await subscribers.get_subscriber(request.user, subscriber_id)
    return {
        "subscriber": row,
        "sip": await sip.sip_state(row["id"], request.app.state.settings.sip_realm),
        "calls": await switch.calls_of(row["id"]),
        "error": None,
        "errors": {},
        "values": {},
        "idempotency_key": uuid.uuid4().hex,
    }


async def _subscriber_action(request: Request, subscriber_id: int, action, message: str) -> Response:
    """Run `action` on the account, then back to its page saying `message` (web/flash.py) with
    the account's number and the action's figures."""

    async def done(result: dict) -> Response:
        if "confirm" in result:  # closing's first step: the confirmation page, nothing done yet
            return result["confirm"]
        number = result.get("account_number") or (await subscribers.get_subscriber(request.user, subscriber_id))[
            "account_number"
        ]
        figures = {k: result[k] for k in ("returned_seconds",) if k in result}
        if "minutes" in result:
            figures["minutes_seconds"] = result["minutes"] * 60
        flash.say(request, message, number=number, **figures)
        return redirect(request, f"/subscribers/{subscriber_id}")

    return await form_action(
        request,
        action,
        done=done,
        page="subscribers/detail.html",
        context=lambda data: _kept(request, subscriber_id, data),
    )


async def _kept(request: Request, subscriber_id: int, data: dict) -> dict:
    """The account's page after a refusal, keeping what was typed (never a PIN or a password)."""
    typed = {k: v for k, v in data.items() if k in ("reason", "serial")}
    return {**await _detail_context(request, subscriber_id), "values": typed}


@post("/subscribers/{subscriber_id:int}/suspend", opt=access("manage_subscribers"))
async def suspend_subscriber(request: Request, subscriber_id: FromPath[int]) -> Response:
    return await _subscriber_action(
        request,
        subscriber_id,
        lambda d: subscribers.suspend_subscriber(request.user, subscriber_id, d.get("reason")),
        "subscriber_suspended",
    )


@post("/subscribers/{subscriber_id:int}/resume", opt=access("manage_subscribers"))
async def resume_subscriber(request: Request, subscriber_id: FromPath[int]) -> Response:
    return await _subscriber_action(
        request,
        subscriber_id,
        lambda d: subscribers.resume_subscriber(request.user, subscriber_id, d.get("reason")),
        "subscriber_resumed",
    )


@post("/subscribers/{subscriber_id:int}/close", opt=access("manage_subscribers"))
async def close_subscriber(request: Request, subscriber_id: FromPath[int]) -> Response:
    """销户 cannot be undone: first the account, its balance going back and the reason, asking
    for the operation password; then, confirmed, the closing."""

    async def close(d: dict) -> dict:
        if not confirmed(d):
            row = await subscribers.preview_close(request.user, subscriber_id, d.get("reason"))
            return {"confirm": _confirm_close(request, row, d)}
        return await subscribers.close_subscriber(
            request.user,
            subscriber_id,
            d.get("reason"),
            operation_password=d.get("operation_password"),
            idempotency_key=d.get("idempotency_key"),
        )

    return await _subscriber_action(request, subscriber_id, close, "subscriber_closed")


def _confirm_close(request: Request, row: dict, data: dict) -> Response:
    return confirm_page(
        request,
        title=_("Close account %(number)s?") % {"number": row["account_number"]},
        summary=[
            (_("Account"), row["account_number"]),
            (_("Agent"), row["agent_name"]),
            (_("Minutes back to the stock"), airtime(row["balance_seconds"])),
            (_("Reason"), row["reason"]),
        ],
        data={"reason": row["reason"], "idempotency_key": data.get("idempotency_key", "")},
        button=_("Close the account"),
        back=f"/subscribers/{row['id']}",
        password=True,
    )


@post("/subscribers/{subscriber_id:int}/sip-password/reset", opt=access("manage_subscribers"))
async def reset_sip_password(
    request: Request, subscriber_id: FromPath[int], settings: NamedDependency[Settings]
) -> Response:
    """A new random SIP password for the account (accounts.sip.reset_sip_password), shown on the
    page this answers with, this once: it is neither stored nor put in a redirect's cookie, and
    the page is not cached."""

    def shown(result: dict) -> Response:
        response = render(request, "subscribers/sip_reset.html", reset=result)
        response.headers["Cache-Control"] = "no-store"
        return response

    return await form_action(
        request,
        lambda _data: sip.reset_sip_password(request.user, subscriber_id, realm=settings.sip_realm),
        done=shown,
        page="subscribers/detail.html",
        context=lambda data: _kept(request, subscriber_id, data),
    )


@post("/subscribers/{subscriber_id:int}/call-cap", opt=access("manage_subscribers"))
async def set_call_cap(request: Request, subscriber_id: FromPath[int]) -> Response:
    """How many calls the account may have at once (R-22a); empty: the operator's default."""
    return await _subscriber_action(
        request,
        subscriber_id,
        lambda d: controls.set_subscriber_cap(request.user, subscriber_id, d.get("call_cap")),
        "call_cap_saved",
    )


@post("/subscribers/{subscriber_id:int}/recharge", opt=access("sell_cards"))
async def recharge_subscriber(
    request: Request, subscriber_id: FromPath[int], settings: NamedDependency[Settings]
) -> Response:
    return await _subscriber_action(
        request,
        subscriber_id,
        lambda d: services.redeem_card(
            d.get("serial"),
            d.get("pin"),
            subscriber_id=subscriber_id,
            address=client_address(request.scope),
            card_key=settings.card_key,
            actor=request.user,
            idempotency_key=d.get("idempotency_key"),
        ),
        "subscriber_recharged",
    )


ROUTES = [
    subscribers_page,
    subscriber_page,
    suspend_subscriber,
    resume_subscriber,
    close_subscriber,
    reset_sip_password,
    set_call_cap,
    recharge_subscriber,
]
