"""Which database engine the tables use, and schema migrations.

Piccolo looks the engine up in `piccolo_conf.DB`; `bind_engine` points that and every table at
one engine, so the app, the CLI and the tests can choose SQLite or PostgreSQL at run time.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.apps.migrations.tables import Migration
from piccolo.conf.apps import Finder
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine

from core import sql, sqlite_writers
from core.sql import engine_type
from core.sqlite_engine import PooledSQLiteEngine

DEFAULT_SQLITE_PATH = "voipagency.sqlite3"
T = TypeVar("T")


def engine_from_url(
    database_url: str | None, sqlite_path: str | None = None, sqlite_synchronous: str = "FULL"
) -> Engine:
    """PostgreSQL for a postgres:// URL, else an SQLite file (committed as `sqlite_synchronous` says:
    core.sqlite_engine.SYNCHRONOUS)."""
    if database_url:
        if not database_url.startswith(("postgres://", "postgresql://")):
            raise ValueError("DATABASE_URL must be a postgresql:// URL")
        return PostgresEngine(config={"dsn": database_url}, extensions=())
    # SQLite: wait for a writer instead of failing at once with "database is locked".
    return PooledSQLiteEngine(path=sqlite_path or DEFAULT_SQLITE_PATH, synchronous=sqlite_synchronous, timeout=30)


def engine_from_environment() -> Engine:
    return engine_from_url(os.environ.get("DATABASE_URL"), os.environ.get("VOIPAGENCY_DB_PATH"))


def bind_engine(engine: Engine) -> None:
    import piccolo_conf

    piccolo_conf.DB = engine
    # Piccolo's own table of applied migrations is not in our registry: bind it too.
    for table in [Migration, *Finder().get_table_classes()]:
        table._meta.db = engine


async def keep_session(connection) -> None:
    """The pool's reset when a connection is given back: nothing to undo, since the app never
    changes session settings, takes advisory locks or listens; asyncpg's default would cost a
    round trip (RESET ALL and more) on every release."""


def is_postgres(engine: Engine) -> bool:
    return engine.engine_type == "postgres"


MAX_PAGE = 100_000


async def fetch_page(
    query,
    count,
    conditions: list,
    order_by,
    *,
    page: int,
    per_page: int,
    ascending: bool = False,
    max_per_page: int = 100_000,
) -> tuple[list[dict], int]:
    """One page of a select and the total of its count, both under the same conditions (a None
    condition, such as the operator's scope, filters nothing). Page numbers and sizes from
    requests are clamped, so no offset can overflow."""
    for condition in conditions:
        if condition is not None:
            query, count = query.where(condition), count.where(condition)
    page, per_page = max(1, min(page, MAX_PAGE)), max(1, min(per_page, max_per_page))
    rows = await query.order_by(order_by, ascending=ascending).limit(per_page).offset((page - 1) * per_page)
    return rows, await count


async def bulk_insert(table: str, columns: tuple[str, ...], rows, *, chunk: int = 5000) -> int:
    """Insert many rows fast inside the current transaction: COPY on PostgreSQL, executemany
    on SQLite. `rows` may be any iterable (a generator keeps memory flat); returns the count."""
    import piccolo_conf

    transaction = piccolo_conf.DB.current_transaction.get()
    if transaction is None:
        raise RuntimeError("bulk_insert needs an open transaction")
    connection = transaction.connection
    total, batch = 0, []
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
    for row in rows:
        batch.append(row)
        if len(batch) >= chunk:
            total += await _write_chunk(connection, table, columns, sql, batch)
            batch = []
    if batch:
        total += await _write_chunk(connection, table, columns, sql, batch)
    return total


async def _write_chunk(connection, table: str, columns: tuple[str, ...], sql: str, rows: list) -> int:
    if engine_type() == "postgres":
        await connection.copy_records_to_table(table, records=rows, columns=list(columns))
    else:
        await connection.executemany(sql, rows)
    return len(rows)


def contains_ignoring_case(column, text: str):
    """A case-insensitive substring match: ILIKE on PostgreSQL, LIKE (already case-insensitive
    for ASCII) on SQLite. `%` and `_` in the text are matched literally by dropping them."""
    pattern = "%" + text.replace("%", "").replace("_", "") + "%"
    return column.ilike(pattern) if column._meta.engine_type == "postgres" else column.like(pattern)


async def migrate() -> None:
    """Apply every pending migration of every app (idempotent)."""
    result = await run_forwards("all")
    if not result.success:
        raise RuntimeError(f"migration failed: {result.message}")


async def prepare_sqlite(engine: Engine) -> None:
    """WAL lets readers work while one writer commits; it is a property of the file."""
    if engine.engine_type == "sqlite":
        await engine.run_ddl("PRAGMA journal_mode=WAL")


def in_transaction() -> bool:
    """Whether this task is inside a transaction."""
    import piccolo_conf

    return piccolo_conf.DB.current_transaction.get() is not None


# Work the outermost open transaction of this task does just before it commits: name -> (state,
# write). See before_commit.
_before_commit: contextvars.ContextVar[dict[str, tuple[Any, Callable[[Any], Awaitable[None]]]] | None] = (
    contextvars.ContextVar("before_commit", default=None)
)


def before_commit(name: str, start: Callable[[], T], write: Callable[[T], Awaitable[None]]) -> T:
    """State that the current transaction gathers and `write`s just before it commits, once: the
    first call of a transaction makes it with `start()`, later calls get the same. For figures that
    many steps add to (the daily statistics), so the transaction writes them in one statement, at
    its end, holding their rows' locks only for the commit."""
    hooks = _before_commit.get()
    if hooks is None:
        raise RuntimeError("before_commit needs an open transaction")
    if name not in hooks:
        hooks[name] = (start(), write)
    return hooks[name][0]


@contextlib.asynccontextmanager
async def transaction():
    """A write transaction (joined, when one is already open in this task).

    On SQLite the writers of a process queue in order and share commits (core.sqlite_writers):
    each runs in a savepoint of a transaction begun IMMEDIATE, so a read-then-write use case
    holds the write lock from its first statement, and returns once its work is on disk."""
    from piccolo.engine.sqlite import TransactionType

    import piccolo_conf

    engine = piccolo_conf.DB
    if engine.current_transaction.get() is not None:  # joined: the outermost one commits
        if engine.engine_type != "sqlite":
            async with engine.transaction() as txn:
                yield txn
        else:
            async with engine.transaction(transaction_type=TransactionType.immediate) as txn:
                yield txn
        return
    hooks = _before_commit.set({})
    try:
        if engine.engine_type != "sqlite":
            async with engine.transaction() as txn:
                yield txn
                await _run_before_commit()
            return
        async with sqlite_writers.write_transaction(engine, _run_before_commit) as txn:
            yield txn
    finally:
        _before_commit.reset(hooks)


async def _run_before_commit() -> None:
    for state, write in (_before_commit.get() or {}).values():
        await write(state)


@contextlib.asynccontextmanager
async def lifting_append_only(reason: str):
    """Inside the current write transaction, let UPDATE and DELETE through to the append-only
    tables (journal transactions and entries, audit entries: see the migration that made them
    so). The permit is a row that only this transaction sees and that goes with it; the audit
    purge is the one path of the product that takes it."""
    import piccolo_conf

    if piccolo_conf.DB.current_transaction.get() is None:
        raise RuntimeError("lifting_append_only needs an open transaction")
    permit = await sql.fetch_one("INSERT INTO append_only_permit (reason) VALUES ({}) RETURNING id", reason[:200])
    yield
    await sql.execute("DELETE FROM append_only_permit WHERE id = {}", permit["id"])
