"""JSON API v1 of the call controls and the review list (R-22a): the operator's settings of
calls, barred destination prefixes, usage rules, the caps on calls at once of an agent subtree
and of an account, and the review items with their decisions (accounts.controls, accounts.review)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import msgspec
from litestar import Controller, Request, delete, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody

from accounts import controls, review
from core.errors import N_, ValidationFailed
from web.auth import access
from web.controllers.answers import Page, answer, answers, page_of


@dataclass
class SettingsIn:
    max_call_seconds: int  # 60 to 86,400
    subscriber_call_cap: int  # 1 to 1,000


class SettingsOut(msgspec.Struct):
    """The operator's settings of calls: the longest call `authorize` grants, in seconds, and how
    many calls at once an account may have unless its own cap says otherwise."""

    max_call_seconds: int
    subscriber_call_cap: int


@dataclass
class BarIn:
    prefix: str  # 1 to 20 digits, as dialled
    reason: str  # premium, satellite, fraud, policy
    note: str = ""
    agent_id: int | None = None  # operator staff: the agent whose subtree it bars (none: everyone)


class BarOut(msgspec.Struct):
    """A barred destination prefix. `scope` is the path of the agent whose subtree it applies to
    ("" for everyone: the operator's), `agent_id` and `brand_name` that agent (null for everyone);
    `editable` whether the caller may remove it (its own subtree's or below)."""

    id: int
    prefix: str
    reason: str
    note: str
    scope: str
    agent_id: int | None
    brand_name: str | None
    created_at: dt.datetime
    editable: bool


@dataclass
class RuleIn:
    kind: str  # calls_per_hour, minutes_per_hour, countries_per_hour
    threshold: int  # more than this within an hour suspends the account
    agent_id: int | None = None  # operator staff: the agent whose subtree it applies to (none: everyone)


class RuleOut(msgspec.Struct):
    """A usage rule: more than `threshold` of what `kind` counts within an hour suspends the
    account at once (fraud suspected) and opens a review item. `scope`, `agent_id`, `brand_name`
    and `editable` as for bars."""

    id: int
    kind: str
    threshold: int
    scope: str
    agent_id: int | None
    brand_name: str | None
    created_at: dt.datetime
    editable: bool


@dataclass
class CapIn:
    call_cap: int | None  # 1 to 1,000; null lifts the cap (an account: the operator's default)


class AgentCapOut(msgspec.Struct):
    """The cap on calls at once in an agent's whole subtree (null: none)."""

    agent: int
    call_cap: int | None


class SubscriberCapOut(msgspec.Struct):
    """The cap on an account's calls at once (null: the operator's default)."""

    subscriber: int
    call_cap: int | None


class ReviewOut(msgspec.Struct):
    """A review item. `kind`: long_call, uncovered (a rated call), or the usage rule that fired;
    `observed` against `threshold`: seconds of a long call, seconds of airtime not covered (limit
    0), calls, answered minutes or new countries within an hour; `suspended`: it suspended the
    account. `status`: open, confirmed, dismissed or resumed, with who decided and when."""

    id: int
    kind: str
    call_id: str | None
    observed: int
    threshold: int
    suspended: bool
    created_at: dt.datetime
    status: str
    reviewed_at: dt.datetime | None
    reviewed_by: str | None
    subscriber_id: int
    account_number: str
    subscriber_status: str
    agent_id: int
    brand_name: str


@dataclass
class DecisionIn:
    decision: str  # confirm, dismiss, resume


def _review(row: dict) -> dict:
    return {**row, "reviewed_by": row.get("reviewed_by_username")}


class CallControlsApiController(Controller):
    path = "/api/v1/calls"
    tags = ["calls"]

    @get("/settings", opt=access("review_calls"))
    async def get_settings(self) -> SettingsOut:
        return answer(SettingsOut, await controls.get_settings())

    @put("/settings", opt=access("manage_call_controls"))
    async def save_settings(self, request: Request, data: JSONBody[SettingsIn]) -> SettingsOut:
        """Operator admins only."""
        fields = {"max_call_seconds": data.max_call_seconds, "subscriber_call_cap": data.subscriber_call_cap}
        return answer(SettingsOut, await controls.save_settings(request.user, fields))

    @get("/bars", opt=access("review_calls"))
    async def list_bars(self, request: Request) -> list[BarOut]:
        """The bars over the caller's subtree (set above it or in it) and those below it."""
        return answers(BarOut, await controls.list_bars(request.user))

    @post("/bars", opt=access("manage_call_controls"), status_code=201)
    async def add_bar(self, request: Request, data: JSONBody[BarIn]) -> BarOut:
        """An agent's owner bars a prefix for its own subtree; operator admins for everyone or an
        agent's subtree (`agent_id`). 400 when the prefix is barred there already."""
        fields = {"prefix": data.prefix, "reason": data.reason, "note": data.note, "agent": data.agent_id}
        added = await controls.add_bar(request.user, fields)
        return answer(BarOut, next(b for b in await controls.list_bars(request.user) if b["id"] == added["id"]))

    @delete("/bars/{bar_id:int}", opt=access("manage_call_controls"), status_code=204)
    async def remove_bar(self, request: Request, bar_id: FromPath[int]) -> None:
        """403 for a bar set above the caller's subtree."""
        await controls.remove_bar(request.user, bar_id)

    @get("/rules", opt=access("review_calls"))
    async def list_rules(self, request: Request) -> list[RuleOut]:
        return answers(RuleOut, await controls.list_rules(request.user))

    @put("/rules", opt=access("manage_call_controls"))
    async def set_rule(self, request: Request, data: JSONBody[RuleIn]) -> RuleOut:
        """Creates the rule of that kind where it applies, or changes its threshold."""
        fields = {"kind": data.kind, "threshold": data.threshold, "agent": data.agent_id}
        saved = await controls.set_rule(request.user, fields)
        rules = await controls.list_rules(request.user)
        return answer(RuleOut, next(r for r in rules if (r["scope"], r["kind"]) == (saved["scope"], saved["kind"])))

    @delete("/rules/{rule_id:int}", opt=access("manage_call_controls"), status_code=204)
    async def remove_rule(self, request: Request, rule_id: FromPath[int]) -> None:
        await controls.remove_rule(request.user, rule_id)

    @get("/reviews", opt=access("review_calls"))
    async def list_reviews(
        self, request: Request, status: FromQuery[str] = "open", page: FromQuery[int] = 1
    ) -> Page[ReviewOut]:
        """The caller's subtree's items, newest first, 50 a page; `status` open (the default),
        confirmed, dismissed, resumed, or all."""
        if page < 1:
            raise ValidationFailed({"page": N_("The number is out of range.")})
        rows, total = await review.list_reviews(request.user, status="" if status == "all" else status, page=page)
        return page_of(ReviewOut, [_review(row) for row in rows], total, page)

    @post("/reviews/{review_id:int}/decision", opt=access("review_calls"), status_code=200)
    async def decide(self, request: Request, review_id: FromPath[int], data: JSONBody[DecisionIn]) -> ReviewOut:
        """confirm (it was what it looked like), dismiss (a false alarm) or resume (a false alarm,
        and the account a rule suspended may call again). An item is decided once: 409 after."""
        return answer(ReviewOut, _review(await review.decide(request.user, review_id, data.decision)))


class CallCapApiController(Controller):
    path = "/api/v1"
    tags = ["calls"]

    @put("/agents/{agent_id:int}/call-cap", opt=access("manage_call_controls"))
    async def set_agent_cap(self, request: Request, agent_id: FromPath[int], data: JSONBody[CapIn]) -> AgentCapOut:
        """Set by the agent's parent's owner or operator admins (an agent cannot lift its own: 403)."""
        return answer(AgentCapOut, await controls.set_agent_cap(request.user, agent_id, data.call_cap))

    @put("/subscribers/{subscriber_id:int}/call-cap", opt=access("manage_subscribers"))
    async def set_subscriber_cap(
        self, request: Request, subscriber_id: FromPath[int], data: JSONBody[CapIn]
    ) -> SubscriberCapOut:
        """Set by the staff of the account's agent and those above it."""
        return answer(SubscriberCapOut, await controls.set_subscriber_cap(request.user, subscriber_id, data.call_cap))


ROUTES = [CallControlsApiController, CallCapApiController]
