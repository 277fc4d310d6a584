"""SLA reports (R-27, issue 14): compliance of the first-response, forwarding and resolution clocks
by period, queue, priority, staff member and agent; median and p90 first response in working time;
the list of breaches.

Nothing is worked out per ticket that a ticket stored when its clock stopped (support.tickets):
each clock's outcome and the first response's working seconds and lateness. The counts and the
answered tickets' response times come from the index `ticket_report`, one statement per week or
month (in the index's order: nothing to sort), or one grouped statement for the other dimensions.
The median and p90 are taken from each group's response times (the median of an even count is the
mean of the middle two, rounded down; p90 is the value at index floor(0.9 n) of the sorted
times). Only the clocks still running are read one by one: whether they are overdue depends on
the current time, and an unanswered overdue ticket's "breached by" grows with it (its working time
is worked out for all of them in one pass, business_time.WorkingTimeSpan)."""

from __future__ import annotations

import bisect
import datetime as dt
from collections import Counter
from typing import Any

from agency.roles import Actor
from agency.tree import subtree_bounds
from core import sql
from core.clock import now
from core.errors import Forbidden
from support import sla
from support.business_time import BusinessCalendar, WorkingTimeSpan
from support.calendars import current_calendar
from support.tickets import CLOCK_COLUMNS

DIMENSIONS = ("week", "month", "queue", "priority", "staff", "agent")
CLOCKS = tuple(CLOCK_COLUMNS)
MAX_BREACHES_LISTED = 500  # the worst ones; breach_count says how many there are in all
_GROUP_COLUMNS = {"queue": "queue", "priority": "priority", "staff": "first_responder", "agent": "agent"}


def compliance_percent(met: int, breached: int) -> float | None:
    decided = met + breached
    return round(100 * met / decided, 1) if decided else None


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


def _scope(actor: Actor) -> tuple[str, tuple]:
    """The condition on a ticket's agent for an agent's users (their subtree); none for the operator."""
    if actor.is_operator:
        return "", ()
    low, high = subtree_bounds(actor.scope_path)
    return " AND t.agent IN (SELECT id FROM agent WHERE path >= {} AND path < {})", (low, high)


def _counts_sql(key: str, scope: str, grouped: bool) -> str:
    """Tickets reported in [{}, {}): how many, each clock's met and breached (the running ones are
    read one by one), and the working seconds of the answered ones (a list: concatenated text on
    SQLite, an array on PostgreSQL)."""
    parts = [f"{key} AS k", "COUNT(*) AS tickets"]
    for clock in CLOCKS:
        for outcome in (sla.MET, sla.BREACHED):
            parts.append(f"COUNT(CASE WHEN t.{clock}_outcome = '{outcome}' THEN 1 END) AS {clock}_{outcome}")
    if sql.engine_type() == "postgres":
        parts.append(
            "array_agg(t.first_response_seconds) FILTER (WHERE t.first_response_seconds IS NOT NULL) AS answered"
        )
    else:
        parts.append("group_concat(t.first_response_seconds) AS answered")
    text = f"SELECT {', '.join(parts)} FROM ticket t WHERE t.reported_at >= {{}} AND t.reported_at < {{}}{scope}"
    return text + " GROUP BY 1" if grouped else text


# The condition of the partial index `ticket_running`, word for word, so that the query uses it.
RUNNING = " OR ".join(f"{clock}_outcome = 'running'" for clock in CLOCK_COLUMNS)
_RUNNING_SQL = (
    "SELECT t.id, t.reported_at, t.queue, t.priority, t.first_responder, t.agent, "
    + ", ".join(f"t.{clock}_outcome, t.{due}" for clock, (due, _stopped, _late) in CLOCK_COLUMNS.items())
    + f" FROM ticket t WHERE ({RUNNING}) AND t.reported_at >= {{}} AND t.reported_at < {{}}{{scope}}"
)


def _sorted_seconds(answered: object) -> list[int]:
    if not answered:
        return []
    if isinstance(answered, str):
        return sorted(map(int, answered.split(",")))
    return sorted(answered)


def _group(key: object, row: dict[str, Any]) -> dict[str, Any]:
    seconds = _sorted_seconds(row["answered"])
    n = len(seconds)
    group: dict[str, Any] = {
        "key": key,
        "tickets": row["tickets"],
        "median_first_response_seconds": (seconds[(n - 1) // 2] + seconds[n // 2]) // 2 if n else None,
        "p90_first_response_seconds": seconds[n * 9 // 10] if n else None,
    }
    for clock in CLOCKS:
        group[f"{clock}_met"] = row[f"{clock}_met"]
        group[f"{clock}_breached"] = row[f"{clock}_breached"]
        group[f"{clock}_open"] = 0  # counted with the running clocks
    return group


async def _groups(dimension, cal, since, until, scope, scope_args) -> tuple[dict[Any, dict], list[tuple]]:
    """The groups by their key (a period's index, or the column's value), and the periods."""
    groups: dict[Any, dict] = {}
    if dimension in ("week", "month"):
        found = periods(dimension, cal, since, until)
        ends = [start for _label, start in found[1:]] + [until]
        query = _counts_sql("0", scope, grouped=False)
        for index, ((_label, start), end) in enumerate(zip(found, ends, strict=True)):
            row = (await sql.fetch(query, max(start, since), min(end, until), *scope_args))[0]
            if row["tickets"]:
                groups[index] = _group(index, row)
        return groups, found
    query = _counts_sql(f"t.{_GROUP_COLUMNS[dimension]}", scope, grouped=True)
    for row in await sql.fetch(query, since, until, *scope_args):
        groups[row["k"]] = _group(row["k"], row)
    return groups, []


def _count_running(groups, running, dimension, found, at) -> list[dict]:
    """Each running clock counted in its group as breached (overdue) or open; returns the tickets
    whose first response is overdue."""
    starts = [start.timestamp() for _label, start in found]
    overdue = []
    for row in running:
        if dimension in ("week", "month"):
            key = bisect.bisect_right(starts, row["reported_at"].timestamp()) - 1
        else:
            key = row[_GROUP_COLUMNS[dimension]]
        group = groups[key]
        for clock, (due, _stopped, _late) in CLOCK_COLUMNS.items():
            if row[f"{clock}_outcome"] != sla.RUNNING:
                continue
            if row[due] >= at:
                group[f"{clock}_open"] += 1
                continue
            group[f"{clock}_breached"] += 1
            if clock == "first_response":
                overdue.append({"id": row["id"], "due_at": row[due]})
    return overdue


async def _breaches(since, until, scope, scope_args, overdue, cal, at) -> list[dict]:
    """The worst first-response breaches: the late answers (their lateness stored) and the
    unanswered overdue tickets (worked out now), with subject and agent."""
    late = await sql.fetch(  # from the index ticket_report alone
        "SELECT t.id, t.first_response_late_by AS breached_by_seconds"
        f" FROM ticket t WHERE t.reported_at >= {{}} AND t.reported_at < {{}}{scope}"
        f" AND t.first_response_outcome = 'breached'"
        f" ORDER BY t.first_response_late_by DESC, t.id LIMIT {MAX_BREACHES_LISTED}",
        since,
        until,
        *scope_args,
    )
    span = WorkingTimeSpan(cal, [*(row["due_at"] for row in overdue), at])
    for row in overdue:
        row["breached_by_seconds"] = span.between(row["due_at"], at)
    worst = sorted((*late, *overdue), key=lambda row: (-row["breached_by_seconds"], row["id"]))
    worst = worst[:MAX_BREACHES_LISTED]
    if not worst:
        return []
    ids = [row["id"] for row in worst]
    described = {
        row["id"]: row
        for row in await sql.fetch(
            "SELECT t.id, t.subject, a.brand_name AS agent_name, t.first_response_due_at AS due_at"
            " FROM ticket t JOIN agent a ON a.id = t.agent"
            f" WHERE t.id IN ({sql.marks(ids)})",
            *ids,
        )
    }
    return [{**described[row["id"]], **row} for row in worst]


async def _labels(dimension: str, keys: list, found: list[tuple]) -> dict[Any, str]:
    """What each group is called: a period, a staff member's name, an agent's brand."""
    if dimension in ("week", "month"):
        return {index: label for index, (label, _start) in enumerate(found)}
    ids = [key for key in keys if key is not None]
    if dimension == "staff" and ids:
        rows = await sql.fetch(f"SELECT id, display_name, username FROM app_user WHERE id IN ({sql.marks(ids)})", *ids)
        return {**{row["id"]: row["display_name"] or row["username"] for row in rows}, None: "—"}
    if dimension == "agent" and ids:
        rows = await sql.fetch(f"SELECT id, brand_name FROM agent WHERE id IN ({sql.marks(ids)})", *ids)
        return {row["id"]: row["brand_name"] for row in rows}
    return {key: "—" if key is None else str(key) for key in keys}


async def sla_report(
    actor: Actor, *, since: dt.datetime, until: dt.datetime, dimension: str = "week"
) -> dict[str, Any]:
    """Tickets reported in [since, until) that the actor may see, grouped by `dimension`."""
    if not actor.can("view_tickets"):
        raise Forbidden()
    dimension = dimension if dimension in DIMENSIONS else "week"
    cal, at = await current_calendar(), now()
    scope, scope_args = _scope(actor)
    groups, found = await _groups(dimension, cal, since, until, scope, scope_args)
    running = await sql.fetch(_RUNNING_SQL.replace("{scope}", scope), since, until, *scope_args)
    overdue = _count_running(groups, running, dimension, found, at)
    breaches = await _breaches(since, until, scope, scope_args, overdue, cal, at)
    names = await _labels(dimension, list(groups), found)
    ordered = []
    for key, group in groups.items():
        for clock in CLOCKS:
            group[f"{clock}_compliance_percent"] = compliance_percent(group[f"{clock}_met"], group[f"{clock}_breached"])
        # the first-response clock under its original names, as the API has always answered
        group.update(
            key=names.get(key, str(key)),
            met=group["first_response_met"],
            breached=group["first_response_breached"],
            open=group["first_response_open"],
            compliance_percent=group["first_response_compliance_percent"],
        )
        ordered.append((key if dimension in ("week", "month") else group["key"], group))
    ordered.sort(key=lambda pair: pair[0])
    totals = Counter()
    for _order, group in ordered:
        for clock in CLOCKS:
            totals[f"{clock}_met"] += group[f"{clock}_met"]
            totals[f"{clock}_breached"] += group[f"{clock}_breached"]
    return {
        "dimension": dimension,
        "since": since,
        "until": until,
        "groups": [group for _order, group in ordered],
        "breaches": breaches,
        "breach_count": totals["first_response_breached"],
        "tickets": sum(group["tickets"] for group in groups.values()),
        **{
            f"{prefix}compliance_percent": compliance_percent(totals[f"{clock}_met"], totals[f"{clock}_breached"])
            for prefix, clock in (("", "first_response"), ("forward_", "forward"), ("resolution_", "resolution"))
        },
    }
