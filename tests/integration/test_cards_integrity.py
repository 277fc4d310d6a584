"""R-15: a card stays in its tree. A recharge card is redeemable only by a subscriber of the
issuing agent or of its descendants; anywhere else it gets the generic refusal of a wrong PIN,
which counts toward the throttle, is audited, and moves nothing."""

from __future__ import annotations

import pytest

from accounts import services as subscribers
from accounts.tables import Subscriber
from agency.tables import AuditEntry, LoginThrottle
from cards.errors import RedemptionFailed
from cards.services import activate_cards, generate_batch, redeem_card
from cards.tables import Card
from money import ledger
from money.bundles import buy_bundle
from tests.helpers import demo_actors
from tests.money import assert_ledger_ok, fund, key
from web.demo import DEMO_OPERATION_PASSWORD as OP

KEY = b"t" * 32


async def stock(actor, minutes: int) -> None:
    await fund(actor.agent_id, 10**9)
    await buy_bundle(actor, minutes, operation_password=OP, idempotency_key=key())


async def recharge_cards(owner, count: int, face: int) -> list[tuple[str, str]]:
    _batch, pairs = await generate_batch(
        owner,
        {"kind": "recharge", "count": str(count), "face_minutes": str(face), "expiry_rule": "none"},
        card_key=KEY,
        operation_password=OP,
    )
    await activate_cards(owner, pairs[0][0], pairs[-1][0])
    return pairs


async def subscriber_of(owner) -> int:
    _batch, pairs = await generate_batch(
        owner,
        {"kind": "e-card", "count": "1", "face_minutes": "1", "expiry_rule": "none"},
        card_key=KEY,
        operation_password=OP,
    )
    await activate_cards(owner, pairs[0][0])
    row = await Subscriber.select(Subscriber.id).where(Subscriber.account_number == pairs[0][0]).first()
    return row["id"]


async def throttle_failures(key_name: str) -> int:
    row = await LoginThrottle.select(LoginThrottle.failures).where(LoginThrottle.key == key_name).first()
    return row["failures"] if row else 0


async def test_a_card_is_redeemed_only_within_its_issuers_tree(db):
    actors = await demo_actors()
    huaxin, pudong, pearl = actors["huaxin"], actors["huaxin.pudong"], actors["pearl"]
    await stock(huaxin, 10_000)
    await stock(pearl, 1_000)
    await stock(pudong, 1_000)  # bought out of huaxin's stock
    cards = await recharge_cards(huaxin, 8, 10)
    pudong_cards = await recharge_cards(pudong, 1, 10)
    pearls_own = await recharge_cards(pearl, 1, 10)
    own = await subscriber_of(huaxin)
    descendant = await subscriber_of(pudong)
    sibling = await subscriber_of(pearl)
    escrow_before = (await ledger.balances(huaxin.agent_id))["escrow"]

    # The sibling tree's subscriber: refused with the message of a wrong PIN, nothing moved.
    serial, pin = cards[0]
    with pytest.raises(RedemptionFailed) as outside:
        await redeem_card(serial, pin, subscriber_id=sibling, address="198.51.100.1", card_key=KEY)
    with pytest.raises(RedemptionFailed) as wrong_pin:
        await redeem_card(cards[1][0], "0" * 16, subscriber_id=own, address="198.51.100.2", card_key=KEY)
    assert str(outside.value) == str(wrong_pin.value)
    assert await subscribers.subscriber_balance(sibling) == 60
    assert (await ledger.balances(huaxin.agent_id))["escrow"] == escrow_before
    assert (await Card.select(Card.status).where(Card.serial == serial).first())["status"] == "active"
    # ... counted toward the throttle like a guess, per card, subscriber and address; and audited.
    for name in (f"card:{serial}", f"subscriber:{sibling}", "redeem-addr:198.51.100.1"):
        assert await throttle_failures(name) == 1, name
    failed = await AuditEntry.select(AuditEntry.target_id, AuditEntry.username).where(
        AuditEntry.action == "cards.redeem_failed"
    )
    assert {"target_id": serial, "username": f"subscriber:{sibling}"} in failed
    # An agent recharging its own subscriber with another tree's card is refused alike.
    with pytest.raises(RedemptionFailed):
        await redeem_card(*cards[2], subscriber_id=sibling, address="198.51.100.3", card_key=KEY, actor=pearl)
    # A parent's subscriber cannot take a sub-agent's card either: the tree runs downwards.
    with pytest.raises(RedemptionFailed):
        await redeem_card(*pudong_cards[0], subscriber_id=own, address="198.51.100.4", card_key=KEY)
    # Enough such attempts lock the subscriber out: then even its own agent's card is refused.
    for n, (other_serial, other_pin) in enumerate(cards[3:6]):
        with pytest.raises(RedemptionFailed):
            await redeem_card(
                other_serial, other_pin, subscriber_id=sibling, address=f"198.51.100.{10 + n}", card_key=KEY
            )
    assert await throttle_failures(f"subscriber:{sibling}") == 5
    with pytest.raises(RedemptionFailed):
        await redeem_card(*pearls_own[0], subscriber_id=sibling, address="198.51.100.20", card_key=KEY)
    assert await subscribers.subscriber_balance(sibling) == 60

    # The issuing agent's own subscriber and a descendant's subscriber redeem.
    done = await redeem_card(*cards[6], subscriber_id=own, address="203.0.113.1", card_key=KEY)
    assert done["minutes"] == 10 and await subscribers.subscriber_balance(own) == 11 * 60
    done = await redeem_card(*cards[7], subscriber_id=descendant, address="203.0.113.2", card_key=KEY)
    assert done["minutes"] == 10 and await subscribers.subscriber_balance(descendant) == 11 * 60
    assert (await ledger.balances(huaxin.agent_id))["escrow"] == escrow_before - 2 * 10 * 60
    await assert_ledger_ok()
