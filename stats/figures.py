"""Reading the daily figures (SPEC R-29): an agent's own or whole subtree's, or the whole network's,
over a period, by day or by month, with the breakdown by direct sub-agent.

Every figure but one is a sum of the period's rows. `active_accounts` is a level, not a flow: the
accounts open at the end of the period (of each period of the series): those open now
(agent_open_accounts) less what the days since then opened and closed, so that no query reads all
the history."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from agency.agents import get_agent
from agency.roles import Actor
from core import sql
from core.clock import today
from core.errors import N_, Forbidden, ValidationFailed
from stats.daily import METRICS, NETWORK_STRIPES, OWN, SUBTREE

FIGURES = (*METRICS, "active_accounts")
GRANULARITIES = ("day", "month")
SCOPES = (OWN, SUBTREE)
DEFAULT_DAYS = 30
MAX_DAYS = 3 * 366  # the longest period one request may ask for
NETWORK = None  # the operator's whole network: the sum of its stripes (stats.daily.network_stripe)
NETWORK_AGENTS = tuple(range(-NETWORK_STRIPES, 0))

_SUMS = ", ".join(f"SUM({name}) AS {name}" for name in METRICS)
_OPEN_CHANGE = "SUM(opened_accounts - closed_accounts)"


@dataclass(frozen=True)
class Period:
    since: dt.date
    until: dt.date  # exclusive
    granularity: str
    scope: str


def parse_period(since: object, until: object, granularity: object, scope: object) -> Period:
    """The query's period, or ValidationFailed naming each bad field. Dates are YYYY-MM-DD days of
    the operator's calendar; without them, the last 30 days up to today."""
    errors: dict[str, str] = {}
    current = today()
    end = _date(until, current + dt.timedelta(days=1), "until", errors)
    start = _date(since, (end or current) - dt.timedelta(days=DEFAULT_DAYS), "since", errors)
    if granularity in (None, ""):
        granularity = "day"
    if granularity not in GRANULARITIES:
        errors["granularity"] = N_("Choose day or month.")
    if scope in (None, ""):
        scope = SUBTREE
    if scope not in SCOPES:
        errors["scope"] = N_("Choose own or subtree.")
    if start and end and not errors:
        if start >= end:
            errors["until"] = N_("The end must come after the start.")
        elif (end - start).days > MAX_DAYS:
            errors["until"] = N_("A period may last at most three years.")
    if errors:
        raise ValidationFailed(errors)
    return Period(start, end, str(granularity), str(scope))


def _date(value: object, default: dt.date, field: str, errors: dict[str, str]) -> dt.date | None:
    if value in (None, ""):
        return default
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError
        return dt.date.fromisoformat(value)
    except ValueError:
        errors[field] = N_("Enter a date as YYYY-MM-DD.")
        return None


def periods(period: Period) -> list[str]:
    """The labels of the series: every day ("YYYY-MM-DD") or month ("YYYY-MM") the period touches."""
    labels: list[str] = []
    day = period.since
    while day < period.until:
        label = day.isoformat() if period.granularity == "day" else day.isoformat()[:7]
        if not labels or labels[-1] != label:
            labels.append(label)
        day += dt.timedelta(days=1)
    return labels


async def statistics(actor: Actor, agent_id: int | None, period: Period) -> dict[str, Any]:
    """The figures of an agent the actor may see (R-1), or with `agent_id` NETWORK, of the whole
    network (operator staff only)."""
    if not actor.can("view_statistics"):
        raise Forbidden()
    if agent_id is NETWORK:
        if not actor.is_operator:
            raise Forbidden()
        # The network's stripes (stats.daily), each one index range of its days.
        rows_of = f"scope = 'subtree' AND agent IN ({', '.join(str(a) for a in NETWORK_AGENTS)})"
        args: tuple = ()
        parent_condition, parent_args = "a.parent IS NULL", ()
    else:
        agent = await get_agent(actor, agent_id)
        rows_of = "scope = {} AND agent = {}"
        args = (period.scope, agent["id"])
        parent_condition, parent_args = "a.parent = {}", (agent["id"],)
    width = 10 if period.granularity == "day" else 7
    since, until = period.since.isoformat(), period.until.isoformat()
    rows = await sql.fetch(
        f"SELECT SUBSTR(day, 1, {width}) AS period, {_SUMS} FROM agent_day "
        f"WHERE {rows_of} AND day >= {{}} AND day < {{}} GROUP BY SUBSTR(day, 1, {width})",
        *args,
        since,
        until,
    )
    # Accounts open at the end: those open now, less what the days since `until` opened and closed.
    open_now = await sql.fetch_one(f"SELECT SUM(accounts) AS accounts FROM agent_open_accounts WHERE {rows_of}", *args)
    later = await sql.fetch_one(
        f"SELECT {_OPEN_CHANGE} AS accounts FROM agent_day WHERE {rows_of} AND day >= {{}}", *args, until
    )
    open_accounts = int(open_now["accounts"] or 0) - int(later["accounts"] or 0)
    by_period = {row["period"]: row for row in rows}
    series = []
    for label in reversed(periods(period)):  # from the end back: each period's end is the next one's start
        row = by_period.get(label, {})
        figures = {name: int(row.get(name) or 0) for name in METRICS}
        series.append({"period": label, **figures, "active_accounts": open_accounts})
        open_accounts -= figures["opened_accounts"] - figures["closed_accounts"]
    series.reverse()
    totals = {name: sum(entry[name] for entry in series) for name in METRICS}
    totals["active_accounts"] = series[-1]["active_accounts"]
    return {
        "agent_id": agent_id,
        "scope": SUBTREE if agent_id is NETWORK else period.scope,
        "granularity": period.granularity,
        "since": since,
        "until": until,
        "totals": totals,
        "series": series,
        "children": await _children(parent_condition, parent_args, since, until),
    }


async def _children(condition: str, args: tuple, since: str, until: str) -> list[dict[str, Any]]:
    """Each direct sub-agent (or level-1 agent) with its whole subtree's figures for the period."""
    children = await sql.fetch(
        f"SELECT a.id, a.brand_name, COALESCE(o.accounts, 0) AS accounts FROM agent a "
        f"LEFT JOIN agent_open_accounts o ON o.agent = a.id AND o.scope = 'subtree' WHERE {condition} ORDER BY a.path",
        *args,
    )
    if not children:
        return []
    ids = [child["id"] for child in children]
    in_period = await sql.fetch(
        f"SELECT agent, {_SUMS} FROM agent_day WHERE scope = 'subtree' AND agent IN ({sql.marks(ids)}) "
        "AND day >= {} AND day < {} GROUP BY agent",
        *ids,
        since,
        until,
    )
    later = await sql.fetch(
        f"SELECT agent, {_OPEN_CHANGE} AS accounts FROM agent_day WHERE scope = 'subtree' "
        f"AND agent IN ({sql.marks(ids)}) AND day >= {{}} GROUP BY agent",
        *ids,
        until,
    )
    sums = {row["agent"]: row for row in in_period}
    opened_later = {row["agent"]: int(row["accounts"] or 0) for row in later}
    return [
        {
            "agent_id": child["id"],
            "brand_name": child["brand_name"],
            **{name: int(sums.get(child["id"], {}).get(name) or 0) for name in METRICS},
            "active_accounts": int(child["accounts"]) - opened_later.get(child["id"], 0),
        }
        for child in children
    ]


def last_days(count: int) -> Period:
    """The last `count` days up to today (the operator's calendar), by day, subtree."""
    last = today()
    return Period(last - dt.timedelta(days=count - 1), last + dt.timedelta(days=1), "day", SUBTREE)
