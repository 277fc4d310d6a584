"""Support speed: the queue page with 100,000 open tickets, and the SLA report over one year of
1,000,000 tickets (issues 5 and 14).

For each database (SQLite file, throwaway PostgreSQL cluster):

1. Queue: a fresh database gets the demo (six agents in two three-level branches and their users,
   among them the operator's `support` and Pearl River Telecom's `pearl.support`), 8 subscribers per
   agent, and --tickets open, unanswered tickets, bulk-loaded (`core.db.bulk_insert` inside
   `transaction()`), reported over the last --queue-weeks weeks (70% inside working hours), with due
   and warning times from `support.sla.targets` on the built-in calendar and the policy of their
   priority and queue, and the queue order (`next_due_at`). `queues.list_queue` (first page of 50)
   is timed in-process, split into its queries (page and capped count), the calendar and the clock
   arithmetic, and the database's plans for the page and count queries are kept (EXPLAIN ANALYZE
   on PostgreSQL); then the real server
   (`voipagency serve --workers 2`) serves GET /support (the rendered queue page, first page of 50)
   sequentially and to 8 concurrent clients, logged in as `support` (every ticket) and as
   `pearl.support` (its subtree: half of them); p50/p99 ms.
2. Report: a second fresh database gets the demo and --report-tickets tickets reported over the
   last 365 days (70% inside working hours): most answered in time, some late, --unanswered-percent
   never answered (closed without a public reply once older than two weeks), the youngest still
   open. Due times come from the calendar's working intervals precomputed once (exact, O(log n) a
   ticket) and are checked against `support.sla.targets` on a sample; the figures stored when
   clocks stop (working seconds to the first response, lateness; resolution and forwarding in
   wall-clock time) are computed as support.tickets stores them. `reports.sla_report(...,
   dimension="week")` over the whole year is timed in-process, split into its SQL statements, the
   calendar and the breach list (with the working time of the unanswered), with this process's
   peak RSS; then the ticket rows the old report fetched are fetched through the bare driver, for
   scale. Then GET /support/report?since=…&until=…&dimension=week is sent once through the server,
   capped at --report-timeout seconds.

Prints one JSON object; nothing is asserted.

    .venv/bin/python -m benchmarks.support [--databases sqlite,postgres] [--tickets 100000]
        [--report-tickets 1000000] [--requests 200] [--seconds 15] [--clients 8] [--rounds 20]
        [--queue-weeks 4] [--unanswered-percent 1] [--report-timeout 180] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import datetime as dt
import io
import random
import re
import sqlite3
import time
from collections import Counter
from pathlib import Path

import httpx

from agency.sessions import log_in
from agency.tables import Agent, User
from benchmarks.common import (
    Database,
    closed_loop,
    cpu_snapshot,
    databases,
    logger,
    postmaster_pid,
    print_report,
    run_on_each,
    serving,
    summary,
    with_cpu,
)
from core.clock import now
from core.db import bulk_insert, transaction
from support import queues, reports, sla, tickets
from support.calendars import builtin_calendar
from support.tables import Ticket
from web.demo import DEMO_PASSWORD, load_demo

OPERATOR_SUPPORT = "support"  # the demo's operator support user: sees every ticket
AGENT_SUPPORT = "pearl.support"  # Pearl River Telecom's support user: its subtree (3 of the 6 agents)
SUBSCRIBERS_PER_AGENT = 8
SEED = 20261121
PRIORITIES = (("low", 20), ("normal", 55), ("high", 20), ("urgent", 5))
SUBJECTS = ("No dial tone", "Calls drop after a minute", "Balance looks wrong", "Recharge card refused", "Echo")
IN_WORKING_HOURS = 0.7  # share of tickets reported inside working hours
LATE_PERCENT = 12  # of the answered tickets of the year, answered after the due time
CHECK_EVERY = 1000  # one ticket in this many has its due times recomputed by support.sla.targets
TICKET_COLUMNS = (
    "subscriber",
    "agent",
    "queue",
    "category",
    "priority",
    "subject",
    "status",
    "assignee",
    "reported_at",
    "first_response_due_at",
    "first_response_warn_at",
    "first_responded_at",
    "first_responder",
    "resolution_due_at",
    "pending_since",
    "resolved_at",
    "created_by",
    "first_response_seconds",
    "first_response_late_by",
    "resolution_warn_at",
    "resolution_in_working_time",
    "resolution_seconds",
    "resolution_late_by",
    "forward_due_at",
    "forward_warn_at",
    "forwarded_at",
    "forward_late_by",
    "next_due_at",
    "first_response_outcome",
    "forward_outcome",
    "resolution_outcome",
)
RESOLUTION = sla.DEFAULT_QUEUE_TARGETS["agent"].resolution  # 48 wall-clock hours
FORWARD = sla.DEFAULT_QUEUE_TARGETS["operator"].forward  # 12 wall-clock hours
SUBSCRIBER_COLUMNS = ("account_number", "agent", "status", "must_change_password", "created_at")
HEADERS = {"Accept-Language": "en"}


log = logger("support")


def epoch(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def instant(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def seconds(value: float) -> float:
    return round(value, 3)


def reset_peak_rss() -> None:
    """Linux: start VmHWM over from the current resident set (writing 5 to clear_refs)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_rss_mib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


class BusinessSeconds:
    """The calendar's working intervals over [since, until) with their cumulative business seconds:
    add_business_time in O(log n) a ticket, for loading a million of them. Same convention as the
    product (the earliest instant: a due time may fall exactly at closing time)."""

    def __init__(self, cal, since: int, until: int) -> None:
        self.starts: list[int] = []
        self.before: list[int] = []  # business seconds before each interval
        self.after: list[int] = []  # ... up to its end
        self.ends: list[int] = []
        total = 0
        for start, end in cal._intervals(since, until):
            self.starts.append(start)
            self.ends.append(end)
            self.before.append(total)
            total += end - start
            self.after.append(total)
        self.total = total

    def offset(self, moment: int) -> int:
        """Business seconds from the span's start to `moment`."""
        i = bisect.bisect_right(self.ends, moment)
        if i == len(self.ends):
            return self.total
        return self.before[i] + max(0, moment - self.starts[i])

    def at_offset(self, offset: int) -> int:
        """The earliest instant with `offset` business seconds since the span's start."""
        j = bisect.bisect_left(self.after, offset)
        return self.starts[j] + offset - self.before[j]

    def add(self, moment: int, business: int) -> int:
        return self.at_offset(self.offset(moment) + business)


@contextlib.contextmanager
def timed_calls(module, name: str, bucket: dict, span_of=None):
    """Replace module.name (a function, sync or async) for a while by one that adds its calls and
    seconds to `bucket`; with `span_of(args)`, also per span bucket. Nothing of the product changes."""
    original = getattr(module, name)

    def account(elapsed: float, args) -> None:
        bucket["calls"] = bucket.get("calls", 0) + 1
        bucket["seconds"] = bucket.get("seconds", 0.0) + elapsed
        if span_of is not None:
            key = span_of(args)
            part = bucket.setdefault("by_span", {}).setdefault(key, {"calls": 0, "seconds": 0.0})
            part["calls"] += 1
            part["seconds"] += elapsed

    if asyncio.iscoroutinefunction(original):

        async def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                account(time.perf_counter() - start, args)

    else:

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                account(time.perf_counter() - start, args)

    setattr(module, name, wrapper)
    try:
        yield bucket
    finally:
        setattr(module, name, original)


# --- the agency: demo, subscribers, logins -----------------------------------------------------------


async def build_agency() -> dict[str, object]:
    """The demo (agents, users), subscribers per agent, and sessions for the two support users."""
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        await load_demo()
    agents = await Agent.select(Agent.id, Agent.path, Agent.brand_name).order_by(Agent.id)
    created = now()
    rows = [
        (f"9{agent['id']:03d}{k:06d}", agent["id"], "active", False, created)
        for agent in agents
        for k in range(SUBSCRIBERS_PER_AGENT)
    ]
    async with transaction():
        await bulk_insert("subscriber", SUBSCRIBER_COLUMNS, rows)
    from accounts.tables import Subscriber

    subscribers: dict[int, list[int]] = {}
    for row in await Subscriber.select(Subscriber.id, Subscriber.agent).order_by(Subscriber.id):
        subscribers.setdefault(row["agent"], []).append(row["id"])
    sessions = {}
    for username in (OPERATOR_SUPPORT, AGENT_SUPPORT):
        token, actor = await log_in(username, DEMO_PASSWORD, address="benchmark")
        sessions[username] = (token, actor)
    staff = {
        row["username"]: row["id"]
        for row in await User.select(User.id, User.username).where(User.role.is_in(["support", "owner", "clerk"]))
    }
    return {
        "agents": agents,
        "subscribers": subscribers,
        "sessions": sessions,
        "staff": staff,
        "setup_seconds": seconds(time.perf_counter() - start),
    }


def weighted(rnd: random.Random, choices) -> str:
    return rnd.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


async def policies() -> dict[str, sla.Policy]:
    return {priority: await tickets.policy_for(priority) for priority, _ in PRIORITIES}


async def load_tickets(rows) -> tuple[int, float]:
    start = time.perf_counter()
    async with transaction():
        count = await bulk_insert("ticket", TICKET_COLUMNS, rows)
    return count, time.perf_counter() - start


async def after_load(kind: str) -> str:
    if kind == "postgres":
        # A table that grew over months would have been vacuumed and analyzed by autovacuum.
        await Ticket.raw("VACUUM ANALYZE ticket")
        return "COPY (bulk_insert) in one transaction, then VACUUM ANALYZE ticket (as autovacuum would)"
    return "executemany (bulk_insert) in one transaction; no ANALYZE (the product never runs it)"


# --- 1. the queue -------------------------------------------------------------------------------------


def queue_rows(agency: dict, count: int, weeks: int, anchor: dt.datetime, cal, clock: BusinessSeconds, policy):
    """Open, unanswered tickets reported over the last `weeks` weeks; due times by support.sla.targets."""
    rnd = random.Random(SEED)
    agents = agency["agents"]
    operator_support = agency["staff"].get(OPERATOR_SUPPORT)
    since, until = epoch(anchor) - weeks * 7 * 86400, epoch(anchor)
    low, high = clock.offset(since), clock.offset(until)
    for i in range(count):
        agent = agents[i % len(agents)]["id"]
        if rnd.random() < IN_WORKING_HOURS:
            reported = clock.at_offset(rnd.randrange(low, high))
        else:
            reported = rnd.randrange(since, until)
        reported_at = instant(reported)
        priority = weighted(rnd, PRIORITIES)
        queue = "operator" if rnd.random() < 0.15 else "agent"
        due = sla.targets(cal, reported_at, policy[priority], sla.DEFAULT_QUEUE_TARGETS[queue])
        row = {
            "status": "open",
            **dict.fromkeys(("first_responded_at", "forwarded_at", "resolved_at"), None),
            **dict.fromkeys(("first_response_late_by", "forward_late_by", "resolution_late_by"), None),
            **due.columns(),
        }
        derived = tickets.derived(row)
        yield (
            rnd.choice(agency["subscribers"][agent]),
            agent,
            queue,
            rnd.choice(tickets.CATEGORIES),
            priority,
            f"{rnd.choice(SUBJECTS)} ({i})",
            "open",
            operator_support if rnd.random() < 0.2 else None,
            reported_at,
            due.first_response_due_at,
            due.first_response_warn_at,
            None,
            None,
            due.resolution_due_at,
            None,
            None,
            None,
            None,
            None,
            due.resolution_warn_at,
            due.resolution_in_working_time,
            None,
            None,
            due.forward_due_at,
            due.forward_warn_at,
            None,
            None,
            derived["next_due_at"],
            derived["first_response_outcome"],
            derived["forward_outcome"],
            derived["resolution_outcome"],
        )


async def timed(rounds: int, call, warm_up: bool = True) -> list[float]:
    if warm_up:
        await call()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return samples


async def in_process_queue(actor, rounds: int) -> dict[str, object]:
    """list_queue's first page, and where its time goes (averages per call)."""
    calendar, clocks = {}, {}
    rows, total = await queues.list_queue(actor)  # warm up
    with (
        timed_calls(queues, "current_calendar", calendar),
        timed_calls(queues, "_add_clocks", clocks),
    ):
        samples = await timed(rounds, lambda: queues.list_queue(actor), warm_up=False)
    total_ms = sum(samples) * 1000 / rounds
    calendar_ms = calendar["seconds"] * 1000 / rounds
    clocks_ms = clocks.get("seconds", 0.0) * 1000 / rounds
    return {
        **summary(samples),
        "mean_ms": round(total_ms, 2),
        "mean_ms_split": {
            "page_and_capped_count_queries": round(total_ms - calendar_ms - clocks_ms, 2),
            "current_calendar": round(calendar_ms, 2),
            "clock_states_and_time_left_of_the_page": round(clocks_ms, 2),
        },
        "rows_on_page": len(rows),
        "total": total,
        "states_on_page": dict(Counter(row["state"] for row in rows)),
    }


async def query_plans(kind: str, path: str | None, agency: dict) -> dict[str, dict[str, list[str]]]:
    """How the database runs each user's page query and its capped count (EXPLAIN ANALYZE on
    PostgreSQL)."""
    plans: dict[str, dict[str, list[str]]] = {}
    for username in (OPERATOR_SUPPORT, AGENT_SUPPORT):
        actor = agency["sessions"][username][1]
        query = queues.queue_queries(actor)
        walking = queues.queue_queries(actor, walk_due_times=True)  # what SQLite runs for a big subtree
        plans[username] = {}
        for name, sql, args in (
            ("page_rows", query.page_sql, query.args),
            ("capped_count", query.count_sql, query.args),
            ("page_rows_walking_due_times", walking.page_sql, walking.args),
        ):
            if kind == "sqlite":

                def explain(sql: str = sql, args: tuple = args) -> list[str]:
                    connection = sqlite3.connect(path or "")
                    try:
                        return [
                            row[-1] for row in connection.execute("EXPLAIN QUERY PLAN " + sql.replace("{}", "?"), args)
                        ]
                    finally:
                        connection.close()

                plans[username][name] = await asyncio.to_thread(explain)
            else:
                explained = await Ticket.raw("EXPLAIN ANALYZE " + sql, *args)
                plans[username][name] = [row["QUERY PLAN"] for row in explained]
    return plans


async def get(client: httpx.AsyncClient, path: str, timeout: float | None = None) -> tuple[int | str, float, str]:
    start = time.perf_counter()
    try:
        response = await client.get(path, headers=HEADERS, **({"timeout": timeout} if timeout else {}))
    except httpx.HTTPError as exc:
        return type(exc).__name__, time.perf_counter() - start, str(exc)[:200]
    return response.status_code, time.perf_counter() - start, response.text


def page_facts(text: str) -> dict[str, object]:
    shown = re.search(r"([\d,]+) tickets", text)
    return {
        "bytes": len(text.encode()),
        "ticket_links": len(re.findall(r'href="/support/tickets/\d+"', text)),
        "total_shown": shown[0] if shown else None,
    }


async def load_pages(
    url: str, token: str, path: str, clients: int, requests: int, limit_seconds: float
) -> dict[str, object]:
    """`clients` concurrent clients GET `path` until `requests` are sent or `limit_seconds` pass."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=httpx.Timeout(60.0), cookies={"vs_session": token}
    ) as client:
        return await closed_loop(lambda _i: get(client, path), clients, limit_seconds, requests, ok=200)


async def http_queue(server, agency: dict, args, pg_data_dir: str | None) -> dict[str, object]:
    figures: dict[str, object] = {}
    for username in (OPERATOR_SUPPORT, AGENT_SUPPORT):
        token = agency["sessions"][username][0]
        user: dict[str, object] = {}
        async with httpx.AsyncClient(base_url=server.url, timeout=60, cookies={"vs_session": token}) as client:
            status, _elapsed, text = await get(client, "/support")
        # Every worker warm before anything is timed (templates, holidays, pools): connections are
        # spread over the workers by the kernel, and the first page a worker renders compiles its
        # templates, a hundred milliseconds that a run of a hundred requests took for its p99.
        await load_pages(server.url, token, "/support", args.clients, 5 * args.clients, args.seconds)
        user["page_check"] = {"status": status, **(page_facts(text) if status == 200 else {"body": text[:300]})}
        runs = []
        for clients in (1, args.clients):
            log(f"GET /support as {username}: {clients} client(s)")
            postmaster = postmaster_pid(pg_data_dir)
            before = cpu_snapshot(server.process.pid, postmaster)
            run = await load_pages(server.url, token, "/support", clients, args.requests, args.seconds)
            with_cpu(run, before, cpu_snapshot(server.process.pid, postmaster), "page")
            runs.append(run)
        user["sequential"], user["concurrent"] = runs
        figures[username] = user
    return figures


async def queue_benchmark(db: Database, args) -> dict:
    kind = db.kind
    async with db.opened():
        agency = await build_agency()
        anchor = now().replace(microsecond=0)
        cal = builtin_calendar()
        clock = BusinessSeconds(cal, epoch(anchor) - (args.queue_weeks + 1) * 7 * 86400, epoch(anchor) + 86400)
        rows = queue_rows(agency, args.tickets, args.queue_weeks, anchor, cal, clock, await policies())
        log(f"{kind}: loading {args.tickets} open tickets (due times by support.sla.targets)")
        start = time.perf_counter()
        count, insert_seconds = await load_tickets(rows)  # the generator computes targets while inserting
        load_seconds = time.perf_counter() - start
        method = await after_load(kind)
        figures: dict[str, object] = {
            "tickets": count,
            "agents": len(agency["agents"]),
            "subscribers": sum(len(s) for s in agency["subscribers"].values()),
            "setup_seconds": agency["setup_seconds"],
            "load_seconds_with_targets": seconds(load_seconds),
            "load_method": method,
        }
        log(f"{kind}: {count} tickets in {figures['load_seconds_with_targets']} s; list_queue in-process")
        figures["list_queue_in_process"] = {
            username: await in_process_queue(agency["sessions"][username][1], args.rounds)
            for username in (OPERATOR_SUPPORT, AGENT_SUPPORT)
        }
        figures["query_plans"] = await query_plans(kind, db.path, agency)
        log(f"{kind}: starting the server")
        with serving(db, args.workers, figures, log) as server:
            figures["http_get_support"] = await http_queue(server, agency, args, db.pg_data_dir)
        return figures


# --- 2. the report ------------------------------------------------------------------------------------


def year_rows(agency: dict, count: int, anchor: dt.datetime, clock: BusinessSeconds, policy, args, expected):
    """Tickets reported over the 365 days before `anchor`; `expected` counts their first-response
    state at `anchor` as made (met / breached / open) and the due-time check against the product."""
    rnd = random.Random(SEED + 1)
    cal = builtin_calendar()
    agents = agency["agents"]
    responders = [agency["staff"][OPERATOR_SUPPORT], agency["staff"][AGENT_SUPPORT]]
    until = epoch(anchor)
    since = until - 365 * 86400
    low, high = clock.offset(since), clock.offset(until)
    business = {
        priority: (p.first_response_seconds, p.first_response_seconds * p.at_risk_percent // 100)
        for priority, p in policy.items()
    }
    for i in range(count):
        agent = agents[i % len(agents)]["id"]
        if rnd.random() < IN_WORKING_HOURS:
            reported = clock.at_offset(rnd.randrange(low, high))
        else:
            reported = rnd.randrange(since, until)
        priority = weighted(rnd, PRIORITIES)
        target, warn = business[priority]
        due, warn_at = clock.add(reported, target), clock.add(reported, warn)
        if i % CHECK_EVERY == 0:
            product = sla.targets(cal, instant(reported), policy[priority])
            expected["due_checked"] += 1
            if (epoch(product.first_response_due_at), epoch(product.first_response_warn_at)) != (due, warn_at):
                expected["due_mismatches"] += 1
        responded = None
        if rnd.random() * 100 >= args.unanswered_percent:
            late = rnd.random() * 100 < LATE_PERCENT
            delay = rnd.randrange(target + 60, 4 * target) if late else min(target, 60 + int(rnd.expovariate(1 / 3000)))
            responded = clock.add(reported, delay)
            if responded > until:
                responded = None  # not answered yet
        if responded is not None:
            expected["met" if responded <= due else "breached"] += 1
            status = "closed" if until - responded > 3 * 86400 else "resolved"
        else:
            expected["open" if due >= until else "breached"] += 1
            expected["unanswered"] += 1
            status = "closed" if until - reported > 14 * 86400 else "open"
        resolved = None  # answered tickets resolve with the answer; unanswered ones close after two weeks
        if status != "open":
            resolved = responded if responded is not None else reported + 14 * 86400
        # Stored as the product stores them when the clocks stop (support.tickets); the resolution
        # clock counts 48 wall-clock hours, the forwarding clock (operator queue) 12, stopped at
        # the answer.
        queue = "operator" if rnd.random() < 0.15 else "agent"
        resolution_due = reported + RESOLUTION.seconds
        forward_due = reported + FORWARD.seconds if queue == "operator" else None
        forwarded = responded if forward_due is not None else None
        row = {
            "status": status,
            "first_responded_at": responded,
            "first_response_due_at": due,
            "first_response_late_by": clock.offset(responded) - clock.offset(due)
            if responded is not None and responded > due
            else None,
            "forwarded_at": forwarded,
            "forward_due_at": forward_due,
            "forward_late_by": forwarded - forward_due if forwarded is not None and forwarded > forward_due else None,
            "resolved_at": resolved,
            "resolution_due_at": resolution_due,
            "resolution_late_by": resolved - resolution_due
            if resolved is not None and resolved > resolution_due
            else None,
        }
        derived = tickets.derived(row)
        yield (
            rnd.choice(agency["subscribers"][agent]),
            agent,
            queue,
            rnd.choice(tickets.CATEGORIES),
            priority,
            f"{rnd.choice(SUBJECTS)} ({i})",
            status,
            None,
            instant(reported),
            instant(due),
            instant(warn_at),
            instant(responded) if responded is not None else None,
            rnd.choice(responders) if responded is not None else None,
            instant(resolution_due),
            None,
            instant(resolved) if resolved is not None else None,
            None,
            clock.offset(responded) - clock.offset(reported) if responded is not None else None,
            row["first_response_late_by"],
            instant(reported + RESOLUTION.seconds * 75 // 100),
            False,
            resolved - reported if resolved is not None else None,
            row["resolution_late_by"],
            instant(forward_due) if forward_due is not None else None,
            instant(reported + FORWARD.seconds * 75 // 100) if forward_due is not None else None,
            instant(forwarded) if forwarded is not None else None,
            row["forward_late_by"],
            instant(derived["next_due_at"]) if derived["next_due_at"] is not None else None,
            derived["first_response_outcome"],
            derived["forward_outcome"],
            derived["resolution_outcome"],
        )


REPORT_SQL = (
    "SELECT t.id, t.subject, t.queue, t.priority, t.reported_at, t.first_response_due_at, "
    "t.first_response_warn_at, t.first_responded_at, t.first_responder, a.brand_name "
    "FROM ticket t LEFT JOIN agent a ON a.id = t.agent "
    "WHERE t.reported_at >= {0} AND t.reported_at < {1} ORDER BY t.reported_at"
)


async def raw_fetch(kind: str, target: str, since: dt.datetime, until: dt.datetime) -> dict[str, object]:
    """The report's rows through the bare driver (no Piccolo): the database's own share."""
    start = time.perf_counter()
    if kind == "sqlite":

        def fetch() -> int:
            connection = sqlite3.connect(target)  # Piccolo's adapters (imported) write datetimes as it stores them
            try:
                return len(connection.execute(REPORT_SQL.format("?", "?"), (since, until)).fetchall())
            finally:
                connection.close()

        rows = await asyncio.to_thread(fetch)
        driver = "stdlib sqlite3, rows as tuples of text (no datetime parsing)"
    else:
        import asyncpg

        connection = await asyncpg.connect(target)
        try:
            rows = len(await connection.fetch(REPORT_SQL.format("$1", "$2"), since, until))
        finally:
            await connection.close()
        driver = "asyncpg Records (timestamps decoded)"
    return {"seconds": seconds(time.perf_counter() - start), "rows": rows, "driver": driver}


async def in_process_report(actor, since: dt.datetime, until: dt.datetime) -> dict[str, object]:
    queries, calendar, breaches = {}, {}, {}  # noqa: F841 (filled by timed_calls)
    reset_peak_rss()
    before_rss = peak_rss_mib()
    with (
        timed_calls(reports.sql, "fetch", queries),
        timed_calls(reports, "current_calendar", calendar),
        timed_calls(reports, "_breaches", breaches),
    ):
        start = time.perf_counter()
        report = await reports.sla_report(actor, since=since, until=until, dimension="week")
        total = time.perf_counter() - start
    groups = report["groups"]
    return {
        "seconds": seconds(total),
        "split_seconds": {
            "sql_statements": seconds(queries["seconds"]),
            "statements": queries["calls"],
            "current_calendar": seconds(calendar["seconds"]),
            "breaches_list_with_working_time_of_the_unanswered": seconds(breaches["seconds"]),
            "other_python": seconds(total - queries["seconds"] - calendar["seconds"]),
        },
        "peak_rss_mib": {"at_start": before_rss, "peak_during": peak_rss_mib()},
        "result": {
            "tickets": report["tickets"],
            "groups": len(groups),
            "met": sum(g["met"] for g in groups),
            "breached": sum(g["breached"] for g in groups),
            "open": sum(g["open"] for g in groups),
            "breaches_listed": len(report["breaches"]),
            "compliance_percent": report["compliance_percent"],
            "first_group": groups[0] if groups else None,
            "last_group": groups[-1] if groups else None,
        },
    }


async def http_report(server, token: str, since_day: str, until_day: str, timeout: float) -> dict[str, object]:
    path = f"/support/report?since={since_day}&until={until_day}&dimension=week"
    async with httpx.AsyncClient(base_url=server.url, timeout=60, cookies={"vs_session": token}) as client:
        warm = await get(client, "/support/report")  # the default 8 weeks: first-request costs out of the way
        status, elapsed, text = await get(client, path, timeout=timeout)
    figures: dict[str, object] = {"path": path, "warmup_status_8_weeks": warm[0], "warmup_seconds": seconds(warm[1])}
    if status == 200:
        compliance = re.search(r'id="compliance">([^<]*)<', text)
        figures.update(
            status=200,
            seconds=seconds(elapsed),
            bytes=len(text.encode()),
            tickets_shown=int(m[1].replace(",", "")) if (m := re.search(r"([\d,]+) tickets", text)) else None,
            compliance_shown=compliance[1] if compliance else None,
            breach_items=len(re.findall(r'<li><a href="/support/tickets/', text)),
        )
    elif isinstance(status, str):
        figures.update(
            status=None,
            error=status,
            seconds=seconds(elapsed),
            timed_out=status.endswith("Timeout"),
            timeout_seconds=timeout,
            detail=text,
        )
    else:
        figures.update(status=status, seconds=seconds(elapsed), body=text[:500])
    return figures


async def report_benchmark(db: Database, args) -> dict[str, object]:
    kind = db.kind
    async with db.opened():
        agency = await build_agency()
        anchor = now().replace(microsecond=0)
        start = time.perf_counter()
        clock = BusinessSeconds(builtin_calendar(), epoch(anchor) - 367 * 86400, epoch(anchor) + 120 * 86400)
        expected: Counter = Counter()
        rows = year_rows(agency, args.report_tickets, anchor, clock, await policies(), args, expected)
        log(f"{kind}: loading {args.report_tickets} tickets of one year")
        count, _insert = await load_tickets(rows)
        figures: dict[str, object] = {
            "tickets": count,
            "setup_seconds": agency["setup_seconds"],
            "load_seconds": seconds(time.perf_counter() - start),
            "load_method": await after_load(kind),
        }
        decided = expected["met"] + expected["breached"]
        figures["as_loaded"] = {
            "met": expected["met"],
            "breached": expected["breached"],
            "open": expected["open"],
            "never_answered": expected["unanswered"],
            "compliance_percent": round(100 * expected["met"] / decided, 1) if decided else None,
            "due_times_checked_against_sla_targets": expected["due_checked"],
            "due_time_mismatches": expected["due_mismatches"],
        }
        # The whole year as the page asks for it: whole UTC days, `until` inclusive.
        since_day, until_day = (anchor - dt.timedelta(days=365)).date(), anchor.date()
        since = dt.datetime.combine(since_day, dt.time(0), tzinfo=dt.UTC)
        until = dt.datetime.combine(until_day + dt.timedelta(days=1), dt.time(0), tzinfo=dt.UTC)
        log(f"{kind}: {count} tickets in {figures['load_seconds']} s; sla_report(dimension='week') in-process")
        actor = agency["sessions"][OPERATOR_SUPPORT][1]
        figures["sla_report_in_process"] = await in_process_report(actor, since, until)
        log(f"{kind}: report took {figures['sla_report_in_process']['seconds']} s; bare-driver fetch")
        figures["raw_driver_fetch"] = await raw_fetch(kind, db.target, since, until)
        log(f"{kind}: GET /support/report")
        if args.report_timeout > 0:
            with serving(db, args.workers, figures, log) as server:
                token = agency["sessions"][OPERATOR_SUPPORT][0]
                figures["http_get_report"] = await http_report(
                    server, token, since_day.isoformat(), until_day.isoformat(), args.report_timeout
                )
        return figures


# --- driver -----------------------------------------------------------------------------------------


async def run(kind: str, args) -> dict[str, object]:
    start = time.perf_counter()
    figures: dict[str, object] = {}
    with databases(kind) as found:
        if args.tickets > 0:
            figures["queue"] = await queue_benchmark(found.new("support_queue"), args)
        if args.report_tickets > 0:
            figures["report"] = await report_benchmark(found.new("support_report"), args)
    figures["wall_seconds"] = round(time.perf_counter() - start, 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--tickets", type=int, default=100_000, help="open tickets in the queue (0: skip)")
    parser.add_argument("--report-tickets", type=int, default=1_000_000, help="tickets of the year (0: skip)")
    parser.add_argument("--requests", type=int, default=200, help="GET /support requests per run")
    parser.add_argument("--seconds", type=float, default=15.0, help="time cap per GET /support run")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients of the second run")
    parser.add_argument("--rounds", type=int, default=20, help="in-process list_queue calls per user")
    parser.add_argument("--queue-weeks", type=int, default=4, help="the open tickets were reported over this")
    parser.add_argument("--unanswered-percent", type=float, default=1.0, help="tickets of the year never answered")
    parser.add_argument("--report-timeout", type=float, default=180.0, help="cap of the HTTP report (0: skip it)")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    args = parser.parse_args()
    started = time.perf_counter()
    results = run_on_each(args.databases, lambda kind: run(kind, args))
    print_report(
        {
            "benchmark": "support",
            "notes": [
                "Demo agency (6 agents, two 3-level branches); `support` is operator support (sees every "
                "ticket), `pearl.support` is Pearl River Telecom's support user (its subtree: 3 of the 6 "
                "agents, half the tickets). No SLA policies or calendar stored: 4 working hours for every "
                "priority on the built-in calendar (Mon-Fri 09:00-18:00 Asia/Shanghai with China's holidays).",
                "Queue: every ticket open and unanswered, reported over the last queue_weeks weeks, so the "
                "first page (earliest due) is the longest overdue; the time left is worked out for the page "
                "time to now.",
                "Report: tickets of the year; never-answered ones are breached and their 'breached by' is "
                "counted up to now; no ticket messages are loaded (neither the queue nor the report reads "
                "them).",
                "Server: `voipagency serve --workers N` on loopback, the load generator on the same cores. "
                "SQLite in demo mode (no demo data loaded: the database has users); PostgreSQL in production "
                "mode on a throwaway, durable cluster (fsync on: see database_settings).",
                "The report aggregates in SQL what each ticket stored when its clocks stopped; working time "
                "is computed only for unanswered overdue tickets (their 'breached by').",
            ],
            "settings": {
                "tickets": args.tickets,
                "report_tickets": args.report_tickets,
                "requests": args.requests,
                "seconds": args.seconds,
                "clients": args.clients,
                "rounds": args.rounds,
                "queue_weeks": args.queue_weeks,
                "unanswered_percent": args.unanswered_percent,
                "late_percent_of_answered": LATE_PERCENT,
                "report_timeout": args.report_timeout,
                "workers": args.workers,
            },
            "results": results,
            "wall_seconds": round(time.perf_counter() - started, 1),
        },
    )


if __name__ == "__main__":
    main()
