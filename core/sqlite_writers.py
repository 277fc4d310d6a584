"""The write transactions of one process on SQLite: a queue, and the commit they share.

SQLite has one writer at a time, and a durable commit (synchronous=FULL) waits for an fsync of
about a millisecond, so one commit per transaction caps every process at about a thousand
transactions a second and makes each of them wait for the fsyncs of all those queued ahead.
Instead the writers of a process queue in order (an asyncio lock, then a lock file shared with
other processes), and those that queue while one runs share its physical transaction: each runs
inside a savepoint of its own (rolled back alone when it fails), and the last of a burst commits
for all of them (group commit). No writer returns before the commit that holds its work: what a
caller was told is written is on disk.

A writer sees the work of the writers before it in its group, which is committed with its own or
not at all: when the commit fails, every writer of the group fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType

from core.loop_local import per_loop
from core.sqlite_engine import direct

MAX_GROUP = 64  # writers that never pause still commit at least this often
MAX_GROUP_SECONDS = 0.05  # ... and at least this soon after the group's first writer


@dataclass
class _Group:
    """A physical transaction that writers share: BEGIN IMMEDIATE is open on `connection`."""

    connection: Any
    committed: asyncio.Future
    opened: float = field(default_factory=time.monotonic)
    members: int = 0
    broken: BaseException | None = None  # a savepoint statement failed: roll the group back


@dataclass
class _Writers:
    """The writers of one event loop on one database file."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    waiting: int = 0  # queued for the lock
    group: _Group | None = None


_writers = per_loop(dict[str, _Writers])  # this loop's writers of each database file, by its path
_lock_files: dict[str, int] = {}
_closers: set[asyncio.Task] = set()


async def _lock_file(path: str) -> None:
    """Writers in different processes (server workers, the CLI) queue on a lock file beside the
    database: the kernel hands the lock on at once, where SQLite's busy handler sleeps and
    retries (1 ms, then longer, up to 100 ms a time), which gave seconds of tail latency."""
    if path not in _lock_files:
        _lock_files[path] = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fd = _lock_files[path]
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        waiting = asyncio.get_running_loop().run_in_executor(None, fcntl.flock, fd, fcntl.LOCK_EX)
        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:  # the thread may still get the lock: hand it straight back
            waiting.add_done_callback(lambda done: done.exception() or fcntl.flock(fd, fcntl.LOCK_UN))
            raise


def _unlock_file(path: str) -> None:
    fcntl.flock(_lock_files[path], fcntl.LOCK_UN)


async def _open_group(engine: SQLiteEngine, writers: _Writers) -> _Group:
    path = engine.connection_kwargs["database"] + "-writer"
    await _lock_file(path)
    try:
        connection = await engine.get_connection()
        try:
            await connection.execute("BEGIN IMMEDIATE")
        except BaseException:
            await connection.close()
            raise
    except BaseException:
        _unlock_file(path)
        raise
    writers.group = _Group(connection, asyncio.get_running_loop().create_future())
    return writers.group


def _end_group(engine: SQLiteEngine, writers: _Writers, failure: BaseException | None = None) -> asyncio.Task:
    """Commit the open group (or roll it back, after `failure`) and tell its writers. The commit
    runs as a task of its own: a writer cancelled while it commits does not cut it short (its
    writers would be told it failed when it may be on disk)."""
    group, writers.group = writers.group, None  # at once: no writer may join a group that is ending
    assert group is not None
    task = asyncio.get_running_loop().create_task(_finish(engine, group, failure))
    _closers.add(task)
    task.add_done_callback(_closers.discard)
    return task


async def _finish(engine: SQLiteEngine, group: _Group, failure: BaseException | None) -> None:
    path = engine.connection_kwargs["database"] + "-writer"
    released: list[bool] = []

    def commit_and_release() -> None:
        """In a worker thread: the COMMIT (its fsync), then at once the lock file, which other
        processes' writers wait on; not after a trip back to this loop, which may be busy with
        other requests for milliseconds."""
        direct(group.connection).execute("COMMIT")
        _unlock_file(path)
        released.append(True)

    try:
        if failure is None:
            committing = asyncio.get_running_loop().run_in_executor(None, commit_and_release)
            try:
                await asyncio.shield(committing)
            except asyncio.CancelledError:  # the thread goes on: the connection closes after it
                await committing
                raise
    except BaseException as exc:
        failure = exc
    finally:
        with contextlib.suppress(Exception):
            await group.connection.close()  # gives it back; one still in a transaction is closed (rolled back)
        if not released:
            _unlock_file(path)
        if failure is None:
            group.committed.set_result(None)
        else:
            group.committed.set_exception(failure if isinstance(failure, Exception) else RuntimeError("cancelled"))
            group.committed.exception()  # retrieved: writers that no longer wait must not warn


def _ends_now(writers: _Writers, group: _Group) -> bool:
    return writers.waiting == 0 or group.members >= MAX_GROUP or time.monotonic() - group.opened >= MAX_GROUP_SECONDS


async def _commit_if_idle(engine: SQLiteEngine, writers: _Writers) -> None:
    async with writers.lock:
        if writers.group is not None and writers.waiting == 0:
            await asyncio.shield(_end_group(engine, writers))


class WriterTransaction(SQLiteTransaction):
    """A writer's transaction: a savepoint of a group that holds SQLite's write lock, so its
    statements never wait, and core.sql runs them on the event loop's thread."""


@contextlib.asynccontextmanager
async def write_transaction(
    engine: SQLiteEngine, before_commit: Callable[[], Awaitable[None]]
) -> AsyncIterator[SQLiteTransaction]:
    """A write transaction of its own (a savepoint of the group's); `before_commit` runs at its
    end, inside it. Returns once the group's commit is on disk; raises when it failed."""
    loop = asyncio.get_running_loop()
    writers = _writers().setdefault(engine.connection_kwargs["database"], _Writers())
    writers.waiting += 1
    try:
        await writers.lock.acquire()
    except BaseException:
        writers.waiting -= 1
        if writers.waiting == 0 and writers.group is not None and not writers.lock.locked():
            # The writer before this one left the commit to it, and it gave up waiting.
            task = loop.create_task(_commit_if_idle(engine, writers))
            _closers.add(task)
            task.add_done_callback(_closers.discard)
        raise
    writers.waiting -= 1
    group: _Group | None = None
    try:
        group = writers.group or await _open_group(engine, writers)
        group.members += 1
        member = WriterTransaction(engine, TransactionType.immediate)
        member.connection = group.connection
        context = engine.current_transaction.set(member)
        try:
            await _savepoint(group, "SAVEPOINT writer")
            try:
                yield member
                await before_commit()
            except BaseException:
                await _savepoint(group, "ROLLBACK TO writer")  # this writer's work only
                await _savepoint(group, "RELEASE writer")
                raise
            await _savepoint(group, "RELEASE writer")
        finally:
            engine.current_transaction.reset(context)
    finally:
        try:
            if group is not None and writers.group is group and (group.broken or _ends_now(writers, group)):
                await asyncio.shield(_end_group(engine, writers, group.broken))
        finally:
            writers.lock.release()
    await asyncio.shield(group.committed)


async def _savepoint(group: _Group, text: str) -> None:
    """A savepoint statement (run on the loop's thread: it cannot wait, the group holds the write
    lock); when it fails, the group's state is in doubt and it is rolled back."""
    try:
        direct(group.connection).execute(text)
    except BaseException as exc:
        group.broken = exc
        raise
