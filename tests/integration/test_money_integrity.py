"""Money across the business, not only in each transaction (issue 10, R-9, R-11a, R-11b): who holds
whose money, sales below cost, adjustments and penalties."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest

from agency import agents
from cards.integrity import verify_everything
from core import sql
from core.db import lifting_append_only, transaction
from core.errors import Forbidden, OperationPasswordRejected, ValidationFailed
from core.units import FEN
from money import adjustments, bundles, ledger, prices, remittances
from tests.helpers import demo_actors
from tests.money import fund, key, set_operator_prices
from web.demo import DEMO_OPERATION_PASSWORD as OP


async def _revenue() -> int:
    return await ledger.system_balance(ledger.OPERATOR_REVENUE)


async def _mark_up(seller, by_centi_fen: int = 100) -> None:
    """The seller's list for its sub-agents: its own cost plus `by_centi_fen` per minute."""
    own = (await prices.price_list_for(await agents.get_agent(seller, seller.agent_id)))[0]
    await prices.save_agent_list(
        seller,
        seller.agent_id,
        [{"min_minutes": t.min_minutes, "price": f"{(t.price + by_centi_fen) / 100:.2f}"} for t in own],
    )


async def _remit_and_confirm(sender, holder, yuan: str) -> None:
    recorded = await remittances.record_remittance(
        sender, {"amount": yuan, "bank_reference": f"REF-{key()[:8]}", "remitted_on": dt.date.today().isoformat()}
    )
    await remittances.decide_remittance(
        holder, recorded["id"], confirm=True, operation_password=OP, idempotency_key=key()
    )


async def test_a_parent_cannot_spend_with_its_seller_what_its_sub_agent_paid_it(db):
    """Hole 1: a parent confirmed its sub-agent's remittance, the sub-agent bought from it, and
    the payment landed in the parent's wallet, which it then spent with the operator, who never
    received that money. The payment is the parent's sales receipts now."""
    a = await demo_actors()
    await set_operator_prices(a["admin"])
    parent, child = a["huaxin"], a["huaxin.pudong"]
    inflow, revenue = await ledger.system_balance(ledger.OPERATOR_INFLOW), await _revenue()
    await fund(parent.agent_id, 8_500)
    await bundles.buy_bundle(parent, 1000, operation_password=OP, idempotency_key=key())
    assert (await ledger.balances(parent.agent_id))["wallet"] == 0
    await _mark_up(parent)
    await _remit_and_confirm(child, parent, "200")
    order = await bundles.buy_bundle(child, 1000, operation_password=OP, idempotency_key=key())
    assert await ledger.receipts_of(parent.agent_id) == order["total_fen"] == 9_500
    assert (await ledger.balances(parent.agent_id))["wallet"] == 0
    with pytest.raises(bundles.WalletShort):
        await bundles.buy_bundle(parent, 1000, operation_password=OP, idempotency_key=key())
    # The operator received 8,500 fen more, and its revenue grew by exactly that.
    assert inflow - await ledger.system_balance(ledger.OPERATOR_INFLOW) == await _revenue() - revenue == 8_500


async def test_the_migration_moves_old_postings_to_their_holders(db):
    """Books written by the old code (a parent's confirmation from the operator's inflow, a
    sub-agent's payment into the parent's wallet, spent with the operator) verify after the
    migration, the spent receipts covered by the operator's adjustment."""
    a = await demo_actors()
    await set_operator_prices(a["admin"])
    parent, child = a["huaxin"], a["huaxin.pudong"]
    await fund(parent.agent_id, 8_500)
    await bundles.buy_bundle(parent, 1000, operation_password=OP, idempotency_key=key())
    await _mark_up(parent)
    await _remit_and_confirm(child, parent, "200")
    await bundles.buy_bundle(child, 1000, operation_password=OP, idempotency_key=key())
    # Put the entries back where the old code put them.
    codes = {
        "inflow": f"agent:{parent.agent_id}:inflow",
        "receipts": f"agent:{parent.agent_id}:receipts",
        "wallet": f"agent:{parent.agent_id}:wallet",
    }
    ids = {k: (await sql.fetch_one("SELECT id FROM ledger_account WHERE code = {}", c))["id"] for k, c in codes.items()}
    outside = await ledger.system_account(ledger.OPERATOR_INFLOW)
    async with transaction(), lifting_append_only("test: books as the old code wrote them"):
        await sql.execute("UPDATE journal_entry SET account = {} WHERE account = {}", outside, ids["inflow"])
        await sql.execute("UPDATE journal_entry SET account = {} WHERE account = {}", ids["wallet"], ids["receipts"])
        await sql.execute("UPDATE ledger_account SET balance = 9500 WHERE id = {}", ids["wallet"])
        await sql.execute("UPDATE ledger_account SET balance = 0 WHERE id = {}", ids["receipts"])
    async with transaction():  # the old hole: the parent spends the receipts with the operator
        revenue = await ledger.system_account(ledger.OPERATOR_REVENUE)
        await ledger.post("bundle", ledger.transfer(ids["wallet"], revenue, FEN, 8_500))
    assert not (await verify_everything()).ok

    migration = importlib.import_module("agency.piccolo_migrations.agency_2026_12_02t04_30_00_000000")
    async with transaction(), lifting_append_only("test: the migration, run again after the triggers"):
        await migration.move_to_holders()

    assert (await verify_everything()).ok
    assert await ledger.receipts_of(parent.agent_id) == 9_500
    assert (await ledger.balances(parent.agent_id))["wallet"] == 0
    covered = await sql.fetch_one(
        "SELECT e.amount FROM journal_entry e JOIN journal_transaction t ON t.id = e.txn "
        "WHERE t.kind = 'adjustment' AND e.account = {}",
        ids["wallet"],
    )
    assert covered["amount"] == 8_500


async def test_the_holder_adjusts_and_penalises_with_a_reason(db):
    """R-11b: operator finance for a level-1 agent, the parent's owner below; nobody else."""
    a = await demo_actors()
    finance, top, child = a["finance"], a["huaxin"], a["huaxin.pudong"]
    await fund(top.agent_id, 10_000)
    penalty = {"account": "wallet", "direction": "debit", "kind": "penalty", "amount": "20",
               "reason": "complaint not answered in 48 h", "reference": "TK-42"}
    done = await adjustments.adjust(finance, top.agent_id, penalty, operation_password=OP, idempotency_key=key())
    assert done["amount"] == 2_000 and (await ledger.balances(top.agent_id))["wallet"] == 8_000
    rows, _total = await ledger.journal(top.agent_id, ledger.WALLET, ledger.JournalFilter(kind="penalty"))
    assert [(r["amount"], r["memo"]) for r in rows] == [(-2_000, "complaint not answered in 48 h (TK-42)")]
    credit = {**penalty, "kind": "adjustment", "direction": "credit", "amount": "5", "reference": "FIX-1"}
    with pytest.raises(Forbidden):  # the operator does not hold a sub-agent's wallet
        await adjustments.adjust(finance, child.agent_id, credit, operation_password=OP, idempotency_key=key())
    with pytest.raises(Forbidden):  # nor does an agent hold its own
        await adjustments.adjust(child, child.agent_id, credit, operation_password=OP, idempotency_key=key())
    await adjustments.adjust(top, child.agent_id, credit, operation_password=OP, idempotency_key=key())
    assert (await ledger.balances(child.agent_id))["wallet"] == 500
    with pytest.raises(ValidationFailed):  # a penalty is a debit
        await adjustments.adjust(top, child.agent_id, {**penalty, "direction": "credit"}, operation_password=OP,
                                 idempotency_key=key())
    with pytest.raises(adjustments.NotCovered):
        await adjustments.adjust(top, child.agent_id, {**penalty, "amount": "6"}, operation_password=OP,
                                 idempotency_key=key())
    with pytest.raises(OperationPasswordRejected):
        await adjustments.adjust(top, child.agent_id, penalty, operation_password="000000", idempotency_key=key())
    stock = {**credit, "account": "stock", "amount": "30"}
    with pytest.raises(adjustments.HolderShort):  # the parent gives minutes from its own stock
        await adjustments.adjust(top, child.agent_id, stock, operation_password=OP, idempotency_key=key())
    await adjustments.adjust(finance, top.agent_id, stock, operation_password=OP, idempotency_key=key())
    assert (await ledger.balances(top.agent_id))["stock"] == 1_800


async def test_a_suspended_seller_does_not_sell(db):
    """Hole 7 (R-2): a suspended or terminated parent still sold to its sub-agents."""
    a = await demo_actors()
    await set_operator_prices(a["admin"])
    parent, child = a["huaxin"], a["huaxin.pudong"]
    await fund(parent.agent_id, 10**6)
    await bundles.buy_bundle(parent, 2000, operation_password=OP, idempotency_key=key())
    await _mark_up(parent)
    await fund(child.agent_id, 10**6)
    await agents.suspend_agent(a["admin"], parent.agent_id)
    before = await ledger.balances(child.agent_id)
    with pytest.raises(agents.SellerNotSelling):
        await bundles.buy_bundle(child, 100, operation_password=OP, idempotency_key=key())
    assert await ledger.balances(child.agent_id) == before
    await agents.resume_agent(a["admin"], parent.agent_id)
    await bundles.buy_bundle(child, 100, operation_password=OP, idempotency_key=key())
