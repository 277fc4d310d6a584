"""SLA reports (R-27): first-response compliance by period, queue, priority, staff member and
agent; median and p90 first response in business time; the list of breaches."""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field
from typing import Any

from agency.roles import Actor
from agency.tree import in_subtree
from core.clock import now
from core.errors import Forbidden
from support import sla
from support.business_time import BusinessCalendar, business_time_between
from support.calendars import current_calendar
from support.tables import Ticket

DIMENSIONS = ("week", "month", "queue", "priority", "staff", "agent")
MAX_BREACHES_LISTED = 500  # the worst ones; breach_count says how many there are in all


@dataclass
class Group:
    key: str
    met: int = 0
    breached: int = 0
    open: int = 0
    response_seconds: list[int] = field(default_factory=list)

    @property
    def compliance_percent(self) -> float | None:
        decided = self.met + self.breached
        return round(100 * self.met / decided, 1) if decided else None

    def as_dict(self) -> dict[str, Any]:
        seconds = sorted(self.response_seconds)
        return {
            "key": self.key,
            "met": self.met,
            "breached": self.breached,
            "open": self.open,
            "compliance_percent": self.compliance_percent,
            "median_first_response_seconds": int(statistics.median(seconds)) if seconds else None,
            "p90_first_response_seconds": seconds[min(len(seconds) - 1, int(len(seconds) * 0.9))] if seconds else None,
        }


def _key(row: dict[str, Any], dimension: str, zone: dt.tzinfo) -> str:
    if dimension == "week":
        year, week, _day = row["reported_at"].astimezone(zone).isocalendar()
        return f"{year}-W{week:02d}"
    if dimension == "month":
        return row["reported_at"].astimezone(zone).strftime("%Y-%m")
    if dimension == "staff":
        return str(row["first_responder"] or "—")
    if dimension == "agent":
        return row["agent_name"]
    return str(row[dimension])


def summarize(
    rows: list[dict[str, Any]], dimension: str, cal: BusinessCalendar, at: dt.datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Pure: groups with compliance and response times, and the breaches with "breached by"."""
    groups: dict[str, Group] = {}
    breaches = []
    for row in rows:
        state = sla.first_response_state(
            row["first_response_due_at"], row["first_response_warn_at"], row["first_responded_at"], at
        )
        key = _key(row, dimension, cal.zone)
        group = groups.get(key) or groups.setdefault(key, Group(key))
        if state == sla.MET:
            group.met += 1
        elif state == sla.BREACHED:
            group.breached += 1
            end = row["first_responded_at"] or at
            breaches.append(
                {
                    "id": row["id"],
                    "subject": row["subject"],
                    "agent_name": row["agent_name"],
                    "due_at": row["first_response_due_at"],
                    "breached_by_seconds": business_time_between(cal, row["first_response_due_at"], end),
                }
            )
        else:
            group.open += 1
        if row["first_responded_at"] is not None:
            group.response_seconds.append(business_time_between(cal, row["reported_at"], row["first_responded_at"]))
    return [groups[k].as_dict() for k in sorted(groups)], breaches


async def sla_report(
    actor: Actor, *, since: dt.datetime, until: dt.datetime, dimension: str = "week"
) -> dict[str, Any]:
    """Tickets reported in [since, until) that the actor may see, grouped by `dimension`."""
    if not actor.can("view_tickets"):
        raise Forbidden()
    dimension = dimension if dimension in DIMENSIONS else "week"
    query = Ticket.select(
        Ticket.id,
        Ticket.subject,
        Ticket.queue,
        Ticket.priority,
        Ticket.reported_at,
        Ticket.first_response_due_at,
        Ticket.first_response_warn_at,
        Ticket.first_responded_at,
        Ticket.first_responder,
        Ticket.agent.brand_name.as_alias("agent_name"),
    ).where((Ticket.reported_at >= since) & (Ticket.reported_at < until))
    if (scope := in_subtree(actor, Ticket.agent.path)) is not None:
        query = query.where(scope)
    rows = await query.order_by(Ticket.reported_at)
    groups, breaches = summarize(rows, dimension, await current_calendar(), now())
    breaches.sort(key=lambda b: b["breached_by_seconds"], reverse=True)
    overall = Group("", met=sum(g["met"] for g in groups), breached=sum(g["breached"] for g in groups))
    return {
        "dimension": dimension,
        "since": since,
        "until": until,
        "groups": groups,
        "breaches": breaches[:MAX_BREACHES_LISTED],
        "breach_count": len(breaches),
        "tickets": len(rows),
        "compliance_percent": overall.compliance_percent,
    }
