"""Support queues (R-26): tickets sorted by due time, each with its clock's state and the
business time left or overdue, derived when read (never left stale by a periodic job)."""

from __future__ import annotations

from typing import Any

from agency.roles import Actor
from agency.tree import in_subtree
from core.clock import now
from core.db import fetch_page
from core.errors import Forbidden
from support import sla
from support.calendars import current_calendar
from support.tables import Ticket
from support.tickets import STATUSES, clock_states

COLUMNS = (
    Ticket.id,
    Ticket.subject,
    Ticket.priority,
    Ticket.category,
    Ticket.status,
    Ticket.queue,
    Ticket.agent,
    Ticket.subscriber,
    Ticket.assignee,
    Ticket.reported_at,
    Ticket.first_response_due_at,
    Ticket.first_response_warn_at,
    Ticket.first_responded_at,
    Ticket.resolution_due_at,
    Ticket.resolved_at,
    Ticket.pending_since,
    Ticket.agent.brand_name.as_alias("agent_name"),
    Ticket.subscriber.account_number.as_alias("account_number"),
)


async def list_queue(
    actor: Actor,
    *,
    queue: str = "",
    status: str = "",
    priority: str = "",
    agent_id: int | None = None,
    assignee: str = "",
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Open work first, the most urgent first. Operator staff see every queue; an agent's users
    see their subtree's tickets, escalated ones included (they stay the agent's customers).
    `assignee` is "me", "none" or a user id."""
    if not actor.can("view_tickets"):
        raise Forbidden()
    conditions = [in_subtree(actor, Ticket.agent.path)]
    if queue in ("agent", "operator"):
        conditions.append(Ticket.queue == queue)
    conditions.append(
        Ticket.status.is_in([status] if status in STATUSES else ["open", "pending"])
    )
    if priority:
        conditions.append(Ticket.priority == priority[:16])
    if agent_id is not None:
        conditions.append(Ticket.agent == agent_id)
    if assignee == "me":
        conditions.append(Ticket.assignee == actor.user_id)
    elif assignee == "none":
        conditions.append(Ticket.assignee.is_null())
    elif assignee.isascii() and assignee.isdigit() and len(assignee) < 10:
        conditions.append(Ticket.assignee == int(assignee))
    rows, total = await fetch_page(
        Ticket.select(*COLUMNS),
        Ticket.count(),
        conditions,
        Ticket.first_response_due_at,
        page=page,
        per_page=per_page,
        ascending=True,
    )
    cal = await current_calendar()
    at = now()
    for row in rows:
        states = clock_states(row, at)
        row["state"] = (
            states["first_response"]
            if row["first_responded_at"] is None
            else (states["resolution"] or states["first_response"])
        )
        due = row["first_response_due_at"] if row["first_responded_at"] is None else row["resolution_due_at"]
        row["seconds_left"] = sla.business_seconds_left(cal, at, due) if due and row["state"] != sla.MET else None
    return rows, total


async def urgent_count(actor: Actor) -> int:
    """The actor's open tickets whose first response is at risk or overdue (for the dashboard)."""
    if not actor.can("view_tickets"):
        return 0
    return await Ticket.count().where(
        in_subtree(actor, Ticket.agent.path),
        Ticket.status.is_in(["open", "pending"]),
        Ticket.first_responded_at.is_null(),
        Ticket.first_response_warn_at <= now(),
    )
