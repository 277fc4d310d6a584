"""`voipagency backup` and `voipagency restore` (issue 11, point 14): a backup taken while bundles
are being bought is one consistent moment. Restored into a fresh database and migrated, it holds
every purchase finished before the backup began, none of those begun after it ended, and the whole
ledger verifies.

SQLite: the online backup API, through the command (a subprocess) and in a thread; `restore`
into a fresh file. PostgreSQL: `backup` runs pg_dump, `pg_restore` restores, `migrate` follows."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from piccolo.engine.postgres import PostgresEngine

from cards.integrity import verify_everything
from core.db import bind_engine, engine_from_url
from money.bundles import buy_bundle
from money.tables import BundleOrder
from tests.helpers import demo_actors
from tests.integration.test_cards import make_batch, stocked_owner
from tests.integration.test_cli_export import cli_env
from tests.money import fund, key
from web.cli import backup_sqlite
from web.demo import DEMO_OPERATION_PASSWORD as OP

REPO = Path(__file__).resolve().parents[2]


async def voipagency(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """The command in a subprocess, awaited without blocking this event loop (the buyers run on)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "web.cli",
        *args,
        env=env,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    return subprocess.CompletedProcess(args, process.returncode, out.decode(), err.decode())


class Buyers:
    """Tasks buying bundles through money.bundles.buy_bundle until stopped; `done` counts the
    purchases that have returned (committed)."""

    def __init__(self, actors: list) -> None:
        self.done = 0
        self.stop = asyncio.Event()
        self.tasks = [asyncio.create_task(self._buy(actor)) for actor in actors]

    async def _buy(self, actor) -> None:
        while not self.stop.is_set():
            await buy_bundle(actor, 100, operation_password=OP, idempotency_key=key())
            self.done += 1

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks)

    async def under_way(self, at_least: int) -> None:
        target = self.done + at_least
        while self.done < target:
            await asyncio.sleep(0.005)


async def verified_orders(engine) -> int:
    """Bind the restored database, verify the whole ledger there, count its bundle orders."""
    bind_engine(engine)
    report = await verify_everything()
    assert report.ok, report.breaches
    return await BundleOrder.count()


async def start_buying(cards: int = 0) -> tuple[Buyers, int]:
    """Buyers under way; `cards` makes the database bigger first (a batch), so that copying it
    takes long enough for purchases to commit meanwhile."""
    actors = await demo_actors()
    if cards:
        owner = await stocked_owner(actors, minutes=cards)
        await make_batch(owner, count=cards, face=1)
    buyers = [actors["huaxin"], actors["pearl"]] * 3  # several tasks per agent
    for agent_id in {a.agent_id for a in buyers}:
        await fund(agent_id, 10**9)
    baseline = await BundleOrder.count()
    running = Buyers(buyers)
    await running.under_way(10)
    return running, baseline


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # this engine's own way
async def test_an_sqlite_backup_during_purchases_restores_and_verifies(db, tmp_path):
    env = cli_env(db)
    running, baseline = await start_buying(cards=100_000)
    backups: list[tuple[Path, int, int]] = []  # file, purchases done before it began, after it ended
    try:
        for n in range(2):  # the command, in a process of its own
            before, file = running.done, tmp_path / f"command-{n}.sqlite3"
            done = await voipagency(env, "backup", str(file))
            assert done.returncode == 0, done.stderr
            backups.append((file, before, running.done))
            await running.under_way(5)
        for n in range(4):  # the same function in a thread, while this loop's buyers go on
            before, file = running.done, tmp_path / f"thread-{n}.sqlite3"
            await asyncio.to_thread(backup_sqlite, db["path"], str(file))
            backups.append((file, before, running.done))
            await running.under_way(5)
    finally:
        await running.finish()
    assert running.done > 40
    in_flight = len(running.tasks)
    try:
        for n, (file, before, after) in enumerate(backups):
            assert stat.S_IMODE(file.stat().st_mode) == 0o600
            fresh = tmp_path / f"restored-{n}.sqlite3"
            restored = await voipagency({**env, "VOIPAGENCY_DB_PATH": str(fresh)}, "restore", str(file))
            assert restored.returncode == 0, restored.stderr
            assert "migrations applied" in restored.stdout
            engine = engine_from_url(None, str(fresh))
            try:
                orders = await verified_orders(engine)
            finally:
                await engine.close_connection_pool()
            assert baseline + before <= orders <= baseline + after + in_flight, (before, orders, after)
    finally:
        bind_engine(db["engine"])


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # this engine's own way
async def test_restore_refuses_to_overwrite_and_refuses_what_is_no_backup(db, tmp_path):
    await demo_actors()
    env = cli_env(db)
    backup = tmp_path / "b.sqlite3"
    assert (await voipagency(env, "backup", str(backup))).returncode == 0
    # Into the live, non-empty database: refused without --force, and the database is untouched.
    refused = await voipagency(env, "restore", str(backup))
    assert refused.returncode == 1 and "--force" in refused.stderr
    # What is not a voipagency database is refused whatever the flags.
    target = {**env, "VOIPAGENCY_DB_PATH": str(tmp_path / "target.sqlite3")}
    junk = tmp_path / "junk.sqlite3"
    junk.write_text("serial,secret\n")
    assert (await voipagency(target, "restore", "--force", str(junk))).returncode == 1
    other = tmp_path / "other.sqlite3"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE t (x)")
    assert (await voipagency(target, "restore", "--force", str(other))).returncode == 1
    assert not (tmp_path / "target.sqlite3").exists() or os.path.getsize(tmp_path / "target.sqlite3") == 0
    # Into a file that holds data, with --force: replaced.
    with sqlite3.connect(tmp_path / "target.sqlite3") as connection:
        connection.execute("CREATE TABLE leftover (x)")
    assert (await voipagency(target, "restore", str(backup))).returncode == 1
    forced = await voipagency(target, "restore", "--force", str(backup))
    assert forced.returncode == 0, forced.stderr
    with sqlite3.connect(tmp_path / "target.sqlite3") as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "leftover" not in tables and "bundle_order" in tables


@pytest.mark.parametrize("database", ["postgres"], indirect=True)  # this engine's own way
async def test_a_postgres_backup_during_purchases_is_pg_dump_and_restores(db, tmp_path):
    cluster = db["cluster"]
    env = cli_env(db)
    # Without pg_dump on the PATH, the command says what to run instead.
    missing = await voipagency({**env, "PATH": str(tmp_path)}, "backup", str(tmp_path / "x.dump"))
    assert missing.returncode == 1 and "pg_dump" in missing.stderr and not (tmp_path / "x.dump").exists()
    assert "pg_restore" in (await voipagency(env, "restore", str(tmp_path / "x.dump"))).stderr
    with_tools = {**env, "PATH": f"{cluster.bin_dir}:{env.get('PATH', '')}"}
    running, baseline = await start_buying()
    try:
        before, dump = running.done, tmp_path / "voipagency.dump"
        done = await voipagency(with_tools, "backup", str(dump))
        after = running.done
    finally:
        await running.finish()
    assert done.returncode == 0, done.stderr
    assert dump.read_bytes()[:5] == b"PGDMP" and stat.S_IMODE(dump.stat().st_mode) == 0o600
    url = cluster.create_database(f"restored_{uuid.uuid4().hex[:12]}")
    restored = subprocess.run(
        [os.path.join(cluster.bin_dir, "pg_restore"), "--no-owner", "--exit-on-error", "--dbname", url, str(dump)],
        capture_output=True,
        text=True,
    )
    assert restored.returncode == 0, restored.stderr
    migrated = await voipagency({**env, "DATABASE_URL": url}, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    engine = PostgresEngine(config={"dsn": url}, extensions=())
    try:
        orders = await verified_orders(engine)
    finally:
        bind_engine(db["engine"])
    assert baseline + before <= orders <= baseline + after + len(running.tasks)
