"""Money and minutes on a real database (R-4 to R-11): bundles, remittances, onboarding, the
ledger's invariants, and real concurrency."""
from __future__ import annotations

import asyncio
import datetime as dt
from itertools import pairwise

import pytest

from agency import agents
from agency.tables import Agent
from core.db import lifting_append_only, transaction
from core.errors import Conflict, Forbidden, NotFound, OperationPasswordRejected, ValidationFailed
from money import bundles, ledger, onboarding, prices, remittances
from money.idempotency import IdempotencyKeyReused
from money.tables import BundleOrder, JournalEntry, LedgerAccount
from tests.helpers import demo_actors
from tests.money import assert_ledger_ok, fund, key, set_operator_prices
from web.demo import DEMO_OPERATION_PASSWORD as OP


async def _revenue() -> int:
    return await ledger.system_balance(ledger.OPERATOR_REVENUE)


async def test_buying_moves_money_and_minutes_in_one_transaction(db):
    a = await demo_actors()
    await set_operator_prices(a["admin"])
    owner = a["huaxin"]
    q = await bundles.quote(owner, 1200)
    assert (q.tier_min_minutes, q.unit_price, q.total_fen) == (1000, 850, 10200)
    await fund(owner.agent_id, 10_200)
    revenue_before = await _revenue()
    order = await bundles.buy_bundle(owner, 1200, operation_password=OP, idempotency_key=key(),
                                     expected_total_fen=10_200)
    assert order["number"].startswith("BO") and order["total_fen"] == 10_200
    assert await ledger.balances(owner.agent_id) == {"wallet": 0, "stock": 1200 * 60, "deposit": 0, "escrow": 0}
    assert await _revenue() == revenue_before + 10_200
    with pytest.raises(bundles.WalletShort):
        await bundles.buy_bundle(owner, 1, operation_password=OP, idempotency_key=key())
    await assert_ledger_ok()


async def test_refusals_change_nothing(db):
    a = await demo_actors()
    await set_operator_prices(a["admin"])
    owner = a["huaxin"]
    await fund(owner.agent_id, 1_000_000)
    before = await JournalEntry.count()
    for minutes in (0, -5, "ten", 10**12, None, 1.5, True):
        with pytest.raises(ValidationFailed):
            await bundles.buy_bundle(owner, minutes, operation_password=OP, idempotency_key=key())
    with pytest.raises(OperationPasswordRejected):
        await bundles.buy_bundle(owner, 10, operation_password="", idempotency_key=key())
    with pytest.raises(ValidationFailed):
        await bundles.buy_bundle(owner, 10, operation_password=OP, idempotency_key="short")
    with pytest.raises(Conflict):
        await bundles.buy_bundle(owner, 10, operation_password=OP, idempotency_key=key(), expected_total_fen=1)
    for not_allowed in (a["huaxin.clerk"], a["huaxin.view"], a["admin"]):
        with pytest.raises(Forbidden):
            await bundles.buy_bundle(not_allowed, 10, operation_password=OP, idempotency_key=key())
    assert await JournalEntry.count() == before
    await assert_ledger_ok()


async def test_idempotent_retries_create_nothing_new(db):
    a = await demo_actors()
    await set_operator_prices(a["admin"])
    owner = a["huaxin"]
    await fund(owner.agent_id, 1_000_000)
    k = key()
    orders_before = await BundleOrder.count()
    results = await asyncio.gather(
        *(bundles.buy_bundle(owner, 100, operation_password=OP, idempotency_key=k) for _ in range(8))
    )
    assert len({r["id"] for r in results}) == 1
    assert await BundleOrder.count() == orders_before + 1
    with pytest.raises(IdempotencyKeyReused):
        await bundles.buy_bundle(owner, 101, operation_password=OP, idempotency_key=k)
    assert await BundleOrder.count() == orders_before + 1
    await assert_ledger_ok()


async def test_50_concurrent_purchases_against_a_wallet_for_17(db):
    a = await demo_actors()
    await set_operator_prices(a["admin"])
    owner = a["huaxin"]
    price = (await bundles.quote(owner, 10)).total_fen
    await fund(owner.agent_id, 17 * price)
    outcomes = await asyncio.gather(
        *(bundles.buy_bundle(owner, 10, operation_password=OP, idempotency_key=key()) for _ in range(50)),
        return_exceptions=True,
    )
    successes = [o for o in outcomes if isinstance(o, dict)]
    refusals = [o for o in outcomes if isinstance(o, bundles.WalletShort)]
    assert (len(successes), len(refusals)) == (17, 33), [type(o) for o in outcomes if not isinstance(o, dict)]
    assert await ledger.balances(owner.agent_id) == {"wallet": 0, "stock": 17 * 600, "deposit": 0, "escrow": 0}
    await assert_ledger_ok()


async def test_50_concurrent_sales_out_of_a_parents_stock_for_17(db):
    a = await demo_actors()
    await set_operator_prices(a["admin"])
    parent, child = a["huaxin"], a["huaxin.pudong"]
    await fund(parent.agent_id, 10**9)
    await bundles.buy_bundle(parent, 17 * 10, operation_password=OP, idempotency_key=key())
    await fund(child.agent_id, 10**9)
    outcomes = await asyncio.gather(
        *(bundles.buy_bundle(child, 10, operation_password=OP, idempotency_key=key()) for _ in range(50)),
        return_exceptions=True,
    )
    successes = [o for o in outcomes if isinstance(o, dict)]
    refusals = [o for o in outcomes if isinstance(o, bundles.SellerShort)]
    assert (len(successes), len(refusals)) == (17, 33), [type(o) for o in outcomes if not isinstance(o, dict)]
    assert (await ledger.balances(parent.agent_id))["stock"] == 0
    assert (await ledger.balances(child.agent_id))["stock"] == 17 * 600
    await assert_ledger_ok()


async def test_depth_five_chain_honours_every_list_and_never_sells_below_cost(db):
    a = await demo_actors()
    admin = a["admin"]
    await set_operator_prices(admin)
    l3 = a["huaxin.lujiazui"]
    fields = {"contact_person": "x", "phone": "12345"}
    l4 = await onboarding.create_agent(a["huaxin"], l3.agent_id, {**fields, "brand_name": "L4"})
    l5 = await onboarding.create_agent(a["huaxin"], l4["id"], {**fields, "brand_name": "L5"})
    chain = [a["huaxin"].agent_id, a["huaxin.pudong"].agent_id, l3.agent_id, l4["id"], l5["id"]]
    # Each seller marks up one fen per minute over its own cost, and owners exist at every level.
    actors = [a["huaxin"], a["huaxin.pudong"], l3]
    for agent_id in chain[3:]:
        from agency.sessions import log_in
        from agency.users import create_user, set_operation_password

        name = f"owner{agent_id}"
        await create_user(admin, agent_id, {"username": name, "role": "owner", "password": "owner-password"})
        _t, actor = await log_in(name, "owner-password", address="x")
        await set_operation_password(actor, "owner-password", OP)
        actors.append(actor)
    for seller in actors[:-1]:
        own = (await prices.price_list_for(await agents.get_agent(admin, seller.agent_id)))[0]
        marked_up = [{"min_minutes": t.min_minutes, "price": f"{(t.price + 100) // 100}.{(t.price + 100) % 100:02d}"}
                     for t in own]
        await prices.save_agent_list(seller, seller.agent_id, marked_up)
        below = [{"min_minutes": 1, "price": "1.00"}]
        with pytest.raises(ValidationFailed) as refused:
            await prices.save_agent_list(seller, seller.agent_id, below)
        assert refused.value.params == {"minutes": 1}
    for agent_id in chain:
        await fund(agent_id, 10**8)
    paid = {}
    for actor in actors:  # top-down, each buys 100 minutes from its seller; sellers keep enough stock
        order = await bundles.buy_bundle(actor, 2000, operation_password=OP, idempotency_key=key())
        paid[actor.agent_id] = order["total_fen"]
    # Level 1 pays the operator's list; each deeper level pays exactly one fen/min more than its seller.
    assert paid[chain[0]] == 2000 * 850 // 100
    for upper, lower in pairwise(chain):
        assert paid[lower] == paid[upper] + 2000, (upper, lower)
    for upper, lower in pairwise(chain):
        upper_balance = await ledger.balances(upper)
        # The seller received exactly what its child paid, as sales receipts (R-11a): its wallet,
        # which its own seller holds, paid only its own purchase; and it gave the minutes.
        assert upper_balance["wallet"] == 10**8 - paid[upper]
        assert await ledger.receipts_of(upper) == paid[lower]
        assert upper_balance["stock"] == 0
    assert (await ledger.balances(chain[-1]))["stock"] == 2000 * 60
    await assert_ledger_ok()


async def test_minimum_first_purchase(db):
    a = await demo_actors()
    await set_operator_prices(a["admin"])
    await prices.save_level_policy(a["admin"], 1, {"min_first_purchase_minutes": 500, "deposit_fen": 0,
                                                   "franchise_fee_fen": 0})
    owner = a["huaxin"]
    await fund(owner.agent_id, 10**8)
    with pytest.raises(ValidationFailed) as refused:
        await bundles.buy_bundle(owner, 499, operation_password=OP, idempotency_key=key())
    assert refused.value.params == {"minutes": 500}
    await bundles.buy_bundle(owner, 500, operation_password=OP, idempotency_key=key())
    await bundles.buy_bundle(owner, 1, operation_password=OP, idempotency_key=key())


async def test_remittance_confirmed_by_the_seller_only(db):
    a = await demo_actors()
    child, parent = a["huaxin.pudong"], a["huaxin"]
    r = await remittances.record_remittance(child, {"amount": "1200.50", "bank_reference": "ICBC-778",
                                                    "remitted_on": dt.date.today().isoformat()})
    assert r["status"] == "pending" and r["seller"] == parent.agent_id
    for outsider in (a["pearl"], a["huaxin.lujiazui"]):
        with pytest.raises((NotFound, Forbidden)):
            await remittances.decide_remittance(outsider, r["id"], confirm=True, operation_password=OP,
                                                idempotency_key=key())
    with pytest.raises(Forbidden):  # the operator is not this remittance's seller
        await remittances.decide_remittance(a["admin"], r["id"], confirm=True, operation_password=OP,
                                            idempotency_key=key())
    done = await remittances.decide_remittance(parent, r["id"], confirm=True, operation_password=OP,
                                               idempotency_key=key())
    assert done["status"] == "confirmed"
    assert (await ledger.balances(child.agent_id))["wallet"] == 120_050
    with pytest.raises(Conflict):
        await remittances.decide_remittance(parent, r["id"], confirm=False, operation_password=OP,
                                            idempotency_key=key())
    rejected = await remittances.record_remittance(parent, {"amount": "5", "bank_reference": "x",
                                                            "remitted_on": dt.date.today().isoformat()})
    await remittances.decide_remittance(a["finance"], rejected["id"], confirm=False, operation_password=OP,
                                        idempotency_key=key(), note="not on the bank statement")
    assert (await ledger.balances(parent.agent_id))["wallet"] == 0
    rows, _total = await remittances.list_remittances(a["pearl"])  # the sibling sees only its own
    assert rows and all(r["agent_path"].startswith(a["pearl"].agent_path) for r in rows)
    await assert_ledger_ok()


PNG = b"\x89PNG\r\n\x1a\n"


async def test_bad_remittances_are_refused(db):
    a = await demo_actors()
    owner = a["huaxin"]
    today = dt.date.today().isoformat()
    for data, slip in [
        ({"amount": "-5", "bank_reference": "x", "remitted_on": today}, None),
        ({"amount": "1.234", "bank_reference": "x", "remitted_on": today}, None),
        ({"amount": "abc", "bank_reference": "x", "remitted_on": today}, None),
        ({"amount": "10", "bank_reference": "", "remitted_on": today}, None),
        ({"amount": "10", "bank_reference": "x", "remitted_on": "2001-01-01"}, None),
        ({"amount": "10", "bank_reference": "x", "remitted_on": "soon"}, None),
        ({"amount": "10", "bank_reference": "x", "remitted_on": today}, ("evil.exe", b"MZ\x90\x00")),
        ({"amount": "10", "bank_reference": "x", "remitted_on": today}, ("big.png", PNG + b"0" * 3_000_000)),
    ]:
        with pytest.raises(ValidationFailed):
            await remittances.record_remittance(owner, data, slip)
    ok = await remittances.record_remittance(owner, {"amount": "10", "bank_reference": "x", "remitted_on": today},
                                             ("slip.png", b"\x89PNG\r\n\x1a\nrest"))
    name, media_type, content = await remittances.slip_of(a["admin"], ok["id"])
    assert (name, media_type) == ("slip.png", "image/png") and content.endswith(b"rest")
    with pytest.raises(NotFound):
        await remittances.slip_of(a["pearl"], ok["id"])


async def test_onboarding_fees_and_deposit_return(db):
    a = await demo_actors()
    admin = a["admin"]
    await prices.save_level_policy(admin, 1, {"min_first_purchase_minutes": 0, "deposit_fen": 500_000,
                                              "franchise_fee_fen": 200_000})
    new = await onboarding.create_agent(admin, None, {"brand_name": "New One", "contact_person": "x", "phone": "12345"})
    assert new["status"] == "applied"
    with pytest.raises(onboarding.FeesNotCovered):
        await onboarding.activate_agent(admin, new["id"], operation_password=OP, idempotency_key=key())
    assert (await agents.get_agent(admin, new["id"]))["status"] == "applied"
    await fund(new["id"], 700_000)
    done = await onboarding.activate_agent(admin, new["id"], operation_password=OP, idempotency_key=key())
    assert done["status"] == "active"
    assert await ledger.balances(new["id"]) == {"wallet": 0, "stock": 0, "deposit": 500_000, "escrow": 0}
    noticed = await agents.give_notice(admin, new["id"])
    assert await onboarding.apply_due_terminations(noticed["terminates_at"] + dt.timedelta(seconds=1)) == 1
    assert await ledger.balances(new["id"]) == {"wallet": 500_000, "stock": 0, "deposit": 0, "escrow": 0}
    await assert_ledger_ok()


async def test_database_refuses_negative_customer_balance(db):
    a = await demo_actors()
    wallet = await ledger.agent_account(a["huaxin"].agent_id, ledger.WALLET)
    with pytest.raises(Exception, match="(?i)check|customer_balance_not_negative"):
        await LedgerAccount.update({LedgerAccount.balance: -1}).where(LedgerAccount.id == wallet)
    issuance = await ledger.system_account(ledger.OPERATOR_ISSUANCE)
    await LedgerAccount.update({LedgerAccount.balance: -1}).where(LedgerAccount.id == issuance)  # allowed by nature
    await LedgerAccount.update({LedgerAccount.balance: 0}).where(LedgerAccount.id == issuance)


@pytest.mark.ledger_breach
async def test_verify_reports_every_kind_of_breach(db):
    a = await demo_actors()
    await fund(a["huaxin"].agent_id, 1000)
    await assert_ledger_ok()
    wallet = await ledger.agent_account(a["huaxin"].agent_id, ledger.WALLET)
    await LedgerAccount.update({LedgerAccount.balance: 999}).where(LedgerAccount.id == wallet)
    report = await ledger.verify()
    assert not report.ok and any("cached balance 999" in b for b in report.breaches)
    assert any("sum to" in b for b in report.breaches)
    await LedgerAccount.update({LedgerAccount.balance: 1000}).where(LedgerAccount.id == wallet)
    async with transaction(), lifting_append_only("test: a corrupted entry"):
        await JournalEntry.update({JournalEntry.amount: 1001}).where(JournalEntry.account == wallet)
    report = await ledger.verify()
    assert any("does not sum to zero" in b for b in report.breaches)
    issuance = await ledger.system_account(ledger.OPERATOR_ISSUANCE)
    await LedgerAccount.update({LedgerAccount.balance: 5}).where(LedgerAccount.id == issuance)
    assert any("carries a cached balance" in b for b in (await ledger.verify()).breaches)


async def test_agent_cannot_touch_another_subtrees_money(db):
    a = await demo_actors()
    await set_operator_prices(a["admin"])
    with pytest.raises(NotFound):
        await prices.save_agent_list(a["pearl"], a["huaxin"].agent_id, [{"min_minutes": 1, "price": "99"}])
    with pytest.raises(NotFound):  # a child does not even see its parent
        await prices.save_agent_list(a["huaxin.pudong"], a["huaxin"].agent_id, [{"min_minutes": 1, "price": "99"}])
    await fund(a["huaxin"].agent_id, 10**6)
    order = await bundles.buy_bundle(a["huaxin"], 10, operation_password=OP, idempotency_key=key())
    with pytest.raises(NotFound):
        await bundles.get_order(a["pearl"], order["id"])
    rows, _total = await bundles.list_orders(a["pearl"])
    assert rows and order["id"] not in {r["id"] for r in rows}
    assert (await Agent.count()) == 6


def test_ledger_verify_command(tmp_path):
    """`voipagency ledger verify` prints a report and exits 1 on any breach."""
    import os
    import sqlite3
    import subprocess
    import sys

    env = {**os.environ, "VOIPAGENCY_DB_PATH": str(tmp_path / "verify.sqlite3"), "VOIPAGENCY_DEMO_DAYS": "0"}
    env.pop("DATABASE_URL", None)
    cli = [sys.executable, "-m", "web.cli"]
    assert subprocess.run([*cli, "demo"], env=env, capture_output=True, text=True).returncode == 0
    clean = subprocess.run([*cli, "ledger", "verify"], env=env, capture_output=True, text=True)
    assert clean.returncode == 0 and "OK" in clean.stdout and "entries" in clean.stdout
    with sqlite3.connect(tmp_path / "verify.sqlite3") as connection:
        connection.execute("UPDATE ledger_account SET balance = balance + 1 WHERE code LIKE 'agent:%:wallet'")
    broken = subprocess.run([*cli, "ledger", "verify"], env=env, capture_output=True, text=True)
    assert broken.returncode == 1 and "BREACH" in broken.stdout
