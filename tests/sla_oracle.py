"""The SLA report as it was computed before issue 14, one ticket at a time in Python with the
business-time arithmetic per ticket: kept as the oracle the SQL report must agree with."""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass, field
from typing import Any

from support import sla
from support.business_time import BusinessCalendar, business_time_between


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
