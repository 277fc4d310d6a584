"""Support queues (R-26): tickets sorted by due time, each with its clock's state and the
business time left or overdue, derived when read (never left stale by a periodic job)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agency.roles import Actor
from agency.tree import subtree_bounds
from core import sql
from core.clock import now
from core.db import MAX_PAGE
from core.errors import Forbidden
from support import sla
from support.business_time import WorkingTimeSpan
from support.calendars import current_calendar
from support.tickets import OPEN, STATUSES, clock_states, running_clock

# The page's columns: the ticket's, its agent's brand and its subscriber's account number. Fixed
# SQL (core.sql): Piccolo spent about a millisecond of a page's four building these two joins and
# turning the rows into dicts.
_TICKET_COLUMNS = (
    "id subject priority category status queue agent subscriber assignee reported_at next_due_at "
    "first_response_due_at first_response_warn_at first_responded_at first_response_late_by "
    "forward_due_at forward_warn_at forwarded_at forward_late_by forward_in_working_time "
    "resolution_due_at resolution_warn_at resolved_at resolution_late_by resolution_in_working_time "
    "pending_since"
).split()
_COLUMNS = ", ".join(
    [*(f"t.{name}" for name in _TICKET_COLUMNS), "a.brand_name AS agent_name", "s.account_number AS account_number"]
)
_FROM = "FROM ticket t LEFT JOIN agent a ON a.id = t.agent LEFT JOIN subscriber s ON s.id = t.subscriber"
COUNT_CAP = 1000  # a queue counts at most this far (the index walk stays short); beyond: "more than"


@dataclass(frozen=True)
class QueueQuery:
    """One page of a queue and its capped count: SQL with `{}` placeholders, and their values."""

    page_sql: str
    count_sql: str
    args: tuple

    async def rows(self) -> list[dict[str, Any]]:
        return await sql.fetch(self.page_sql, *self.args)

    async def count(self) -> int:
        """How many tickets, counted up to COUNT_CAP + 1 by the database."""
        return (await sql.fetch_one(self.count_sql, *self.args))["n"]


def queue_queries(
    actor: Actor,
    *,
    queue: str = "",
    status: str = "",
    priority: str = "",
    agent_id: int | None = None,
    assignee: str = "",
    page: int = 1,
    per_page: int = 50,
    urgent: bool = False,
    walk_due_times: bool = False,
) -> QueueQuery:
    """The queries of one page of the queue and of its capped count. `assignee` is "me", "none"
    or a user id. `urgent`: only the tickets whose first response is at risk or overdue. With
    `walk_due_times`, an agent's subtree is checked ticket by ticket along the due-time index
    (see list_queue)."""
    conditions: list[str] = []
    args: list[Any] = []

    def where(condition: str, *values: Any) -> None:
        conditions.append(condition)
        args.extend(values)

    if not actor.is_operator:
        low, high = subtree_bounds(actor.scope_path)
        if walk_due_times:  # the unary plus keeps SQLite from looking tickets up by agent (and sorting them all)
            where("+t.agent IN (SELECT id FROM agent WHERE path >= {} AND path < {})", low, high)
        else:
            where("a.path >= {} AND a.path < {}", low, high)
    if queue in ("agent", "operator"):
        where("t.queue = {}", queue)
    closed = status in STATUSES and status not in OPEN
    if status in STATUSES:
        where("t.status = {}", status)
    if not closed:
        where("t.next_due_at IS NOT NULL")  # open or pending: the queue's index
    if priority:
        where("t.priority = {}", priority[:16])
    if agent_id is not None:
        where("t.agent = {}", agent_id)
    if assignee == "me":
        where("t.assignee = {}", actor.user_id)
    elif assignee == "none":
        where("t.assignee IS NULL")
    elif assignee.isascii() and assignee.isdigit() and len(assignee) < 10:
        where("t.assignee = {}", int(assignee))
    if urgent:
        where("t.first_responded_at IS NULL AND t.first_response_warn_at <= {}", now())
    page, per_page = max(1, min(page, MAX_PAGE)), max(1, min(per_page, 100))
    filtered = f"{_FROM} WHERE {' AND '.join(conditions) or '1 = 1'}"
    order = "t.id DESC" if closed else "t.next_due_at"
    return QueueQuery(
        page_sql=f"SELECT {_COLUMNS} {filtered} ORDER BY {order} LIMIT {per_page} OFFSET {(page - 1) * per_page}",
        count_sql=f"SELECT COUNT(*) AS n FROM (SELECT t.id {filtered} LIMIT {COUNT_CAP + 1}) AS capped",
        args=tuple(args),
    )


async def list_queue(
    actor: Actor, *, page: int = 1, per_page: int = 50, **filters: Any
) -> tuple[list[dict[str, Any]], int]:
    """Open work first, the most urgent running clock first (`Ticket.next_due_at`, indexed); closed
    work newest first. Operator staff see every queue; an agent's users see their subtree's
    tickets, escalated ones included (they stay the agent's customers). Filters: see
    `queue_queries`. The total is exact up to COUNT_CAP; COUNT_CAP + 1 means "more"."""
    if not actor.can("view_tickets"):
        raise Forbidden()
    query = queue_queries(actor, page=page, per_page=per_page, **filters)
    total = await query.count()
    if total > COUNT_CAP and not actor.is_operator and sql.engine_type() == "sqlite":
        # SQLite, without statistics, finds a subtree's tickets by agent and sorts them: quick for
        # a small subtree, slow for a big one, which the due-time index serves better.
        query = queue_queries(actor, page=page, per_page=per_page, walk_due_times=True, **filters)
    rows = await query.rows()
    _add_clocks(await current_calendar(), rows, now())
    return rows, total


def _add_clocks(cal, rows: list[dict[str, Any]], at) -> None:
    """Each row's queue state (that of its most urgent running clock) and the time left on it,
    counted as that clock counts; the working time of the whole page in one calendar pass."""
    clocks = {row["id"]: running_clock(row) for row in rows}
    span = WorkingTimeSpan(cal, [at, *(clock[1] for clock in clocks.values() if clock and clock[2])])
    for row in rows:
        clock = clocks[row["id"]]
        states = clock_states(row, at)
        row["state"] = states[clock[0]] if clock else states["first_response"]
        row["running_clock"] = clock[0] if clock else None
        row["due_at"] = clock[1] if clock else None
        row["counts_working_time"] = clock[2] if clock else True
        if clock is None or row["state"] == sla.MET:
            row["seconds_left"] = None
        else:
            _name, due, working = clock
            row["seconds_left"] = span.between(at, due) if working else int(due.timestamp() - at.timestamp())


async def urgent_count(actor: Actor) -> int:
    """The actor's open tickets whose first response is at risk or overdue (for the dashboard),
    counted up to COUNT_CAP + 1."""
    if not actor.can("view_tickets"):
        return 0
    return await queue_queries(actor, urgent=True).count()
