"""The switch API (SPEC §6, §10): `authorize` and call records for softswitches, authenticated
by `Authorization: Bearer sw_…`; and the operator's management of switch keys and destination
rates under /api/v1/switch."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from litestar import Controller, Request, delete, get, post, put
from litestar.params import FromPath, JSONBody

from accounts import switch
from web.auth import SWITCH, access


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


class SwitchApiController(Controller):
    path = "/api/switch/v1"
    tags = ["switch"]
    opt = access(SWITCH)

    @post("/authorize", status_code=200)
    async def authorize(self, data: JSONBody[AuthorizeIn]) -> dict[str, Any]:
        """May this account call this destination now? `max_seconds` is the longest call its
        balance pays for; that airtime is held until the call's record arrives (or the call could
        no longer be running). Reasons: unknown, closed, suspended, expired, no balance, outside
        calling hours. Asking again with the same `call_id` gets the same answer."""
        return await switch.authorize(
            {"account": data.account, "destination": data.destination, "call_id": data.call_id}
        )

    @post("/cdr", status_code=200)
    async def call_records(self, data: JSONBody[CallRecordsIn]) -> dict[str, Any]:
        """Ended calls, 1 to 1000 a request: {call_id, account, destination, start, answer, end}
        with times in ISO 8601 with an offset or in seconds since 1970 (`answer` null when not
        answered). One result per record, in order: rated, duplicate (already rated, nothing
        changed), conflict (the call id was rated with other details), unknown account, invalid."""
        return {"results": await switch.rate_calls(data.calls)}


class SwitchKeyApiController(Controller):
    path = "/api/v1/switch/keys"
    tags = ["switch"]
    opt = access("manage_switch")

    @get("/")
    async def list_keys(self, request: Request) -> list[dict[str, Any]]:
        return await switch.list_keys(request.user)

    @post("/", status_code=201)
    async def create_key(self, request: Request, data: JSONBody[KeyIn]) -> dict[str, Any]:
        """The key is in this answer only; it is stored hashed."""
        row, key = await switch.create_key(request.user, data.name)
        return {**row, "key": key}

    @delete("/{key_id:int}", status_code=204)
    async def revoke_key(self, request: Request, key_id: FromPath[int]) -> None:
        await switch.revoke_key(request.user, key_id)


@dataclass
class RateIn:
    multiplier: int = 100
    first_block: int = 60
    increment: int = 60
    note: str = ""


class DestinationRateApiController(Controller):
    path = "/api/v1/switch/rates"
    tags = ["switch"]
    opt = access("manage_switch")

    @get("/")
    async def list_rates(self, request: Request) -> list[dict[str, Any]]:
        """Billing by destination prefix; the longest matching prefix wins, others bill 60/60 at 100%."""
        return await switch.list_rates(request.user)

    @put("/{prefix:str}")
    async def set_rate(self, request: Request, prefix: FromPath[str], data: JSONBody[RateIn]) -> dict[str, Any]:
        """Multiplier in percent (150: 1.5 s of airtime a second), first block and increment in seconds."""
        return await switch.set_rate(request.user, prefix, asdict(data))

    @delete("/{prefix:str}", status_code=204)
    async def delete_rate(self, request: Request, prefix: FromPath[str]) -> None:
        await switch.delete_rate(request.user, prefix)


ROUTES = [SwitchApiController, SwitchKeyApiController, DestinationRateApiController]
