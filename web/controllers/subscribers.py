"""Subscriber pages for agents: the list and search, one account with its calls, and suspend,
resume, close and recharge on the subscriber's behalf."""

from __future__ import annotations

import uuid

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Response

from accounts import services as subscribers
from accounts import switch
from cards import services
from web.auth import access, client_address
from web.controllers.forms import form_action, redirect
from web.controllers.paging import PER_PAGE, page_count
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
        "calls": await switch.calls_of(row["id"]),
        "error": None,
        "errors": {},
        "idempotency_key": uuid.uuid4().hex,
    }


async def _subscriber_action(request: Request, subscriber_id: int, action) -> Response:
    return await form_action(
        request,
        action,
        done=lambda _: redirect(request, f"/subscribers/{subscriber_id}"),
        page="subscribers/detail.html",
        context=lambda _: _detail_context(request, subscriber_id),
    )


@post("/subscribers/{subscriber_id:int}/suspend", opt=access("manage_subscribers"))
async def suspend_subscriber(request: Request, subscriber_id: FromPath[int]) -> Response:
    return await _subscriber_action(
        request, subscriber_id, lambda d: subscribers.suspend_subscriber(request.user, subscriber_id, d.get("reason"))
    )


@post("/subscribers/{subscriber_id:int}/resume", opt=access("manage_subscribers"))
async def resume_subscriber(request: Request, subscriber_id: FromPath[int]) -> Response:
    return await _subscriber_action(
        request, subscriber_id, lambda d: subscribers.resume_subscriber(request.user, subscriber_id, d.get("reason"))
    )


@post("/subscribers/{subscriber_id:int}/close", opt=access("manage_subscribers"))
async def close_subscriber(request: Request, subscriber_id: FromPath[int]) -> Response:
    return await _subscriber_action(
        request,
        subscriber_id,
        lambda d: subscribers.close_subscriber(
            request.user,
            subscriber_id,
            d.get("reason"),
            operation_password=d.get("operation_password"),
            idempotency_key=d.get("idempotency_key"),
        ),
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
    )


ROUTES = [
    subscribers_page,
    subscriber_page,
    suspend_subscriber,
    resume_subscriber,
    close_subscriber,
    recharge_subscriber,
]
