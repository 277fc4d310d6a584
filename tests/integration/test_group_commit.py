"""Write transactions under concurrency (core.db.transaction; on SQLite, core.sqlite_writers'
group commit): each writer's work is committed when it returns and visible to any reader, a
writer that fails leaves nothing while those beside it are kept, and a failed commit fails every
writer whose work it held."""

from __future__ import annotations

import asyncio

import pytest

from core import sql, sqlite_writers
from core.db import bind_engine, engine_from_url, prepare_sqlite, transaction

WRITERS = 120


class Refused(Exception):
    pass


@pytest.fixture
async def probe(db):
    await sql.execute("CREATE TABLE group_commit_probe (writer INTEGER PRIMARY KEY, step INTEGER NOT NULL)")
    yield db
    await sql.execute("DROP TABLE group_commit_probe")


async def _write(writer: int) -> None:
    async with transaction():
        await sql.execute("INSERT INTO group_commit_probe (writer, step) VALUES ({}, 1)", writer)
        await asyncio.sleep(0)  # let the others queue behind this one
        await sql.execute("UPDATE group_commit_probe SET step = 2 WHERE writer = {}", writer)
        if writer % 7 == 0:
            raise Refused(writer)
    # Returned: committed, so a reader on another connection sees it.
    row = await sql.fetch_one("SELECT step FROM group_commit_probe WHERE writer = {}", writer)
    assert row == {"step": 2}


async def test_concurrent_writers_commit_together_and_fail_alone(probe, monkeypatch):
    commits: list[int] = []
    finish = sqlite_writers._finish

    async def counted(engine, group, failure):
        commits.append(group.members)
        await finish(engine, group, failure)

    monkeypatch.setattr(sqlite_writers, "_finish", counted)
    results = await asyncio.gather(*(_write(writer) for writer in range(1, WRITERS + 1)), return_exceptions=True)

    refused = {writer for writer in range(1, WRITERS + 1) if writer % 7 == 0}
    assert {r.args[0] for r in results if isinstance(r, Refused)} == refused
    assert [r for r in results if r is not None and not isinstance(r, Refused)] == []
    rows = await sql.fetch("SELECT writer, step FROM group_commit_probe ORDER BY writer")
    assert rows == [{"writer": w, "step": 2} for w in range(1, WRITERS + 1) if w not in refused]
    if sql.engine_type() == "sqlite":  # writers that queued together shared a commit
        assert sum(commits) == WRITERS and len(commits) < WRITERS / 4, commits


@pytest.fixture
async def sqlite_probe(tmp_path):
    """A database of its own, SQLite, whatever the session's: group commit is SQLite's (PostgreSQL
    commits each transaction on its own connection)."""
    import piccolo_conf

    before = piccolo_conf.DB
    engine = engine_from_url(None, str(tmp_path / "group.sqlite3"))
    bind_engine(engine)
    await prepare_sqlite(engine)
    await sql.execute("CREATE TABLE group_commit_probe (writer INTEGER PRIMARY KEY, step INTEGER NOT NULL)")
    yield
    await engine.close_connection_pool()
    bind_engine(before)


async def test_a_failed_commit_fails_every_writer_it_held(sqlite_probe, monkeypatch):
    finish = sqlite_writers._finish
    failed_groups: list[int] = []

    async def failing_once(engine, group, failure):
        if not failed_groups:  # the first group: its commit fails (a full disk, say)
            failed_groups.append(group.members)
            failure = OSError("disk full")
        await finish(engine, group, failure)

    monkeypatch.setattr(sqlite_writers, "_finish", failing_once)
    results = await asyncio.gather(*(_write(writer) for writer in range(1, 41)), return_exceptions=True)
    lost = [r for r in results if isinstance(r, OSError)]
    assert len(lost) == failed_groups[0] - sum(isinstance(r, Refused) for r in results[: failed_groups[0]])
    kept = await sql.fetch("SELECT writer FROM group_commit_probe")
    assert len(kept) == sum(r is None for r in results)  # nothing of the failed group, all of the others
    # The next writer starts a new group and commits.
    await _write(1002)


class _CancellingLock(asyncio.Lock):
    """A lock that cancels `victim` right after handing itself on: a writer that gives up waiting
    at the worst moment, when the writer before it left the commit to it."""

    victim: asyncio.Task | None = None

    def release(self) -> None:
        super().release()
        if self.victim is not None:
            self.victim.cancel()
            self.victim = None


async def test_a_writer_giving_up_in_the_queue_strands_no_one(sqlite_probe):
    await _write(1)  # makes this database's queue of writers
    import piccolo_conf

    writers = sqlite_writers._writers()[piccolo_conf.DB.connection_kwargs["database"]]
    writers.lock = lock = _CancellingLock()
    gate = asyncio.Event()

    async def holding() -> None:
        async with transaction():
            await sql.execute("INSERT INTO group_commit_probe (writer, step) VALUES (2, 2)")
            await gate.wait()

    async def queued() -> None:
        async with transaction():
            await sql.execute("INSERT INTO group_commit_probe (writer, step) VALUES (3, 2)")

    first = asyncio.create_task(holding())
    await asyncio.sleep(0.05)
    second = asyncio.create_task(queued())
    await asyncio.sleep(0.05)
    assert writers.waiting == 1
    lock.victim = second
    gate.set()
    await asyncio.wait_for(first, 5)  # committed, though the writer it left the commit to is gone
    with pytest.raises(asyncio.CancelledError):
        await second
    assert await sql.fetch("SELECT writer FROM group_commit_probe ORDER BY writer") == [{"writer": 1}, {"writer": 2}]
