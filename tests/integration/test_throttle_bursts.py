"""The throttles under bursts (R-15, R-33): an attempt is counted before its secret is checked, so
however concurrent a burst, at most the configured number of secrets is checked and the right one
is refused while the key is locked; nothing but the generic refusal comes back. A secret is locked
per client address and only slowed globally: guesses from one address do not lock the holder out
elsewhere, guesses spread over many addresses still stop at the global limit."""

from __future__ import annotations

import asyncio

import pytest

from accounts import services as subscribers
from agency import sessions, users
from agency.tables import AuditEntry, LoginThrottle
from agency.throttle import FREE_FAILURES, SECRET_FREE_FAILURES
from cards import codes
from cards.errors import RedemptionFailed
from cards.services import activate_cards, authenticate_subscriber, redeem_card
from core import passwords
from core.errors import LoginFailed, OperationPasswordRejected
from tests.helpers import demo_actors
from tests.integration.test_cards import KEY, live_subscriber, make_batch, stocked_owner
from web.demo import DEMO_OPERATION_PASSWORD, DEMO_PASSWORD

BURST = 200


@pytest.fixture
def password_checks(monkeypatch) -> list[str]:
    """Every password verified from now on (wherever verify_password was imported)."""
    import accounts.services
    import agency.sessions
    import agency.users

    checks: list[str] = []
    real = passwords.verify_password

    def counting(stored_hash, password):
        checks.append(password)
        return real(stored_hash, password)

    for module in (passwords, agency.sessions, agency.users, accounts.services):
        monkeypatch.setattr(module, "verify_password", counting, raising=False)
    return checks


@pytest.fixture
def pin_checks(monkeypatch) -> list[str]:
    """Every PIN compared from now on."""
    checks: list[str] = []
    real = codes.secret_matches

    def counting(card_key, serial, pin, stored):
        checks.append(pin)
        return real(card_key, serial, pin, stored)

    monkeypatch.setattr(codes, "secret_matches", counting)
    return checks


async def burst(attempts) -> list[object]:
    return await asyncio.gather(*attempts, return_exceptions=True)


def refused_alike(outcomes: list[object], error: type) -> bool:
    return all(isinstance(o, error) for o in outcomes)


# --- staff login ---------------------------------------------------------------------------------


async def test_a_burst_of_wrong_passwords_checks_at_most_the_limit(db, password_checks):
    await demo_actors()
    password_checks.clear()
    outcomes = await burst(sessions.log_in("huaxin", f"wrong-{i}", address="198.51.100.9") for i in range(BURST))
    assert refused_alike(outcomes, LoginFailed), {type(o).__name__ for o in outcomes}
    assert 1 <= len(password_checks) <= FREE_FAILURES
    checked = len(password_checks)
    with pytest.raises(LoginFailed):  # the right one, while locked: refused, and not even checked
        await sessions.log_in("huaxin", DEMO_PASSWORD, address="198.51.100.9")
    assert len(password_checks) == checked
    assert await AuditEntry.count().where(AuditEntry.action == "login.failed") == BURST + 1


async def test_a_locked_unknown_name_is_answered_like_a_known_one(db, password_checks):
    await demo_actors()
    names = ("huaxin", "nobody-here")
    for n, name in enumerate(names):
        for i in range(FREE_FAILURES):
            with pytest.raises(LoginFailed):
                await sessions.log_in(name, f"wrong-{i}", address=f"192.0.2.{n}")
    password_checks.clear()
    for n, name in enumerate(names):
        # Locked out from there, known and unknown names alike: the same answer, nothing checked.
        with pytest.raises(LoginFailed) as refused:
            await sessions.log_in(name, "again", address=f"192.0.2.{n}")
        assert refused.value.message == LoginFailed.message
    assert password_checks == []


async def test_guesses_from_one_address_do_not_lock_the_holder_out_elsewhere(db):
    await demo_actors()
    outcomes = await burst(sessions.log_in("huaxin", f"wrong-{i}", address="198.51.100.66") for i in range(BURST))
    assert refused_alike(outcomes, LoginFailed)
    token, actor = await sessions.log_in("huaxin", DEMO_PASSWORD, address="203.0.113.5")
    assert token and actor.username == "huaxin"


async def test_guesses_spread_over_many_addresses_stop_at_the_global_limit(db, password_checks):
    await demo_actors()
    password_checks.clear()
    outcomes = await burst(
        sessions.log_in("huaxin", f"wrong-{i}", address=f"10.9.{i // 250}.{i % 250}") for i in range(BURST)
    )
    assert refused_alike(outcomes, LoginFailed)
    assert 1 <= len(password_checks) <= SECRET_FREE_FAILURES
    with pytest.raises(LoginFailed):  # the holder, from an address never seen: the account is locked
        await sessions.log_in("huaxin", DEMO_PASSWORD, address="203.0.113.77")


async def test_the_holders_own_typos_are_forgiven_at_login(db):
    await demo_actors()
    for i in range(FREE_FAILURES - 1):
        with pytest.raises(LoginFailed):
            await sessions.log_in("pearl", f"typo-{i}", address="203.0.113.8")
    await sessions.log_in("pearl", DEMO_PASSWORD, address="203.0.113.8")
    rows = await LoginThrottle.select(LoginThrottle.key, LoginThrottle.failures, LoginThrottle.locked_until)
    assert {r["key"]: r["failures"] for r in rows if r["failures"]} == {}
    assert all(r["locked_until"] is None for r in rows)


# --- the operation password ----------------------------------------------------------------------


async def test_a_burst_of_wrong_operation_passwords_checks_at_most_the_limit(db, password_checks):
    actors = await demo_actors()
    owner = actors["huaxin"]
    password_checks.clear()
    outcomes = await burst(users.check_operation_password(owner, f"wrong-{i}") for i in range(BURST))
    assert refused_alike(outcomes, OperationPasswordRejected), {type(o).__name__ for o in outcomes}
    assert 1 <= len(password_checks) <= FREE_FAILURES
    checked = len(password_checks)
    with pytest.raises(OperationPasswordRejected):
        await users.check_operation_password(owner, DEMO_OPERATION_PASSWORD)
    assert len(password_checks) == checked
    failed = await AuditEntry.count().where(AuditEntry.action == "user.operation_password_failed")
    assert failed == checked


async def test_more_right_attempts_at_once_than_the_limit_all_get_in(db):
    """In-flight claims hold the limit only until their secrets prove right: the others wait for
    them rather than being refused (an API client's concurrent operations, a holder's tabs)."""
    actors = await demo_actors()
    owner = actors["huaxin"]
    outcomes = await burst(users.check_operation_password(owner, DEMO_OPERATION_PASSWORD) for _ in range(20))
    assert outcomes == [None] * 20
    logins = await burst(sessions.log_in("pearl", DEMO_PASSWORD, address="203.0.113.9") for _ in range(12))
    assert all(isinstance(o, tuple) for o in logins), logins
    assert await LoginThrottle.count().where(LoginThrottle.failures > 0) == 0


# --- PINs --------------------------------------------------------------------------------------------


async def card_setup(count: int = 1) -> tuple[object, int, list[tuple[str, str]]]:
    """huaxin with stock, a live subscriber and `count` active recharge cards of 10 minutes."""
    owner = await stocked_owner(await demo_actors())
    subscriber_id = (await live_subscriber(owner, 1))[0]["id"]
    _batch, pairs = await make_batch(owner, count=count, face=10)
    await activate_cards(owner, pairs[0][0], pairs[-1][0])
    return owner, subscriber_id, pairs


async def test_a_burst_of_wrong_pins_checks_at_most_the_limit(db, pin_checks):
    _owner, subscriber_id, [(serial, pin)] = await card_setup()
    outcomes = await burst(
        redeem_card(serial, f"{i:016d}", subscriber_id=subscriber_id, address="198.51.100.3", card_key=KEY)
        for i in range(BURST)
    )
    assert refused_alike(outcomes, RedemptionFailed), {type(o).__name__ for o in outcomes}
    assert 1 <= len(pin_checks) <= FREE_FAILURES
    checked = len(pin_checks)
    with pytest.raises(RedemptionFailed):  # the right PIN, while locked
        await redeem_card(serial, pin, subscriber_id=subscriber_id, address="198.51.100.3", card_key=KEY)
    assert len(pin_checks) == checked
    # Every guess was audited, and counted per subscriber and address.
    assert await AuditEntry.count().where(AuditEntry.action == "cards.redeem_failed") == BURST + 1
    counted = await LoginThrottle.select().where(LoginThrottle.key.is_in([f"subscriber:{subscriber_id}"]))
    assert counted[0]["failures"] == checked and counted[0]["locked_until"] is not None
    assert await subscribers.subscriber_balance(subscriber_id) == 60


async def test_guesses_at_a_public_serial_do_not_lock_its_holder_out(db):
    owner, attacker, [(serial, pin)] = await card_setup()
    holder = (await live_subscriber(owner, 1))[0]["id"]
    outcomes = await burst(
        redeem_card(serial, f"{i:016d}", subscriber_id=attacker, address="198.51.100.4", card_key=KEY)
        for i in range(BURST)
    )
    assert refused_alike(outcomes, RedemptionFailed)
    done = await redeem_card(serial, pin, subscriber_id=holder, address="203.0.113.20", card_key=KEY)
    assert done["minutes"] == 10 and await subscribers.subscriber_balance(holder) == 11 * 60


async def test_guesses_at_a_card_from_many_addresses_stop_at_the_global_limit(db, pin_checks):
    owner, attacker, [(serial, pin)] = await card_setup()
    holder = (await live_subscriber(owner, 1))[0]["id"]
    outcomes = await burst(
        redeem_card(serial, f"{i:016d}", subscriber_id=attacker, address=f"10.8.{i // 250}.{i % 250}", card_key=KEY)
        for i in range(BURST)
    )
    assert refused_alike(outcomes, RedemptionFailed), {type(o).__name__ for o in outcomes}
    assert 1 <= len(pin_checks) <= SECRET_FREE_FAILURES
    with pytest.raises(RedemptionFailed):  # the card is locked everywhere now
        await redeem_card(serial, pin, subscriber_id=holder, address="203.0.113.21", card_key=KEY)
    assert await subscribers.subscriber_balance(holder) == 60


async def test_many_right_redemptions_at_once_from_one_address_all_go_through(db):
    _owner, subscriber_id, pairs = await card_setup(count=40)
    outcomes = await burst(
        redeem_card(serial, pin, subscriber_id=subscriber_id, address="198.51.100.5", card_key=KEY)
        for serial, pin in pairs
    )
    assert all(isinstance(o, dict) for o in outcomes), outcomes
    assert await subscribers.subscriber_balance(subscriber_id) == (1 + 40 * 10) * 60
    assert await LoginThrottle.count().where(LoginThrottle.failures > 0) == 0  # nothing left counted


# --- subscriber login ---------------------------------------------------------------------------


async def test_a_burst_of_wrong_subscriber_passwords_checks_at_most_the_limit(db, password_checks):
    owner = await stocked_owner(await demo_actors())
    row, (number, _initial) = await live_subscriber(owner, 1)
    await subscribers.change_subscriber_password(row["id"], "abc12345")
    password_checks.clear()
    outcomes = await burst(
        authenticate_subscriber(number, f"wrong-{i}", address="198.51.100.6", card_key=KEY) for i in range(BURST)
    )
    assert refused_alike(outcomes, LoginFailed), {type(o).__name__ for o in outcomes}
    assert 1 <= len(password_checks) <= FREE_FAILURES
    with pytest.raises(LoginFailed):
        await authenticate_subscriber(number, "abc12345", address="198.51.100.6", card_key=KEY)
    # ... but the holder, from elsewhere, gets in.
    done = await authenticate_subscriber(number, "abc12345", address="203.0.113.30", card_key=KEY)
    assert done["id"] == row["id"]


async def test_a_locked_key_answers_late_and_a_burst_waits_together(db, monkeypatch):
    """A refusal while locked comes after LOCKED_ANSWER_DELAY (a guesser waiting for its answers
    slows down); refusals at once sleep side by side, not one after another."""
    import datetime as dt
    import time

    from agency import throttle
    from core.clock import now

    monkeypatch.setattr(throttle, "LOCKED_ANSWER_DELAY", 0.5)
    at = now()  # a lock set a while ago (not one still settling): 1 failure of 1 free, 20 s left
    await LoginThrottle.insert(
        LoginThrottle(key="delay-test", failures=1, window_start=at, locked_until=at + dt.timedelta(seconds=20))
    )
    started = time.monotonic()
    refused = await asyncio.gather(*(throttle.claim([throttle.Limit("delay-test", free=1)]) for _ in range(50)))
    took = time.monotonic() - started
    assert refused == [None] * 50
    assert 0.5 <= took < 3, took
