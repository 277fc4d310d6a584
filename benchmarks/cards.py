"""Card speed: batch generation, its memory, redemptions and balance checks through HTTP (SPEC §11).

For each database (SQLite file, throwaway PostgreSQL cluster):

1. Generation: on a fresh database an owner with stock (funded wallet, one bundle bought, as the
   tests do) generates a 100,000-card batch through `cards.services.generate_batch`, timed. Beside
   it, the same number of rows is bulk-inserted raw into `card` (same columns, precomputed tuples,
   `core.db.bulk_insert` inside `core.db.transaction()`, no HMAC or secrets work),
   once into the empty table before the product's batch and once after it, so the product's
   overhead over the raw insert is visible. The product's pure-Python work per batch (serials,
   secrets, HMACs; sealing the secrets) is timed apart from any database.
2. Memory: the same generation in a subprocess of its own (on its own fresh, stocked database),
   for 100,000 cards and, with --million (the default), for 1,000,000, through generate_batch
   (which returns the pairs) and through write_batch(return_pairs=False) (the background job's
   path); the peak RSS is the child's own /proc VmHWM, read before and after the call.
3. Redemptions: a fresh database gets an owner with stock, 64 e-cards activated (64 subscriber
   accounts: one per client at the highest level) and a recharge batch activated. The real server
   (`voipagency serve`, 1 worker on SQLite, 2 on PostgreSQL; SQLite in demo mode, PostgreSQL in
   production mode) is started; each subscriber logs in through the portal with the e-card secret
   and replaces the initial password (httpx), and its cookies go to a lean keep-alive client of its
   own (benchmarks/http_load.py).
   Then 8 and 64 concurrent clients redeem distinct cards through POST /api/v1/portal/recharge for a
   bounded time; then a double- redemption probe: each of 50 cards is sent by 8 clients at once.
   Afterwards the database is searched for cards redeemed more than once and the ledger is verified.
   Where the time goes: before the server starts, the same use cases are timed in this process
   without HTTP; during the runs, CPU per server process (and PostgreSQL's) comes from /proc, and on
   PostgreSQL pg_stat_activity is sampled for lock waits.
   Baseline, before the server starts: the bare transaction a redemption must do at least
   (benchmarks/baselines.py: conditional card UPDATE, balance UPDATE, journal INSERT, commit) with
   the bare driver, from as many connections as clients, for as long.
4. Balance checks: GET /api/v1/portal/balance from 8 and 64 concurrent clients for a bounded time.
   Baseline, after the server stops: a bare Litestar app's constant JSON (benchmarks/bare_app.py),
   served with the same workers and options, from the same load generator and clients.

PostgreSQL is durable (fsync, synchronous_commit and full_page_writes on); SQLite runs as the
product opens it (WAL; `synchronous` as read back, in database_settings).

Prints one JSON object; nothing is asserted.

    .venv/bin/python -m benchmarks.cards [--databases sqlite,postgres] [--seconds 8]
        [--levels 8,64] [--parts generation,memory,http] [--count 100000] [--million | --no-million]
        [--cards 40000] [--probe-cards 50] [--memory-count 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, deque
from pathlib import Path

import httpx
from piccolo.engine.postgres import PostgresEngine

from agency.roles import Actor
from agency.sessions import log_in
from benchmarks.baselines import bare_redemptions
from benchmarks.common import (
    CARD_SECRET,
    Database,
    Databases,
    cpu_snapshot,
    databases,
    logger,
    postmaster_pid,
    print_report,
    run_on_each,
    serving,
    serving_bare,
    summary,
    with_cpu,
)
from benchmarks.http_load import LeanClient, connect_one_by_one, timed_call
from cards import codes
from cards.integrity import verify_everything
from cards.sealing import seal
from cards.services import activate_cards, generate_batch
from cards.tables import Card, CardBatch
from core.clock import now
from core.db import bind_engine, bulk_insert, engine_from_url, transaction
from core.passwords import hash_password, verify_password
from web.demo import DEMO_OPERATION_PASSWORD, DEMO_PASSWORD, load_demo

REPO = Path(__file__).resolve().parents[1]
OWNER = "huaxin"  # the demo's level-1 owner; its wallet is funded and it buys the stock
OP = DEMO_OPERATION_PASSWORD
KEY = CARD_SECRET.encode()  # the card key: the server's VOIPAGENCY_CARD_SECRET_KEY, so it checks our PINs
FUNDING_FEN = 10**10  # covers bundles of a few million minutes at the demo prices
IN_PROCESS_CARDS = 600  # by default; a third redeemed in-process one at a time, then the rest from 8 tasks
SUBSCRIBERS = 64  # at most: e-cards, one subscriber (and one HTTP client) per client at the highest level
ECARD_MINUTES = 60
PROBE_ATTEMPTS = 8  # clients sending the same card at once in the double-redemption probe
COLUMNS = ("batch", "agent", "serial", "secret_hash", "status", "expires_at")
TARGETS = {
    "generate_100000_seconds_max": 3.0,
    "generate_1000000": "constant memory (with a progress bar)",
    "redemptions_per_second_min": 500,
    "double_redemptions": 0,
    "balance_p99_ms_max": {"8": 10, "64": 50},
}


log = logger("cards")


def batch_request(count: int, kind: str = "recharge", face_minutes: int = 1, prefix: str = "86") -> dict[str, str]:
    return {
        "kind": kind,
        "count": str(count),
        "face_minutes": str(face_minutes),
        "expiry_rule": "none",
        "prefix": prefix,
    }


async def stocked_owner(minutes: int) -> Actor:
    """The demo (an empty database), then the owner's wallet funded and `minutes` of stock bought
    through the real bundle path, as tests/integration/test_cards.py does."""
    from money.bundles import buy_bundle
    from tests.money import fund

    await load_demo()
    _token, owner = await log_in(OWNER, DEMO_PASSWORD, address="benchmark")
    await fund(owner.agent_id, FUNDING_FEN)
    await buy_bundle(owner, minutes, operation_password=OP, idempotency_key=uuid.uuid4().hex)
    return owner


def memory_kib() -> dict[str, int]:
    """VmHWM (peak resident set) and VmRSS of this process, in KiB (Linux)."""
    found = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmHWM", "VmRSS"):
                found[name] = int(value.split()[0])
    return found


# --- 1. generation: product vs raw insert ----------------------------------------------------------


def raw_rows(batch_id: int, agent_id: int, prefix: str, first: int, count: int) -> list[tuple]:
    """Precomputed card rows: real serials, a fixed-size stand-in for the hash, no secrets."""
    return [
        (batch_id, agent_id, codes.make_serial(prefix, number), f"{number:064x}", "generated", None)
        for number in range(first, first + count)
    ]


async def raw_insert(rows: list[tuple]) -> float:
    start = time.perf_counter()
    async with transaction():
        await bulk_insert("card", COLUMNS, rows)
    return time.perf_counter() - start


def python_work(count: int) -> dict[str, float]:
    """The product's per-batch pure-Python work, no database: serial, secret and HMAC per card as
    generate_batch does, then sealing all the pairs."""
    pairs = []
    start = time.perf_counter()
    for number in range(1, count + 1):
        serial = codes.make_serial("86", number)
        secret = codes.new_secret()
        pairs.append((serial, secret))
        codes.secret_hash(KEY, serial, secret)
    rows = time.perf_counter() - start
    start = time.perf_counter()
    sealed = seal(KEY, 1, pairs)
    sealing = time.perf_counter() - start
    stored_hash = hash_password(OP)
    start = time.perf_counter()
    verify_password(stored_hash, OP)
    argon2 = time.perf_counter() - start
    return {
        "rows_seconds": round(rows, 3),
        "rows_us_per_card": round(rows * 1e6 / count, 2),
        "seal_seconds": round(sealing, 3),
        "sealed_bytes": len(sealed),
        "operation_password_check_seconds": round(argon2, 3),
    }


async def generation_benchmark(db: Database, count: int) -> dict[str, object]:
    kind = db.kind
    async with db.opened():
        owner = await stocked_owner(count)
        # A batch row for the raw rows (the card table's foreign key), made directly: no ledger.
        raw_batch = (
            await CardBatch.insert(
                CardBatch(
                    agent=owner.agent_id,
                    kind="recharge",
                    size=2 * count,
                    face_minutes=1,
                    expiry_rule="none",
                    prefix="87",
                    first_number=1,
                    last_number=2 * count,
                    notes="raw insert benchmark",
                    status="ready",
                    created_at=now(),
                )
            ).returning(CardBatch.id)
        )[0]["id"]
        figures: dict[str, object] = {"cards": count}
        rows = raw_rows(raw_batch, owner.agent_id, "87", 1, count)
        figures["raw_insert_into_empty_table_seconds"] = round(await raw_insert(rows), 3)
        log(f"{kind}: raw insert of {count} rows: {figures['raw_insert_into_empty_table_seconds']} s")
        start = time.perf_counter()
        batch, pairs = await generate_batch(owner, batch_request(count), card_key=KEY, operation_password=OP)
        product = time.perf_counter() - start
        figures["generate_batch_seconds"] = round(product, 3)
        log(f"{kind}: generate_batch of {count}: {figures['generate_batch_seconds']} s")
        figures["generated_cards_in_batch"] = (
            await CardBatch.select(CardBatch.size).where(CardBatch.id == batch["id"]).first()
        )["size"]
        del pairs
        rows = raw_rows(raw_batch, owner.agent_id, "87", count + 1, count)
        figures["raw_insert_after_batch_seconds"] = round(await raw_insert(rows), 3)
        del rows
        figures["card_rows_in_table"] = await Card.count()
        raw_mean = (figures["raw_insert_into_empty_table_seconds"] + figures["raw_insert_after_batch_seconds"]) / 2
        figures["product_over_raw_seconds"] = round(product - raw_mean, 3)
        figures["product_over_raw_ratio"] = round(product / raw_mean, 2) if raw_mean else None
        figures["order"] = (
            "raw insert into the empty table, then generate_batch (table holds the raw rows), then raw "
            "insert again (table holds both); the overhead is against the mean of the two raw inserts"
        )
        figures["python_work_no_database"] = python_work(count)
        return figures


# --- 2. memory of a generation in a subprocess of its own -----------------------------------------


async def prepare_memory_database(db: Database, count: int) -> None:
    async with db.opened():
        await stocked_owner(count)


MEMORY_MODES = {
    "generate_batch": "cards.services.generate_batch: the pairs are returned to the caller",
    "write_batch_without_pairs": "cards.services.prepare_batch + write_batch(return_pairs=False, progress=...), "
    "as the background job of cards/jobs.py runs a batch",
}


async def child_generate(kind: str, target: str, count: int, mode: str) -> dict[str, object]:
    """Runs in the subprocess: log in the owner, then generate one batch; memory before and after."""
    from cards import services

    engine = (
        engine_from_url(None, target) if kind == "sqlite" else PostgresEngine(config={"dsn": target}, extensions=())
    )
    bind_engine(engine)
    _token, owner = await log_in(OWNER, DEMO_PASSWORD, address="benchmark")
    progress_calls = 0

    def progress(done: int, total: int) -> None:
        nonlocal progress_calls
        progress_calls += 1

    before = memory_kib()
    start = time.perf_counter()
    if mode == "generate_batch":
        batch, pairs = await generate_batch(owner, batch_request(count), card_key=KEY, operation_password=OP)
    else:
        spec, agent = await services.prepare_batch(owner, batch_request(count), OP)
        batch, pairs = await services.write_batch(
            owner, spec, agent, card_key=KEY, return_pairs=False, progress=progress
        )
    seconds = time.perf_counter() - start
    after = memory_kib()
    return {
        "cards": count,
        "cards_in_batch": batch["size"],
        "pairs_returned": len(pairs),
        "progress_calls": progress_calls,
        "seconds": round(seconds, 2),
        "vm_hwm_before_generation_kib": before.get("VmHWM"),
        "vm_hwm_after_generation_kib": after.get("VmHWM"),
        "vm_rss_after_generation_kib": after.get("VmRSS"),
    }


def run_child(kind: str, target: str, count: int, mode: str) -> dict[str, object]:
    """The generation in a fresh interpreter; its peak RSS from its own /proc, and wait4's."""
    with tempfile.TemporaryFile() as out:
        command = [sys.executable, "-m", "benchmarks.cards", "--child-generate", kind, target, str(count), mode]
        process = subprocess.Popen(command, cwd=REPO, stdout=out)
        try:
            _pid, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
        finally:
            if process.returncode is None:
                process.kill()
                process.wait()
        out.seek(0)
        text = out.read().decode(errors="replace")
    if process.returncode != 0:
        return {"cards": count, "exit_code": process.returncode, "output": text[-2000:]}
    figures = json.loads(text.strip().splitlines()[-1])
    figures["peak_rss_kib"] = figures["vm_hwm_after_generation_kib"]
    before = figures["vm_hwm_before_generation_kib"]
    figures["growth_during_generation_kib"] = figures["peak_rss_kib"] - before if before else None
    # Linux records the pre-exec memory's high-water mark (this process's, shared by vfork) in the
    # child's maxrss at exec, so wait4's figure can show this benchmark's own RSS instead.
    figures["wait4_ru_maxrss_kib"] = usage.ru_maxrss
    figures["child_cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 2)
    return figures


async def memory_benchmark(found: Databases, counts: list[int], modes: list[str]) -> dict[str, object]:
    from cards import services

    figures: dict[str, object] = {
        "method": "peak_rss_kib: VmHWM from the child's own /proc/self/status right after the call returned "
        "(returned pairs still held); growth: minus VmHWM just before the call (interpreter, imports, login)",
        "modes": MEMORY_MODES,
    }
    for mode in modes:
        if mode != "generate_batch" and not hasattr(services, "write_batch"):
            figures[mode] = "cards.services.write_batch does not exist in this version"
            continue
        figures[mode] = {}
        for count in counts:
            db = found.new(f"memory_{mode}_{count}")
            await prepare_memory_database(db, count)
            log(f"{db.kind}: {mode}, {count} cards in a subprocess")
            figures[mode][str(count)] = await asyncio.to_thread(run_child, db.kind, db.target, count, mode)
            log(f"{db.kind}: {mode}, {count} cards: {figures[mode][str(count)]}")
    return figures


# --- 3 and 4. redemptions and balance checks through HTTP ------------------------------------------


def workers(kind: str, args) -> int:
    """Server processes: on SQLite one by default, as `voipagency serve` starts (one writer at a time:
    a second process adds lock handoffs between processes); on PostgreSQL one per core."""
    return args.sqlite_workers if kind == "sqlite" else args.postgres_workers


def add_worker_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sqlite-workers", type=int, default=1, help="server processes on SQLite")
    parser.add_argument("--postgres-workers", type=int, default=2, help="server processes on PostgreSQL")


async def build_cards(
    subscribers: int, recharge_cards: int, probe_cards: int, local_cards: int
) -> tuple[list, list, list, list]:
    """Owner with stock; e-cards activated (one subscriber each); recharge, probe and in-process
    batches activated. Returns the e-card, recharge, probe and in-process (serial, secret) pairs."""
    minutes = subscribers * ECARD_MINUTES + recharge_cards + probe_cards + local_cards
    owner = await stocked_owner(minutes)
    pairs = []
    for count, kind, face in (
        (subscribers, "e-card", ECARD_MINUTES),
        (recharge_cards, "recharge", 1),
        (probe_cards, "recharge", 1),
        (local_cards, "recharge", 1),
    ):
        _batch, made = await generate_batch(
            owner, batch_request(count, kind, face), card_key=KEY, operation_password=OP
        )
        await activate_cards(owner, made[0][0], made[-1][0])
        pairs.append(made)
    return pairs[0], pairs[1], pairs[2], pairs[3]


async def in_process(ecard_serial: str, cards: list[tuple[str, str]], sqlite_dir: str | None) -> dict[str, object]:
    """The portal's use cases called directly in this process (no HTTP, no server), before the
    server starts: what the domain code and the database cost per call, one at a time and from 8
    concurrent tasks. The redemptions credit the first subscriber."""
    from accounts import portal
    from accounts.tables import Subscriber
    from cards.errors import RedemptionFailed
    from cards.services import redeem_card

    row = await Subscriber.select(Subscriber.id).where(Subscriber.account_number == ecard_serial).first()
    subscriber_id = row["id"]
    token = await portal.open_session(subscriber_id)
    figures: dict[str, object] = {}

    sequential = len(cards) // 3

    async def timed(call, rounds: int = sequential) -> list[float]:
        samples = []
        for _ in range(rounds):
            start = time.perf_counter()
            await call()
            samples.append(time.perf_counter() - start)
        return samples

    figures["one_select_by_primary_key"] = summary(
        await timed(lambda: Subscriber.select(Subscriber.id).where(Subscriber.id == subscriber_id).first())
    )

    async def balance_check() -> None:
        me = await portal.subscriber_for_session(token)
        await portal.overview(me["id"])

    figures["balance_check_sequential"] = summary(await timed(balance_check))
    queue, failures = deque(cards), Counter()

    async def redeem() -> None:
        serial, pin = queue.popleft()
        try:
            await redeem_card(serial, pin, subscriber_id=subscriber_id, address="127.0.0.1", card_key=KEY)
        except RedemptionFailed:
            failures["sequential"] += 1

    samples = await timed(redeem)
    figures["redemption_sequential"] = {**summary(samples), "per_second": round(len(samples) / sum(samples), 1)}
    done = 0

    async def worker() -> None:
        nonlocal done
        while queue:
            serial, pin = queue.popleft()
            try:
                await redeem_card(serial, pin, subscriber_id=subscriber_id, address="127.0.0.1", card_key=KEY)
                done += 1
            except RedemptionFailed:
                failures["concurrent"] += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(8)))
    wall = time.perf_counter() - start
    figures["redemption_8_tasks"] = {
        "redemptions": done,
        "seconds": round(wall, 2),
        "per_second": round(done / wall, 1),
    }
    figures["redemption_failures"] = dict(failures)
    serial, pin = cards[0]
    stored = codes.secret_hash(KEY, serial, pin)
    start = time.perf_counter()
    for _ in range(10_000):
        codes.secret_matches(KEY, serial, pin, stored)
    figures["pin_hmac_check_us"] = round((time.perf_counter() - start) * 100, 2)  # per check, of 10,000
    figures["redemptions"] = sequential - failures["sequential"] + done
    if sqlite_dir:
        figures["stdlib_sqlite3_commit_one_row"] = await asyncio.to_thread(commit_latency, sqlite_dir)
    return figures


def commit_latency(directory: str, rounds: int = 200) -> dict[str, object]:
    """One-row write transactions with the stdlib driver on this disk, WAL and SQLite's default
    synchronous setting as the product uses them: what a commit (its fsync) costs here."""
    import sqlite3

    path = Path(directory) / "commit_probe.sqlite3"
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE probe (id INTEGER PRIMARY KEY, v TEXT)")
        samples = []
        for i in range(rounds):
            start = time.perf_counter()
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO probe (v) VALUES (?)", (str(i),))
            connection.execute("COMMIT")
            samples.append(time.perf_counter() - start)
        synchronous = connection.execute("PRAGMA synchronous").fetchone()[0]
    finally:
        connection.close()
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    return {**summary(samples), "synchronous": {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(synchronous)}


@contextlib.asynccontextmanager
async def backend_activity(dsn: str | None):
    """What PostgreSQL's client backends of the benchmark database do while the block runs, sampled
    from pg_stat_activity every 50 ms: the average number of backends per state and wait event
    (e.g. `active Lock:transactionid` is a backend waiting for another transaction's row lock)."""
    if not dsn:
        yield None
        return
    import asyncpg

    connection = await asyncpg.connect(dsn)
    seen: Counter = Counter()
    waiting: Counter = Counter()  # the statements that wait for a lock
    samples = 0
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal samples
        while not stop.is_set():
            rows = await connection.fetch(
                "SELECT state, wait_event_type, wait_event, query FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
            samples += 1
            seen.update(f"{r['state']} {r['wait_event_type'] or '-'}:{r['wait_event'] or '-'}" for r in rows)
            waiting.update(" ".join(r["query"].split())[:90] for r in rows if r["wait_event_type"] == "Lock")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)

    result: dict[str, float] = {}
    task = asyncio.create_task(sample())
    try:
        yield result
    finally:
        stop.set()
        await task
        await connection.close()
        if samples:
            result.update({key: round(n / samples, 2) for key, n in seen.most_common(8)})
            result["statements_waiting_for_a_lock"] = {q: round(n / samples, 2) for q, n in waiting.most_common(3)}


async def portal_client(url: str, serial: str, secret: str, index: int) -> httpx.AsyncClient:
    """A subscriber logged in through the portal, initial password replaced; cookies kept, the CSRF
    header set."""
    client = httpx.AsyncClient(base_url=url, timeout=httpx.Timeout(60.0))
    try:
        await client.get("/portal/login")
        csrf = client.cookies["vs_csrf"]
        response = await client.post(
            "/portal/login", data={"account_number": serial, "password": secret, "csrf_token": csrf}
        )
        if response.status_code != 303 or response.headers.get("location") != "/portal/password":
            raise RuntimeError(f"portal login of {serial}: {response.status_code} {response.text[:300]}")
        password = f"bench-subscriber-{index:02d}"
        response = await client.post(
            "/portal/password",
            data={"new_password": password, "repeat_password": password, "csrf_token": client.cookies["vs_csrf"]},
        )
        if response.status_code != 303:
            raise RuntimeError(f"password change of {serial}: {response.status_code} {response.text[:300]}")
        client.headers["X-CSRF-Token"] = client.cookies["vs_csrf"]
        response = await client.get("/api/v1/portal/balance")
        if response.status_code != 200:
            raise RuntimeError(f"balance of {serial}: {response.status_code} {response.text[:300]}")
    except BaseException:
        await client.aclose()
        raise
    return client


async def load(clients: list[LeanClient], seconds: float, request) -> dict[str, object]:
    """One worker per client, each sending `request(client)` until `seconds` pass or it returns None."""
    statuses: Counter = Counter()
    samples: dict[str, str] = {}
    latencies: list[float] = []
    finished: list[float] = []  # when each latency sample ended, from the start of the run
    per_client: dict[int, list[float]] = {}
    sent = 0
    start = time.perf_counter()
    deadline = start + seconds

    async def worker(client: LeanClient) -> None:
        nonlocal sent
        while time.perf_counter() < deadline:
            attempt = request(client)
            if attempt is None:
                return
            sent += 1
            status, elapsed, text = await attempt
            statuses[status] += 1
            if status == 200:
                latencies.append(elapsed)
                finished.append(time.perf_counter() - start)
                per_client.setdefault(id(client), []).append(elapsed)
            else:
                samples.setdefault(str(status), text)

    await asyncio.gather(*(worker(client) for client in clients))
    wall = time.perf_counter() - start
    successes = statuses.pop(200, 0)
    return {
        "clients": len(clients),
        "requests": sent,
        "successes": successes,
        "errors_by_status": {str(k): v for k, v in sorted(statuses.items(), key=str)},
        "error_samples": samples,
        "seconds": round(wall, 2),
        "per_second": round(successes / wall, 1) if wall else None,
        "latency_ms_of_200": summary(latencies),
        "p99_ms_by_second": by_second(finished, latencies),
        # Each client's median: an even spread means fair service; two groups mean the clients on
        # one server process wait longer than those on the other.
        "client_p50_ms_sorted": sorted(summary(v)["p50_ms"] for v in per_client.values()),
    }


def by_second(finished: list[float], latencies: list[float]) -> list[float | None]:
    """The p99 of the requests that ended in each second of a run: a stall shows as one bad second,
    a steady queue as all of them."""
    seconds: dict[int, list[float]] = {}
    for end, latency in zip(finished, latencies, strict=True):
        seconds.setdefault(int(end), []).append(latency)
    return [summary(seconds[second])["p99_ms"] for second in sorted(seconds)]


async def pg_counters(dsn: str | None) -> dict[str, int] | None:
    """Commits and row changes of the benchmark database (PostgreSQL's statistics), to see what a
    redemption costs the database."""
    if not dsn:
        return None
    import asyncpg

    await asyncio.sleep(11)  # an idle backend flushes its statistics after 10 s (PostgreSQL 15+)
    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchrow(
            "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted, tup_fetched "
            "FROM pg_stat_database WHERE datname = current_database()"
        )
    finally:
        await connection.close()
    return dict(row)


async def settle(dsn: str | None) -> None:
    """After the redemption runs, let PostgreSQL's autovacuum of their dead rows happen now rather
    than during the balance checks it would slow down (VACUUM ANALYZE of the benchmark database)."""
    if not dsn:
        return
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()


def cpu_by_process(group: int) -> dict[int, float]:
    """User + system CPU seconds of each live process in process group `group` (Linux /proc)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[2]) == group:
            found[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return found


def cores_by_process(before: dict[int, float], after: dict[int, float], seconds: float) -> list[float]:
    """Cores busy per server process (the supervisor and its workers), busiest first."""
    if not seconds:
        return []
    return sorted((round((cpu - before.get(pid, 0.0)) / seconds, 2) for pid, cpu in after.items()), reverse=True)


async def probe(clients: list[LeanClient], cards: list[tuple[str, str]]) -> dict[str, object]:
    """Each card sent by PROBE_ATTEMPTS clients at once, card after card."""
    statuses: Counter = Counter()
    wins_per_card: Counter = Counter()
    for k, (serial, pin) in enumerate(cards):
        chosen = [clients[(k * PROBE_ATTEMPTS + j) % len(clients)] for j in range(PROBE_ATTEMPTS)]
        results = await asyncio.gather(
            *(
                timed_call(
                    c,
                    "POST",
                    "/api/v1/portal/recharge",
                    json={"serial": serial, "pin": pin, "idempotency_key": uuid.uuid4().hex},
                )
                for c in chosen
            )
        )
        wins = sum(status == 200 for status, _, _ in results)
        statuses.update(status for status, _, _ in results)
        wins_per_card[wins] += 1
    return {
        "cards": len(cards),
        "attempts_per_card": PROBE_ATTEMPTS,
        "statuses": {str(k): v for k, v in sorted(statuses.items(), key=str)},
        "cards_by_number_of_200s": {str(k): v for k, v in sorted(wins_per_card.items())},
        "cards_won_more_than_once_over_http": sum(v for k, v in wins_per_card.items() if k > 1),
    }


async def redemption_checks() -> dict[str, object]:
    """What the database says: recharges per card, redeemed cards, the ledger."""
    twice = await Card.raw(
        "SELECT ref_id, COUNT(*) AS n FROM journal_transaction WHERE kind = 'recharge' "
        "GROUP BY ref_id HAVING COUNT(*) > 1"
    )
    recharges = await Card.raw("SELECT COUNT(*) AS n FROM journal_transaction WHERE kind = 'recharge'")
    redeemed = await Card.raw(
        "SELECT COUNT(*) AS n FROM card JOIN batch ON batch.id = card.batch "
        "WHERE batch.kind = 'recharge' AND card.status = 'redeemed'"
    )
    report = await verify_everything()
    return {
        "double_redemptions": len(twice),
        "double_redemption_samples": twice[:5],
        "recharge_transactions": recharges[0]["n"],
        "recharge_cards_redeemed": redeemed[0]["n"],
        "ledger_ok": report.ok,
        "ledger_breaches": len(report.breaches),
        "ledger_breach_samples": report.breaches[:5],
    }


async def http_benchmark(db: Database, args) -> dict[str, object]:
    kind, dsn = db.kind, db.dsn
    async with db.opened():
        start = time.perf_counter()
        ecards, recharge, probe_cards, local_cards = await build_cards(
            max(args.levels), args.cards, args.probe_cards, args.in_process_cards
        )
        figures: dict[str, object] = {
            "setup_seconds": round(time.perf_counter() - start, 2),
            "subscribers": len(ecards),
            "recharge_cards": len(recharge),
        }
        log(f"{kind}: {len(ecards)} subscribers and {len(recharge)} cards ready in {figures['setup_seconds']} s")
        sqlite_dir = str(Path(db.path).parent) if db.path else None
        figures["in_process_no_http"] = await in_process(ecards[0][0], local_cards, sqlite_dir)
        log(f"{kind}: in process: {figures['in_process_no_http']}")
        figures["bare_transaction"] = []
        for level in args.levels:
            log(f"{kind}: bare redemption transaction, {level} connections for {args.seconds} s")
            bare = await bare_redemptions(db, level, args.seconds, cards=int(10_000 * args.seconds) + 1000)
            log(f"{kind}: {bare['per_second']} bare transactions per second")
            figures["bare_transaction"].append(bare)
        clients: list[LeanClient] = []
        with serving(db, workers(kind, args), figures, log) as server:
            try:
                start = time.perf_counter()
                gate = asyncio.Semaphore(8)

                async def logged_in(i: int) -> httpx.AsyncClient:
                    async with gate:
                        return await portal_client(server.url, *ecards[i], i)

                for outcome in await asyncio.gather(
                    *(logged_in(i) for i in range(len(ecards))), return_exceptions=True
                ):
                    if isinstance(outcome, BaseException):
                        raise outcome
                    clients.append(LeanClient.like(outcome))  # the load itself goes through the lean client
                    await outcome.aclose()
                await connect_one_by_one(clients)
                figures["portal_logins_seconds"] = round(time.perf_counter() - start, 2)
                pool = deque(recharge)
                redeemed_over_http = 0

                def redeem(client: LeanClient):
                    if not pool:
                        return None
                    serial, pin = pool.popleft()
                    return timed_call(
                        client,
                        "POST",
                        "/api/v1/portal/recharge",
                        json={"serial": serial, "pin": pin, "idempotency_key": uuid.uuid4().hex},
                    )

                def balance(client: LeanClient):
                    return timed_call(client, "GET", "/api/v1/portal/balance")

                for name, request, unit in (
                    ("redemptions", redeem, "redemption"),
                    ("balance_checks", balance, "check"),
                ):
                    runs = []
                    counters = await pg_counters(dsn) if name == "redemptions" and args.pg_statistics else None
                    if name == "balance_checks":
                        await settle(dsn)
                    for level in args.levels:
                        log(f"{kind}: {name}, {level} clients for {args.seconds} s")
                        postmaster = postmaster_pid(db.pg_data_dir)
                        before = cpu_snapshot(server.process.pid, postmaster)
                        processes = cpu_by_process(server.process.pid)
                        async with backend_activity(dsn) as activity:
                            run = await load(clients[:level], args.seconds, request)
                        after = cpu_snapshot(server.process.pid, postmaster)
                        with_cpu(run, before, after, unit)
                        run["server_cores_busy_by_process"] = cores_by_process(
                            processes, cpu_by_process(server.process.pid), run["seconds"]
                        )
                        run["postgres_backends_on_average"] = activity
                        if name == "redemptions":
                            redeemed_over_http += run["successes"]
                            run["cards_left_in_pool"] = len(pool)
                            run["pool_ran_out"] = not pool
                        log(f"{kind}: {run['successes']} x 200 in {run['seconds']} s, {run['errors_by_status']}")
                        runs.append(run)
                    figures[name] = runs
                    if counters:  # over all the redemption runs (the statistics lag: per run would be wrong)
                        later = await pg_counters(dsn)
                        total = sum(run["successes"] for run in runs)
                        figures["postgres_statistics_per_redemption"] = (
                            {key: round((later[key] - counters[key]) / total, 2) for key in counters} if total else None
                        )
                    if name == "redemptions":
                        log(f"{kind}: double-redemption probe, {len(probe_cards)} cards x {PROBE_ATTEMPTS}")
                        figures["double_redemption_probe"] = await probe(clients, probe_cards)
                        redeemed_over_http += figures["double_redemption_probe"]["statuses"].get("200", 0)
                figures["redemptions_acknowledged_over_http"] = redeemed_over_http
            finally:
                for client in clients:
                    await client.aclose()
        figures["bare_json_endpoint"] = await bare_endpoint(workers(kind, args), args)
        figures["ratios"] = ratios(figures)
        figures["database"] = await redemption_checks()
        figures["database"]["redemptions_expected"] = (
            redeemed_over_http + figures["in_process_no_http"]["redemptions"]
        )  # 200 answers over HTTP plus the in-process redemptions
        return figures


async def bare_endpoint(processes: int, args) -> list[dict[str, object]]:
    """The balance check's baseline: GET /constant of the bare app, same workers, same clients."""
    runs = []
    with serving_bare(processes, log) as server:
        clients = [LeanClient(server.url) for _ in range(max(args.levels))]
        try:
            await connect_one_by_one(clients)
            for level in args.levels:
                log(f"bare JSON endpoint, {level} clients for {args.seconds} s")
                before = cpu_snapshot(server.process.pid, None)
                run = await load(clients[:level], args.seconds, lambda c: timed_call(c, "GET", "/constant"))
                with_cpu(run, before, cpu_snapshot(server.process.pid, None), "request")
                log(f"{run['successes']} x 200 in {run['seconds']} s")
                runs.append(run)
        finally:
            for client in clients:
                await client.aclose()
    return runs


def ratios(figures: dict) -> dict[str, dict[str, float | None]]:
    """Each HTTP rate over its baseline's, by number of clients."""

    def over(runs: list[dict], baselines: list[dict]) -> dict[str, float | None]:
        return {
            str(run["clients"]): round(run["per_second"] / base["per_second"], 3)
            if run["per_second"] and base["per_second"]
            else None
            for run, base in zip(runs, baselines, strict=True)
        }

    return {
        "redemptions_over_bare_transaction": over(figures["redemptions"], figures["bare_transaction"]),
        "balance_checks_over_bare_endpoint": over(figures["balance_checks"], figures["bare_json_endpoint"]),
    }


# --- driver -----------------------------------------------------------------------------------------


async def run(kind: str, args) -> dict[str, object]:
    figures: dict[str, object] = {}
    with databases(kind) as found:
        if "generation" in args.parts:
            figures["generation"] = await generation_benchmark(found.new("cards_generation"), args.count)
        if "memory" in args.parts:
            counts = [args.memory_count] + ([1_000_000] if args.million else [])
            figures["generation_memory"] = await memory_benchmark(found, counts, args.memory_modes)
        if "http" in args.parts:
            figures["http"] = await http_benchmark(found.new("cards_http"), args)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--seconds", type=float, default=8.0, help="time per concurrency level and kind of request")
    parser.add_argument("--levels", default="8,64", help="concurrent clients per run, at most 64")
    parser.add_argument("--count", type=int, default=100_000, help="cards in the timed generation")
    parser.add_argument(
        "--million",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also measure a 1,000,000-card generation in a subprocess",
    )
    parser.add_argument("--parts", default="generation,memory,http", help="which parts to run")
    add_worker_options(parser)
    parser.add_argument("--cards", type=int, default=40_000, help="recharge cards for the redemption runs")
    parser.add_argument("--probe-cards", type=int, default=50, help="cards of the double-redemption probe")
    parser.add_argument("--memory-count", type=int, default=100_000, help="cards of the smaller memory run")
    parser.add_argument("--memory-modes", default=",".join(MEMORY_MODES), help="which generations' memory to measure")
    parser.add_argument("--in-process-cards", type=int, default=IN_PROCESS_CARDS, help="redeemed without HTTP")
    parser.add_argument(
        "--pg-statistics",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="PostgreSQL's commits and rows per redemption (waits 2 x 11 s for its statistics)",
    )
    parser.add_argument("--child-generate", nargs=4, help=argparse.SUPPRESS)  # KIND TARGET COUNT MODE
    args = parser.parse_args()
    if args.child_generate:  # the subprocess of part 2
        kind, target, count, mode = args.child_generate
        with contextlib.redirect_stdout(io.StringIO()):
            figures = asyncio.run(child_generate(kind, target, int(count), mode))
        print(json.dumps(figures))
        return
    args.parts = set(args.parts.split(","))
    args.memory_modes = [mode for mode in args.memory_modes.split(",") if mode in MEMORY_MODES]
    args.levels = [min(SUBSCRIBERS, int(level)) for level in args.levels.split(",")]
    started = time.perf_counter()
    results = run_on_each(args.databases, lambda kind: run(kind, args))
    print_report(
        {
            "benchmark": "cards",
            "targets": TARGETS,
            "notes": [
                "generate_batch includes one argon2id operation-password check (about 20-30 ms of CPU by "
                "design; python_work_no_database.operation_password_check_seconds measures it).",
                "generate_batch returns every (serial, secret) pair of the batch to its caller, so its peak "
                "memory grows with the batch; write_batch(return_pairs=False), the background job's path, "
                "keeps no pairs. generation_memory measures both, each in a fresh subprocess on a fresh "
                "database. (wait4's ru_maxrss is kept for reference only: Linux carries the spawning "
                "process's RSS into it at exec, so for the smaller batches it shows this benchmark's RSS.)",
                "Server: `voipagency serve` on loopback with --sqlite-workers / --postgres-workers processes "
                "(settings); the load generator (benchmarks/http_load.py, "
                "a lean HTTP/1.1 client: one kept-alive connection per subscriber) runs on the same 2 cores. "
                "Portal logins (HMAC check of "
                "the e-card secret, then an argon2id hash for the new password) happen before the timed runs.",
                "SQLite runs in demo mode (no demo data is loaded: the database has users) with the "
                "benchmark's secrets; PostgreSQL in production mode on a throwaway, durable cluster "
                "(fsync, synchronous_commit, full_page_writes on: database_settings reads them back).",
                "Baselines, measured in the same run: bare_transaction is the least transaction a "
                "redemption must do (benchmarks/baselines.py) with the bare driver from as many connections "
                "as clients; bare_json_endpoint is a bare Litestar app's constant JSON (benchmarks/bare_app.py) "
                "served with the same workers and options, through the same load generator. ratios: the "
                "product's rate over the baseline's.",
                "Every recharge card carries 1 minute; every redemption request uses a card never sent "
                "before; the probe sends each of its cards from 8 subscribers at once.",
            ],
            "settings": {
                "seconds": args.seconds,
                "levels": args.levels,
                "count": args.count,
                "million": args.million,
                "recharge_cards": args.cards,
                "probe_cards": args.probe_cards,
                "in_process_cards": args.in_process_cards,
                "memory_count": args.memory_count,
                "memory_modes": args.memory_modes,
                "subscribers": max(args.levels),
                "sqlite_workers": args.sqlite_workers,
                "postgres_workers": args.postgres_workers,
                "cpus": os.cpu_count(),
            },
            "wall_seconds": round(time.perf_counter() - started, 1),
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
