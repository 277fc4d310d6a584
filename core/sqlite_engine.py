"""Piccolo's SQLite engine, with its connections kept open and reused.

Piccolo's engine opens a new connection, with a thread of its own, for every statement outside a
transaction and for every transaction, and repeats `PRAGMA foreign_keys` before every statement:
about 0.8 ms a statement, five times the statement itself. This engine keeps idle connections
(autocommit, foreign keys on, dict rows) and hands them out again. Transactions still open with
BEGIN (see core.db.transaction) and always end with COMMIT or ROLLBACK; a connection
that is somehow still inside a transaction when given back is closed instead of reused.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

import aiosqlite
from piccolo.engine.sqlite import SQLiteEngine, dict_factory

from core.clock import local_day

MAX_IDLE = 32
# How a commit reaches the disk (PRAGMA synchronous). FULL, the default: a commit returns once it is
# in the WAL on disk, so a power cut loses nothing acknowledged. NORMAL: safe from corruption, but a
# power cut may lose the last commits. OFF: for throwaway databases (the tests).
SYNCHRONOUS = ("FULL", "NORMAL", "OFF")


def local_day_of_text(stored: str | None) -> str | None:
    """The operator's day ("YYYY-MM-DD") of a time as SQLite stores it (ISO 8601 with its offset)."""
    return None if stored is None else local_day(dt.datetime.fromisoformat(stored))


def direct(connection) -> sqlite3.Connection:
    """The sqlite3 connection under a pooled aiosqlite one (or a _Lent), to run a statement on the
    calling thread: no trip to the connection's thread and back (a queue, a thread switch and a
    wake-up of the event loop, about as much CPU as a short statement itself). Only for statements
    that cannot wait: inside a write transaction, which holds SQLite's write lock, and never the
    COMMIT on the loop's thread (its fsync runs in a worker thread: core.sqlite_writers). The
    loop runs nothing else meanwhile: a long write (a subtree's bulk suspension) holds the
    process's other requests for its duration, as it held every other writer already; bulk
    inserts (core.db.bulk_insert) stay on the thread."""
    return connection._conn


class _Lent:
    """A pooled connection as a transaction sees it: close() gives it back to the pool."""

    def __init__(self, connection: aiosqlite.Connection, engine: PooledSQLiteEngine) -> None:
        self._connection = connection
        self._engine = engine

    def __getattr__(self, name: str):
        return getattr(self._connection, name)

    async def close(self) -> None:
        await self._engine.give_back(self._connection)


class PooledSQLiteEngine(SQLiteEngine):
    def __init__(self, path: str, synchronous: str = "FULL", **connection_kwargs) -> None:
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}")
        super().__init__(path=path, **connection_kwargs)
        self.synchronous = synchronous
        self._idle: list[aiosqlite.Connection] = []

    async def _open(self) -> aiosqlite.Connection:
        # check_same_thread off: inside a write transaction core.sql runs its statements on the
        # event loop's thread (see direct()); the pool lends a connection to one user at a time.
        pending = aiosqlite.connect(**self.connection_kwargs, check_same_thread=False)
        # Idle connections may outlive the event loop; a daemon thread does not hold up the exit.
        pending._thread.daemon = True
        connection = await pending
        connection.row_factory = dict_factory
        await connection.execute("PRAGMA foreign_keys = 1")
        # Durable by default (SYNCHRONOUS); group commit (core.sqlite_writers) pays for the fsync.
        await connection.execute(f"PRAGMA synchronous = {self.synchronous}")
        # SQLite knows no time zones: the operator's calendar day of a stored time (core.sql.local_day).
        await connection.create_function("local_day", 1, local_day_of_text, deterministic=True)
        return connection

    async def take(self) -> aiosqlite.Connection:
        return self._idle.pop() if self._idle else await self._open()

    async def give_back(self, connection: aiosqlite.Connection) -> None:
        if connection.in_transaction or len(self._idle) >= MAX_IDLE:
            await connection.close()  # closing rolls back whatever was left open
        else:
            self._idle.append(connection)

    async def get_connection(self) -> _Lent:  # a transaction's connection
        return _Lent(await self.take(), self)

    async def fetch_all(self, query: str, args=()) -> list[dict]:
        """The rows of one statement, on a pooled connection outside any transaction."""
        connection = await self.take()
        try:
            return await connection.execute_fetchall(query, args)
        finally:
            await self.give_back(connection)

    async def fetch_here(self, query: str, args=()) -> list[dict]:
        """As fetch_all, but run on the calling thread (direct): for index lookups only."""
        connection = await self.take()
        try:
            return direct(connection).execute(query, args).fetchall()
        finally:
            await self.give_back(connection)

    # Piccolo's hooks for its own queries (overridden, never called from the project).
    async def _run_in_new_connection(self, query, args=None, query_type="generic", table=None):
        return await self.fetch_all(query, args or [])

    async def _run_in_existing_connection(self, connection, query, args=None, query_type="generic", table=None):
        # Foreign keys are on already; one trip to the connection's thread, not three (execute,
        # fetch, close the cursor).
        return await connection.execute_fetchall(query, args or [])

    async def close_connection_pool(self) -> None:
        while self._idle:
            await self._idle.pop().close()
