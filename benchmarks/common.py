"""What the benchmarks share: throwaway databases, latency summaries, readings of a server under
load (CPU, log), and the JSON report each prints on its standard output."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import statistics
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

SECRET = "benchmark-secret-" + "x" * 32  # production mode needs >= 32 characters
CARD_SECRET = SECRET + "-card"


def logger(name: str) -> Callable[[str], None]:
    """Progress lines on standard error, tagged with the benchmark's name."""

    def log(message: str) -> None:
        print(f"[{name}] {message}", file=sys.stderr, flush=True)

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


# --- throwaway databases --------------------------------------------------------------------------


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
            return {"VOIPAGENCY_DB_PATH": self.target, **secrets}
        return {
            "DATABASE_URL": self.target,
            "VOIPAGENCY_DEMO": "0",
            "VOIPAGENCY_ALLOWED_HOSTS": "127.0.0.1",
            "VOIPAGENCY_SECURE_COOKIES": "0",
            **secrets,
        }

    @contextlib.asynccontextmanager
    async def opened(self) -> AsyncIterator[Engine]:
        """This database bound as the project's, migrated, with a connection pool on PostgreSQL."""
        bind_engine(self.engine)
        await prepare_sqlite(self.engine)
        await migrate()
        if self.kind == "postgres":
            await self.engine.start_connection_pool()
        try:
            yield self.engine
        finally:
            if self.kind == "postgres":
                await self.engine.close_connection_pool()


class Databases:
    """The databases of one run: SQLite files in a temporary folder, or databases of a throwaway
    PostgreSQL cluster (fsync off) started on the first one."""

    def __init__(self, kind: str, folder: str) -> None:
        self.kind, self.folder, self.cluster = kind, folder, None

    def new(self, name: str) -> Database:
        if self.kind == "sqlite":
            path = str(Path(self.folder) / f"{name}.sqlite3")
            return Database(self.kind, engine_from_url(None, path), path, None, None)
        if self.cluster is None:
            from tests.postgres_cluster import start_cluster

            self.cluster = start_cluster()
        dsn = self.cluster.create_database(name)
        engine = PostgresEngine(config={"dsn": dsn}, extensions=())
        return Database(self.kind, engine, None, dsn, self.cluster.data_dir)


@contextlib.contextmanager
def databases(kind: str) -> Iterator[Databases]:
    with tempfile.TemporaryDirectory() as folder:
        found = Databases(kind, folder)
        try:
            yield found
        finally:
            if found.cluster:
                found.cluster.stop()


# --- a server under load --------------------------------------------------------------------------


@contextlib.contextmanager
def serving(
    db: Database,
    workers: int,
    figures: dict[str, object],
    log: Callable[[str], None],
    extra_args: tuple[str, ...] = (),
) -> Iterator:
    """`voipagency serve` on `db` for the with-block (with `extra_args`, e.g. trusting a proxy's
    X-Forwarded-For). Afterwards what its log says went wrong is figures["server_log"]; when the
    block fails, the log is kept and its place is logged."""
    from tests.web.live_server import LiveServer

    server = LiveServer(db.server_env(), workers=workers, extra_args=extra_args)
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
    """`run(kind)` (a coroutine) for each database kind of a comma-separated list, in turn."""
    results = {}
    for kind in kinds.split(","):
        with contextlib.redirect_stdout(io.StringIO()):  # keep migration chatter out of the JSON
            results[kind] = asyncio.run(run(kind))
    return results


def print_report(report: dict[str, object]) -> None:
    print(json.dumps(report, indent=2, ensure_ascii=False, default=str))
