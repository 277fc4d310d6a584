"""Fixed SQL for the hottest paths: a portal request, a redemption, a ledger posting.

Piccolo builds every query anew in Python, 0.1-0.2 ms for a select with a join, which was most of
the CPU a redemption cost. The few statements that run hundreds of times a second are written as
fixed SQL where they are used, and these functions send them straight to the driver: on the
current transaction's connection, else on a pooled one, through the drivers' public calls
(asyncpg's fetch, aiosqlite's execute_fetchall) and PooledSQLiteEngine.fetch_all, not through
Piccolo's private ones. Placeholders are `{}`, as in Piccolo's raw(); values are always passed
as parameters, never formatted into the text.
"""

from __future__ import annotations

import re
from typing import Any

from core.sqlite_engine import PooledSQLiteEngine, direct
from core.sqlite_writers import WriterTransaction

_PLACEHOLDER = re.compile(r"\{\}")
_compiled: dict[tuple[str, str], str] = {}


def _engine():
    import piccolo_conf

    return piccolo_conf.DB


def engine_type() -> str:
    """ "postgres" or "sqlite", for the few statements that differ (row locks)."""
    return _engine().engine_type


def _compile(sql: str, engine_type: str) -> str:
    key = (sql, engine_type)
    if key not in _compiled:
        if engine_type == "postgres":
            numbers = iter(range(1, sql.count("{}") + 1))
            _compiled[key] = _PLACEHOLDER.sub(lambda _: f"${next(numbers)}", sql)
        else:
            _compiled[key] = sql.replace("{}", "?")
    return _compiled[key]


def marks(values) -> str:
    """The placeholders of an IN list of these values: "{}, {}, {}"."""
    return ", ".join("{}" for _ in values)


async def fetch(sql: str, *args: Any) -> list[dict[str, Any]]:
    """The rows of one statement (a select, or a change with RETURNING), as dicts."""
    engine = _engine()
    query = _compile(sql, engine.engine_type)
    transaction = engine.current_transaction.get()
    if engine.engine_type == "postgres":
        if transaction is not None:
            rows = await transaction.connection.fetch(query, *args)
        elif engine.pool is not None:
            async with engine.pool.acquire() as connection:
                rows = await connection.fetch(query, *args)
        else:  # tests and scripts that run without a pool
            connection = await engine.get_new_connection()
            try:
                rows = await connection.fetch(query, *args)
            finally:
                await connection.close()
        return [dict(row) for row in rows]
    if isinstance(transaction, WriterTransaction):
        # A write transaction holds SQLite's write lock: its statements never wait, and run here,
        # on the event loop's thread (core.sqlite_engine.direct).
        return direct(transaction.connection).execute(query, args).fetchall()
    if transaction is not None:  # aiosqlite's own call, on the transaction's connection
        return await transaction.connection.execute_fetchall(query, args)
    return await engine.fetch_all(query, args)


async def fetch_one(sql: str, *args: Any) -> dict[str, Any] | None:
    rows = await fetch(sql, *args)
    return rows[0] if rows else None


async def lookup(sql: str, *args: Any) -> dict[str, Any] | None:
    """One row found through a unique index (a session by its token, a balance): as fetch_one, but
    on SQLite outside a transaction it is read on the event loop's thread from a pooled connection
    (core.sqlite_engine.direct), not sent to the connection's thread and back: a lookup takes
    microseconds and, in WAL mode, a reader never waits. Only for such lookups: a long read here
    would hold every other request of the process."""
    engine = _engine()
    if isinstance(engine, PooledSQLiteEngine) and engine.current_transaction.get() is None:
        rows = await engine.fetch_here(_compile(sql, "sqlite"), args)
        return rows[0] if rows else None
    return await fetch_one(sql, *args)


async def execute(sql: str, *args: Any) -> None:
    await fetch(sql, *args)


def local_day(column: str) -> str:
    """SQL for the operator's calendar day ("YYYY-MM-DD") of a timestamp column: PostgreSQL converts
    it itself; on SQLite it is a function every pooled connection has (core.sqlite_engine)."""
    from core.clock import operator_zone

    if engine_type() == "postgres":
        zone = operator_zone().key.replace("'", "")  # a name ZoneInfo accepted; no quote to escape
        return f"to_char(({column}) AT TIME ZONE '{zone}', 'YYYY-MM-DD')"
    return f"local_day({column})"
