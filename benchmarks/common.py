"""What the benchmarks share: throwaway databases (PostgreSQL durable, SQLite as the product opens
it) and the settings they run with, latency summaries, readings of a server under load (CPU, log),
a bare server for baselines, and the JSON report each prints on its standard output."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine

from core.db import bind_engine, engine_from_url, migrate, prepare_sqlite

# Durable PostgreSQL, as an operator runs it: every commit is on disk before it is acknowledged.
# (The tests' cluster, tests/postgres_cluster.py, keeps fsync and synchronous_commit off.)
DURABLE_POSTGRES = "-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
POSTGRES_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes", "wal_sync_method", "commit_delay",
                     "shared_buffers", "max_connections", "server_version")  # fmt: skip
SQLITE_SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
SECRET = "benchmark-secret-" + "x" * 32  # production mode needs >= 32 characters
CARD_SECRET = SECRET + "-card"


def logger(name: str) -> Callable[[str], None]:
    """Progress lines on standard error, tagged with the benchmark's name and the seconds since it
    started (to see where a run's time goes)."""
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{name} {time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    return log


def summary(samples: list[float], digits: int = 1) -> dict[str, float | None]:
    """p50 and p99 of durations in seconds, in milliseconds."""
    if not samples:
        return {"p50_ms": None, "p99_ms": None}
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, digits),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, digits),
    }


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    model = None
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    return {
        "cpu_model": model or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        # Other work on the machine takes cores from the figures: how busy it was when they were measured.
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }


# --- throwaway databases --------------------------------------------------------------------------

# The settings each kind of database ran with in this process, read back from the databases (see
# Database.opened); run_on_each puts them in the report.
SETTINGS_IN_EFFECT: dict[str, dict[str, object]] = {}


async def settings_in_effect(db: Database) -> dict[str, object]:
    """The durability settings `db` runs with, read back: PostgreSQL's from pg_settings; SQLite's
    from a connection of the product's own engine (core/sqlite_engine.py), which opens every
    connection the server uses the same way."""
    if db.kind == "postgres":
        import asyncpg

        connection = await asyncpg.connect(db.dsn)
        try:
            rows = await connection.fetch(
                "SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1::text[]) ORDER BY name",
                list(POSTGRES_SETTINGS),
            )
        finally:
            await connection.close()
        return {row["name"]: row["setting"] + (f" x {row['unit']}" if row["unit"] else "") for row in rows}
    journal = (await db.engine.fetch_all("PRAGMA journal_mode"))[0]["journal_mode"]
    synchronous = (await db.engine.fetch_all("PRAGMA synchronous"))[0]["synchronous"]
    version = (await db.engine.fetch_all("SELECT sqlite_version() AS v"))[0]["v"]
    return {
        "journal_mode": journal,
        "synchronous": SQLITE_SYNCHRONOUS.get(synchronous, synchronous),
        "sqlite_version": version,
        "where_set": "core/db.py prepare_sqlite sets journal_mode=WAL; synchronous is what a connection of "
        "core/sqlite_engine.py's engine reports (SQLite's compiled-in default unless core/ sets it)",
    }


async def raw_connection(db: Database):
    """A connection of the bare driver the product uses (asyncpg, aiosqlite), outside Piccolo and
    core/: for the baselines. SQLite's is in autocommit mode (transactions are explicit)."""
    if db.kind == "postgres":
        import asyncpg

        return await asyncpg.connect(db.dsn)
    import aiosqlite

    return await aiosqlite.connect(db.path, isolation_level=None)


@dataclass
class Database:
    """A fresh, empty database of one run: Piccolo's engine, and how a server process reaches it."""

    kind: str  # "sqlite" or "postgres"
    engine: Engine
    path: str | None  # the SQLite file
    dsn: str | None  # the PostgreSQL database
    pg_data_dir: str | None  # the cluster's, to find its processes

    @property
    def target(self) -> str:
        return self.path or self.dsn or ""

    def server_env(self) -> dict[str, str]:
        """`voipagency serve` on this database: SQLite in demo mode (the database has users, so no
        demo data is loaded), PostgreSQL in production mode; the benchmark's secrets on both."""
        secrets = {"VOIPAGENCY_SECRET_KEY": SECRET, "VOIPAGENCY_CARD_SECRET_KEY": CARD_SECRET}
        if self.kind == "sqlite":
            return {"VOIPAGENCY_DB_PATH": self.target, "VOIPAGENCY_SQLITE_SYNCHRONOUS": "FULL", **secrets}
        return {
            "DATABASE_URL": self.target,
            "VOIPAGENCY_DEMO": "0",
            "VOIPAGENCY_ALLOWED_HOSTS": "127.0.0.1",
            "VOIPAGENCY_SECURE_COOKIES": "0",
            **secrets,
        }

    @contextlib.asynccontextmanager
    async def opened(self) -> AsyncIterator[Engine]:
        """This database bound as the project's, migrated, with a connection pool on PostgreSQL;
        the settings it runs with are read back into SETTINGS_IN_EFFECT."""
        bind_engine(self.engine)
        await prepare_sqlite(self.engine)
        await migrate()
        SETTINGS_IN_EFFECT[self.kind] = await settings_in_effect(self)
        if self.kind == "postgres":
            await self.engine.start_connection_pool()
        try:
            yield self.engine
        finally:
            if self.kind == "postgres":
                await self.engine.close_connection_pool()


SHARED_CLUSTER = "VOIPAGENCY_BENCH_POSTGRES"  # a cluster started by `python -m benchmarks`, as JSON
SHARED_SQLITE_TEMPLATE = "VOIPAGENCY_BENCH_SQLITE_TEMPLATE"  # a migrated file it made, copied for each database
TEMPLATE = "bench_template"


class Databases:
    """The databases of one run: SQLite files in a temporary folder, or databases of a throwaway,
    durable PostgreSQL cluster (DURABLE_POSTGRES): the one `python -m benchmarks` shares with every
    benchmark (SHARED_CLUSTER), else one started on the first database.

    Each new database is a copy of a migrated template, migrated once by `voipagency migrate` (the
    one `python -m benchmarks` shares, or one of this run): on durable PostgreSQL the migrations
    take seconds (a commit each), a copy a fraction of one."""

    def __init__(self, kind: str, folder: str) -> None:
        self.kind, self.folder, self.cluster, self.shared = kind, folder, None, False
        self.created: list[str] = []

    def new(self, name: str) -> Database:
        if self.kind == "sqlite":
            template = Path(os.environ.get(SHARED_SQLITE_TEMPLATE) or Path(self.folder) / f"{TEMPLATE}.sqlite3")
            if not template.exists():
                sqlite_template(template)
            path = str(Path(self.folder) / f"{name}.sqlite3")
            shutil.copyfile(template, path)
            return Database(self.kind, engine_from_url(None, path), path, None, None)
        if self.cluster is None:
            self.cluster, self.shared = postgres_cluster()
        postgres_template(self.cluster)
        for attempt in range(5):  # benchmarks running side by side (--jobs) may copy the template at once
            try:
                psql(self.cluster, f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE}')
                break
            except subprocess.CalledProcessError as exc:
                if "being accessed by other users" not in exc.stderr or attempt == 4:
                    raise
                time.sleep(1)
        self.created.append(name)
        dsn = self.cluster.dsn(name)
        engine = PostgresEngine(config={"dsn": dsn}, extensions=())
        return Database(self.kind, engine, None, dsn, self.cluster.data_dir)


def postgres_cluster():
    """(the cluster, whether it is shared): SHARED_CLUSTER's, else a new durable one."""
    from tests.postgres_cluster import Cluster, start_cluster

    if os.environ.get(SHARED_CLUSTER):
        return Cluster(**json.loads(os.environ[SHARED_CLUSTER])), True
    return start_cluster(DURABLE_POSTGRES), False


def psql(cluster, statement: str) -> str:
    """One statement through psql on the cluster (as its owner); its unaligned output."""
    done = subprocess.run(
        [*cluster.run_as, os.path.join(cluster.bin_dir, "psql"), "-h", "127.0.0.1", "-p", str(cluster.port),
         "-U", "postgres", "-tAc", statement],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout.strip()


def postgres_template(cluster) -> None:
    """The migrated template database of `cluster`, made unless it is there."""
    if not psql(cluster, f"SELECT 1 FROM pg_database WHERE datname = '{TEMPLATE}'"):
        template = Database("postgres", None, None, cluster.create_database(TEMPLATE), None)
        migrate_with_cli(template.server_env())


def sqlite_template(path: Path) -> None:
    """A migrated SQLite database at `path`, to be copied."""
    migrate_with_cli({"VOIPAGENCY_DB_PATH": str(path)})


def migrate_with_cli(env: dict[str, str]) -> None:
    from tests.web.live_server import run_cli

    run_cli("migrate", env={"VOIPAGENCY_SECRET_KEY": SECRET, "VOIPAGENCY_CARD_SECRET_KEY": CARD_SECRET, **env})


@contextlib.contextmanager
def databases(kind: str) -> Iterator[Databases]:
    with tempfile.TemporaryDirectory() as folder:
        found = Databases(kind, folder)
        try:
            yield found
        finally:
            if found.cluster and found.shared:  # the cluster lives on: free its disk
                for name in found.created:
                    psql(found.cluster, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            elif found.cluster:
                found.cluster.stop()


# --- a server under load --------------------------------------------------------------------------


@contextlib.contextmanager
def serving(
    db: Database,
    workers: int,
    figures: dict[str, object],
    log: Callable[[str], None],
    extra_args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> Iterator:
    """`voipagency serve` on `db` for the with-block (with `extra_args`, e.g. trusting a proxy's
    X-Forwarded-For, and settings `env`). Afterwards what its log says went wrong is
    figures["server_log"]; when the block fails, the log is kept and its place is logged."""
    from tests.web.live_server import LiveServer

    server = LiveServer({**db.server_env(), **(env or {})}, workers=workers, extra_args=extra_args)
    server.start()
    try:
        yield server
    except BaseException:
        log(f"{db.kind}: failed; the server's log is kept at {server.log}")
        raise
    finally:
        server.stop()
    figures["server_log"] = server_failures(server.log_text())
    server.log.unlink(missing_ok=True)


@contextlib.contextmanager
def serving_bare(workers: int, log: Callable[[str], None], timeout: float = 60) -> Iterator:
    """The bare Litestar app (benchmarks/bare_app.py) served as `voipagency serve` serves the product
    (web/serving.py, same worker count and uvicorn options), for the with-block: the server that
    does nothing but answer, the baseline of the HTTP figures. Has .url and .process as LiveServer."""
    from tests.postgres_cluster import free_port

    port = free_port()
    server = type("BareServer", (), {})()
    server.url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "benchmarks.bare_app", "--port", str(port), "--workers", str(workers)]
    with tempfile.TemporaryFile() as output:
        server.process = subprocess.Popen(
            command, cwd=Path(__file__).resolve().parents[1], stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + timeout
            while not _answers(server.url + "/healthz"):
                if server.process.poll() is not None or time.monotonic() > deadline:
                    output.seek(0)
                    raise RuntimeError(f"the bare server did not start: {output.read().decode(errors='replace')}")
                time.sleep(0.2)
            yield server
        finally:
            server.process.terminate()
            try:
                server.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log("the bare server did not stop on SIGTERM; killing it")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=5)


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def cpu_seconds(group: int | None = None, parent: int | None = None) -> float | None:
    """User + system CPU of the live processes in process group `group`, or of `parent` and its
    children, from /proc (Linux); None where /proc cannot tell."""
    if not Path("/proc/self/stat").exists():
        return None
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()  # from field 3 (state) on
        pid, ppid, pgrp = int(stat.parent.name), int(fields[1]), int(fields[2])
        if (group is not None and pgrp == group) or (parent is not None and parent in (pid, ppid)):
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(server_group: int, postmaster: int | None) -> dict[str, float | None]:
    return {
        "server": cpu_seconds(group=server_group),
        "postgres": cpu_seconds(parent=postmaster) if postmaster else None,
        "client": time.process_time(),
    }


def postmaster_pid(data_dir: str | None) -> int | None:
    try:
        return int(Path(data_dir, "postmaster.pid").read_text().split()[0]) if data_dir else None
    except (OSError, ValueError, IndexError):
        return None


def with_cpu(run: dict[str, object], before: dict, after: dict, unit: str) -> None:
    """Where the cores went between two cpu_snapshots (live processes only): per successful `unit`,
    and on average over the run (cores_busy well under the core count means waiting, not computing)."""
    used = {
        part: after[part] - before[part] if before[part] is not None and after[part] is not None else None
        for part in before
    }
    run[f"cpu_ms_per_{unit}"] = {
        part: round(cpu * 1000 / run["successes"], 2) if cpu is not None and run["successes"] else None
        for part, cpu in used.items()
    }
    run["cores_busy"] = {
        part: round(cpu / run["seconds"], 2) if cpu is not None and run["seconds"] else None
        for part, cpu in used.items()
    }


async def closed_loop(
    request: Callable[[int], Awaitable[tuple[int | str, float, str]]],
    clients: int,
    seconds: float,
    max_requests: int,
    ok: int,
) -> dict[str, object]:
    """`clients` workers; worker i awaits `request(i)` (status or exception name, seconds, body) again
    and again until `seconds` pass or `max_requests` are sent. Latencies of the `ok` answers; the
    start of one body per other status, to see what went wrong."""
    statuses: Counter = Counter()
    samples: dict[str, str] = {}
    latencies: list[float] = []
    sent = 0
    start = time.perf_counter()
    deadline = start + seconds

    async def worker(i: int) -> None:
        nonlocal sent
        while time.perf_counter() < deadline and sent < max_requests:
            sent += 1
            status, elapsed, text = await request(i)
            statuses[status] += 1
            if status == ok:
                latencies.append(elapsed)
            else:
                samples.setdefault(str(status), text[:300])

    await asyncio.gather(*(worker(i) for i in range(clients)))
    wall = time.perf_counter() - start
    successes = statuses.pop(ok, 0)
    return {
        "clients": clients,
        "requests": sent,
        "successes": successes,
        "errors_by_status": {str(k): v for k, v in sorted(statuses.items(), key=str)},
        "error_samples": samples,
        "seconds": round(wall, 2),
        "per_second": round(successes / wall, 1) if wall else None,
        f"latency_ms_of_{ok}": summary(latencies),
    }


def server_failures(log_text: str) -> dict[str, object]:
    """What the server's log says went wrong (tracebacks are a product bug under load)."""
    errors = [line.strip() for line in log_text.splitlines() if re.match(r"^\w+(\.\w+)*(Error|Exception)\b", line)]
    return {
        "tracebacks": log_text.count("Traceback (most recent call last)"),
        "exception_lines": dict(Counter(errors).most_common(5)),
    }


# --- the report -----------------------------------------------------------------------------------


def run_on_each(kinds: str, run: Callable[[str], object]) -> dict[str, object]:
    """`run(kind)` (a coroutine) for each database kind of a comma-separated list, in turn; each
    kind's figures carry the database settings they were measured with."""
    results = {}
    for kind in kinds.split(","):
        with contextlib.redirect_stdout(io.StringIO()):  # keep migration chatter out of the JSON
            figures = asyncio.run(run(kind))
        if isinstance(figures, dict):
            figures = {"database_settings": SETTINGS_IN_EFFECT.get(kind), **figures}
        results[kind] = figures
    return results


def print_report(report: dict[str, object]) -> None:
    """The report on standard output, as JSON, with when and on what it was measured."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    print(json.dumps({"measured_at": stamp, "machine": machine(), **report}, indent=2, ensure_ascii=False, default=str))
