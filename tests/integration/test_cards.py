"""Cards and subscribers on a real database (R-12 to R-18): generation, activation, void,
expiry, exactly-once redemption under concurrency, throttling, closing accounts."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from accounts import services as subscribers
from accounts import switch
from accounts.tables import Subscriber
from agency.tables import AuditEntry, LoginThrottle
from cards import codes
from cards import services as cards_services
from cards.errors import RedemptionFailed
from cards.services import (
    activate_cards,
    expire_due_cards,
    generate_batch,
    get_batch,
    list_cards,
    redeem_card,
    void_cards,
)
from cards.tables import Card
from core.errors import Conflict, Forbidden, LoginFailed, NotFound, ValidationFailed
from money import ledger
from tests.helpers import demo_actors
from tests.money import assert_ledger_ok, fund, key
from web.demo import DEMO_OPERATION_PASSWORD as OP

KEY = b"k" * 32


async def stocked_owner(actors, minutes: int = 100_000):
    """huaxin with `minutes` in stock (bought through the real bundle path)."""
    from money.bundles import buy_bundle

    owner = actors["huaxin"]
    await fund(owner.agent_id, 10**9)
    await buy_bundle(owner, minutes, operation_password=OP, idempotency_key=key())
    return owner


async def make_batch(owner, kind="recharge", count=10, face=60, **extra):
    data = {"kind": kind, "count": str(count), "face_minutes": str(face), "expiry_rule": "none", **extra}
    return await generate_batch(owner, data, card_key=KEY, operation_password=OP)


async def live_subscriber(owner, minutes: int) -> tuple[dict, tuple[str, str]]:
    """An account opened by activating one e-card of `minutes`: its row, and the card's number and initial secret."""
    _batch, pairs = await make_batch(owner, kind="e-card", count=1, face=minutes)
    await activate_cards(owner, pairs[0][0])
    row = await Subscriber.select().where(Subscriber.account_number == pairs[0][0]).first()
    return row, pairs[0]


def test_serials_and_secrets():
    serial = codes.make_serial("86", 123)
    assert serial == "86" + "0000000123" + serial[-1] and codes.is_valid_serial(serial)
    wrong = serial[:-1] + str((int(serial[-1]) + 1) % 10)
    assert not codes.is_valid_serial(wrong)
    assert not codes.is_valid_serial("８６０００００００１２３４")
    secrets = {codes.new_secret() for _ in range(1000)}
    assert len(secrets) == 1000 and all(len(s) == 16 and s.isdigit() for s in secrets)
    h = codes.secret_hash(KEY, serial, "1234567890123456")
    assert h != codes.secret_hash(KEY, codes.make_serial("86", 124), "1234567890123456")  # salted by serial
    assert codes.secret_matches(KEY, serial, "1234567890123456", h)
    assert not codes.secret_matches(b"x" * 32, serial, "1234567890123456", h)


async def test_generation_reserves_stock_and_stores_only_hashes(db):
    owner = await stocked_owner(await demo_actors(), minutes=1000)
    batch, pairs = await make_batch(owner, count=10, face=60)
    assert batch["size"] == 10 and batch["counts"] == {"generated": 10}
    assert (await ledger.balances(owner.agent_id))["stock"] == (1000 - 600) * 60
    assert (await ledger.balances(owner.agent_id))["escrow"] == 600 * 60
    stored = await Card.select(Card.serial, Card.secret_hash)
    assert sorted(s for s, _ in pairs) == sorted(r["serial"] for r in stored)
    dump = str(await Card.select()) + str(await AuditEntry.select())
    assert not any(secret in dump for _, secret in pairs)  # secrets are nowhere in the database
    with pytest.raises(Conflict):  # 400 minutes left cannot cover 10 x 60
        await make_batch(owner, count=10, face=60)
    assert await Card.count() == 10
    await assert_ledger_ok()


async def test_bad_batches_change_nothing(db):
    actors = await demo_actors()
    owner = await stocked_owner(actors, minutes=1000)
    before = await Card.count()
    for bad in (
        {"count": "0"},
        {"count": "2000000"},
        {"face_minutes": "-1"},
        {"kind": "gift"},
        {"expiry_rule": "fixed_date", "expiry_date": "2001-01-01"},
        {"expiry_rule": "days_after_creation"},
        {"prefix": "AB"},
    ):
        with pytest.raises(ValidationFailed):
            await make_batch(owner, **bad)
    for not_owner in (actors["huaxin.clerk"], actors["admin"]):
        with pytest.raises(Forbidden):
            await make_batch(not_owner)
    assert await Card.count() == before
    await assert_ledger_ok()


async def test_recharge_flow_redeems_exactly_once(db):
    actors = await demo_actors()
    owner = await stocked_owner(actors)
    subscriber, _card = await live_subscriber(owner, 30)
    assert await subscribers.subscriber_balance(subscriber["id"]) == 30 * 60
    batch, pairs = await make_batch(owner, count=3, face=100)
    serial, pin = pairs[0]
    # Generated but not sold yet: refused with the generic error.
    with pytest.raises(RedemptionFailed):
        await redeem_card(serial, pin, subscriber_id=subscriber["id"], address="a", card_key=KEY)
    result = await activate_cards(owner, pairs[0][0], pairs[-1][0])
    assert result == {"activated": 3, "accounts_opened": 0}
    outcomes = await asyncio.gather(
        *(
            redeem_card(serial, pin, subscriber_id=subscriber["id"], address=f"10.1.0.{i}", card_key=KEY)
            for i in range(100)
        ),
        return_exceptions=True,
    )
    wins = [o for o in outcomes if isinstance(o, dict)]
    assert len(wins) == 1 and all(isinstance(o, RedemptionFailed) for o in outcomes if not isinstance(o, dict))
    assert await subscribers.subscriber_balance(subscriber["id"]) == (30 + 100) * 60
    assert (await get_batch(owner, batch["id"]))["counts"] == {"active": 2, "redeemed": 1}
    await assert_ledger_ok()


async def test_1000_cards_times_8_concurrent_attempts(db):
    actors = await demo_actors()
    owner = await stocked_owner(actors)
    subscriber_id = (await live_subscriber(owner, 1))[0]["id"]
    _b, pairs = await make_batch(owner, count=1000, face=1)
    await activate_cards(owner, pairs[0][0], pairs[-1][0])
    attempts = [
        redeem_card(serial, pin, subscriber_id=subscriber_id, address=f"10.2.{i % 250}.{n}", card_key=KEY)
        for i, (serial, pin) in enumerate(pairs)
        for n in range(8)
    ]
    successes = 0
    for start in range(0, len(attempts), 400):  # bounded concurrency: 400 attempts in flight
        results = await asyncio.gather(*attempts[start : start + 400], return_exceptions=True)
        successes += sum(isinstance(r, dict) for r in results)
        assert all(isinstance(r, (dict, RedemptionFailed)) for r in results), [
            r for r in results if not isinstance(r, (dict, RedemptionFailed))
        ]
    assert successes == 1000
    assert await subscribers.subscriber_balance(subscriber_id) == (1 + 1000) * 60
    await assert_ledger_ok()


async def test_guessing_is_locked_out_then_expires(db):
    actors = await demo_actors()
    owner = await stocked_owner(actors)
    subscriber_id = (await live_subscriber(owner, 1))[0]["id"]
    _b, pairs = await make_batch(owner, count=1, face=10)
    serial, pin = pairs[0]
    await activate_cards(owner, serial)
    for i in range(20):
        with pytest.raises(RedemptionFailed):
            await redeem_card(serial, f"{i:016d}", subscriber_id=subscriber_id, address=f"198.51.100.{i}", card_key=KEY)
    with pytest.raises(RedemptionFailed):  # the right PIN during the lockout
        await redeem_card(serial, pin, subscriber_id=subscriber_id, address="203.0.113.9", card_key=KEY)
    assert await AuditEntry.count().where(AuditEntry.action == "cards.redeem_failed") == 21
    # The lockout expires (the clock is moved by moving the lock, not by sleeping).
    await LoginThrottle.update(
        {LoginThrottle.locked_until: dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)}
    ).where(LoginThrottle.key.like("%"))
    ok = await redeem_card(serial, pin, subscriber_id=subscriber_id, address="203.0.113.10", card_key=KEY)
    assert ok["minutes"] == 10


async def test_void_and_expiry_return_minutes(db):
    actors = await demo_actors()
    owner = await stocked_owner(actors, minutes=1000)
    _b, pairs = await make_batch(owner, count=5, face=10)
    await activate_cards(owner, pairs[0][0], pairs[1][0])
    result = await void_cards(owner, pairs[0][0], pairs[2][0], operation_password=OP)
    assert result == {"voided": 3, "minutes_returned": 30}
    _b2, later = await make_batch(owner, count=2, face=10, expiry_rule="days_after_creation", expiry_days="1")
    assert await expire_due_cards() == 0
    assert await expire_due_cards(dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=2)) == 2
    balances = await ledger.balances(owner.agent_id)
    assert balances["escrow"] == 2 * 10 * 60 and balances["stock"] == (1000 - 20) * 60
    rows, total = await list_cards(owner, status="expired")
    assert total == 2 and {r["serial"] for r in rows} == {s for s, _ in later}
    await assert_ledger_ok()


async def test_close_returns_exactly_the_balance(db):
    actors = await demo_actors()
    owner = await stocked_owner(actors, minutes=1000)
    subscriber, (number, initial) = await live_subscriber(owner, 45)
    stock_before = (await ledger.balances(owner.agent_id))["stock"]
    await subscribers.suspend_subscriber(owner, subscriber["id"], "customer asked")
    closed = await subscribers.close_subscriber(owner, subscriber["id"], "moving away", operation_password=OP)
    assert closed["status"] == "closed" and closed["balance_seconds"] == 0
    assert (await ledger.balances(owner.agent_id))["stock"] == stock_before + 45 * 60
    with pytest.raises(LoginFailed):  # a closed account cannot log in
        await cards_services.authenticate_subscriber(number, initial, address="a", card_key=KEY)
    _b, pairs = await make_batch(owner, count=1, face=5)
    await activate_cards(owner, pairs[0][0])
    with pytest.raises(RedemptionFailed):  # nor recharge
        await redeem_card(*pairs[0], subscriber_id=subscriber["id"], address="a", card_key=KEY)
    call = {"account": number, "destination": "8613800138000", "call_id": "after-close"}
    answer = await switch.authorize(call)  # nor call: the switch API refuses it
    assert (answer["allow"], answer["max_seconds"], answer["reason"]) == (False, 0, "closed")
    with pytest.raises(Conflict):
        await subscribers.close_subscriber(owner, subscriber["id"], "again", operation_password=OP)
    await assert_ledger_ok()


async def test_subscriber_login_with_the_initial_secret_then_own_password(db):
    actors = await demo_actors()
    owner = await stocked_owner(actors, minutes=1000)
    _row, (number, initial) = await live_subscriber(owner, 5)
    first = await cards_services.authenticate_subscriber(number, initial, address="a", card_key=KEY)
    assert first["must_change_password"]
    await subscribers.change_subscriber_password(first["id"], "my-own-pass")
    with pytest.raises(LoginFailed):
        await cards_services.authenticate_subscriber(number, initial, address="a", card_key=KEY)
    again = await cards_services.authenticate_subscriber(number, "my-own-pass", address="a", card_key=KEY)
    assert not again["must_change_password"]


async def test_subscribers_and_cards_are_scoped(db):
    actors = await demo_actors()
    owner = await stocked_owner(actors, minutes=1000)
    batch, ecard = await make_batch(owner, kind="e-card", count=1, face=5)
    await activate_cards(owner, ecard[0][0])
    subscriber_id = (await Subscriber.select(Subscriber.id).first())["id"]
    pearl = actors["pearl"]
    with pytest.raises(NotFound):
        await subscribers.get_subscriber(pearl, subscriber_id)
    with pytest.raises(NotFound):
        await get_batch(pearl, batch["id"])
    assert (await list_cards(pearl))[1] == 0
    assert (await subscribers.list_subscribers(pearl))[1] == 0
    with pytest.raises(NotFound):
        await subscribers.suspend_subscriber(pearl, subscriber_id, "x")
    with pytest.raises(ValidationFailed):  # pearl cannot sell huaxin's cards: none of its own in range
        await activate_cards(pearl, ecard[0][0])
    with pytest.raises(NotFound):  # nor recharge huaxin's subscriber on its behalf
        await redeem_card("1", "2", subscriber_id=subscriber_id, address="a", card_key=KEY, actor=pearl)
    parent_view = await subscribers.get_subscriber(actors["admin"], subscriber_id)
    assert parent_view["balance_seconds"] == 300


async def test_first_export_shows_secrets_once(db):
    from cards.exports import export_batch
    from cards.tables import BatchSecrets

    actors = await demo_actors()
    owner = await stocked_owner(actors, minutes=1000)
    batch, pairs = await make_batch(owner, count=3, face=10)
    sealed = b"".join(bytes(r["sealed"]) for r in await BatchSecrets.select(BatchSecrets.sealed))
    assert not any(secret.encode() in bytes(sealed) for _, secret in pairs)  # sealed, not stored plain
    clerk_view = await export_batch(actors["huaxin.clerk"], batch["id"], card_key=KEY, file_format="csv")
    assert not clerk_view.with_secrets  # only the owner who may generate opens the secrets
    first = await export_batch(owner, batch["id"], card_key=KEY, file_format="csv")
    assert first.with_secrets and {(c["serial"], c["secret"]) for c in first.cards} == set(pairs)
    second = await export_batch(owner, batch["id"], card_key=KEY, file_format="csv")
    assert not second.with_secrets and all("secret" not in c for c in second.cards)
    assert all(r["sealed"] is None for r in await BatchSecrets.select(BatchSecrets.sealed))
    assert await AuditEntry.count().where(AuditEntry.action == "cards.export_secrets") == 1
    with pytest.raises(NotFound):
        await export_batch(actors["pearl"], batch["id"], card_key=KEY, file_format="csv")


def test_cli_generates_with_a_progress_bar(tmp_path):
    import csv
    import os
    import subprocess
    import sys

    from web.demo import DEMO_PASSWORD

    env = {**os.environ, "VOIPAGENCY_DB_PATH": str(tmp_path / "cli.sqlite3"), "VOIPAGENCY_DEMO_DAYS": "0"}
    env.pop("DATABASE_URL", None)
    cli = [sys.executable, "-m", "web.cli"]
    assert subprocess.run([*cli, "demo"], env=env, capture_output=True, text=True).returncode == 0
    out = tmp_path / "cards.csv"
    done = subprocess.run(
        [*cli, "cards", "generate", "--user", "pearl", "--count", "12000", "--face-minutes", "0"],
        env=env,
        input=f"{DEMO_PASSWORD}\n{OP}\n",
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0  # 0 minutes per card is refused
    done = subprocess.run(
        [
            *cli,
            "cards",
            "generate",
            "--user",
            "pearl",
            "--count",
            "12000",
            "--face-minutes",
            "0",
            "--out",
            str(out),
            "--passwords-stdin",
        ],
        env=env,
        input=f"{DEMO_PASSWORD}\n{OP}\n",
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1 and "face_minutes" in done.stderr
    done = subprocess.run(
        [
            *cli,
            "cards",
            "generate",
            "--user",
            "pearl",
            "--count",
            "12000",
            "--face-minutes",
            "1",
            "--out",
            str(out),
            "--passwords-stdin",
        ],
        env=env,
        input=f"{DEMO_PASSWORD}\n{OP}\n",
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "5,000/12,000" in done.stderr and "12,000/12,000" in done.stderr
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 12000 and all(len(r["secret"]) == 16 and codes.is_valid_serial(r["serial"]) for r in rows)
    verify = subprocess.run([*cli, "ledger", "verify"], env=env, capture_output=True, text=True)
    assert verify.returncode == 0


def test_typed_secrets_may_carry_the_printed_spaces():
    serial = codes.make_serial("86", 7)
    stored = codes.secret_hash(KEY, serial, "1234567890123456")
    assert codes.secret_matches(KEY, serial, "1234 5678 9012 3456", stored)
    assert codes.secret_matches(KEY, serial, " 1234567890123456\n", stored)
    assert not codes.secret_matches(KEY, serial, "1234 5678 9012 345", stored)
