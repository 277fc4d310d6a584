"""The audit log (R-32): append-only records of who changed what, from where, before and after."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from piccolo.utils.encoding import dump_json

from agency.roles import Actor
from agency.tables import AuditEntry
from agency.tree import in_subtree
from core import sql
from core.clock import now
from core.db import bulk_insert, fetch_page
from core.errors import Forbidden

MIN_RETENTION_DAYS = 30
# The operator's bulk suspension of an agent's subscribers (accounts.bulk) is reversed from these
# records: the suspension (its id names it), the subscribers' status changes since, and the
# reversal that names what it reverses. `purge` keeps them while a suspension is in force.
BULK_SUSPEND = "agent.subscribers_suspend"
BULK_RESUME = "agent.subscribers_resume"
SUBSCRIBER_STATUS_ACTIONS = ("subscriber.suspend", "subscriber.resume", "subscriber.close")
_INSERT = (
    "INSERT INTO audit_entry (at, user_id, username, role, actor_agent_id, address, action, target_type, "
    "target_id, scope_path, before, after) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})"
)
_COLUMNS = (
    "at",
    "user_id",
    "username",
    "role",
    "actor_agent_id",
    "address",
    "action",
    "target_type",
    "target_id",
    "scope_path",
    "before",
    "after",
)


async def record(
    actor: Actor | None,
    action: str,
    *,
    target_type: str = "",
    target_id: object = "",
    scope_path: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    username: str = "",
    address: str = "",
) -> None:
    """Write one entry. Call inside the use case's transaction so that the change and its
    record commit together."""
    await sql.execute(
        _INSERT, *_values(actor, action, target_type, target_id, scope_path, before, after, username, address)
    )


async def record_returning_id(
    actor: Actor | None,
    action: str,
    *,
    target_type: str = "",
    target_id: object = "",
    scope_path: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> int:
    """`record`, answering the new entry's id (for entries that later ones refer to)."""
    row = await sql.fetch_one(
        _INSERT + " RETURNING id", *_values(actor, action, target_type, target_id, scope_path, before, after, "", "")
    )
    return row["id"]


async def record_many(
    actor: Actor, action: str, entries: list[tuple[str, object, str, dict | None, dict | None]]
) -> int:
    """One entry per (target_type, target_id, scope_path, before, after), written in bulk (COPY on
    PostgreSQL) inside the caller's transaction; for a change of many rows at once."""
    return await bulk_insert(
        "audit_entry",
        _COLUMNS,
        (
            _values(actor, action, target_type, target_id, scope_path, before, after, "", "")
            for target_type, target_id, scope_path, before, after in entries
        ),
    )


def _values(
    actor: Actor | None,
    action: str,
    target_type: str,
    target_id: object,
    scope_path: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    username: str,
    address: str,
) -> tuple:
    return (
        now(),
        actor.user_id if actor else None,
        (actor.username if actor else username)[:64],
        actor.role if actor else "",
        actor.agent_id if actor else None,
        (actor.address if actor else address)[:64],
        action,
        target_type,
        str(target_id),
        scope_path if scope_path else (actor.agent_path if actor else ""),
        _json(before),
        _json(after),
    )


def _json(values: dict[str, Any] | None) -> str | None:
    return None if values is None else dump_json(_jsonable(values))  # as Piccolo writes JSON columns


def _jsonable(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in values.items()}


@dataclass(frozen=True)
class AuditFilter:
    action: str = ""
    username: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None


async def list_entries(actor: Actor, flt: AuditFilter, *, page: int = 1, per_page: int = 50) -> tuple[list[dict], int]:
    """Entries the actor may see (the operator: all; an agent owner: its subtree), newest first."""
    if not actor.can("view_audit"):
        raise Forbidden()
    query = AuditEntry.select()
    count = AuditEntry.count()
    conditions = [in_subtree(actor, AuditEntry.scope_path)]
    if flt.action:
        conditions.append(AuditEntry.action == flt.action)
    if flt.username:
        conditions.append(AuditEntry.username == flt.username)
    if flt.since:
        conditions.append(AuditEntry.at >= flt.since)
    if flt.until:
        conditions.append(AuditEntry.at < flt.until)
    return await fetch_page(
        query.output(load_json=True), count, conditions, AuditEntry.id, page=page, per_page=per_page
    )


async def bulk_suspensions_in_force(agent_id: int | None = None) -> list[dict[str, Any]]:
    """The bulk suspensions of subscribers (of one agent, or all) that no reversal names yet,
    oldest first: their entries, with `after` holding the reason and the count."""
    condition = AuditEntry.action == BULK_SUSPEND
    reversals = AuditEntry.action == BULK_RESUME
    if agent_id is not None:
        condition &= AuditEntry.target_id == str(agent_id)
        reversals &= AuditEntry.target_id == str(agent_id)
    suspensions = await AuditEntry.select().where(condition).order_by(AuditEntry.id).output(load_json=True)
    if not suspensions:
        return []
    reversed_ids: set[int] = set()
    for row in await AuditEntry.select(AuditEntry.after).where(reversals).output(load_json=True):
        reversed_ids.update((row["after"] or {}).get("reverses") or [])
    return [row for row in suspensions if row["id"] not in reversed_ids]


async def purge(retention_days: int) -> int:
    """Delete entries older than the retention period (never less than 30 days), except what a
    bulk suspension still in force is reversed from: its entry and the subscribers' status
    changes since (BULK_SUSPEND)."""
    days = max(retention_days, MIN_RETENTION_DAYS)
    cutoff = now() - dt.timedelta(days=days)
    condition = AuditEntry.at < cutoff
    in_force = await bulk_suspensions_in_force()
    if in_force:
        kept = (*SUBSCRIBER_STATUS_ACTIONS, BULK_SUSPEND, BULK_RESUME)
        condition &= (AuditEntry.id < in_force[0]["id"]) | AuditEntry.action.not_in(list(kept))
    old = await AuditEntry.count().where(condition)
    if old:
        await AuditEntry.delete().where(condition)
    return old
