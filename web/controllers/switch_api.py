"""The switch API (SPEC §6, §10): `authorize` and call records for softswitches, authenticated
by `Authorization: Bearer sw_…`; and the operator's management of switch keys and destination
rates under /api/v1/switch."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from accounts import sip, switch
from web.auth import SWITCH, access
from web.controllers.answers import answer, answers
from web.settings import Settings


@dataclass
class AuthorizeIn:
    account: str
    destination: str
    call_id: str


@dataclass
class CallRecordsIn:
    calls: list[dict[str, Any]]


@dataclass
class KeyIn:
    name: str


class AuthorizeAnswer(msgspec.Struct):
    """Whether the call may go ahead, for at most `max_seconds`; `reason` says why not ("" when
    allowed); `detail`, on some refusals, says more: a barred destination's reason code (premium,
    satellite, fraud, policy), or fraud_suspected when this call made a usage rule suspend the
    account."""

    call_id: str
    allow: bool
    max_seconds: int
    reason: str
    detail: str | msgspec.UnsetType = msgspec.UNSET


class SipCredentialsOut(msgspec.Struct):
    """The SIP digest credentials of an account: the username is `account`, and `ha1` is
    md5("{account}:{realm}:{SIP password}") in lowercase hex (never the password itself)."""

    account: str
    realm: str
    ha1: str


class CallResultOut(msgspec.Struct):
    """The result of one call record; `charged` is absent for an invalid record, which has `errors`."""

    call_id: str
    status: str  # rated, duplicate, conflict, unknown account, invalid
    charged: int | msgspec.UnsetType = msgspec.UNSET  # airtime seconds taken from the balance
    billed_seconds: int | msgspec.UnsetType = msgspec.UNSET  # rated records only
    errors: dict[str, str] | msgspec.UnsetType = msgspec.UNSET  # invalid records only: field -> message


class CallRecordsAnswer(msgspec.Struct):
    """One result per call record sent, in order."""

    results: list[CallResultOut]


class SwitchKeyOut(msgspec.Struct):
    """A switch key; `prefix` is the key's first characters, to recognise it."""

    id: int
    name: str
    prefix: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class NewSwitchKeyOut(SwitchKeyOut):
    """A new switch key with the key itself, `sw_…`: sent in this answer only."""

    key: str


SIP_CREDENTIALS_DOC = (
    "The SIP digest credentials of an account, for the switch to check a phone's REGISTER or INVITE: "
    "the username is the account number, `realm` the configured realm (VOIPAGENCY_SIP_REALM), and "
    '`ha1` = md5("{account}:{realm}:{SIP password}") in lowercase hex; the password itself is never '
    "stored. 404 when the account is unknown or closed, has no SIP password, or has one set for another "
    "realm; suspended and expired accounts get theirs (authorize refuses their calls, saying why). 400 "
    "unless `account` is 1 to 20 digits."
)


class SwitchApiController(Controller):
    path = "/api/switch/v1"
    tags = ["switch"]
    opt = access(SWITCH)

    @post("/authorize", status_code=200)
    async def authorize(self, data: JSONBody[AuthorizeIn]) -> AuthorizeAnswer:
        """May this account call this destination now? `max_seconds` is the longest call its
        balance pays for, at most the operator's longest call; that airtime is held until the call's
        record arrives (or the call could no longer be running). Reasons: unknown, closed,
        suspended, expired, no balance, outside calling hours, barred destination, concurrent call
        limit. Asking again with the same `call_id` gets the same answer."""
        return answer(
            AuthorizeAnswer,
            await switch.authorize({"account": data.account, "destination": data.destination, "call_id": data.call_id}),
        )

    @post("/cdr", status_code=200)
    async def call_records(self, data: JSONBody[CallRecordsIn]) -> CallRecordsAnswer:
        """Ended calls, 1 to 1000 a request: {call_id, account, destination, start, answer, end}
        with times in ISO 8601 with an offset or in seconds since 1970 (`answer` null when not
        answered). One result per record, in order: rated, duplicate (already rated, nothing
        changed), conflict (the call id was rated with other details), unknown account, invalid."""
        return CallRecordsAnswer(results=answers(CallResultOut, await switch.rate_calls(data.calls)))

    @get(
        "/sip/{account:str}",
        summary="SIP digest credentials of an account",
        description=SIP_CREDENTIALS_DOC,
    )
    async def sip_credentials(self, account: FromPath[str], settings: NamedDependency[Settings]) -> SipCredentialsOut:
        """For the switch to check a phone's digest on every REGISTER or INVITE (SIP_CREDENTIALS_DOC)."""
        return answer(SipCredentialsOut, await sip.credentials_for_switch(account, settings.sip_realm))


class SwitchKeyApiController(Controller):
    path = "/api/v1/switch/keys"
    tags = ["switch"]
    opt = access("manage_switch")

    @get("/")
    async def list_keys(self, request: Request) -> list[SwitchKeyOut]:
        return answers(SwitchKeyOut, await switch.list_keys(request.user))

    @post("/", status_code=201)
    async def create_key(self, request: Request, data: JSONBody[KeyIn]) -> NewSwitchKeyOut:
        """The key is in this answer only; it is stored hashed."""
        row, key = await switch.create_key(request.user, data.name)
        return answer(NewSwitchKeyOut, {**row, "key": key})

    @delete("/{key_id:int}", status_code=204)
    async def revoke_key(self, request: Request, key_id: FromPath[int]) -> None:
        await switch.revoke_key(request.user, key_id)


@dataclass
class RateIn:
    multiplier: int = 100
    first_block: int = 60
    increment: int = 60
    note: str = ""


class RateOut(msgspec.Struct):
    """The billing of destinations starting with `prefix`: multiplier in percent, seconds of the
    first block and of each increment."""

    prefix: str
    multiplier: int
    first_block: int
    increment: int
    note: str


class DestinationRateApiController(Controller):
    path = "/api/v1/switch/rates"
    tags = ["switch"]
    opt = access("manage_switch")

    @get("/")
    async def list_rates(self, request: Request) -> list[RateOut]:
        """Billing by destination prefix; the longest matching prefix wins, others bill 60/60 at 100%."""
        return answers(RateOut, await switch.list_rates(request.user))

    @put("/{prefix:str}")
    async def set_rate(self, request: Request, prefix: FromPath[str], data: JSONBody[RateIn]) -> RateOut:
        """Multiplier in percent (150: 1.5 s of airtime a second), first block and increment in seconds."""
        return answer(RateOut, await switch.set_rate(request.user, prefix, asdict(data)))

    @delete("/{prefix:str}", status_code=204)
    async def delete_rate(self, request: Request, prefix: FromPath[str]) -> None:
        await switch.delete_rate(request.user, prefix)


ROUTES = [SwitchApiController, SwitchKeyApiController, DestinationRateApiController]
