"""Baselines: the least the database must do for a figure, written with the bare drivers the product
uses (asyncpg, aiosqlite), outside Piccolo and core/, on scratch tables of the benchmark's own
database, so a figure can be read as a ratio measured in the same run on the same machine.

- bare_redemptions: the transaction a redemption must do at least (one conditional UPDATE of a
  card, one balance UPDATE, one journal INSERT, commit), from N connections at once;
- primary_key_round_trip: one primary-key SELECT of a subscriber, one at a time;
- commit_round_trip: one row inserted and committed, one at a time (a durable commit's cost);
- http_round_trip: one request to the bare app (benchmarks/bare_app.py), one at a time;
- bare_batched_insert: the rows of rated calls inserted in batches (one executemany and one commit
  a batch) into a copy of the call table with its indexes.

On SQLite the N connections queue for the write lock on an asyncio lock (SQLite has one writer at a
time; without the queue, SQLite's busy handler sleeps and retries), and every connection keeps the
settings a fresh connection has (WAL is the file's; `synchronous` is read back and reported).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
import time
from collections.abc import Awaitable, Callable

from benchmarks.common import SQLITE_SYNCHRONOUS, Database, raw_connection, summary
from benchmarks.http_load import LeanClient

CREDIT_SECONDS = 60


class Bare:
    """A bare connection and the few calls the baselines need, the same on both drivers."""

    def __init__(self, db: Database, connection, lock: asyncio.Lock | None) -> None:
        self.kind, self.connection, self.lock = db.kind, connection, lock

    @classmethod
    async def open(cls, db: Database, lock: asyncio.Lock | None = None) -> Bare:
        return cls(db, await raw_connection(db), lock)

    def sql(self, text: str) -> str:
        """`$1`-style placeholders for asyncpg, `?` for SQLite."""
        return text if self.kind == "postgres" else re.sub(r"\$\d+", "?", text)

    async def execute(self, text: str, *args) -> int:
        """Run a statement; the number of rows it changed."""
        if self.kind == "postgres":
            status = await self.connection.execute(self.sql(text), *args)
            return int(status.rsplit(" ", 1)[-1]) if status.rsplit(" ", 1)[-1].isdigit() else 0
        cursor = await self.connection.execute(self.sql(text), args)
        changed = cursor.rowcount
        await cursor.close()
        return changed

    async def fetch(self, text: str, *args) -> list[tuple]:
        if self.kind == "postgres":
            return [tuple(row) for row in await self.connection.fetch(self.sql(text), *args)]
        return list(await self.connection.execute_fetchall(self.sql(text), args))

    async def executemany(self, text: str, rows: list[tuple]) -> None:
        await self.connection.executemany(self.sql(text), rows)

    @contextlib.asynccontextmanager
    async def transaction(self):
        """BEGIN (IMMEDIATE on SQLite, after the in-process queue) ... COMMIT, or ROLLBACK."""
        async with self.lock if self.lock is not None else contextlib.nullcontext():
            await self.execute("BEGIN IMMEDIATE" if self.kind == "sqlite" else "BEGIN")
            try:
                yield self
            except BaseException:
                await self.execute("ROLLBACK")
                raise
            await self.execute("COMMIT")

    async def settings(self) -> dict[str, object]:
        if self.kind == "postgres":
            rows = await self.fetch("SELECT current_setting('fsync'), current_setting('synchronous_commit')")
            return {"fsync": rows[0][0], "synchronous_commit": rows[0][1]}
        journal = (await self.fetch("PRAGMA journal_mode"))[0][0]
        synchronous = (await self.fetch("PRAGMA synchronous"))[0][0]
        return {"journal_mode": journal, "synchronous": SQLITE_SYNCHRONOUS.get(synchronous, synchronous)}

    async def close(self) -> None:
        await self.connection.close()


async def connections(db: Database, count: int) -> list[Bare]:
    lock = asyncio.Lock() if db.kind == "sqlite" else None
    return [await Bare.open(db, lock) for _ in range(count)]


def now_value(kind: str):
    """The current time as each driver takes it (SQLite: the text Piccolo stores)."""
    moment = dt.datetime.now(dt.UTC)
    return moment if kind == "postgres" else str(moment)


# --- the bare redemption ----------------------------------------------------------------------------


def numbered_rows(kind: str, table: str, value: str) -> str:
    """INSERT rows (n, value) for n from 1 to $1."""
    if kind == "postgres":
        return f"INSERT INTO {table} SELECT g, {value} FROM generate_series(1, $1) AS g"
    return (
        "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < $1) "
        f"INSERT INTO {table} SELECT n, {value} FROM g"
    )


async def bare_redemptions(db: Database, clients: int, seconds: float, cards: int) -> dict[str, object]:
    """Client i credits account i: each transaction takes the next card, UPDATEs it from active to
    redeemed (it must change one row), adds to the account's balance, INSERTs a journal row, and
    commits; for `seconds` or until the `cards` run out. Scratch tables, dropped afterwards."""
    setup = await Bare.open(db)
    identity = "BIGSERIAL" if db.kind == "postgres" else "INTEGER"
    stamp = "TIMESTAMPTZ" if db.kind == "postgres" else "TEXT"
    for statement in (
        "DROP TABLE IF EXISTS bench_card",
        "DROP TABLE IF EXISTS bench_balance",
        "DROP TABLE IF EXISTS bench_journal",
        f"CREATE TABLE bench_card (id INTEGER PRIMARY KEY, status TEXT NOT NULL, redeemed_by INTEGER, "
        f"redeemed_at {stamp})",
        "CREATE TABLE bench_balance (id INTEGER PRIMARY KEY, balance BIGINT NOT NULL)",
        f"CREATE TABLE bench_journal (id {identity} PRIMARY KEY, card INTEGER NOT NULL, account INTEGER NOT NULL, "
        f"amount INTEGER NOT NULL, created_at {stamp} NOT NULL)",
    ):
        await setup.execute(statement)
    await setup.execute(numbered_rows(db.kind, "bench_card (id, status)", "'active'"), cards)
    await setup.execute(numbered_rows(db.kind, "bench_balance (id, balance)", "0"), clients)
    pool = await connections(db, clients)
    next_card = 0
    committed, refused = 0, 0
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def client(bare: Bare, account: int) -> None:
        nonlocal next_card, committed, refused
        while time.perf_counter() < deadline and next_card < cards:
            next_card += 1
            card = next_card
            start = time.perf_counter()
            async with bare.transaction():
                changed = await bare.execute(
                    "UPDATE bench_card SET status = 'redeemed', redeemed_by = $1, redeemed_at = $2 "
                    "WHERE id = $3 AND status = 'active'",
                    account,
                    now_value(db.kind),
                    card,
                )
                if changed != 1:
                    refused += 1
                    continue
                await bare.execute(
                    "UPDATE bench_balance SET balance = balance + $1 WHERE id = $2", CREDIT_SECONDS, account
                )
                await bare.execute(
                    "INSERT INTO bench_journal (card, account, amount, created_at) VALUES ($1, $2, $3, $4)",
                    card,
                    account,
                    CREDIT_SECONDS,
                    now_value(db.kind),
                )
            committed += 1
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    try:
        await asyncio.gather(*(client(bare, i + 1) for i, bare in enumerate(pool)))
        wall = time.perf_counter() - start
        settings = await pool[0].settings()
    finally:
        for bare in pool:
            await bare.close()
    redeemed = (await setup.fetch("SELECT COUNT(*) FROM bench_card WHERE status = 'redeemed'"))[0][0]
    credited = (await setup.fetch("SELECT COALESCE(SUM(balance), 0) FROM bench_balance"))[0][0]
    journal = (await setup.fetch("SELECT COUNT(*) FROM bench_journal"))[0][0]
    for table in ("bench_card", "bench_balance", "bench_journal"):
        await setup.execute(f"DROP TABLE {table}")
    await setup.close()
    return {
        "clients": clients,
        "transactions": committed,
        "seconds": round(wall, 2),
        "per_second": round(committed / wall, 1) if wall else None,
        "latency_ms": summary(latencies),
        "cards_ran_out": next_card >= cards,
        "connection_settings": settings,
        "check": {
            "cards_redeemed": redeemed,
            "journal_rows": journal,
            "balance_credited": int(credited),
            "consistent": redeemed == journal == committed and credited == committed * CREDIT_SECONDS
            and refused == 0,
        },
        "statements": "BEGIN; UPDATE card WHERE id AND status='active' (1 row); UPDATE balance; INSERT journal; COMMIT",
    }


# --- one primary-key round trip -----------------------------------------------------------------------


WARM_UP = 10  # first rounds not timed: they warm statement caches, connections and workers


async def one_at_a_time(rounds: int, once: Callable[[int], Awaitable[object]]) -> dict[str, object]:
    """`once(i)` for i in 0 .. WARM_UP + rounds - 1, in turn; p50 and p99 of the timed rounds."""
    samples = []
    for i in range(WARM_UP + rounds):
        start = time.perf_counter()
        await once(i)
        if i >= WARM_UP:
            samples.append(time.perf_counter() - start)
    return {"rounds": rounds, **summary(samples, digits=3)}


async def primary_key_round_trip(db: Database, rounds: int) -> dict[str, object]:
    """One subscriber row by primary key, `rounds` times in turn on one bare connection."""
    bare = await Bare.open(db)
    try:
        ids = [row[0] for row in await bare.fetch("SELECT id FROM subscriber ORDER BY id LIMIT 64")] or [0]
        timed = await one_at_a_time(
            rounds, lambda i: bare.fetch("SELECT * FROM subscriber WHERE id = $1", ids[i % len(ids)])
        )
    finally:
        await bare.close()
    return {**timed, "statement": "SELECT * FROM subscriber WHERE id = $1"}


async def commit_round_trip(db: Database, rounds: int) -> dict[str, object]:
    """One row inserted and committed, `rounds` times in turn on one bare connection: what a
    durable commit (its fsync) costs here; a scratch table, dropped afterwards."""

    async def insert_and_commit(i: int) -> None:
        async with bare.transaction():
            await bare.execute("INSERT INTO bench_commit_probe (n) VALUES ($1)", i)

    bare = await Bare.open(db)
    try:
        await bare.execute("CREATE TABLE bench_commit_probe (n INTEGER PRIMARY KEY)")
        timed = await one_at_a_time(rounds, insert_and_commit)
        await bare.execute("DROP TABLE bench_commit_probe")
        settings = await bare.settings()
    finally:
        await bare.close()
    return {**timed, "statement": "BEGIN; INSERT one row; COMMIT", **settings}


# --- a bare batched insert of rated calls ---------------------------------------------------------


CALL_COLUMNS = ("call_id", "subscriber", "agent", "destination", "started_at", "answered_at", "ended_at",
                "duration", "billed", "charged", "uncollected", "multiplier", "flagged", "rated_at")  # fmt: skip


async def copy_call_table(bare: Bare) -> None:
    """bench_call: the call table's columns and indexes (no foreign keys: PostgreSQL's LIKE copies
    none, and a bare SQLite connection does not enforce them)."""
    await bare.execute("DROP TABLE IF EXISTS bench_call")
    if bare.kind == "postgres":
        await bare.execute("CREATE TABLE bench_call (LIKE call INCLUDING ALL)")
        return
    for (statement,) in await bare.fetch(
        "SELECT sql FROM sqlite_master WHERE tbl_name = 'call' AND sql IS NOT NULL ORDER BY type DESC"
    ):  # the table first, then its indexes
        statement = statement.replace('"call"', "bench_call")
        statement = re.sub(r"^CREATE INDEX (\w+)", r"CREATE INDEX bench_\1", statement)
        await bare.execute(statement)


async def bare_batched_insert(db: Database, rows: list[tuple], batch: int, senders: int) -> dict[str, object]:
    """`rows` (CALL_COLUMNS) into bench_call, `batch` rows a transaction (one executemany), from
    `senders` connections at once, as the rating benchmark sends its batches."""
    setup = await Bare.open(db)
    await copy_call_table(setup)
    pool = await connections(db, senders)
    batches = [rows[i : i + batch] for i in range(0, len(rows), batch)]
    marks = ", ".join(f"${i}" for i in range(1, len(CALL_COLUMNS) + 1))
    statement = f"INSERT INTO bench_call ({', '.join(CALL_COLUMNS)}) VALUES ({marks})"
    latencies: list[float] = []

    async def sender(bare: Bare) -> None:
        while batches:
            part = batches.pop()
            start = time.perf_counter()
            async with bare.transaction():
                await bare.executemany(statement, part)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    try:
        await asyncio.gather(*(sender(bare) for bare in pool))
        wall = time.perf_counter() - start
    finally:
        for bare in pool:
            await bare.close()
    inserted = (await setup.fetch("SELECT COUNT(*) FROM bench_call"))[0][0]
    await setup.execute("DROP TABLE bench_call")
    await setup.close()
    return {
        "rows": len(rows),
        "batch": batch,
        "senders": senders,
        "seconds": round(wall, 2),
        "rows_per_second": round(len(rows) / wall, 1) if wall else None,
        "batch_latency_ms": summary(latencies),
        "check": {"rows_inserted": inserted, "consistent": inserted == len(rows)},
    }


async def http_round_trip(url: str, rounds: int) -> dict[str, object]:
    """One GET of the bare app's constant JSON (benchmarks/bare_app.py), `rounds` times in turn on
    one kept-alive connection: the floor of any request through the server and the framework."""

    async def get(_i: int) -> None:
        status, _body = await client.request("GET", "/constant")
        if status != 200:
            raise RuntimeError(f"the bare app answered {status}")

    client = LeanClient(url)
    try:
        timed = await one_at_a_time(rounds, get)
    finally:
        await client.aclose()
    return {**timed, "request": "GET /constant (benchmarks/bare_app.py)"}
