"""JSON API v1 for subscriber accounts, as agents see them: the list, one account and its calls,
suspend, resume, close and recharge on the subscriber's behalf, and a reset of its SIP password."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from accounts import services as subscribers
from accounts import sip, switch
from cards import services
from web.auth import access, client_address
from web.controllers.answers import Page, answer, answers, page_of
from web.controllers.cards_api import RechargeAnswer
from web.settings import Settings


@dataclass
class ReasonIn:
    reason: str
    operation_password: str = ""


@dataclass
class CloseIn:
    reason: str
    operation_password: str
    idempotency_key: str


@dataclass
class RechargeOnBehalfIn:
    serial: str
    pin: str
    idempotency_key: str


class SubscriberOut(msgspec.Struct):
    """A subscriber account as listed: number, state, dates and owning agent."""

    id: int
    account_number: str
    agent: int
    status: str
    expires_at: dt.datetime | None
    created_at: dt.datetime
    closed_at: dt.datetime | None
    must_change_password: bool
    agent_name: str
    agent_path: str


class SubscriberDetailOut(SubscriberOut):
    """One subscriber account, with its balance in seconds of airtime."""

    balance_seconds: int


class CallOut(msgspec.Struct):
    """A rated call: destination, times, and seconds answered, billed and charged to the balance."""

    call_id: str
    destination: str
    started_at: dt.datetime
    answered_at: dt.datetime | None
    duration: int
    billed: int
    charged: int
    flagged: bool


class SipStateOut(msgspec.Struct):
    """What a SIP phone of the account needs: `username` (the account number) and `realm`;
    `is_set`: a SIP password is set for this realm; `stale`: one was set for another realm and no
    longer works."""

    username: str
    realm: str
    is_set: bool
    stale: bool


class SipResetOut(SipStateOut):
    """The account's new SIP password, `password`: in this answer only, it is stored as its digest HA1."""

    account_number: str
    password: str


class SubscribersApiController(Controller):
    path = "/api/v1/subscribers"
    tags = ["subscribers"]

    @get("/", opt=access("view_cards"))
    async def list_subscribers(
        self, request: Request, search: FromQuery[str] = "", status: FromQuery[str] = "", page: FromQuery[int] = 1
    ) -> Page[SubscriberOut]:
        rows, total = await subscribers.list_subscribers(
            request.user, search=search[:20], status=status[:16], page=page
        )
        return page_of(SubscriberOut, rows, total, page)

    @get("/{subscriber_id:int}", opt=access("view_cards"))
    async def get_subscriber(self, request: Request, subscriber_id: FromPath[int]) -> SubscriberDetailOut:
        return answer(SubscriberDetailOut, await subscribers.get_subscriber(request.user, subscriber_id))

    @get("/{subscriber_id:int}/calls", opt=access("view_cards"))
    async def subscriber_calls(
        self, request: Request, subscriber_id: FromPath[int], limit: FromQuery[int] = 50
    ) -> list[CallOut]:
        """A subscriber's latest rated calls (at most 200), newest first; only within the caller's subtree."""
        row = await subscribers.get_subscriber(request.user, subscriber_id)
        return answers(CallOut, await switch.calls_of(row["id"], limit=limit))

    @post("/{subscriber_id:int}/suspend", opt=access("manage_subscribers"), status_code=200)
    async def suspend(
        self, request: Request, subscriber_id: FromPath[int], data: JSONBody[ReasonIn]
    ) -> SubscriberDetailOut:
        return answer(
            SubscriberDetailOut, await subscribers.suspend_subscriber(request.user, subscriber_id, data.reason)
        )

    @post("/{subscriber_id:int}/resume", opt=access("manage_subscribers"), status_code=200)
    async def resume(
        self, request: Request, subscriber_id: FromPath[int], data: JSONBody[ReasonIn]
    ) -> SubscriberDetailOut:
        return answer(
            SubscriberDetailOut, await subscribers.resume_subscriber(request.user, subscriber_id, data.reason)
        )

    @post("/{subscriber_id:int}/close", opt=access("manage_subscribers"), status_code=200)
    async def close(
        self, request: Request, subscriber_id: FromPath[int], data: JSONBody[CloseIn]
    ) -> SubscriberDetailOut:
        """Closes the account (销户): its balance goes back to the agent's stock. Needs the
        operation password; idempotent by `idempotency_key` (a retry gets the closed account)."""
        closed = await subscribers.close_subscriber(
            request.user,
            subscriber_id,
            data.reason,
            operation_password=data.operation_password,
            idempotency_key=data.idempotency_key,
        )
        return answer(SubscriberDetailOut, closed)

    @post("/{subscriber_id:int}/sip-password/reset", opt=access("manage_subscribers"), status_code=200)
    async def reset_sip_password(
        self, request: Request, subscriber_id: FromPath[int], settings: NamedDependency[Settings]
    ) -> SipResetOut:
        """Gives the account a new random SIP password, in this answer only (the phone registered
        with the old one stops working). Audited, without the password."""
        reset = await sip.reset_sip_password(request.user, subscriber_id, realm=settings.sip_realm)
        return answer(SipResetOut, reset)

    @post("/{subscriber_id:int}/recharge", opt=access("sell_cards"), status_code=200)
    async def recharge(
        self,
        request: Request,
        subscriber_id: FromPath[int],
        data: JSONBody[RechargeOnBehalfIn],
        settings: NamedDependency[Settings],
    ) -> RechargeAnswer:
        redeemed = await services.redeem_card(
            data.serial,
            data.pin,
            subscriber_id=subscriber_id,
            address=client_address(request.scope),
            card_key=settings.card_key,
            actor=request.user,
            idempotency_key=data.idempotency_key,
        )
        return answer(RechargeAnswer, redeemed)


ROUTES = [SubscribersApiController]
