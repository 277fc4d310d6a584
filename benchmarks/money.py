"""Money speed: bundle purchases per second through HTTP, and ledger verification at 1,000,000 entries.

For each database (SQLite file, throwaway PostgreSQL cluster):

1. A fresh database gets the operator's price lists and 64 funded level-1 agents, each with an
   owner (operation password set) and an API token, made through the domain code. The real server
   (`voipagency serve --workers 2`) then takes POST /api/v1/bundles from 8 and from 64 concurrent
   clients, client i buying for agent i with a fresh idempotency key per request, for a bounded
   time and request count. Afterwards the ledger is verified.
2. A second fresh database is bulk-loaded with 1,000,000 balanced journal entries (500,000
   two-entry transactions over 1,000 agent wallets and one system account, cached balances
   matching) and `money.ledger.verify()` is timed.

Prints one JSON object; nothing is asserted.

    .venv/bin/python -m benchmarks.money [--databases sqlite,postgres] [--seconds 10]
        [--levels 8,64] [--max-requests 20000] [--transactions 500000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sqlite3
import time
import uuid
from collections import Counter

import httpx

from agency import agents
from agency.roles import Actor
from agency.sessions import create_api_token
from agency.tables import User
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
    with_cpu,
)
from core.clock import now
from core.db import transaction
from core.passwords import hash_password
from core.units import FEN
from money import ledger
from money.ledger import transfer
from money.prices import save_operator_list
from money.tables import BundleOrder
from web.demo import OPERATOR_PRICES

AGENTS = 64  # level-1 agents, one per client at the highest concurrency
MINUTES = 10  # per purchase
FUNDING_FEN = 100_000_000  # ¥1,000,000 per wallet: no purchase in a run can run out of money
PASSWORD = "bench-pass-2026"
OPERATION_PASSWORD = "135790"
LEDGER_WALLETS = 1_000


log = logger("money")


# --- 1. bundle purchases through HTTP -------------------------------------------------------------


async def build_agency() -> list[str]:
    """Price lists and AGENTS funded level-1 agents with an owner and an API token; returns the tokens."""
    password_hash = hash_password(PASSWORD)  # hashed once: argon2 is slow by design
    operation_hash = hash_password(OPERATION_PASSWORD)

    async def add_user(username: str, role: str, agent_id: int | None) -> int:
        rows = await User.insert(
            User(
                username=username,
                display_name=username,
                role=role,
                agent=agent_id,
                password_hash=password_hash,
                operation_password_hash=operation_hash,
                created_at=now(),
            )
        ).returning(User.id)
        return rows[0]["id"]

    admin = Actor(
        user_id=await add_user("bench.admin", "admin", None), username="bench.admin", role="admin", address="benchmark"
    )
    for level, tiers in OPERATOR_PRICES.items():
        await save_operator_list(admin, level, tiers)
    tokens = []
    for i in range(AGENTS):
        agent = await agents.create_agent(
            admin,
            None,
            {
                "brand_name": f"Bench Agent {i:02d}",
                "contact_person": f"Contact {i}",
                "phone": f"+86 {i:08d}",
                "timezone": "Asia/Shanghai",
            },
        )
        username = f"bench.owner{i:02d}"
        owner = Actor(
            user_id=await add_user(username, "owner", agent["id"]),
            username=username,
            role="owner",
            agent_id=agent["id"],
            agent_path=agent["path"],
            agent_level=agent["level"],
            address="benchmark",
        )
        async with transaction():  # as tests/money.py `fund`: a confirmed remittance without the paperwork
            outside = await ledger.system_account(ledger.OPERATOR_INFLOW)
            wallet = await ledger.agent_account(agent["id"], ledger.WALLET)
            await ledger.post(
                "remittance",
                transfer(outside, wallet, FEN, FUNDING_FEN),
                memo="benchmark funding",
            )
        tokens.append(await create_api_token(owner, "benchmark"))
    return tokens


async def purchase(client: httpx.AsyncClient, token: str) -> tuple[int | str, float, str]:
    """One purchase: (status or exception name, seconds, start of the body when not 201)."""
    body = {"minutes": MINUTES, "operation_password": OPERATION_PASSWORD, "idempotency_key": uuid.uuid4().hex}
    start = time.perf_counter()
    try:
        response = await client.post("/api/v1/bundles", json=body, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        return type(exc).__name__, time.perf_counter() - start, str(exc)[:200]
    elapsed = time.perf_counter() - start
    return response.status_code, elapsed, "" if response.status_code == 201 else response.text[:200]


async def load(url: str, tokens: list[str], clients: int, seconds: float, max_requests: int) -> dict[str, object]:
    """`clients` workers, worker i buying with tokens[i], until `seconds` pass or `max_requests` are sent."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=httpx.Timeout(60.0)) as client:
        return await closed_loop(lambda i: purchase(client, tokens[i]), clients, seconds, max_requests, ok=201)


async def http_benchmark(db: Database, args) -> dict[str, object]:
    kind = db.kind
    async with db.opened():
        start = time.perf_counter()
        tokens = await build_agency()
        figures: dict[str, object] = {"setup_seconds": round(time.perf_counter() - start, 2)}
        log(f"{kind}: {AGENTS} agents ready in {figures['setup_seconds']} s; starting the server")
        with serving(db, 2, figures, log) as server:
            # A few purchases first, on 4 connections, so first-request costs stay out of the figures.
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
                warmup = Counter(r[0] for r in await asyncio.gather(*(purchase(client, tokens[i]) for i in range(4))))
            figures["warmup_statuses"] = {str(k): v for k, v in warmup.items()}
            runs = []
            for clients in args.levels:
                log(f"{kind}: {clients} clients for {args.seconds} s")
                postmaster = postmaster_pid(db.pg_data_dir)
                before = cpu_snapshot(server.process.pid, postmaster)
                run = await load(server.url, tokens, clients, args.seconds, args.max_requests)
                with_cpu(run, before, cpu_snapshot(server.process.pid, postmaster), "purchase")
                runs.append(run)
            figures["runs"] = runs
        report = await ledger.verify()
        figures["ledger_ok"] = report.ok
        figures["ledger_breaches"] = len(report.breaches)
        figures["ledger_breach_samples"] = report.breaches[:5]
        acknowledged = warmup.get(201, 0) + sum(run["successes"] for run in runs)
        figures["purchases_acknowledged"] = acknowledged  # 201 answers, warm-up included
        figures["bundle_orders_in_db"] = await BundleOrder.count()
        return figures


# --- 2. ledger verification at 1,000,000 entries --------------------------------------------------


def ledger_rows(transactions: int, created: dt.datetime, timestamp):
    """Agents, accounts (wallets with matching cached balances), transactions and entries, as row tuples.
    Transaction t moves amount(t) fen from the outside-money system account (id 1) to wallet
    account 2 + t % LEDGER_WALLETS; every transaction has two entries that sum to zero."""

    def amount(t: int) -> int:
        return 100 + (t * 7919) % 100_000

    balances = [0] * LEDGER_WALLETS
    total = 0
    for t in range(1, transactions + 1):
        balances[t % LEDGER_WALLETS] += amount(t)
        total += amount(t)
    stamp = timestamp(created)
    agent_rows = [
        (
            a,
            None,
            child_path("/", a),
            1,
            f"Ledger Agent {a:04d}",
            "Contact",
            "+86 1",
            "",
            "Asia/Shanghai",
            "active",
            None,
            None,
            None,
            stamp,
        )
        for a in range(1, LEDGER_WALLETS + 1)
    ]
    # System accounts keep no cached balance (theirs is the sum of their entries, -total here).
    assert total > 0
    account_rows = [(1, ledger.OPERATOR_INFLOW[0], None, ledger.SYSTEM, FEN, False, 0)] + [
        (2 + w, f"agent:{w + 1}:wallet", w + 1, ledger.WALLET, FEN, True, balances[w]) for w in range(LEDGER_WALLETS)
    ]

    def transaction_rows():
        for t in range(1, transactions + 1):
            yield t, "remittance", f"bulk {t}", None, "", "", stamp

    def entry_rows():
        for t in range(1, transactions + 1):
            yield 2 * t - 1, t, 1, FEN, -amount(t)
            yield 2 * t, t, 2 + t % LEDGER_WALLETS, FEN, amount(t)

    return agent_rows, account_rows, transaction_rows(), entry_rows()


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
ACCOUNT_COLUMNS = ("id", "code", "agent", "kind", "unit", "customer_facing", "balance")
TRANSACTION_COLUMNS = ("id", "kind", "memo", "user_id", "ref_type", "ref_id", "created_at")
ENTRY_COLUMNS = ("id", "txn", "account", "unit", "amount")
TABLES = (
    ("agent", AGENT_COLUMNS),
    ("ledger_account", ACCOUNT_COLUMNS),
    ("journal_transaction", TRANSACTION_COLUMNS),
    ("journal_entry", ENTRY_COLUMNS),
)


def load_sqlite(path: str, transactions: int) -> str:
    # Piccolo keeps Timestamptz as text like "2026-01-01 12:00:00.000000+00:00" on SQLite.
    rows = ledger_rows(transactions, now(), lambda at: at.isoformat(sep=" "))
    connection = sqlite3.connect(path)
    try:
        with connection:  # one transaction
            for (table, columns), data in zip(TABLES, rows, strict=True):
                marks = ", ".join("?" * len(columns))
                connection.executemany(f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({marks})', data)
    finally:
        connection.close()
    return "stdlib sqlite3 executemany, one transaction; no ANALYZE (the product never runs it)"


async def load_postgres(dsn: str, transactions: int) -> str:
    import asyncpg

    rows = ledger_rows(transactions, now(), lambda at: at)
    connection = await asyncpg.connect(dsn)
    try:
        async with connection.transaction():
            for (table, columns), data in zip(TABLES, rows, strict=True):
                await connection.copy_records_to_table(table, records=data, columns=columns)
            for table in ("agent", "ledger_account", "journal_transaction", "journal_entry"):
                await connection.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))"
                )
        # A ledger that grew over months would have been vacuumed and analyzed by autovacuum.
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    return "asyncpg copy_records_to_table, one transaction, then VACUUM ANALYZE (as autovacuum would)"


async def ledger_benchmark(db: Database, transactions: int) -> dict[str, object]:
    async with db.opened():
        start = time.perf_counter()
        if db.kind == "sqlite":
            method = await asyncio.to_thread(load_sqlite, db.target, transactions)
        else:
            method = await load_postgres(db.target, transactions)
        figures: dict[str, object] = {"load_seconds": round(time.perf_counter() - start, 2), "load_method": method}
        log(f"{db.kind}: {2 * transactions} entries loaded in {figures['load_seconds']} s; verifying")
        start = time.perf_counter()
        report = await ledger.verify()
        figures["verify_seconds"] = round(time.perf_counter() - start, 2)
        start = time.perf_counter()
        await ledger.verify()
        figures["verify_seconds_again"] = round(time.perf_counter() - start, 2)  # caches warm
    figures.update(
        entries=report.entries,
        transactions=report.transactions,
        accounts=report.accounts,
        ok=report.ok,
        breaches=len(report.breaches),
    )
    return figures


# --- driver -----------------------------------------------------------------------------------------


async def run(kind: str, args) -> dict[str, object]:
    with databases(kind) as found:
        return {
            "http": await http_benchmark(found.new("money_http"), args),
            "ledger_verify": await ledger_benchmark(found.new("money_ledger"), args.transactions),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--seconds", type=float, default=10.0, help="time per concurrency level")
    parser.add_argument("--levels", default="8,64", help="concurrent clients per run, at most 64")
    parser.add_argument("--max-requests", type=int, default=20_000, help="request cap per concurrency level")
    parser.add_argument("--transactions", type=int, default=500_000, help="two entries each")
    args = parser.parse_args()
    args.levels = [min(AGENTS, int(level)) for level in args.levels.split(",")]
    results = run_on_each(args.databases, lambda kind: run(kind, args))
    print_report(
        {
            "benchmark": "money",
            "notes": [
                "Every purchase verifies the buyer's argon2id operation password (m=19 MiB, t=2, p=1: about "
                "20 ms of CPU by design, SPEC R-33/R-3), which bounds throughput on a 2-core machine.",
                "Server: `voipagency serve --workers 2` on loopback; the load generator (httpx) runs on the "
                "same 2 cores. Client i buys for agent i with a fresh idempotency key, "
                f"{MINUTES} minutes per purchase.",
                "SQLite runs in demo mode (no demo data: the database already has users); PostgreSQL in "
                "production mode on a throwaway, durable cluster (fsync on: see database_settings).",
                "ledger_verify: 2 x transactions entries over 1,000 agent wallets and one system account, "
                "bulk-loaded; verify_seconds is the first verify() after loading.",
            ],
            "settings": {
                "seconds": args.seconds,
                "levels": args.levels,
                "max_requests": args.max_requests,
                "agents": AGENTS,
                "transactions": args.transactions,
            },
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
