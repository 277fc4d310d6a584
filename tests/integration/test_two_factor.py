"""Issue 11.10: two-factor login with TOTP, recovery codes and remembered browsers."""

import asyncio
import datetime as dt

import pyotp
import pytest

from agency import sessions, throttle, twofactor, users
from agency.tables import AuditEntry, PendingLogin, RecoveryCode, TwoFactor, UserSession
from core.clock import now
from core.errors import Conflict, Forbidden, LoginFailed, NotFound, ValidationFailed
from tests.helpers import demo_actors
from web.demo import DEMO_PASSWORD


def code(secret: str, seconds: int = 0) -> str:
    """The code of the authenticator app, `seconds` from now."""
    return pyotp.TOTP(secret).at(now() + dt.timedelta(seconds=seconds))


async def enrol(actor) -> tuple[str, list[str]]:
    enrolment = await twofactor.start_enrolment(actor)
    assert enrolment.uri.startswith("otpauth://totp/") and enrolment.secret in enrolment.uri
    # With the previous time step's code (still accepted), so that the current one logs in next.
    return enrolment.secret, await twofactor.confirm_enrolment(actor, code(enrolment.secret, -30))


async def pending_login(username: str, address: str = "a", **kwargs) -> str:
    with pytest.raises(sessions.SecondFactorNeeded) as step:
        await sessions.log_in(username, DEMO_PASSWORD, address=address, **kwargs)
    return step.value.pending


async def test_enrolment_needs_a_right_code_and_gives_recovery_codes_once(db):
    owner = (await demo_actors())["huaxin"]
    with pytest.raises(Conflict):
        await twofactor.confirm_enrolment(owner, "123456")  # nothing started
    enrolment = await twofactor.start_enrolment(owner)
    assert not await twofactor.is_enabled(owner.user_id)
    assert (await twofactor.status(owner))["enrolment"] == enrolment
    with pytest.raises(ValidationFailed):
        await twofactor.confirm_enrolment(owner, "not a code")
    codes = await twofactor.confirm_enrolment(owner, code(enrolment.secret))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert await twofactor.is_enabled(owner.user_id)
    stored = [r["code_hash"] for r in await RecoveryCode.select(RecoveryCode.code_hash)]
    assert len(stored) == 10 and not set(codes) & set(stored)  # hashed
    with pytest.raises(Conflict):
        await twofactor.start_enrolment(owner)
    status = await twofactor.status(owner)
    assert status["enabled"] and status["recovery_codes_left"] == 10 and status["enrolment"] is None
    entries = await AuditEntry.select(AuditEntry.action).where(AuditEntry.user_id == owner.user_id)
    assert {"two_factor.start", "two_factor.enable", "two_factor.failed"} <= {e["action"] for e in entries}


async def test_login_opens_no_session_before_the_second_factor(db):
    owner = (await demo_actors())["huaxin"]
    secret, _codes = await enrol(owner)
    sessions_before = await UserSession.count()
    pending = await pending_login("huaxin")
    assert await UserSession.count() == sessions_before  # only a pending login
    assert await sessions.actor_for_session(pending, address="a") is None
    assert not await PendingLogin.exists().where(PendingLogin.token_hash == pending)  # hashed
    with pytest.raises(LoginFailed):
        await sessions.complete_login(pending, "000000", address="a")
    with pytest.raises(sessions.LoginExpired):
        await sessions.complete_login("made-up", code(secret), address="a")
    token, actor, device = await sessions.complete_login(pending, code(secret), address="a")
    assert actor.username == "huaxin" and device is None
    assert (await sessions.actor_for_session(token, address="a")).user_id == owner.user_id
    with pytest.raises(sessions.LoginExpired):  # a pending login is good once
        await sessions.complete_login(pending, code(secret, 30), address="a")
    login = (
        await AuditEntry.select()
        .output(load_json=True)
        .where(AuditEntry.action == "login")
        .order_by(AuditEntry.id, ascending=False)
        .first()
    )
    assert login["after"] == {"second_factor": "totp", "remember_device": False}


async def test_a_pending_login_expires(db):
    owner = (await demo_actors())["huaxin"]
    secret, _codes = await enrol(owner)
    pending = await pending_login("huaxin")
    await PendingLogin.update({PendingLogin.expires_at: now() - dt.timedelta(seconds=1)}).where(
        PendingLogin.user == owner.user_id
    )
    with pytest.raises(sessions.LoginExpired):
        await sessions.complete_login(pending, code(secret), address="a")


async def away_from_a_step_boundary(margin: float = 8) -> None:
    """Wait until the current 30-second time step has `margin` seconds left, so that the codes a
    test computes stay in the steps it means while it runs."""
    while 30 - dt.datetime.now(dt.timezone.utc).timestamp() % 30 < margin:
        await asyncio.sleep(0.5)


async def test_a_code_is_good_once(db):
    owner = (await demo_actors())["huaxin"]
    await away_from_a_step_boundary()
    secret, _codes = await enrol(owner)
    # The code that confirmed the enrolment does not log in, nor does an older one.
    for seconds in (-30, -60):
        with pytest.raises(LoginFailed):
            await sessions.complete_login(await pending_login("huaxin"), code(secret, seconds), address="a")
    later = code(secret, 30)  # the next time step, still accepted (clocks a little off)
    first = await pending_login("huaxin")
    second = await pending_login("huaxin")
    results = await asyncio.gather(
        sessions.complete_login(first, later, address="a"),
        sessions.complete_login(second, later, address="a"),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["LoginFailed", "tuple"]
    step = (await TwoFactor.select(TwoFactor.last_step).first())["last_step"]
    assert step == pyotp.TOTP(secret).timecode(now() + dt.timedelta(seconds=30))


async def test_recovery_codes_log_in_once_each(db):
    owner = (await demo_actors())["huaxin"]
    _secret, codes = await enrol(owner)
    typed = codes[0].upper().replace("-", " ")  # case and separators do not matter
    _token, actor, _device = await sessions.complete_login(await pending_login("huaxin"), typed, address="a")
    assert actor.username == "huaxin"
    with pytest.raises(LoginFailed):
        await sessions.complete_login(await pending_login("huaxin"), codes[0], address="a")
    assert (await twofactor.status(owner))["recovery_codes_left"] == 9
    login = (
        await AuditEntry.select()
        .output(load_json=True)
        .where(AuditEntry.action == "login")
        .order_by(AuditEntry.id, ascending=False)
        .first()
    )
    assert login["after"]["second_factor"] == "recovery"


async def test_a_burst_of_wrong_codes_checks_at_most_the_limit(db, monkeypatch):
    owner = (await demo_actors())["huaxin"]
    secret, _codes = await enrol(owner)
    pending = await pending_login("huaxin", address="198.51.100.9")
    checked = []
    use_code = twofactor._use_code

    async def counting(*args):
        checked.append(args)
        return await use_code(*args)

    monkeypatch.setattr(twofactor, "_use_code", counting)
    burst = [sessions.complete_login(pending, f"{n:06d}", address="198.51.100.9") for n in range(40)]
    results = await asyncio.gather(*burst, return_exceptions=True)
    assert all(isinstance(r, LoginFailed) for r in results)
    assert len(checked) <= throttle.FREE_FAILURES
    # Locked: even the right code is refused without being checked.
    checked.clear()
    with pytest.raises(LoginFailed):
        await sessions.complete_login(pending, code(secret, 30), address="198.51.100.9")
    assert checked == []
    failed = await AuditEntry.count().where(AuditEntry.action == "two_factor.failed")
    assert failed == 41


async def test_a_remembered_browser_skips_the_second_factor_until_the_password_changes(db):
    actors = await demo_actors()
    owner = actors["huaxin"]
    secret, _codes = await enrol(owner)
    _token, _actor, device = await sessions.complete_login(
        await pending_login("huaxin"), code(secret), address="a", remember=True
    )
    assert device
    token, actor = await sessions.log_in("huaxin", DEMO_PASSWORD, address="a", device=device)
    assert actor.username == "huaxin"
    # Another user's login from the same browser still needs their own factor.
    pearl_secret, _ = await enrol(actors["pearl"])
    await pending_login("pearl", device=device)
    assert await pending_login("huaxin", device="forged") and await pending_login("huaxin", device=None)
    # A password change forgets the remembered browsers; so does a reset by the manager.
    await users.change_own_password(actor, DEMO_PASSWORD, "a-new-password-1")
    with pytest.raises(sessions.SecondFactorNeeded):
        await sessions.log_in("huaxin", "a-new-password-1", address="a", device=device)
    clerk = actors["huaxin.clerk"]
    clerk_secret, _ = await enrol(clerk)
    _t, _a, clerk_device = await sessions.complete_login(
        await pending_login("huaxin.clerk"), code(clerk_secret), address="a", remember=True
    )
    await sessions.log_in("huaxin.clerk", DEMO_PASSWORD, address="a", device=clerk_device)
    await users.reset_password(owner, clerk.user_id, "another-password-1")
    with pytest.raises(sessions.SecondFactorNeeded):
        await sessions.log_in("huaxin.clerk", "another-password-1", address="a", device=clerk_device)
    assert pearl_secret  # untouched by the others' changes
    assert await twofactor.is_enabled(actors["pearl"].user_id)


async def test_disabling_needs_the_password_and_a_code(db):
    owner = (await demo_actors())["huaxin"]
    secret, codes = await enrol(owner)
    with pytest.raises(ValidationFailed) as wrong_password:
        await twofactor.disable(owner, "wrong-password", code(secret, 30))
    assert set(wrong_password.value.errors) == {"password"}
    with pytest.raises(ValidationFailed) as wrong_code:
        await twofactor.disable(owner, DEMO_PASSWORD, "000000")
    assert set(wrong_code.value.errors) == {"code"}
    assert await twofactor.is_enabled(owner.user_id)
    await twofactor.disable(owner, DEMO_PASSWORD, codes[3])
    assert not await twofactor.is_enabled(owner.user_id)
    assert await RecoveryCode.count() == 0
    token, _actor = await sessions.log_in("huaxin", DEMO_PASSWORD, address="a")  # password only again
    assert token
    assert await AuditEntry.exists().where(AuditEntry.action == "two_factor.disable")


async def test_a_manager_resets_another_users_two_factor(db):
    actors = await demo_actors()
    admin, finance = actors["admin"], actors["finance"]
    secret, _codes = await enrol(finance)
    token, _actor, device = await sessions.complete_login(
        await pending_login("finance"), code(secret), address="a", remember=True
    )
    with pytest.raises(Forbidden):
        await users.reset_two_factor(finance, finance.user_id)  # finance manages no users
    with pytest.raises(Conflict):
        await users.reset_two_factor(admin, admin.user_id)  # one's own: disable it with a code
    await users.reset_two_factor(admin, finance.user_id)
    assert not await twofactor.is_enabled(finance.user_id)
    assert await sessions.actor_for_session(token, address="a") is None  # logged out
    assert not await twofactor.device_remembered(finance.user_id, device)
    entry = await AuditEntry.select().where(AuditEntry.action == "user.reset_two_factor").first()
    assert entry["username"] == "admin" and entry["target_id"] == str(finance.user_id)
    with pytest.raises(Conflict):
        await users.reset_two_factor(admin, finance.user_id)  # nothing left to reset
    # An agent owner can reset the users of its subtree, not those of another.
    clerk = actors["huaxin.clerk"]
    await enrol(clerk)
    await users.reset_two_factor(actors["huaxin"], clerk.user_id)
    await enrol(actors["pearl.support"])
    with pytest.raises(NotFound):
        await users.reset_two_factor(actors["huaxin"], actors["pearl.support"].user_id)
    assert await twofactor.is_enabled(actors["pearl.support"].user_id)


def test_matching_step_accepts_the_neighbouring_steps_only():
    secret = pyotp.random_base32()
    at = dt.datetime(2026, 12, 2, 12, 0, 10, tzinfo=dt.timezone.utc)
    totp = pyotp.TOTP(secret)
    step = totp.timecode(at)
    for offset in (-1, 0, 1):
        assert twofactor.matching_step(secret, totp.generate_otp(step + offset), at) == step + offset
    for offset in (-3, 2, 5):
        assert twofactor.matching_step(secret, totp.generate_otp(step + offset), at) is None


def test_required_for_operator_admins_and_finance_only():
    from agency.roles import Actor

    assert twofactor.required(Actor(1, "a", "admin")) and twofactor.required(Actor(1, "f", "finance"))
    assert not twofactor.required(Actor(1, "s", "support"))
    assert not twofactor.required(Actor(1, "o", "owner", agent_id=2, agent_path="/00000002/"))
