"""Test fixtures: every test that takes `db` runs on SQLite and on PostgreSQL.

In CI (CI set) a missing PostgreSQL or Chromium fails the run; elsewhere those tests are
skipped with a reason. VOIPAGENCY_TEST_DATABASES=sqlite narrows a local run (ignored in CI)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
import pytest
from piccolo.conf.apps import Finder
from piccolo.engine.postgres import PostgresEngine

from core.db import bind_engine, engine_from_url, lifting_append_only, migrate, prepare_sqlite, transaction
from tests.postgres_cluster import Cluster, start_cluster

IN_CI = bool(os.environ.get("CI"))
DATABASES = (
    ["sqlite", "postgres"] if IN_CI else os.environ.get("VOIPAGENCY_TEST_DATABASES", "sqlite,postgres").split(",")
)


def missing_dependency(reason: str) -> None:
    """Fail in CI, skip elsewhere."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_cluster() -> Cluster:
    try:
        cluster = start_cluster()
    except (FileNotFoundError, RuntimeError) as exc:
        missing_dependency(str(exc))
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session", params=DATABASES)
async def database(request, tmp_path_factory) -> AsyncIterator[dict]:
    """A migrated database of one kind, bound to every table for the rest of the session."""
    if request.param == "sqlite":
        path = str(tmp_path_factory.mktemp("sqlite") / "test.sqlite3")
        engine = engine_from_url(None, path, sqlite_synchronous="OFF")  # throwaway: no waiting for the disk
        info = {"kind": "sqlite", "path": path, "url": None}
    else:
        cluster: Cluster = request.getfixturevalue("postgres_cluster")
        url = cluster.create_database("voipagency_test")
        engine = PostgresEngine(config={"dsn": url}, extensions=())
        info = {"kind": "postgres", "url": url, "cluster": cluster}
    bind_engine(engine)
    await prepare_sqlite(engine)
    await migrate()
    if request.param == "postgres":
        await engine.start_connection_pool(min_size=2, max_size=60)
    info["engine"] = engine
    yield info
    await engine.close_connection_pool()


async def empty_database(database: dict) -> None:
    """Bind the database and delete every row of every table."""
    bind_engine(database["engine"])
    tables = [t for t in Finder().get_table_classes()]
    names = ", ".join(t._meta.tablename for t in tables)
    if database["kind"] == "postgres":
        await database["engine"].run_ddl(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    else:  # the journal and audit tables refuse a DELETE without the permit (core.db.lifting_append_only)
        async with transaction(), lifting_append_only("tests: an empty database for the next test"):
            for table in tables:
                await table.delete(force=True)


@pytest.fixture
async def db(request, database) -> AsyncIterator[dict]:
    """An empty database for one test. Afterwards the ledger must verify (R-8), whatever the test
    moved; a test that breaks the ledger on purpose is marked `ledger_breach`."""
    await empty_database(database)
    yield database
    if request.node.get_closest_marker("ledger_breach") is None:
        from cards.integrity import verify_everything
        from stats.recompute import verify as verify_statistics

        bind_engine(database["engine"])
        report = await verify_everything()
        assert report.ok, f"the ledger does not verify after the test: {report.breaches}"
        statistics = await verify_statistics()
        assert statistics.ok, f"the statistics do not verify after the test: {statistics.differences}"


@pytest.fixture
def settings(tmp_path):
    from web.settings import Settings

    return Settings.from_env(
        {
            "VOIPAGENCY_DEMO": "1",
            "VOIPAGENCY_DB_PATH": str(tmp_path / "unused.sqlite3"),
            "VOIPAGENCY_ALLOWED_HOSTS": "*",
        }
    )


@pytest.fixture
async def app(db, settings):
    from web.app import create_app

    return create_app(settings, engine=db["engine"])


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as c:
        yield c


@pytest.fixture(autouse=True)
def locked_keys_answer_at_once(monkeypatch):
    """In-process tests do not wait the second a locked key's refusal takes in the product
    (agency.throttle.LOCKED_ANSWER_DELAY; its own test checks it, and servers started by the tests
    keep it)."""
    from agency import throttle

    monkeypatch.setattr(throttle, "LOCKED_ANSWER_DELAY", 0)


_VERIFIED: dict[tuple[str | None, str], bool] = {}
_HASHED: dict[str, str] = {}


@pytest.fixture(autouse=True)
def argon2_once_per_password(monkeypatch):
    """In-process tests hash and verify the same few passwords thousands of times (the demo's
    twelve logins in most tests, about half a second each time): argon2 works each password, and
    each (hash, password) pair, out once, and the answer is remembered. A new pair always gets the
    real function; tests that count checks replace verify_password themselves."""
    from core import passwords

    real_verify, real_hash = passwords.verify_password, passwords.hash_password

    def verify(stored_hash: str | None, password: str) -> bool:
        if (stored_hash, password) not in _VERIFIED:
            _VERIFIED[(stored_hash, password)] = real_verify(stored_hash, password)
        return _VERIFIED[(stored_hash, password)]

    def hash_once(password: str) -> str:
        if password not in _HASHED:
            _HASHED[password] = real_hash(password)
        return _HASHED[password]

    monkeypatch.setattr(passwords, "verify_password", verify)
    monkeypatch.setattr(passwords, "hash_password", hash_once)
    import accounts.services
    import agency.users
    import web.demo

    for module in (web.demo, agency.users, accounts.services):  # imported by name there
        monkeypatch.setattr(module, "hash_password", hash_once)
