"""Login, throttling, sessions and the operation password (R-3, R-33)."""
import datetime as dt

import pytest
from argon2 import PasswordHasher

from agency import sessions, users
from agency.tables import Agent, AuditEntry, User, UserSession
from agency.throttle import SECRET_FREE_FAILURES, lock_delay
from core.errors import LoginFailed, OperationPasswordRejected
from tests.helpers import demo_actors
from web.demo import DEMO_OPERATION_PASSWORD, DEMO_PASSWORD


async def test_failures_delay_the_account_and_are_audited(db):
    await demo_actors()
    # Spread over addresses, the account is locked everywhere at its global limit (one address
    # locks only itself at five: tests/integration/test_throttle_bursts.py).
    for attempt in range(SECRET_FREE_FAILURES):
        with pytest.raises(LoginFailed):
            await sessions.log_in("huaxin", f"wrong-{attempt}", address=f"192.0.2.{attempt}")
    # Locked now: even the right password is refused, with the same message.
    with pytest.raises(LoginFailed) as locked:
        await sessions.log_in("huaxin", DEMO_PASSWORD, address="192.0.2.50")
    with pytest.raises(LoginFailed) as unknown:
        await sessions.log_in("nobody-here", "whatever", address="192.0.2.51")
    assert locked.value.message == unknown.value.message
    failed = await AuditEntry.select().where(AuditEntry.action == "login.failed")
    assert len(failed) == SECRET_FREE_FAILURES + 2
    assert {e["username"] for e in failed} == {"huaxin", "nobody-here"}
    assert all(e["address"] for e in failed)


async def test_failures_per_address_lock_that_address(db):
    await demo_actors()
    for attempt in range(5):
        with pytest.raises(LoginFailed):
            await sessions.log_in(f"ghost{attempt}", "x", address="198.51.100.7")
    with pytest.raises(LoginFailed):
        await sessions.log_in("pearl", DEMO_PASSWORD, address="198.51.100.7")
    token, actor = await sessions.log_in("pearl", DEMO_PASSWORD, address="198.51.100.8")
    assert actor.username == "pearl" and token


def test_lock_grows_and_is_capped():
    assert lock_delay(4) is None
    assert lock_delay(5) == dt.timedelta(seconds=30)
    assert lock_delay(6) == dt.timedelta(seconds=60)
    assert lock_delay(50) == dt.timedelta(hours=1)


async def test_rehash_on_login_when_parameters_change(db):
    await demo_actors()
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(DEMO_PASSWORD)
    await User.update({User.password_hash: weak}).where(User.username == "pearl")
    await sessions.log_in("pearl", DEMO_PASSWORD, address="203.0.113.1")
    stored = (await User.select(User.password_hash).where(User.username == "pearl").first())["password_hash"]
    assert stored != weak and "m=19456,t=2,p=1" in stored


async def test_session_lifecycle(db):
    await demo_actors()
    token, actor = await sessions.log_in("huaxin", DEMO_PASSWORD, address="203.0.113.2")
    assert len(token) >= 43  # 256 random bits
    assert (await sessions.actor_for_session(token, address="x")).user_id == actor.user_id
    # The database keeps only a hash of the token.
    assert not await UserSession.exists().where(UserSession.token_hash == token)
    # Rotation: logging in again with the old token revokes it.
    new_token, _ = await sessions.log_in("huaxin", DEMO_PASSWORD, address="203.0.113.2", replaces=token)
    assert await sessions.actor_for_session(token, address="x") is None
    new_actor = await sessions.actor_for_session(new_token, address="x")
    # Idle timeout.
    await UserSession.update({UserSession.last_seen_at: UserSession.last_seen_at - dt.timedelta(minutes=31)}).where(
        UserSession.id == new_actor.session_id
    )
    assert await sessions.actor_for_session(new_token, address="x") is None
    # Absolute timeout.
    third, _ = await sessions.log_in("huaxin", DEMO_PASSWORD, address="203.0.113.2")
    await UserSession.update({UserSession.expires_at: dt.datetime.now(dt.timezone.utc)}).where(
        UserSession.token_hash == sessions.token_hash(third)
    )
    assert await sessions.actor_for_session(third, address="x") is None


async def test_log_out_other_sessions_and_logout(db):
    await demo_actors()
    first, _ = await sessions.log_in("huaxin", DEMO_PASSWORD, address="a")
    second, actor = await sessions.log_in("huaxin", DEMO_PASSWORD, address="b")
    assert await sessions.revoke_other_sessions(actor) >= 1
    assert await sessions.actor_for_session(first, address="a") is None
    assert await sessions.actor_for_session(second, address="b") is not None
    await sessions.log_out(actor)
    assert await sessions.actor_for_session(second, address="b") is None


async def test_suspended_agent_cannot_operate(db):
    actors = await demo_actors()
    token, _ = await sessions.log_in("huaxin.pudong", DEMO_PASSWORD, address="a")
    from agency.agents import suspend_agent

    await suspend_agent(actors["huaxin"], actors["huaxin.pudong"].agent_id)
    assert await sessions.actor_for_session(token, address="a") is None
    with pytest.raises(LoginFailed):
        await sessions.log_in("huaxin.pudong", DEMO_PASSWORD, address="a")
    # Its sub-agent's users are stopped with it (R-2: a suspended agent stops its whole subtree).
    with pytest.raises(LoginFailed):
        await sessions.log_in("huaxin.lujiazui", DEMO_PASSWORD, address="a")
    # A terminating agent whose date has passed stops at once, before the scheduled job runs.
    await Agent.update(
        {Agent.status: "terminating", Agent.terminates_at: dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)}
    ).where(Agent.id == actors["pearl"].agent_id)
    with pytest.raises(LoginFailed):
        await sessions.log_in("pearl", DEMO_PASSWORD, address="a")


async def test_privilege_change_ends_sessions(db):
    actors = await demo_actors()
    token, clerk = await sessions.log_in("huaxin.clerk", DEMO_PASSWORD, address="a")
    await users.update_user(actors["huaxin"], clerk.user_id, {"role": "viewer"})
    assert await sessions.actor_for_session(token, address="a") is None
    _, again = await sessions.log_in("huaxin.clerk", DEMO_PASSWORD, address="a")
    assert again.role == "viewer"


async def test_operation_password_guard(db):
    actors = await demo_actors()
    owner = actors["huaxin"]
    await users.check_operation_password(owner, DEMO_OPERATION_PASSWORD)
    for value in ("wrong", "", None, 123):
        with pytest.raises(OperationPasswordRejected):
            await users.check_operation_password(owner, value)
    await users.check_operation_password(owner, DEMO_OPERATION_PASSWORD)  # success clears the count
    await users.set_operation_password(owner, DEMO_PASSWORD, "new-op-pass")
    with pytest.raises(OperationPasswordRejected):
        await users.check_operation_password(owner, DEMO_OPERATION_PASSWORD)
    await users.check_operation_password(owner, "new-op-pass")
    # Five failures in a row lock the check, even for the right password.
    for _ in range(5):
        with pytest.raises(OperationPasswordRejected):
            await users.check_operation_password(owner, "wrong")
    with pytest.raises(OperationPasswordRejected):
        await users.check_operation_password(owner, "new-op-pass")
    assert await AuditEntry.count().where(AuditEntry.action == "user.operation_password_failed") == 10


async def test_user_without_operation_password_is_refused(db):
    actors = await demo_actors()
    created = await users.create_user(
        actors["huaxin"], actors["huaxin"].agent_id, {"username": "fresh", "role": "clerk", "password": "fresh-pass-1"}
    )
    _, fresh = await sessions.log_in("fresh", "fresh-pass-1", address="a")
    assert fresh.user_id == created["id"]
    assert not await users.has_operation_password(fresh)
    with pytest.raises(OperationPasswordRejected):
        await users.check_operation_password(fresh, "")
