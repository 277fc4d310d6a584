"""The audit log (R-32): append-only records of who changed what, from where, before and after."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from piccolo.utils.encoding import dump_json

from agency.roles import Actor
from agency.tables import AuditEntry
from agency.tree import in_subtree
from core import sql
from core.clock import now
from core.db import bulk_insert, fetch_page, in_transaction, lifting_append_only, transaction
from core.errors import Forbidden

MIN_RETENTION_DAYS = 30
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
        "INSERT INTO audit_entry (at, user_id, username, role, actor_agent_id, address, action, target_type, "
        "target_id, scope_path, before, after) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
        *_values(actor, action, target_type, target_id, scope_path, before, after, username, address),
    )


# Entries of record_refusal waiting for the next grouped write, per event loop, with the future
# that write resolves; and the writes under way (a task needs a reference until it is done).
_waiting: dict[int, tuple[list[tuple], asyncio.Future]] = {}
_writes: set[asyncio.Task] = set()


async def record_refusal(
    actor: Actor | None, action: str, *, counting: Callable[[], Awaitable[None]] | None = None, **fields: Any
) -> None:
    """Write the entry of a refused attempt (a wrong or unchecked secret), with `counting`, the
    throttle's count of the failure (`Attempt.failed`), in the same commit. An entry with nothing
    else to write (refused while locked: the secret was not even checked) commits together with
    whatever entries other requests are waiting to write at that moment: one commit for a burst
    instead of one each (group commit). Returns once the entry is committed.

    A flood of refused logins otherwise queues hundreds of commits a second for the one SQLite
    writer (or the WAL on PostgreSQL), ahead of the switch's authorizations."""
    if counting is not None or in_transaction():
        async with transaction():
            if counting is not None:
                await counting()
            await record(actor, action, **fields)
        return
    loop = asyncio.get_running_loop()
    if id(loop) not in _waiting:
        _waiting[id(loop)] = ([], loop.create_future())
        task = loop.create_task(_write_waiting(id(loop)))
        _writes.add(task)
        task.add_done_callback(_writes.discard)
    rows, written = _waiting[id(loop)]
    rows.append(_entry(actor, action, **fields))
    await asyncio.shield(written)


def _entry(
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
) -> tuple:
    return _values(actor, action, target_type, target_id, scope_path, before, after, username, address)


async def _write_waiting(loop_id: int) -> None:
    written = None
    try:
        async with transaction():
            # Taken once the writer's turn has come: whatever joined meanwhile is in this commit.
            rows, written = _waiting.pop(loop_id)
            await bulk_insert("audit_entry", _COLUMNS, rows)
    except BaseException as exc:
        if written is None:  # failed before taking the entries: they fail with it
            _rows, written = _waiting.pop(loop_id)
        if isinstance(exc, Exception):
            written.set_exception(exc)
        else:
            written.cancel()
            raise
    else:
        written.set_result(None)


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


async def purge(retention_days: int) -> int:
    """Delete entries older than the retention period (never less than 30 days). The audit log is
    append-only in the database; this is the one sanctioned way through (the permit of
    core.db.lifting_append_only), and the purge itself is audited."""
    days = max(retention_days, MIN_RETENTION_DAYS)
    cutoff = now() - dt.timedelta(days=days)
    async with transaction(), lifting_append_only("audit purge"):
        old = await AuditEntry.count().where(AuditEntry.at < cutoff)
        if old:
            await AuditEntry.delete().where(AuditEntry.at < cutoff)
            await record(
                None,
                "audit.purge",
                username="system",
                after={"before": cutoff.isoformat(), "entries": old, "retention_days": days},
            )
    return old
