"""Concurrent redemptions of one card from one address (a shop's till retrying, a benchmark's
clients): the winner clears the card's throttle keys while the others claim them, and neither
may wait for the other in a cycle (PostgreSQL's deadlock detector would fail one with a server
error). Exactly one redeems each card; every other attempt gets the generic refusal."""

from __future__ import annotations

import asyncio

from cards.errors import RedemptionFailed
from cards.services import activate_cards, redeem_card
from tests.helpers import demo_actors
from tests.integration.test_cards import KEY, live_subscriber, make_batch, stocked_owner

CARDS = 12
ATTEMPTS = 8


async def _attempt(serial: str, pin: str, subscriber_id: int, delay: float):
    await asyncio.sleep(delay)  # staggered, so that late claims meet the winner's clearing
    return await redeem_card(serial, pin, subscriber_id=subscriber_id, address="127.0.0.1", card_key=KEY)


async def test_one_address_racing_for_each_card_redeems_it_once(db):
    owner = await stocked_owner(await demo_actors())
    subscriber, _card = await live_subscriber(owner, 1)
    _batch, pairs = await make_batch(owner, count=CARDS, face=5)
    await activate_cards(owner, pairs[0][0], pairs[-1][0])
    for serial, pin in pairs:
        outcomes = await asyncio.gather(
            *(_attempt(serial, pin, subscriber["id"], i * 0.002) for i in range(ATTEMPTS)),
            return_exceptions=True,
        )
        unexpected = [o for o in outcomes if not isinstance(o, dict | RedemptionFailed)]
        assert unexpected == [] and sum(isinstance(o, dict) for o in outcomes) == 1, outcomes
