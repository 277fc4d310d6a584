"""The operator's bulk suspension of an agent's subscribers (R-2): every active subscriber of the
agent's whole subtree is suspended in one step, with a reason, and the step can be reversed.

A reversal resumes exactly the subscribers the suspension suspended and that nothing has changed
since: not those suspended for other reasons before it, nor one resumed and suspended again
afterwards. That is read back from the audit log, where each step records one entry for the agent
(the suspension's id names it) and one per subscriber (its `after` names the suspension); the
audit purge keeps these while the suspension is in force (agency.audit.BULK_SUSPEND)."""

from __future__ import annotations

from typing import Any

from accounts.tables import Subscriber
from agency import audit
from agency.agents import get_agent
from agency.roles import Actor
from agency.tables import AuditEntry
from agency.tree import subtree_bounds
from core import sql
from core.db import transaction
from core.errors import N_, Conflict, Forbidden
from core.validation import Checker

CHUNK = 500  # ids per IN list


def _may(actor: Actor) -> None:
    if not actor.is_operator or not actor.can("bulk_suspend_subscribers"):
        raise Forbidden()


def checked_reason(reason: object) -> str:
    """The reason a step needs (1 to 200 characters); raises ValidationFailed."""
    check = Checker({"reason": reason})
    check.text("reason", max_len=200)
    return str(check.done()["reason"])


def _chunks(ids: list[int]):
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


async def _paths(moved: list[dict[str, Any]]) -> dict[int, str]:
    """The paths of the agents of these subscribers (the scope of their audit entries)."""
    paths: dict[int, str] = {}
    for part in _chunks(sorted({row["agent"] for row in moved})):
        rows = await sql.fetch(f"SELECT id, path FROM agent WHERE id IN ({sql.marks(part)})", *part)
        paths.update((row["id"], row["path"]) for row in rows)
    return paths


async def _resumable(in_force: list[dict[str, Any]]) -> list[int]:
    """Subscribers whose latest status change is one of these bulk suspensions."""
    names = {row["id"] for row in in_force}
    changes = (
        await AuditEntry.select(AuditEntry.target_id, AuditEntry.action, AuditEntry.after)
        .where(
            (AuditEntry.id > min(names))
            & (AuditEntry.target_type == "subscriber")
            & AuditEntry.action.is_in(list(audit.SUBSCRIBER_STATUS_ACTIONS))
        )
        .order_by(AuditEntry.id)
        .output(load_json=True)
    )
    latest = {row["target_id"]: row for row in changes}
    return sorted(
        int(target)
        for target, row in latest.items()
        if row["action"] == "subscriber.suspend" and (row["after"] or {}).get("bulk") in names
    )


async def _change(ids: list[int], old: str, new: str) -> list[dict[str, Any]]:
    """Move these subscribers from `old` to `new` (those still in `old`); their ids and agents."""
    moved: list[dict[str, Any]] = []
    for part in _chunks(ids):
        moved += await sql.fetch(
            f"UPDATE subscriber SET status = {{}} WHERE status = {{}} AND id IN ({sql.marks(part)}) "
            "RETURNING id, agent",
            new,
            old,
            *part,
        )
    return moved


async def preview(actor: Actor, agent_id: int) -> dict[str, int]:
    """What each step would change now: active subscribers of the subtree, and subscribers a
    reversal would resume."""
    _may(actor)
    agent = await get_agent(actor, agent_id)
    low, high = subtree_bounds(agent["path"])
    active = await sql.fetch_one(
        "SELECT COUNT(*) AS n FROM subscriber s JOIN agent a ON a.id = s.agent "
        "WHERE s.status = 'active' AND a.path >= {} AND a.path < {}",
        low,
        high,
    )
    in_force = await audit.bulk_suspensions_in_force(agent_id)
    to_resume = 0
    if in_force:
        for part in _chunks(await _resumable(in_force)):
            to_resume += await Subscriber.count().where(Subscriber.id.is_in(part) & (Subscriber.status == "suspended"))
    return {"to_suspend": int(active["n"]), "to_resume": to_resume}


async def suspensions_in_force(actor: Actor, agent_id: int) -> list[dict[str, Any]]:
    """This agent's bulk suspensions not yet reversed: when, by whom, why and how many."""
    _may(actor)
    await get_agent(actor, agent_id)
    return [
        {"at": row["at"], "username": row["username"], **(row["after"] or {})}
        for row in await audit.bulk_suspensions_in_force(agent_id)
    ]


async def suspend_subscribers(actor: Actor, agent_id: int, reason: object) -> dict[str, Any]:
    """Suspend every active subscriber of the agent's subtree (停机保号: number and balance kept),
    audited once for the agent and once per subscriber; refused when there is none. Operator
    admins only."""
    _may(actor)
    why = checked_reason(reason)
    async with transaction():
        agent = await get_agent(actor, agent_id)
        low, high = subtree_bounds(agent["path"])
        moved = await sql.fetch(
            "UPDATE subscriber SET status = 'suspended' WHERE status = 'active' "
            "AND agent IN (SELECT id FROM agent WHERE path >= {} AND path < {}) RETURNING id, agent",
            low,
            high,
        )
        if not moved:
            raise Conflict(N_("This agent and its sub-agents have no active subscriber to suspend."))
        step = await audit.record_returning_id(
            actor,
            audit.BULK_SUSPEND,
            target_type="agent",
            target_id=agent_id,
            scope_path=agent["path"],
            after={"reason": why, "count": len(moved)},
        )
        paths = await _paths(moved)
        await audit.record_many(
            actor,
            "subscriber.suspend",
            [
                (
                    "subscriber",
                    row["id"],
                    paths.get(row["agent"], agent["path"]),
                    {"status": "active"},
                    {"status": "suspended", "reason": why, "bulk": step},
                )
                for row in moved
            ],
        )
    return {"agent_id": agent_id, "count": len(moved), "reason": why}


async def resume_subscribers(actor: Actor, agent_id: int, reason: object) -> dict[str, Any]:
    """Reverse the agent's bulk suspensions in force: resume the subscribers they suspended that
    nothing has changed since. Operator admins only."""
    _may(actor)
    why = checked_reason(reason)
    async with transaction():
        agent = await get_agent(actor, agent_id)
        in_force = await audit.bulk_suspensions_in_force(agent_id)
        if not in_force:
            raise Conflict(N_("No bulk suspension of this agent's subscribers is in force."))
        moved = await _change(await _resumable(in_force), "suspended", "active")
        step = await audit.record_returning_id(
            actor,
            audit.BULK_RESUME,
            target_type="agent",
            target_id=agent_id,
            scope_path=agent["path"],
            after={"reason": why, "count": len(moved), "reverses": [row["id"] for row in in_force]},
        )
        paths = await _paths(moved)
        await audit.record_many(
            actor,
            "subscriber.resume",
            [
                (
                    "subscriber",
                    row["id"],
                    paths.get(row["agent"], agent["path"]),
                    {"status": "suspended"},
                    {"status": "active", "reason": why, "bulk": step},
                )
                for row in moved
            ],
        )
    return {"agent_id": agent_id, "count": len(moved), "reason": why}
