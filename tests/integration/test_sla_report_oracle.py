"""The SQL SLA report (issue 14) equals the old per-ticket computation (tests/sla_oracle.py) on
5,000 random tickets, on both databases, for every dimension, on a holiday-heavy calendar (China's
published holidays, make-up workdays and closures) and on one with daylight saving time and a
window across midnight. Forwarding and resolution compliance are checked against
support.tickets.clock_states, ticket by ticket. The stored figures are written by the same
functions the ticket operations use."""

from __future__ import annotations

import datetime as dt
import functools
import random
from collections import Counter, defaultdict

import pytest

from agency.tables import Agent
from core.clock import now
from core.db import bulk_insert, transaction
from support import sla, tickets
from support.calendars import builtin_calendar, current_calendar
from support.reports import DIMENSIONS, compliance_percent, sla_report
from support.tables import SupportCalendar, Ticket
from tests import sla_oracle
from tests.helpers import demo_actors
from tests.sla_oracle import summarize

TICKETS = 5000
DAYS = 75  # about eleven weeks and three months: every dimension has several groups
CALENDARS = {
    # China: Mon-Fri 09:00-18:00 with the published holidays and make-up workdays, and closures
    "holidays": lambda: {
        "tz": "Asia/Shanghai",
        "weekly": {str(d): [["09:00", "12:00"], ["13:30", "18:00"]] for d in range(5)},
        "closed_dates": sorted(d.isoformat() for d in builtin_calendar().closed_dates),
        "extra_workdays": {d.isoformat(): [["09:00", "18:00"]] for d in builtin_calendar().extra_workdays},
        "closures": [["2026-09-14T12:00:00+08:00", "2026-09-17T10:00:00+08:00"]],
    },
    # Berlin: DST changes, a night window across midnight, a weekend morning
    "dst": lambda: {
        "tz": "Europe/Berlin",
        "weekly": {
            **{str(d): [["08:00", "17:00"], ["22:00", "02:30"]] for d in range(5)},
            "5": [["10:00", "14:00"]],
        },
        "closed_dates": ["2026-10-03", "2026-12-25"],
        "extra_workdays": {},
        "closures": [],
    },
}
STATES = (  # what happened to a ticket, with weights
    ("answered in time", 50),
    ("answered late", 20),
    ("unanswered", 12),
    ("forwarded", 8),
    ("resolved", 10),
)


def columns(row: dict) -> tuple:
    return tuple(row[name] for name in ORDER)


ORDER = (
    "agent queue category priority subject status assignee reported_at next_due_at "
    "first_response_due_at first_response_warn_at first_responded_at first_responder first_response_seconds "
    "first_response_late_by forward_due_at forward_warn_at forward_in_working_time forwarded_at forward_seconds "
    "forward_late_by resolution_due_at resolution_warn_at resolution_in_working_time paused_seconds resolved_at "
    "resolution_seconds resolution_late_by first_response_outcome forward_outcome resolution_outcome"
).split()


async def random_tickets(rng: random.Random, agents: list[int], staff: list[int]) -> list[dict]:
    """Tickets over the last DAYS days (some before), built with the product's own rules."""
    cal = await current_calendar()
    at = now()
    policies = {priority: await tickets.policy_for(priority) for priority in tickets.PRIORITIES}
    rows = []
    for _ in range(TICKETS):
        reported = at - dt.timedelta(seconds=rng.randint(60, (DAYS + 10) * 86400))
        queue = rng.choice(tickets.QUEUES)
        priority = rng.choice(tickets.PRIORITIES)
        targets = sla.targets(cal, reported, policies[priority], sla.DEFAULT_QUEUE_TARGETS[queue])
        row = {
            "agent": rng.choice(agents),
            "queue": queue,
            "category": "other",
            "priority": priority,
            "subject": f"ticket {len(rows)}",
            "status": "open",
            "assignee": None,
            "reported_at": reported,
            "first_responded_at": None,
            "first_responder": None,
            "first_response_seconds": None,
            "first_response_late_by": None,
            "forwarded_at": None,
            "forward_seconds": None,
            "forward_late_by": None,
            "paused_seconds": 0,
            "pending_since": None,
            "resolved_at": None,
            "resolution_seconds": None,
            "resolution_late_by": None,
            **targets.columns(),
        }
        fate = rng.choices([name for name, _ in STATES], [weight for _, weight in STATES])[0]
        due = row["first_response_due_at"]
        if fate != "unanswered":
            answer = reported + (due - reported) * rng.uniform(0.0, 1.0)
            if fate == "answered late":
                answer = due + dt.timedelta(seconds=rng.choice([0, 1, 60, rng.randint(1, 20 * 86400)]))
            if answer < at:
                row.update(tickets.first_response_changes(cal, row, answer, rng.choice(staff)))
        if fate == "forwarded" and row["forward_due_at"] is not None:
            forwarded = reported + dt.timedelta(seconds=rng.randint(0, 30 * 3600))
            if forwarded < at:
                row.update(tickets.forwarding_changes(cal, row, forwarded), queue="agent")
        if fate == "resolved":
            resolved = reported + dt.timedelta(seconds=rng.randint(3600, 4 * 86400))
            if resolved < at:
                row.update(tickets.resolution_changes(cal, row, resolved), status="resolved")
        row.update(tickets.derived(row))
        rows.append(row)
    return rows


def oracle_other_clocks(rows: list[dict], keys: list, at: dt.datetime) -> dict:
    """Forwarding and resolution met / breached / open per group, from each ticket's clock states."""
    counted: dict = defaultdict(Counter)
    for row, key in zip(rows, keys, strict=True):
        states = tickets.clock_states(row, at)
        for clock in ("forward", "resolution"):
            state = states[clock]
            if state is not None:
                outcome = state if state in (sla.MET, sla.BREACHED) else "open"
                counted[key][f"{clock}_{outcome}"] += 1
    return counted


@pytest.mark.parametrize("calendar", sorted(CALENDARS))
async def test_the_sql_report_equals_the_per_ticket_oracle(db, calendar, monkeypatch):
    # The oracle works out each ticket's working time once, not once per dimension.
    monkeypatch.setattr(sla_oracle, "business_time_between", functools.cache(sla_oracle.business_time_between))
    actors = await demo_actors()
    async with transaction():
        await SupportCalendar.insert(SupportCalendar(name="default", updated_at=now(), **CALENDARS[calendar]()))
    cal = await current_calendar()
    agents = {row["id"]: row["brand_name"] for row in await Agent.select(Agent.id, Agent.brand_name)}
    staff = {actor.user_id: name for name, actor in actors.items() if actor.can("answer_tickets")}
    rng = random.Random(f"{calendar}-{db['kind']}")
    rows = await random_tickets(rng, sorted(agents), sorted(staff))
    async with transaction():
        await bulk_insert("ticket", tuple(ORDER), (columns(row) for row in rows))
    for row, stored in zip(rows, await Ticket.select(Ticket.id).order_by(Ticket.id), strict=True):
        row["id"] = stored["id"]

    at = now()
    monkeypatch.setattr("support.reports.now", lambda: at)  # the report's "now" is the oracle's
    until = at.replace(microsecond=0)
    since = until - dt.timedelta(days=DAYS)
    chosen = [row for row in rows if since <= row["reported_at"] < until]
    for row in chosen:
        row["agent_name"] = agents[row["agent"]]
    for dimension in DIMENSIONS:
        report = await sla_report(actors["admin"], since=since, until=until, dimension=dimension)
        expected, breaches = summarize(chosen, dimension, cal, at)
        if dimension == "staff":
            for group in expected:
                group["key"] = staff[int(group["key"])] if group["key"] != "—" else "—"
        by_key = {group["key"]: group for group in report["groups"]}
        assert sorted(by_key) == sorted(group["key"] for group in expected), dimension
        for group in expected:
            got = by_key[group["key"]]
            for name in ("met", "breached", "open", "compliance_percent"):
                assert got[name] == group[name], (dimension, group["key"], name)
            assert got["median_first_response_seconds"] == group["median_first_response_seconds"], dimension
            assert got["p90_first_response_seconds"] == group["p90_first_response_seconds"], dimension
        assert report["tickets"] == len(chosen)
        assert report["breach_count"] == len(breaches)
        worst = sorted(breaches, key=lambda b: (-b["breached_by_seconds"], b["id"]))[:500]
        assert [(b["id"], b["breached_by_seconds"]) for b in report["breaches"]] == [
            (b["id"], b["breached_by_seconds"]) for b in worst
        ], dimension

    # forwarding and resolution, by agent
    report = await sla_report(actors["admin"], since=since, until=until, dimension="agent")
    counted = oracle_other_clocks(chosen, [row["agent_name"] for row in chosen], at)
    for group in report["groups"]:
        for clock in ("forward", "resolution"):
            expected = counted[group["key"]]
            for outcome in ("met", "breached", "open"):
                assert group[f"{clock}_{outcome}"] == expected[f"{clock}_{outcome}"], (group["key"], clock, outcome)
            assert group[f"{clock}_compliance_percent"] == compliance_percent(
                expected[f"{clock}_met"], expected[f"{clock}_breached"]
            )
