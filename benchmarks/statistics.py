"""Statistics speed at scale (issue 12, SPEC §11): the statistics API and page of a level-1 agent with
about half the network below it, and the operator's, over a year of daily figures.

For each database (SQLite file, throwaway PostgreSQL cluster), a fresh migrated database gets:

1. --agents agents in 5 levels: agent 1 (level 1) has about half of them in its subtree, the rest
   are level-1 agents with 50 agents each ("/%08d/" path segments, as agency.tree makes them);
2. --subscribers subscribers, each of a random agent, opened evenly over the --days days before
   today and the --days/2 days before those (so a third were open when the year began), 2% closed
   later;
3. --calls rated call rows over the --days local days before today, each of a subscriber opened
   before the call's day, with answered/ended/rated times, billing in 60-second blocks and a
   multiplier by destination;
4. the `agent_day` rows that go with them: the benchmark counts, while it generates, the calls and
   charged seconds per agent and local day (Asia/Shanghai, day boundaries from zoneinfo), the
   accounts opened and closed, and writes each agent's own row and the subtree row of it and of
   each of its ancestors, as stats.daily keeps them. `stats.recompute.verify()` afterwards compares
   them with a recomputation from the sources (it is the proof that the generated rows are what
   the product would have kept).

All rows are written day by day through core.db.bulk_insert (COPY on PostgreSQL, executemany on
SQLite) in transactions of about 500,000 call rows, so memory stays flat; then VACUUM ANALYZE on
PostgreSQL (as autovacuum would), nothing on SQLite (the product never runs ANALYZE).

Then an operator admin and an owner of agent 1 are made (API tokens through
agency.sessions.create_api_token; page sessions stored directly, the admin with two-factor login
enrolled in-process, as production mode requires), and the real server (`voipagency serve`)
answers, at 1 client and at --clients concurrent clients for --seconds each:

- GET /api/v1/agents/1/statistics over the whole year by day (scope subtree), and by month;
- GET /api/v1/statistics (the operator's network) by day;
- GET /agents/1/statistics (the page) by day, and /statistics for the operator, if the page exists.

In-process: stats.figures.statistics timed statement by statement, with the databases' plans
(EXPLAIN ANALYZE on PostgreSQL, EXPLAIN QUERY PLAN on SQLite), and `stats.recompute.verify()` on the
whole data (unless --skip-verify), with its seconds and peak memory.

Prints one JSON object; nothing is asserted.

    .venv/bin/python -m benchmarks.statistics [--databases sqlite,postgres] [--agents 10000]
        [--subscribers 1000000] [--calls 10000000] [--days 365] [--seconds 8] [--clients 8]
        [--workers 2] [--skip-verify] [--verify-memory-gib 16]
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import datetime as dt
import random
import resource
import time
from array import array
from collections import Counter
from pathlib import Path

import pyotp

from agency import twofactor
from agency.roles import Actor
from agency.sessions import create_api_token, new_token, token_hash
from agency.tables import User, UserSession
from agency.tree import child_path
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
from benchmarks.http_load import LeanClient, connect_one_by_one, timed_call
from core import sql
from core.clock import now, operator_zone
from core.db import bulk_insert, transaction
from core.passwords import hash_password
from stats import figures as stats_figures
from stats import recompute
from stats.daily import METRICS, NETWORK_PATH, network_stripe

SEED = 20261202
LEVELS = 5
OTHER_BRANCH = 50  # agents in each level-1 branch but the big one
CLOSED_PERCENT = 2
ANSWERED = 0.8
CALLS_PER_TRANSACTION = 500_000
PASSWORD = "bench-pass-2026"
SQLITE_CACHE_KIB = 1_000_000  # the build's connection: the indexes of the call table stay in memory
DESTINATIONS = (("8613", 100), ("8610", 100), ("8621", 100), ("852", 150), ("1", 200), ("44", 250))
HEADERS = {"Accept-Language": "en"}

AGENT_COLUMNS = (
    "id",
    "parent",
    "path",
    "level",
    "brand_name",
    "contact_person",
    "phone",
    "address",
    "timezone",
    "status",
    "notice_at",
    "terminates_at",
    "created_by",
    "created_at",
)
SUBSCRIBER_COLUMNS = (
    "id",
    "account_number",
    "agent",
    "status",
    "password_hash",
    "must_change_password",
    "expires_at",
    "created_at",
    "closed_at",
    "hold",
)
CALL_COLUMNS = (
    "call_id",
    "subscriber",
    "agent",
    "destination",
    "started_at",
    "answered_at",
    "ended_at",
    "duration",
    "billed",
    "charged",
    "uncollected",
    "multiplier",
    "flagged",
    "rated_at",
)
AGENT_DAY_COLUMNS = ("agent", "scope", "day", "path", *METRICS)
I_CALLS, I_CONSUMED, I_OPENED, I_CLOSED = (
    METRICS.index(name) for name in ("calls", "consumed_seconds", "opened_accounts", "closed_accounts")
)

log = logger("statistics")


def rounded(value: float) -> float:
    return round(value, 2)


# --- the tree -----------------------------------------------------------------------------------------


def fan_out(size: int) -> int:
    """The smallest fan-out whose LEVELS-level tree holds `size` agents."""
    f = 1
    while sum(f**k for k in range(LEVELS)) < size:
        f += 1
    return f


def tree(agents: int) -> tuple[list[int], list[str], list[int]]:
    """parent, path, level by agent id (index 0 unused). Agent 1's branch holds half the agents,
    filled breadth first with the smallest fan-out that reaches 5 levels; then branches of 50."""
    parent, path, level = [0], [""], [0]

    def branch(size: int) -> None:
        f = fan_out(size)
        root = len(parent)
        parent.append(0)
        path.append(child_path("/", root))
        level.append(1)
        frontier, made = [root], 1
        while made < size:
            below = []
            for p in frontier:
                for _ in range(f):
                    if made == size:
                        break
                    a = len(parent)
                    parent.append(p)
                    path.append(child_path(path[p], a))
                    level.append(level[p] + 1)
                    below.append(a)
                    made += 1
            frontier = below

    big = max(1, agents // 2)
    branch(big)
    left = agents - big
    while left > 0:
        branch(min(OTHER_BRANCH, left))
        left -= min(OTHER_BRANCH, left)
    return parent, path, level


# --- times as each driver takes them ---------------------------------------------------------------


class Stamps:
    """Epoch seconds as the table stores them: a datetime for asyncpg's COPY; on SQLite the text
    Piccolo writes for an aware datetime (str() of it in UTC: "2026-01-01 12:00:00+00:00")."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.clock = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00:00" for s in range(86400)]
        self.dates: dict[int, str] = {}

    def __call__(self, seconds: int | None):
        if seconds is None:
            return None
        if self.kind == "postgres":
            return dt.datetime.fromtimestamp(seconds, dt.UTC)
        day, second = divmod(seconds, 86400)
        date = self.dates.get(day)
        if date is None:
            date = self.dates[day] = (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()
        return f"{date} {self.clock[second]}"


# --- the build ------------------------------------------------------------------------------------


class Build:
    """Generates the rows day by day, keeps the day's figures per agent, writes everything."""

    def __init__(self, kind: str, args) -> None:
        self.kind, self.args = kind, args
        self.stamp = Stamps(kind)
        self.rnd = random.Random(SEED)
        self.parent, self.path, self.level = tree(args.agents)
        self.agents = len(self.parent) - 1
        self.bottom_up = sorted(range(1, self.agents + 1), key=lambda a: -self.level[a])
        self.bottom_up = [a for a in self.bottom_up if self.parent[a]]
        self.level1 = [a for a in range(1, self.agents + 1) if self.level[a] == 1]
        zone = operator_zone()
        self.today = now().astimezone(zone).date()
        window = args.days
        before = args.days // 2
        first = self.today - dt.timedelta(days=window + before)
        self.days = [first + dt.timedelta(days=i) for i in range(window + before)]
        self.window_start = before  # index of the first day with calls
        starts = [dt.datetime.combine(d, dt.time(0), tzinfo=zone) for d in [*self.days, self.today]]
        self.starts = [int(s.timestamp()) for s in starts]
        self.sub_agent = array("i", [0])
        self.closing: dict[int, dict[int, int]] = {}  # day index -> agent -> closures
        self.seconds = {"generate": 0.0, "agent": 0.0, "subscriber": 0.0, "call": 0.0, "agent_day": 0.0}
        self.rows = {"agent": 0, "subscriber": 0, "call": 0, "agent_day": 0}
        self.open_accounts: Counter = Counter()  # (agent, scope) -> accounts open at the end
        # What the API should answer for the window (agent 1's subtree and the network).
        self.expected = {
            "agent_1_subtree": {"calls": 0, "consumed_seconds": 0, "opened_accounts": 0, "active_accounts": 0},
            "network": {"calls": 0, "consumed_seconds": 0, "opened_accounts": 0, "active_accounts": 0},
        }

    async def insert(self, table: str, columns: tuple[str, ...], rows: list) -> None:
        start = time.perf_counter()
        await bulk_insert(table, columns, rows)
        self.seconds[table] += time.perf_counter() - start
        self.rows[table] += len(rows)

    async def cache(self) -> None:
        if self.kind == "sqlite":
            await sql.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")

    async def run(self) -> None:
        stamp = self.stamp
        created = stamp(self.starts[0] - 86400 * 30)
        rows = [
            (a, self.parent[a] or None, self.path[a], self.level[a], f"Brand {a:05d}", f"Contact {a}",
             f"+86 {a:08d}", "", "Asia/Shanghai", "active", None, None, None, created)
            for a in range(1, self.agents + 1)
        ]  # fmt: skip
        async with transaction():
            await self.cache()
            await self.insert("agent", AGENT_COLUMNS, rows)
        log(f"{self.kind}: {self.agents} agents in {rounded(self.seconds['agent'])} s")
        day_index, report_at = 0, time.perf_counter() + 30
        while day_index < len(self.days):
            async with transaction():
                await self.cache()
                calls = 0
                while day_index < len(self.days) and calls < CALLS_PER_TRANSACTION:
                    calls += await self.day(day_index)
                    day_index += 1
            if time.perf_counter() > report_at or day_index == len(self.days):
                report_at = time.perf_counter() + 30
                log(f"{self.kind}: {day_index}/{len(self.days)} days, {self.rows} rows, seconds {self.split()}")
        async with transaction():
            opened = [(a, scope, n) for (a, scope), n in sorted(self.open_accounts.items()) if n]
            await bulk_insert("agent_open_accounts", ("agent", "scope", "accounts"), opened)

    def split(self) -> dict[str, float]:
        return {name: rounded(value) for name, value in self.seconds.items()}

    async def day(self, i: int) -> int:
        """Generate and write day i: its subscribers, its calls, its agent_day rows."""
        t0 = time.perf_counter()
        rnd, stamp, args = self.rnd, self.stamp, self.args
        start, end = self.starts[i], self.starts[i + 1]
        span = end - start
        n = self.agents + 1
        calls, consumed, opened, closed = [0] * n, [0] * n, [0] * n, [0] * n
        # Subscribers opened today (ids in order of their day).
        total_days = len(self.days)
        count = args.subscribers * (i + 1) // total_days - args.subscribers * i // total_days
        before_today = len(self.sub_agent) - 1
        window_end = self.starts[-1]
        subscribers = []
        random_ = rnd.random
        for k in range(count):
            sid = before_today + 1 + k
            agent = 1 + int(random_() * self.agents)
            self.sub_agent.append(agent)
            opened[agent] += 1
            at = start + int(random_() * span)
            closed_at = None
            if random_() * 100 < CLOSED_PERCENT:
                closed_at = at + 1 + int(random_() * (window_end - at - 1))
                closes = bisect.bisect_right(self.starts, closed_at) - 1
                per_agent = self.closing.setdefault(closes, {})
                per_agent[agent] = per_agent.get(agent, 0) + 1
            subscribers.append(
                (sid, f"8{sid:09d}", agent, "closed" if closed_at else "active", None, True, None,
                 stamp(at), stamp(closed_at), None)
            )  # fmt: skip
        for agent, number in self.closing.pop(i, {}).items():
            closed[agent] += number
        # Calls of the day, by subscribers opened before it.
        call_rows = []
        if i >= self.window_start:
            w = i - self.window_start
            count = args.calls * (w + 1) // args.days - args.calls * w // args.days
            first_id = args.calls * w // args.days
            pool = before_today or len(self.sub_agent) - 1
            sub_agent = self.sub_agent
            destinations = DESTINATIONS
            kinds = len(destinations)
            for k in range(count):
                sub = 1 + int(random_() * pool)
                agent = sub_agent[sub]
                started = start + int(random_() * span)
                prefix, multiplier = destinations[int(random_() * kinds)]
                ring = 3 + int(random_() * 20)
                if random_() < ANSWERED:
                    duration = 1 + int(random_() * 600)
                    answered = started + ring
                    ended = answered + duration
                    billed = (duration + 59) // 60 * 60
                    charged = billed * multiplier // 100
                    answered_at = stamp(answered)
                else:
                    duration = billed = charged = 0
                    ended = started + ring
                    answered_at = None
                ended_at = stamp(ended)
                calls[agent] += 1
                consumed[agent] += charged
                call_rows.append(
                    (f"bench-{first_id + k:010d}", sub, agent, f"{prefix}{sub:08d}", stamp(started), answered_at,
                     ended_at, duration, billed, charged, 0, multiplier, False, ended_at)
                )  # fmt: skip
        day_rows = self.agent_days(i, calls, consumed, opened, closed)
        self.seconds["generate"] += time.perf_counter() - t0
        if subscribers:
            await self.insert("subscriber", SUBSCRIBER_COLUMNS, subscribers)
        if call_rows:
            await self.insert("call", CALL_COLUMNS, call_rows)
        if day_rows:
            await self.insert("agent_day", AGENT_DAY_COLUMNS, day_rows)
        return len(call_rows)

    def agent_days(self, i: int, calls, consumed, opened, closed) -> list[tuple]:
        """Own rows of the agents with figures today, and subtree rows of them and their ancestors."""
        day = self.days[i].isoformat()
        path = self.path
        zeros = [0] * len(METRICS)
        rows = []

        def add(scope: str, a: int) -> None:
            figures = zeros.copy()
            figures[I_CALLS], figures[I_CONSUMED] = calls[a], consumed[a]
            figures[I_OPENED], figures[I_CLOSED] = opened[a], closed[a]
            rows.append((a, scope, day, path[a], *figures))
            self.open_accounts[(a, scope)] += opened[a] - closed[a]

        stripes: dict[int, list[int]] = {}  # the network's rows (stats.daily.network_stripe)
        for a in range(1, self.agents + 1):
            if calls[a] or consumed[a] or opened[a] or closed[a]:
                add("own", a)
                stripe = stripes.setdefault(network_stripe(a), [0, 0, 0, 0])
                for k, value in enumerate((calls[a], consumed[a], opened[a], closed[a])):
                    stripe[k] += value
        for stripe, (n_calls, n_consumed, n_opened, n_closed) in stripes.items():
            figures = zeros.copy()
            figures[I_CALLS], figures[I_CONSUMED], figures[I_OPENED], figures[I_CLOSED] = (
                n_calls,
                n_consumed,
                n_opened,
                n_closed,
            )
            rows.append((stripe, "subtree", day, NETWORK_PATH, *figures))
            self.open_accounts[(stripe, "subtree")] += n_opened - n_closed
        parent = self.parent
        for a in self.bottom_up:  # the subtree figures, children before parents
            p = parent[a]
            calls[p] += calls[a]
            consumed[p] += consumed[a]
            opened[p] += opened[a]
            closed[p] += closed[a]
        for a in range(1, self.agents + 1):
            if calls[a] or consumed[a] or opened[a] or closed[a]:
                add("subtree", a)
        for name, agents in (("agent_1_subtree", (1,)), ("network", self.level1)):
            expected = self.expected[name]
            for a in agents:
                expected["active_accounts"] += opened[a] - closed[a]
                if i >= self.window_start:
                    expected["calls"] += calls[a]
                    expected["consumed_seconds"] += consumed[a]
                    expected["opened_accounts"] += opened[a]
        return rows

    def settings(self) -> dict[str, object]:
        counts = {level: self.level.count(level) for level in range(1, LEVELS + 1)}
        big = sum(1 for p in self.path[1:] if p.startswith(self.path[1]))
        return {
            "agents": self.agents,
            "agents_by_level": counts,
            "agent_1_subtree_agents": big,
            "agent_1_fan_out": fan_out(max(1, self.args.agents // 2)),
            "days_with_calls": self.args.days,
            "days_with_openings": len(self.days),
            "first_day": self.days[0].isoformat(),
            "window": [self.days[self.window_start].isoformat(), self.today.isoformat()],
        }


async def after_load(kind: str) -> tuple[str, float]:
    start = time.perf_counter()
    if kind == "postgres":
        for table in ("agent", "subscriber"):
            await sql.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
        await sql.execute("VACUUM ANALYZE")  # a table that grew over a year would have been analyzed by autovacuum
        method = "COPY (core.db.bulk_insert), then VACUUM ANALYZE (as autovacuum would)"
    else:
        method = "executemany (core.db.bulk_insert); no ANALYZE (the product never runs it)"
    return method, time.perf_counter() - start


# --- users ------------------------------------------------------------------------------------------


async def make_users(kind: str) -> dict[str, dict[str, str]]:
    """An operator admin (two-factor login enrolled) and an owner of agent 1: an API token and a
    page session each."""
    password_hash = hash_password(PASSWORD)
    actors = {}
    for username, role, agent in (("bench.admin", "admin", None), ("bench.owner", "owner", 1)):
        rows = await User.insert(
            User(username=username, display_name=username, role=role, agent=agent,
                 password_hash=password_hash, created_at=now())
        ).returning(User.id)  # fmt: skip
        path = child_path("/", 1) if agent else ""
        actors[role] = Actor(
            user_id=rows[0]["id"], username=username, role=role, agent_id=agent, agent_path=path,
            agent_level=1 if agent else 0, address="benchmark",
        )  # fmt: skip
    # Production mode (PostgreSQL here) sends an admin's session to the two-factor set-up until
    # it is on: enrol in-process, as the set-up page would with a phone.
    enrolment = await twofactor.start_enrolment(actors["admin"])
    await twofactor.confirm_enrolment(actors["admin"], pyotp.TOTP(enrolment.secret).now())
    credentials = {}
    for role, actor in actors.items():
        session = new_token()
        at = now()
        await UserSession.insert(
            UserSession(token_hash=token_hash(session), user=actor.user_id, created_at=at, last_seen_at=at,
                        expires_at=at + dt.timedelta(hours=8))
        )  # fmt: skip
        credentials[role] = {"token": await create_api_token(actor, "benchmark"), "session": session}
    return credentials


# --- in-process: the statements of one answer, and their plans -------------------------------------


@contextlib.contextmanager
def recorded_statements(bucket: list):
    original = sql.fetch

    async def fetch(statement: str, *args):
        start = time.perf_counter()
        try:
            return await original(statement, *args)
        finally:
            bucket.append((statement, args, time.perf_counter() - start))

    sql.fetch = fetch
    try:
        yield bucket
    finally:
        sql.fetch = original


async def in_process(kind: str, actor: Actor, agent_id: int | None, period, rounds: int) -> dict[str, object]:
    await stats_figures.statistics(actor, agent_id, period)  # warm up
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await stats_figures.statistics(actor, agent_id, period)
        samples.append(time.perf_counter() - start)
    statements: list = []
    with recorded_statements(statements):
        await stats_figures.statistics(actor, agent_id, period)
    parts = []
    for statement, args, elapsed in statements:
        if not statement.lstrip().upper().startswith("SELECT"):
            continue
        explain = "EXPLAIN ANALYZE " if kind == "postgres" else "EXPLAIN QUERY PLAN "
        plan = await sql.fetch(explain + statement, *args)
        lines = [row.get("QUERY PLAN") or row.get("detail") for row in plan]
        parts.append({"ms": round(elapsed * 1000, 2), "sql": statement[:300], "plan": lines})
    return {**summary(samples, digits=2), "rounds": rounds, "statements": parts}


# --- through HTTP -----------------------------------------------------------------------------------


async def load_case(server, headers: dict[str, str], path: str, clients: int, seconds: float, pg: int | None):
    lean = [LeanClient(server.url, {**HEADERS, **headers}) for _ in range(clients)]
    await connect_one_by_one(lean)
    before = cpu_snapshot(server.process.pid, pg)
    run = await closed_loop(lambda i: timed_call(lean[i], "GET", path), clients, seconds, 1_000_000, ok=200)
    with_cpu(run, before, cpu_snapshot(server.process.pid, pg), "request")
    for client in lean:
        await client.aclose()
    return run


async def http_cases(server, db: Database, credentials, build: Build, args) -> dict[str, object]:
    since = build.days[build.window_start].isoformat()
    until = build.today.isoformat()
    period = f"since={since}&until={until}"
    owner_api = {"Authorization": f"Bearer {credentials['owner']['token']}"}
    admin_api = {"Authorization": f"Bearer {credentials['admin']['token']}"}
    owner_page = {"Cookie": f"vs_session={credentials['owner']['session']}"}
    admin_page = {"Cookie": f"vs_session={credentials['admin']['session']}"}
    cases = {
        "api_agent_1_subtree_by_day": (
            owner_api,
            f"/api/v1/agents/1/statistics?{period}&granularity=day&scope=subtree",
        ),
        "api_agent_1_subtree_by_month": (
            owner_api,
            f"/api/v1/agents/1/statistics?{period}&granularity=month&scope=subtree",
        ),
        "api_operator_network_by_day": (admin_api, f"/api/v1/statistics?{period}&granularity=day"),
        "page_agent_1_subtree_by_day": (owner_page, f"/agents/1/statistics?{period}&granularity=day&scope=subtree"),
        "page_operator_network_by_day": (admin_page, f"/statistics?{period}&granularity=day"),
    }
    pg = postmaster_pid(db.pg_data_dir)
    results: dict[str, object] = {}
    for name, (headers, path) in cases.items():
        probe = LeanClient(server.url, {**HEADERS, **headers})
        checks = [await timed_call(probe, "GET", path) for _ in range(3)]  # warm up: templates, pools, caches
        status, _body = await probe.request("GET", path)
        body = _body
        await probe.aclose()
        case: dict[str, object] = {"path": path, "first_requests_ms": [round(c[1] * 1000, 1) for c in checks]}
        if status == 404 and name.startswith("page_"):
            results[name] = {"path": path, "page": "not built yet"}
            continue
        if status != 200:
            results[name] = {**case, "status": status, "body": body[:300].decode(errors="replace")}
            continue
        case["bytes"] = len(body)
        if name.startswith("api_"):
            import json

            answer = json.loads(body)
            expected = build.expected["network" if "operator" in name else "agent_1_subtree"]
            case["check"] = {
                "series": len(answer["series"]),
                "children": len(answer["children"]),
                "totals": {key: answer["totals"][key] for key in expected},
                "expected": expected,
                "equal": all(answer["totals"][key] == value for key, value in expected.items()),
            }
        for clients in (1, args.clients):
            log(f"{db.kind}: {name}, {clients} client(s) for {args.seconds} s")
            run = await load_case(server, headers, path, clients, args.seconds, pg)
            case["sequential" if clients == 1 else "concurrent"] = run
        results[name] = case
    return results


# --- verify -----------------------------------------------------------------------------------------


def peak_rss_mib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return None


async def timed_verify(limit_gib: float) -> dict[str, object]:
    """stats.recompute.verify() with this process's address space capped (a MemoryError, not the
    kernel's OOM killer, if it needs more than the machine can give)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    before = peak_rss_mib()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (int(limit_gib * 2**30), hard))
    start = time.perf_counter()
    try:
        report = await recompute.verify()
    except MemoryError:
        return {
            "seconds": rounded(time.perf_counter() - start),
            "error": f"MemoryError: more than {limit_gib} GiB of address space",
            "peak_rss_mib": {"at_start": before, "peak_during": peak_rss_mib()},
        }
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    return {
        "seconds": rounded(time.perf_counter() - start),
        "ok": report.ok,
        "rows": report.rows,
        "differences": report.differences[:5],
        "peak_rss_mib": {"at_start": before, "peak_during": peak_rss_mib()},
    }


# --- driver -----------------------------------------------------------------------------------------


async def run(kind: str, args) -> dict[str, object]:
    started = time.perf_counter()
    figures: dict[str, object] = {}
    with databases(kind) as found:
        db = found.new("statistics")
        async with db.opened():
            build = Build(kind, args)
            log(f"{kind}: building {args.agents} agents, {args.subscribers} subscribers, {args.calls} calls")
            start = time.perf_counter()
            await build.run()
            method, after_seconds = await after_load(kind)
            build_seconds = time.perf_counter() - start
            figures["build"] = {
                "seconds": rounded(build_seconds),
                "seconds_by_step": {
                    **build.split(),
                    "commits_and_other": rounded(build_seconds - after_seconds - sum(build.seconds.values())),
                    "vacuum_analyze": rounded(after_seconds),
                },
                "rows": build.rows,
                "method": method,
                "shape": build.settings(),
            }
            if kind == "sqlite":
                figures["build"]["database_mib"] = round(Path(db.target).stat().st_size / 2**20, 1)
            log(f"{kind}: built in {rounded(build_seconds)} s: {build.split()}")
            credentials = await make_users(kind)
            owner = Actor(
                user_id=0, username="x", role="owner", agent_id=1, agent_path=child_path("/", 1), agent_level=1
            )
            admin = Actor(user_id=0, username="x", role="admin")
            since = build.days[build.window_start].isoformat()
            until = build.today.isoformat()
            figures["in_process"] = {}
            for name, actor, agent, granularity in (
                ("agent_1_subtree_by_day", owner, 1, "day"),
                ("agent_1_subtree_by_month", owner, 1, "month"),
                ("operator_network_by_day", admin, stats_figures.NETWORK, "day"),
            ):
                period = stats_figures.parse_period(since, until, granularity, "subtree")
                figures["in_process"][name] = await in_process(kind, actor, agent, period, args.rounds)
                log(f"{kind}: in-process {name}: {figures['in_process'][name]['p50_ms']} ms p50")
            log(f"{kind}: starting the server")
            with serving(db, args.workers, figures, log) as server:
                figures["http"] = await http_cases(server, db, credentials, build, args)
            if args.skip_verify:
                figures["verify"] = "skipped (--skip-verify)"
            else:
                log(f"{kind}: stats.recompute.verify() on the whole data")
                figures["verify"] = await timed_verify(args.verify_memory_gib)
                log(f"{kind}: verify {figures['verify']}")
    figures["wall_seconds"] = round(time.perf_counter() - started, 1)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=365, help="days with calls, up to yesterday")
    parser.add_argument("--seconds", type=float, default=8.0, help="per case and concurrency")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument("--rounds", type=int, default=10, help="in-process statistics() calls per case")
    parser.add_argument("--skip-verify", action="store_true")
    parser.add_argument("--verify-memory-gib", type=float, default=16.0, help="address-space cap during verify")
    args = parser.parse_args()
    started = time.perf_counter()
    results = run_on_each(args.databases, lambda kind: run(kind, args))
    print_report(
        {
            "benchmark": "statistics",
            "targets": {"statistics_page_p99_ms_max": 300},
            "notes": [
                "Agent 1 (level 1) has about half the agents in its subtree (breadth first, 5 levels); the "
                "other level-1 agents have 50 agents each. Subscribers belong to random agents (so about half "
                "are in agent 1's subtree), opened evenly over the year and the half year before it; 2% are "
                "closed later. Calls are spread evenly over the days of the year, by subscribers opened "
                "before the call's day (closing is not checked against later calls).",
                "agent_day rows are computed by the benchmark while it generates the calls and subscribers and "
                "bulk-inserted (own rows, and subtree rows of the agent and its ancestors); verify compares "
                "them with stats.recompute's recomputation from the call and subscriber tables.",
                "The call rows are rated records without journal postings: the ledger does not balance in "
                "this database (no ledger verify); only the statistics are meant to be consistent.",
                "Server: `voipagency serve --workers N` on loopback, the load generator (LeanClient) on the "
                "same 2 cores. SQLite in demo mode (no demo data: the database has users); PostgreSQL in "
                "production mode on a throwaway, durable cluster (fsync on: see database_settings); the "
                "admin has two-factor login enrolled "
                "in-process, the API uses Bearer tokens, the pages stored sessions.",
                "Periods: since = the first day with calls, until = today (exclusive): the whole year by day "
                "(365 points) or by month (13 points).",
            ],
            "settings": {
                "agents": args.agents,
                "subscribers": args.subscribers,
                "calls": args.calls,
                "days": args.days,
                "seconds": args.seconds,
                "clients": args.clients,
                "workers": args.workers,
                "rounds": args.rounds,
                "timezone": operator_zone().key,
            },
            "results": results,
            "wall_seconds": round(time.perf_counter() - started, 1),
        }
    )


if __name__ == "__main__":
    main()
