"""Use cases of the agent tree (R-1, R-2): every query is scoped to the actor's subtree."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import zoneinfo
from collections.abc import Awaitable, Callable
from typing import Any

from agency import audit
from agency.hours import parse_calling_hours, window_within
from agency.roles import Actor
from agency.tables import Agent
from agency.tree import child_path, ids_in_path, in_subtree, is_within, subtree_bounds
from core import sql
from core.clock import now
from core.db import contains_ignoring_case, fetch_page, transaction
from core.errors import N_, Conflict, Forbidden, NotFound, ValidationFailed
from core.validation import Checker

DEFAULT_MAX_DEPTH = 5
# Agents that may grow sub-agents: a terminating agent works until its termination takes effect.
OPERATING_STATUSES = ("active", "terminating")
# Agents whose users may log in: an applied agent's users log in to fund the onboarding fees.
LOGIN_STATUSES = ("applied", *OPERATING_STATUSES)
AGENT_COLUMNS = (
    "id",
    "parent",
    "path",
    "level",
    "brand_name",
    "contact_person",
    "phone",
    "address",
    "timezone",
    "calling_hours",
    "hotline",
    "service_hours",
    "call_cap",  # calls at once in its subtree, set from above (accounts.controls.set_agent_cap)
    "status",
    "notice_at",
    "terminates_at",
    "created_at",
)


PHONE = re.compile(r"^[0-9+\-() ]{3,32}$")
# One line of free text: no control characters (tabs, line breaks, escapes) or their C1 kin.
ONE_LINE = re.compile(r"^[^\x00-\x1f\x7f-\x9f]*\Z")
# Set by the agent's parent (its owner or clerk) or the operator, never by the agent's own users.
HOURS_FIELDS = ("calling_hours", "timezone")


class SellerNotSelling(Conflict):
    message = N_("Your seller is suspended or terminated and cannot sell now; nothing was changed.")


def agent_fields(data: dict[str, object], *, partial: bool = False) -> dict[str, object]:
    check = Checker(data)
    for field, max_len, required in (
        ("brand_name", 100, True),
        ("contact_person", 100, True),
        ("address", 200, False),
    ):
        if not partial or field in data:
            check.text(field, max_len=max_len, required=required)
    if not partial or "phone" in data:
        check.text("phone", max_len=32, pattern=PHONE, pattern_message=N_("Digits, spaces and + - ( ) only."))
    if not partial or "hotline" in data:  # the number its subscribers call; optional
        check.text(
            "hotline", max_len=32, required=False, pattern=PHONE, pattern_message=N_("Digits, spaces and + - ( ) only.")
        )
    if not partial or "service_hours" in data:  # when the hotline answers, in the agent's words; optional
        check.text(
            "service_hours",
            max_len=64,
            required=False,
            pattern=ONE_LINE,
            pattern_message=N_("One line of text, without tabs or line breaks."),
        )
    if not partial or "timezone" in data:
        check.timezone("timezone")
    if not partial or "calling_hours" in data:
        check.parsed(
            "calling_hours",
            parse_calling_hours,
            max_len=16,
            message=N_("Use HH:MM-HH:MM, such as 08:00-19:30, or leave it empty for any time."),
        )
    return check.done()


def _visible(actor: Actor):
    if not actor.can("view_agents"):
        raise Forbidden()
    query = Agent.select(*(getattr(Agent, c) for c in AGENT_COLUMNS))
    return query if actor.is_operator else query.where(in_subtree(actor, Agent.path))


MAX_ID = 2**31 - 1


def valid_id(value: object) -> bool:
    """Ids from requests are checked before they reach the database (an integer past 64 bits
    would make the driver fail instead of simply finding nothing)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


async def get_agent(actor: Actor, agent_id: int) -> dict[str, Any]:
    row = await _visible(actor).where(Agent.id == agent_id).first() if valid_id(agent_id) else None
    if row is None:
        raise NotFound()
    return row


async def get_managed(actor: Actor, agent_id: int, permission: str, *, allow_own: bool) -> dict[str, Any]:
    """An agent the actor may change: the operator any; an agent's user its descendants (and,
    where `allow_own`, its own agent). Not visible means NotFound, visible but not
    manageable means Forbidden."""
    agent = await get_agent(actor, agent_id)
    if not actor.can(permission):
        raise Forbidden()
    if not actor.is_operator and agent["id"] == actor.agent_id and not allow_own:
        raise Forbidden()
    return agent


async def list_agents(
    actor: Actor, *, search: str = "", under: int | None = None, page: int = 1, per_page: int = 50
) -> tuple[list[dict[str, Any]], int]:
    """Visible agents in tree order (by path), optionally below one agent and filtered by a
    search over brand, contact and phone."""
    query = _visible(actor)
    count = Agent.count()
    if not actor.is_operator:
        count = count.where(in_subtree(actor, Agent.path))
    conditions = []
    if under is not None:
        root = await get_agent(actor, under)
        low, high = subtree_bounds(root["path"])
        conditions.append((Agent.path > low) & (Agent.path < high))
    search = search.strip()[:100]
    if search:
        conditions.append(
            contains_ignoring_case(Agent.brand_name, search)
            | contains_ignoring_case(Agent.contact_person, search)
            | contains_ignoring_case(Agent.phone, search)
        )
    return await fetch_page(
        query, count, conditions, Agent.path, page=page, per_page=per_page, ascending=True, max_per_page=200
    )


async def ancestors(actor: Actor, agent: dict[str, Any]) -> list[dict[str, Any]]:
    """The chain above an agent that the actor may name (R-1 lets names of ancestors show)."""
    ids = ids_in_path(agent["path"])[:-1]
    if not ids:
        return []
    rows = await Agent.select(Agent.id, Agent.brand_name, Agent.path, Agent.level).where(Agent.id.is_in(ids))
    return sorted(rows, key=lambda r: r["level"])


async def _no_onboarding(level: int) -> bool:
    return False


async def create_agent(
    actor: Actor,
    parent_id: int | None,
    data: dict[str, object],
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
    needs_onboarding: Callable[[int], Awaitable[bool]] = _no_onboarding,
) -> dict[str, Any]:
    """The operator creates level-1 agents (parent None); an agent's owner or clerk creates
    sub-agents under its own agent or a descendant, down to `max_depth`. A new agent starts
    `applied` where `needs_onboarding(level)` says its level charges fees (money.onboarding
    decides, and is the entry point the web uses), else `active`."""
    if not actor.can("create_agent"):
        raise Forbidden()
    fields = agent_fields(data)
    async with transaction():
        if parent_id is None:
            if not actor.is_operator:
                raise Forbidden()
            parent_path, level = "/", 1
        else:
            parent = await get_agent(actor, parent_id)
            if parent["status"] not in OPERATING_STATUSES:
                raise Conflict(N_("A suspended or terminated agent cannot get new sub-agents."))
            parent_path, level = parent["path"], parent["level"] + 1
        if level > max_depth:
            raise ValidationFailed({"parent": N_("The tree may not be deeper than this.")})
        charges_fees = await needs_onboarding(level)
        placeholder = f"/new-{secrets.token_hex(8)}/"
        rows = await Agent.insert(
            Agent(
                parent=parent_id,
                path=placeholder,
                level=level,
                status="applied" if charges_fees else "active",
                created_by=actor.user_id,
                created_at=now(),
                **fields,
            )
        ).returning(Agent.id)
        agent_id = rows[0]["id"]
        path = child_path(parent_path, agent_id)
        await Agent.update({Agent.path: path}).where(Agent.id == agent_id)
        await audit.record(
            actor,
            "agent.create",
            target_type="agent",
            target_id=agent_id,
            scope_path=path,
            after={**fields, "parent": parent_id, "level": level, "status": "applied" if charges_fees else "active"},
        )
    return await get_agent(actor, agent_id)


async def update_agent(actor: Actor, agent_id: int, data: dict[str, object]) -> dict[str, Any]:
    """Change an agent's details. Its calling hours and time zone are its parent's or the
    operator's to set, never its own users' (R-22), and its window must lie within every window
    above it."""
    fields = agent_fields(data, partial=True)
    async with transaction():
        agent = await get_managed(actor, agent_id, "edit_agent", allow_own=True)
        for field in HOURS_FIELDS:
            if field in fields and fields[field] == agent[field]:
                del fields[field]  # sent as it is: not a change
        if not fields:
            return agent
        if any(field in fields for field in HOURS_FIELDS):
            if not actor.is_operator and agent["id"] == actor.agent_id:
                raise Forbidden(
                    N_("An agent's calling hours and time zone are set by its parent agent or the operator.")
                )
            await _check_within_ancestors(agent, fields)
        await Agent.update(fields).where(Agent.id == agent_id)
        await audit.record(
            actor,
            "agent.update",
            target_type="agent",
            target_id=agent_id,
            scope_path=agent["path"],
            before={k: agent[k] for k in fields},
            after=fields,
        )
    return await get_agent(actor, agent_id)


def _window_of(calling_hours: str):
    try:
        return parse_calling_hours(calling_hours or "")
    except ValueError:  # validated when saved; an unreadable value restricts nothing
        return None


async def bounding_windows(agent: dict[str, Any]) -> list[dict[str, Any]]:
    """The calling hours of the agents above this one that have any, nearest first: they bound
    its own (R-22). R-1 lets ancestors' names show, and their hours bind this agent."""
    ids = ids_in_path(agent["path"])[:-1]
    if not ids:
        return []
    rows = await Agent.select(Agent.id, Agent.brand_name, Agent.level, Agent.calling_hours, Agent.timezone).where(
        Agent.id.is_in(ids) & (Agent.calling_hours != "")
    )
    return sorted((r for r in rows if _window_of(r["calling_hours"])), key=lambda r: r["level"], reverse=True)


async def _check_within_ancestors(agent: dict[str, Any], fields: dict[str, object]) -> None:
    window = _window_of(str(fields.get("calling_hours", agent["calling_hours"])))
    if window is None:  # no window of its own: bounded by those above it when calls are authorized
        return
    zone = zoneinfo.ZoneInfo(str(fields.get("timezone", agent["timezone"])))
    at = now()
    for above in await bounding_windows(agent):
        if not window_within(
            window, zone, _window_of(above["calling_hours"]), zoneinfo.ZoneInfo(above["timezone"]), at
        ):
            raise ValidationFailed(
                {
                    "calling_hours": N_(
                        "The calling hours must lie within those set above this agent: %(hours)s (%(timezone)s)."
                    )
                },
                hours=above["calling_hours"],
                timezone=above["timezone"],
            )


async def _change_status(
    actor: Actor,
    agent_id: int,
    action: str,
    allowed_from: tuple[str, ...],
    changes: dict[Any, Any],
    *,
    allow_own: bool = False,
) -> dict[str, Any]:
    async with transaction():
        agent = await get_managed(actor, agent_id, "change_agent_status", allow_own=allow_own)
        if agent["status"] not in allowed_from:
            raise Conflict(N_("This cannot be done in the agent's current status."))
        await Agent.update(changes).where(Agent.id == agent_id)
        after = {column._meta.name: value for column, value in changes.items()}
        await audit.record(
            actor,
            action,
            target_type="agent",
            target_id=agent_id,
            scope_path=agent["path"],
            before={k: agent[k] for k in after},
            after=after,
        )
    return await get_agent(actor, agent_id)


async def suspend_agent(actor: Actor, agent_id: int) -> dict[str, Any]:
    return await _change_status(actor, agent_id, "agent.suspend", ("active",), {Agent.status: "suspended"})


async def resume_agent(actor: Actor, agent_id: int) -> dict[str, Any]:
    return await _change_status(actor, agent_id, "agent.resume", ("suspended",), {Agent.status: "active"})


def earliest_termination(notice_at: dt.datetime) -> dt.datetime:
    """One calendar month after notice (R-2a); the 31st becomes the last day of a short month."""
    year, month = notice_at.year + (notice_at.month // 12), notice_at.month % 12 + 1
    day = notice_at.day
    while True:
        try:
            return notice_at.replace(year=year, month=month, day=day)
        except ValueError:
            day -= 1


async def give_notice(
    actor: Actor, agent_id: int, effective: dt.datetime | None = None, *, operation_password: object = None
) -> dict[str, Any]:
    """Termination notice: the agent becomes `terminating` and is terminated at `effective`,
    which must be at least one month from now (default: exactly one month). Its parent or the
    operator may give it; so may the agent itself, by its owner with the operation password (R-2, R-3)."""
    own = not actor.is_operator and agent_id == actor.agent_id
    if own:
        from agency.users import check_operation_password  # users builds on this module

        await get_managed(actor, agent_id, "change_agent_status", allow_own=True)
    notice_at = now()
    earliest = earliest_termination(notice_at)
    effective = effective or earliest
    if effective.tzinfo is None:
        raise ValidationFailed({"effective": N_("The format is not valid.")})
    if effective < earliest - dt.timedelta(minutes=1):
        raise ValidationFailed({"effective": N_("Termination takes effect no earlier than one month after notice.")})
    if own:
        await check_operation_password(actor, operation_password)
    return await _change_status(
        actor,
        agent_id,
        "agent.notice",
        ("active", "suspended"),
        {Agent.status: "terminating", Agent.notice_at: notice_at, Agent.terminates_at: effective},
        allow_own=own,
    )


async def terminate_due_agents(at: dt.datetime | None = None) -> list[int]:
    """The scheduled transition: agents whose notice period has run out become `terminated`.
    Call it inside the transaction that also returns their deposits
    (money.onboarding.apply_due_terminations). Returns the ids of the agents terminated."""
    at = at or now()
    async with transaction():
        due = await Agent.select(Agent.id, Agent.path).where(
            (Agent.status == "terminating") & (Agent.terminates_at <= at)
        )
        for agent in due:
            await Agent.update({Agent.status: "terminated"}).where(Agent.id == agent["id"])
            await audit.record(
                None,
                "agent.terminated",
                target_type="agent",
                target_id=agent["id"],
                scope_path=agent["path"],
                username="system",
                before={"status": "terminating"},
                after={"status": "terminated"},
            )
    return [agent["id"] for agent in due]


def agent_may_operate(agent: dict[str, Any] | None, at: dt.datetime | None = None) -> bool:
    """Whether an agent's users may work now; a notice whose date has passed counts even
    before the scheduled job has run."""
    if agent is None:
        return True  # operator staff
    if agent["status"] == "terminating":
        return agent["terminates_at"] is None or agent["terminates_at"] > (at or now())
    return agent["status"] in LOGIN_STATUSES


def _operating(agent: dict[str, Any], at: dt.datetime) -> bool:
    """Active, or under notice that has not yet taken effect."""
    if agent["status"] == "terminating":
        return agent["terminates_at"] is None or agent["terminates_at"] > at
    return agent["status"] == "active"


async def ancestors_operating(path: str, at: dt.datetime | None = None) -> bool:
    """Whether every agent above the one at `path` is operating (R-2): a suspended or
    terminated ancestor stops the users of its whole subtree, and stops it selling. One primary
    key look-up of at most the tree's depth; nothing for a level-1 agent."""
    ids = ids_in_path(path)[:-1]
    if not ids:
        return True
    rows = await sql.fetch(f"SELECT status, terminates_at FROM agent WHERE id IN ({sql.marks(ids)})", *ids)
    at = at or now()
    return len(rows) == len(ids) and all(_operating(row, at) for row in rows)


async def selling_allowed(agent: dict[str, Any], at: dt.datetime | None = None) -> bool:
    """Whether an agent may sell to its sub-agents now: it and every agent above it operate."""
    at = at or now()
    return _operating(agent, at) and await ancestors_operating(agent["path"], at)


async def require_seller_selling(buyer: dict[str, Any]) -> None:
    """Raises SellerNotSelling unless the buyer's seller may sell: its parent, and every agent
    above that, operate (the operator always sells to level 1). money.bundles calls it in the
    purchase's transaction, with the buyer's row (it needs `path`)."""
    if not await ancestors_operating(buyer["path"]):
        raise SellerNotSelling()


def within_actor_scope(actor: Actor, path: str) -> bool:
    return is_within(path, actor.scope_path)
