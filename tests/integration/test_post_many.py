"""ledger.post_many, the batch form of ledger.post that call records are charged with: the same
rules (balanced, no customer-facing balance below zero), in a few statements."""

from __future__ import annotations

import pytest

from core.db import transaction
from core.units import SECONDS
from money import ledger
from money.ledger import InsufficientBalance, JournalItem, transfer
from tests.helpers import demo_actors
from tests.integration.test_cards import live_subscriber, stocked_owner


async def _accounts(minutes: int) -> tuple[int, int]:
    """The balances of two subscribers, the first with `minutes`, the second with one minute (a
    transfer between two customer-facing accounts: both balances move, and the ledger verifies)."""
    owner = await stocked_owner(await demo_actors(), minutes=1000)
    ids = []
    for each in (minutes, 1):
        subscriber, _card = await live_subscriber(owner, each)
        ids.append(await ledger.subscriber_account(subscriber["id"], subscriber["agent"]))
    return ids[0], ids[1]


async def test_many_charges_move_the_balance_by_their_sum(db):
    balance, other = await _accounts(10)
    items = [JournalItem(transfer(balance, other, SECONDS, 60 * i), f"call {i}", f"call-{i}") for i in (1, 2, 3)]
    async with transaction():
        await ledger.post_many("call", "call", items)
    assert await ledger.account_balance(balance) == 600 - 360
    assert await ledger.account_balance(other) == 60 + 360
    rows = await ledger.JournalTransaction.select().where(ledger.JournalTransaction.kind == "call")
    assert sorted(row["ref_id"] for row in rows) == ["call-1", "call-2", "call-3"]


async def test_charges_beyond_the_balance_change_nothing(db):
    balance, other = await _accounts(1)
    items = [JournalItem(transfer(balance, other, SECONDS, 40), f"call {i}", f"call-{i}") for i in (1, 2)]
    with pytest.raises(InsufficientBalance):
        async with transaction():
            await ledger.post_many("call", "call", items)
    assert (await ledger.account_balance(balance), await ledger.account_balance(other)) == (60, 60)
    with pytest.raises(ValueError):  # references must tell the transactions apart
        await ledger.post_many("call", "call", [items[0], items[0]])
