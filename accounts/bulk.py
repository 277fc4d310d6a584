"""The operator's bulk suspension of an agent's subscribers (R-2): every active subscriber of the
agent's whole subtree is suspended in one step, with a reason, and the step can be reversed.

Each step is a row of its own (accounts.tables.SubscriberHold), and the subscribers it suspended
name it in `Subscriber.hold`. Any other change of a subscriber's status (suspend, resume or close
one by one, accounts.services) clears `hold`, so a reversal resumes exactly the subscribers the
suspension suspended and that nothing has changed since: not those suspended for other reasons
before it, nor one resumed and suspended again afterwards. The audit log records the steps (one
entry for the agent, one per subscriber) but nothing is read back from it."""

from __future__ import annotations

from typing import Any

from accounts.tables import SubscriberHold
from agency import audit
from agency.agents import get_agent
from agency.roles import Actor
from agency.tables import User
from agency.tree import subtree_bounds
from core import sql
from core.clock import now
from core.db import transaction
from core.errors import N_, Conflict, Forbidden
from core.validation import Checker

CHUNK = 500  # ids per IN list
SUSPEND_ACTION = "agent.subscribers_suspend"  # audit actions of the steps (target: the agent)
RESUME_ACTION = "agent.subscribers_resume"


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


def _in_force(agent_id: int):
    return (SubscriberHold.agent == agent_id) & SubscriberHold.resumed_at.is_null()


async def _paths(moved: list[dict[str, Any]]) -> dict[int, str]:
    """The paths of the agents of these subscribers (the scope of their audit entries)."""
    paths: dict[int, str] = {}
    for part in _chunks(sorted({row["agent"] for row in moved})):
        rows = await sql.fetch(f"SELECT id, path FROM agent WHERE id IN ({sql.marks(part)})", *part)
        paths.update((row["id"], row["path"]) for row in rows)
    return paths


async def _record_each(
    actor: Actor, action: str, moved: list[dict[str, Any]], scope: str, before: str, after: dict[str, Any]
) -> None:
    """One audit entry per subscriber moved (in bulk), in the scope of its agent."""
    paths = await _paths(moved)
    await audit.record_many(
        actor,
        action,
        [("subscriber", row["id"], paths.get(row["agent"], scope), {"status": before}, after) for row in moved],
    )


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
    held = await sql.fetch_one(
        "SELECT COUNT(*) AS n FROM subscriber WHERE status = 'suspended' AND hold IN "
        "(SELECT id FROM bulk_suspension WHERE agent = {} AND resumed_at IS NULL)",
        agent_id,
    )
    return {"to_suspend": int(active["n"]), "to_resume": int(held["n"])}


async def suspensions_in_force(actor: Actor, agent_id: int) -> list[dict[str, Any]]:
    """This agent's bulk suspensions not yet reversed, oldest first: when, by whom, why and how
    many."""
    _may(actor)
    await get_agent(actor, agent_id)
    holds = await SubscriberHold.select().where(_in_force(agent_id)).order_by(SubscriberHold.id)
    users = {row["created_by"] for row in holds if row["created_by"] is not None}
    names = (
        {
            row["id"]: row["username"]
            for row in await User.select(User.id, User.username).where(User.id.is_in(list(users)))
        }
        if users
        else {}
    )
    return [
        {
            "id": row["id"],
            "at": row["created_at"],
            "username": names.get(row["created_by"], ""),
            "reason": row["reason"],
            "count": row["subscribers"],
        }
        for row in holds
    ]


async def suspend_subscribers(actor: Actor, agent_id: int, reason: object) -> dict[str, Any]:
    """Suspend every active subscriber of the agent's subtree (停机保号: number and balance kept)
    and hold them in a new bulk suspension; audited once for the agent and once per subscriber;
    refused when there is none. Operator admins only."""
    _may(actor)
    why = checked_reason(reason)
    async with transaction():
        agent = await get_agent(actor, agent_id)
        low, high = subtree_bounds(agent["path"])
        active = await sql.fetch(
            "SELECT s.id FROM subscriber s JOIN agent a ON a.id = s.agent "
            "WHERE s.status = 'active' AND a.path >= {} AND a.path < {} ORDER BY s.id",
            low,
            high,
        )
        if not active:
            raise Conflict(N_("This agent and its sub-agents have no active subscriber to suspend."))
        hold = (
            await SubscriberHold.insert(
                SubscriberHold(agent=agent_id, reason=why, created_by=actor.user_id, created_at=now())
            ).returning(SubscriberHold.id)
        )[0]["id"]
        count = 0
        for part in _chunks([row["id"] for row in active]):
            # Only those still active: one changed meanwhile keeps its status and its hold.
            moved = await sql.fetch(
                f"UPDATE subscriber SET status = 'suspended', hold = {{}} "
                f"WHERE status = 'active' AND id IN ({sql.marks(part)}) RETURNING id, agent",
                hold,
                *part,
            )
            count += len(moved)
            await _record_each(
                actor,
                "subscriber.suspend",
                moved,
                agent["path"],
                "active",
                {"status": "suspended", "reason": why, "bulk": hold},
            )
        if not count:  # rolls the hold back
            raise Conflict(N_("This agent and its sub-agents have no active subscriber to suspend."))
        await SubscriberHold.update({SubscriberHold.subscribers: count}).where(SubscriberHold.id == hold)
        await audit.record(
            actor,
            SUSPEND_ACTION,
            target_type="agent",
            target_id=agent_id,
            scope_path=agent["path"],
            after={"reason": why, "count": count},
        )
    return {"agent_id": agent_id, "count": count, "reason": why}


async def resume_subscribers(actor: Actor, agent_id: int, reason: object) -> dict[str, Any]:
    """Reverse the agent's bulk suspensions in force: resume the subscribers they still hold
    (those nothing has changed since). Operator admins only."""
    _may(actor)
    why = checked_reason(reason)
    async with transaction():
        agent = await get_agent(actor, agent_id)
        # Claimed by this update: a concurrent reversal finds none left in force.
        holds = await (
            SubscriberHold.update({SubscriberHold.resumed_by: actor.user_id, SubscriberHold.resumed_at: now()})
            .where(_in_force(agent_id))
            .returning(SubscriberHold.id)
        )
        if not holds:
            raise Conflict(N_("No bulk suspension of this agent's subscribers is in force."))
        count = 0
        for hold in sorted(row["id"] for row in holds):
            moved = await sql.fetch(
                "UPDATE subscriber SET status = 'active', hold = NULL WHERE hold = {} AND status = 'suspended' "
                "RETURNING id, agent",
                hold,
            )
            count += len(moved)
            await _record_each(
                actor,
                "subscriber.resume",
                moved,
                agent["path"],
                "suspended",
                {"status": "active", "reason": why, "bulk": hold},
            )
        await audit.record(
            actor,
            RESUME_ACTION,
            target_type="agent",
            target_id=agent_id,
            scope_path=agent["path"],
            after={"reason": why, "count": count, "reverses": sorted(row["id"] for row in holds)},
        )
    return {"agent_id": agent_id, "count": count, "reason": why}
