"""SLA reports (R-27, issue 14): compliance of the first-response, forwarding and resolution clocks
by period, queue, priority, staff member and agent; median and p90 first response in working time;
the list of breaches.

Aggregated in SQL from what each ticket stored when its clock stopped (support.tickets): counts
by GROUP BY, the median and p90 by window functions (the same on SQLite and PostgreSQL, and exact:
the median of an even count is the mean of the middle two, rounded down; p90 is the value at
index floor(0.9 n) of the sorted values). Working time is computed here only for the tickets whose
first response is still missing and overdue, all at once (business_time.WorkingTimeSpan)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from agency.roles import Actor
from agency.tree import subtree_bounds
from core import sql
from core.clock import now
from core.errors import Forbidden
from support.business_time import BusinessCalendar, WorkingTimeSpan
from support.calendars import current_calendar

DIMENSIONS = ("week", "month", "queue", "priority", "staff", "agent")
CLOCKS = ("first_response", "forward", "resolution")
MAX_BREACHES_LISTED = 500  # the worst ones; breach_count says how many there are in all

# Per clock: its due time, the time it stopped, and the lateness stored when it stopped late.
_COLUMNS = {
    "first_response": ("first_response_due_at", "first_responded_at", "first_response_late_by"),
    "forward": ("forward_due_at", "forwarded_at", "forward_late_by"),
    "resolution": ("resolution_due_at", "resolved_at", "resolution_late_by"),
}


def compliance_percent(met: int, breached: int) -> float | None:
    decided = met + breached
    return round(100 * met / decided, 1) if decided else None


@dataclass(frozen=True)
class _Filter:
    """The WHERE clause of the report's tickets and its parameters."""

    sql: str
    args: tuple


def _filter(actor: Actor, since: dt.datetime, until: dt.datetime) -> _Filter:
    where, args = "t.reported_at >= {} AND t.reported_at < {}", [since, until]
    if not actor.is_operator:
        low, high = subtree_bounds(actor.scope_path)
        where += " AND t.agent IN (SELECT id FROM agent WHERE path >= {} AND path < {})"
        args += [low, high]
    return _Filter(where, tuple(args))


def periods(dimension: str, cal: BusinessCalendar, since: dt.datetime, until: dt.datetime) -> list[tuple]:
    """The weeks (ISO, Monday first) or months, in the calendar's zone, that [since, until) touches:
    (label, start) in order; the first starts at or before `since`."""
    zone = cal.zone
    day = since.astimezone(zone).date()
    day = day - dt.timedelta(days=day.weekday()) if dimension == "week" else day.replace(day=1)
    found = []
    while (start := dt.datetime.combine(day, dt.time(), zone)) < until:
        if dimension == "week":
            year, week, _ = day.isocalendar()
            found.append((f"{year}-W{week:02d}", start))
            day += dt.timedelta(days=7)
        else:
            found.append((day.strftime("%Y-%m"), start))
            day = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return found


def _period_index(starts: list[dt.datetime], low: int, high: int, args: list) -> str:
    """A CASE expression giving the index in [low, high) of the period a ticket was reported in,
    by bisection over the periods' starts (a handful of comparisons a row)."""
    if high - low == 1:
        return str(low)
    middle = (low + high) // 2
    args.append(starts[middle])  # placeholders are positional: appended in the order they appear
    left = _period_index(starts, low, middle, args)
    right = _period_index(starts, middle, high, args)
    return f"CASE WHEN t.reported_at < {{}} THEN {left} ELSE {right} END"


def _key(dimension: str, cal: BusinessCalendar, since: dt.datetime, until: dt.datetime) -> tuple[str, list, list]:
    """The grouping expression, its parameters, and the period labels (week and month)."""
    if dimension in ("week", "month"):
        found = periods(dimension, cal, since, until)
        args: list = []
        return _period_index([start for _, start in found], 0, len(found), args), args, [label for label, _ in found]
    column = {"queue": "t.queue", "priority": "t.priority", "staff": "t.first_responder", "agent": "t.agent"}
    return column[dimension], [], []


def _counts_sql(key: str, where: str) -> str:
    parts = [f"{key} AS k", "COUNT(*) AS tickets"]
    for clock, (due, stopped, late) in _COLUMNS.items():
        breached = f"t.{late} IS NOT NULL OR (t.{stopped} IS NULL AND t.{due} < {{}})"
        met = f"t.{stopped} IS NOT NULL AND t.{late} IS NULL"
        parts += [
            f"SUM(CASE WHEN t.{due} IS NULL THEN 0 WHEN {breached} THEN 1 ELSE 0 END) AS {clock}_breached",
            f"SUM(CASE WHEN t.{due} IS NOT NULL AND {met} THEN 1 ELSE 0 END) AS {clock}_met",
            f"SUM(CASE WHEN t.{due} IS NULL THEN 0 ELSE 1 END) AS {clock}_clocks",
        ]
    return f"SELECT {', '.join(parts)} FROM ticket t WHERE {where} GROUP BY 1"


def _percentiles_sql(key: str, where: str) -> str:
    """The median and p90 first response per group; `i` is the 0-based rank, `n` the group's size."""
    return (
        "SELECT k, SUM(CASE WHEN i = (n - 1) / 2 OR i = n / 2 THEN s ELSE 0 END) / (2 - n % 2) AS median,"
        " MAX(CASE WHEN i = n * 9 / 10 THEN s END) AS p90"
        " FROM (SELECT k, s, ROW_NUMBER() OVER (PARTITION BY k ORDER BY s) - 1 AS i,"
        " COUNT(*) OVER (PARTITION BY k) AS n"
        f" FROM (SELECT {key} AS k, t.first_response_seconds AS s FROM ticket t"
        f" WHERE {where} AND t.first_response_seconds IS NOT NULL) AS answered) AS ranked"
        " WHERE i = (n - 1) / 2 OR i = n / 2 OR i = n * 9 / 10 GROUP BY k, n"
    )


async def _labels(dimension: str, keys: list, periods_found: list[str]) -> dict[Any, str]:
    """What each group is called: a period, a staff member's name, an agent's brand."""
    if dimension in ("week", "month"):
        return {index: label for index, label in enumerate(periods_found)}
    ids = [key for key in keys if key is not None]
    if dimension == "staff" and ids:
        rows = await sql.fetch(f"SELECT id, display_name, username FROM app_user WHERE id IN ({sql.marks(ids)})", *ids)
        names = {row["id"]: row["display_name"] or row["username"] for row in rows}
        return {**names, None: "—"}
    if dimension == "agent" and ids:
        rows = await sql.fetch(f"SELECT id, brand_name FROM agent WHERE id IN ({sql.marks(ids)})", *ids)
        return {row["id"]: row["brand_name"] for row in rows}
    return {key: "—" if key is None else str(key) for key in keys}


async def _breaches(where: _Filter, cal: BusinessCalendar, at: dt.datetime) -> tuple[list[dict], int]:
    """The worst first-response breaches: those answered late (their lateness stored) and those
    still unanswered past due (worked out now, all in one pass over the calendar)."""
    columns = "t.id, t.subject, a.brand_name AS agent_name, t.first_response_due_at AS due_at"
    late = await sql.fetch(
        f"SELECT {columns}, t.first_response_late_by AS breached_by_seconds FROM ticket t"
        f" JOIN agent a ON a.id = t.agent WHERE {where.sql} AND t.first_response_late_by IS NOT NULL"
        f" ORDER BY t.first_response_late_by DESC, t.id LIMIT {MAX_BREACHES_LISTED}",
        *where.args,
    )
    overdue = await sql.fetch(
        f"SELECT {columns} FROM ticket t JOIN agent a ON a.id = t.agent WHERE {where.sql}"
        " AND t.first_responded_at IS NULL AND t.first_response_due_at < {}",
        *where.args,
        at,
    )
    for row in (*late, *overdue):
        row["due_at"] = _aware(row["due_at"])
    span = WorkingTimeSpan(cal, [*(row["due_at"] for row in overdue), at])
    for row in overdue:
        row["breached_by_seconds"] = span.between(row["due_at"], at)
    worst = sorted((*late, *overdue), key=lambda row: (-row["breached_by_seconds"], row["id"]))
    return worst[:MAX_BREACHES_LISTED], len(overdue)


def _aware(value: dt.datetime | str) -> dt.datetime:
    """A timestamp as the driver gave it (SQLite: text in UTC) as an aware datetime."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


async def sla_report(
    actor: Actor, *, since: dt.datetime, until: dt.datetime, dimension: str = "week"
) -> dict[str, Any]:
    """Tickets reported in [since, until) that the actor may see, grouped by `dimension`."""
    if not actor.can("view_tickets"):
        raise Forbidden()
    dimension = dimension if dimension in DIMENSIONS else "week"
    cal, at = await current_calendar(), now()
    where = _filter(actor, since, until)
    key, key_args, found = _key(dimension, cal, since, until)
    counts = await sql.fetch(_counts_sql(key, where.sql), *key_args, at, at, at, *where.args)
    percentiles = {row["k"]: row for row in await sql.fetch(_percentiles_sql(key, where.sql), *key_args, *where.args)}
    names = await _labels(dimension, [row["k"] for row in counts], found)
    groups = []
    for row in counts:
        group = {"key": names.get(row["k"], str(row["k"])), "tickets": row["tickets"]}
        for clock in CLOCKS:
            met, breached = int(row[f"{clock}_met"] or 0), int(row[f"{clock}_breached"] or 0)
            group[f"{clock}_met"], group[f"{clock}_breached"] = met, breached
            group[f"{clock}_open"] = int(row[f"{clock}_clocks"] or 0) - met - breached
            group[f"{clock}_compliance_percent"] = compliance_percent(met, breached)
        shares = percentiles.get(row["k"], {})
        group["median_first_response_seconds"] = _int(shares.get("median"))
        group["p90_first_response_seconds"] = _int(shares.get("p90"))
        # the first-response clock under its original names, as the API has always answered
        group.update(
            met=group["first_response_met"],
            breached=group["first_response_breached"],
            open=group["first_response_open"],
            compliance_percent=group["first_response_compliance_percent"],
        )
        group["_order"] = row["k"] if dimension in ("week", "month") else group["key"]
        groups.append(group)
    groups.sort(key=lambda group: group.pop("_order"))
    breaches, overdue = await _breaches(where, cal, at)
    late_answered = sum(group["breached"] for group in groups) - overdue
    totals = {clock: [sum(g[f"{clock}_{part}"] for g in groups) for part in ("met", "breached")] for clock in CLOCKS}
    return {
        "dimension": dimension,
        "since": since,
        "until": until,
        "groups": groups,
        "breaches": breaches,
        "breach_count": late_answered + overdue,
        "tickets": sum(group["tickets"] for group in groups),
        "compliance_percent": compliance_percent(*totals["first_response"]),
        "forward_compliance_percent": compliance_percent(*totals["forward"]),
        "resolution_compliance_percent": compliance_percent(*totals["resolution"]),
    }


def _int(value: object) -> int | None:
    return None if value is None else int(value)
