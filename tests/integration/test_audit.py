"""R-32: every state change is audited with who, role, agent, address, before and after; the
operator sees all, an agent owner its subtree; retention never below 30 days."""
import asyncio
import datetime as dt
import os
import subprocess
import sys

import pytest

from agency import agents, audit, sessions, users
from agency.audit import AuditFilter
from agency.tables import AuditEntry
from core import sql
from core.db import lifting_append_only, transaction
from core.errors import Forbidden
from tests.helpers import demo_actors


async def test_changes_are_recorded_with_before_and_after(db):
    actors = await demo_actors()
    owner = actors["huaxin"]
    child = actors["huaxin.pudong"].agent_id
    await agents.update_agent(owner, child, {"contact_person": "新人"})
    entry = await AuditEntry.select().output(load_json=True).where(AuditEntry.action == "agent.update").first()
    assert entry["username"] == "huaxin" and entry["role"] == "owner" and entry["actor_agent_id"] == owner.agent_id
    assert entry["address"] == owner.address and entry["target_id"] == str(child)
    assert entry["before"] == {"contact_person": "李娜"} and entry["after"] == {"contact_person": "新人"}
    await users.create_user(owner, child, {"username": "audited", "role": "viewer", "password": "long-password"})
    await sessions.revoke_other_sessions(owner)
    actions = {r["action"] for r in await AuditEntry.select(AuditEntry.action)}
    assert {"agent.create", "login", "agent.update", "user.create", "session.revoke_others"} <= actions
    # No password or hash is ever written to the log.
    text = str(await AuditEntry.select())
    assert "long-password" not in text and "argon2" not in text


async def test_scoped_visibility(db):
    actors = await demo_actors()
    await agents.update_agent(actors["pearl"], actors["pearl.tianhe"].agent_id, {"address": "天河"})
    await agents.update_agent(actors["huaxin"], actors["huaxin.pudong"].agent_id, {"address": "浦东"})
    rows, total = await audit.list_entries(actors["huaxin"], AuditFilter(action="agent.update"))
    assert total == 1 and rows[0]["after"] == {"address": "浦东"}
    rows, total = await audit.list_entries(actors["admin"], AuditFilter(action="agent.update"))
    assert total == 2
    rows, _ = await audit.list_entries(actors["huaxin.pudong"], AuditFilter())
    assert all(r["scope_path"].startswith(actors["huaxin.pudong"].agent_path) for r in rows)
    with pytest.raises(Forbidden):
        await audit.list_entries(actors["huaxin.view"], AuditFilter())


async def test_purge_keeps_at_least_30_days(db):
    await demo_actors()
    now = dt.datetime.now(dt.timezone.utc)
    total = await AuditEntry.count()
    for days in (10, 40, 200):
        await AuditEntry.insert(AuditEntry(at=now - dt.timedelta(days=days), action=f"old.{days}"))
    assert await audit.purge(1) == 2  # asked for 1 day, kept 30
    assert await audit.purge(180) == 0
    # The 10-day entry is kept, and the purge that removed two entries is itself audited.
    assert await AuditEntry.count() == total + 2
    purged = await AuditEntry.select(AuditEntry.after).where(AuditEntry.action == "audit.purge").output(load_json=True)
    assert [row["after"]["entries"] for row in purged] == [2]


async def test_journal_and_audit_entries_refuse_update_and_delete(db):
    """Issue 11: append-only in the database itself, on both engines; the purge's permit is the
    one way through, and it lasts only as long as its transaction."""
    await demo_actors()
    for statement in (
        "UPDATE journal_entry SET amount = amount + 1",
        "DELETE FROM journal_entry",
        "UPDATE journal_transaction SET memo = 'rewritten'",
        "DELETE FROM journal_transaction",
        "UPDATE audit_entry SET action = 'nothing.happened'",
        "DELETE FROM audit_entry",
    ):
        with pytest.raises(Exception, match="append-only"):
            await sql.execute(statement)
    async with transaction(), lifting_append_only("test"):
        await sql.execute("UPDATE audit_entry SET action = action")
    with pytest.raises(Exception, match="append-only"):  # the permit went with its transaction
        await sql.execute("DELETE FROM audit_entry")


def test_cli_purge_and_create_user(tmp_path):
    env = {**os.environ, "VOIPAGENCY_DB_PATH": str(tmp_path / "cli.sqlite3")}
    env.pop("DATABASE_URL", None)
    cli = [sys.executable, "-m", "web.cli"]
    created = subprocess.run([*cli, "create-user", "boss", "--role", "admin", "--password-stdin"], env=env,
                             input="boss-password-1\n", capture_output=True, text=True)
    assert created.returncode == 0, created.stderr
    assert "boss" in created.stdout
    weak = subprocess.run([*cli, "create-user", "weak", "--password-stdin"], env=env, input="short\n",
                          capture_output=True, text=True)
    assert weak.returncode == 1 and "password" in weak.stderr
    purge = subprocess.run([*cli, "audit", "purge", "--days", "5"], env=env, capture_output=True, text=True)
    assert purge.returncode == 0 and "purged 0" in purge.stdout
    demo = subprocess.run([*cli, "demo"], env=env, capture_output=True, text=True)
    assert demo.returncode == 1  # not empty any more


async def test_refusals_at_once_are_committed_together_and_each_before_its_caller_returns(db, monkeypatch):
    """Group commit: a burst of refusals (nothing else to write) takes a few commits, not one each,
    and no caller returns before its own entry is committed."""
    writes = []
    real_bulk_insert = audit.bulk_insert

    async def counted(*args, **kwargs):
        writes.append(1)
        return await real_bulk_insert(*args, **kwargs)

    monkeypatch.setattr(audit, "bulk_insert", counted)

    async def refuse(i: int) -> bool:
        await audit.record_refusal(None, "login.failed", target_type="user", target_id=f"burst-{i}", username="x")
        return await AuditEntry.exists().where(AuditEntry.target_id == f"burst-{i}")

    committed = await asyncio.gather(*(refuse(i) for i in range(40)))
    assert all(committed)
    assert await AuditEntry.count().where(AuditEntry.target_id.like("burst-%")) == 40
    assert 1 <= len(writes) <= 5, writes


async def test_a_refusal_inside_a_transaction_joins_it(db):
    """Grouping would wait for the writer the caller holds; inside a transaction the entry is part of it."""
    with pytest.raises(RuntimeError):
        async with transaction():
            await audit.record_refusal(None, "login.failed", target_type="user", target_id="inside", username="x")
            assert await AuditEntry.exists().where(AuditEntry.target_id == "inside")
            raise RuntimeError("roll back")
    assert not await AuditEntry.exists().where(AuditEntry.target_id == "inside")
