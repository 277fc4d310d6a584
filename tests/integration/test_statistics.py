"""Daily figures per agent (SPEC R-29, issue 12) on a real database: every kind of operation along
a three-level chain gives exactly the expected figures, own and subtree, by day and by month; a
local midnight splits days; concurrency keeps them equal to a recomputation; `stats verify` finds
an altered row and `stats rebuild` mends it. The `db` fixture runs `stats verify` after every test."""

from __future__ import annotations

import asyncio
import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from accounts import services as subscribers
from accounts import switch
from accounts.tables import Subscriber
from cards.services import activate_cards, redeem_card, void_cards
from core import sql
from core.clock import local_day, now
from core.errors import Forbidden, NotFound, ValidationFailed
from money import bundles, prices, remittances
from stats import figures, recompute
from stats.daily import METRICS
from tests.helpers import demo_actors
from tests.integration.test_cards import KEY, make_batch
from tests.integration.test_switch import record
from tests.money import key, set_operator_prices
from tests.web.live_server import clean_env, command
from web.demo import DEMO_OPERATION_PASSWORD as OP

SH = ZoneInfo("Asia/Shanghai")


def whole(since: dt.date, until: dt.date, granularity="day", scope="subtree") -> figures.Period:
    return figures.parse_period(since.isoformat(), until.isoformat(), granularity, scope)


def today_period(granularity="day", scope="subtree") -> figures.Period:
    today = dt.date.fromisoformat(local_day(now()))
    return whole(today - dt.timedelta(days=1), today + dt.timedelta(days=1), granularity, scope)


async def remit(sender, holder, yuan: str) -> None:
    recorded = await remittances.record_remittance(
        sender, {"amount": yuan, "bank_reference": f"REF-{key()[:8]}", "remitted_on": dt.date.today().isoformat()}
    )
    await remittances.decide_remittance(
        holder, recorded["id"], confirm=True, operation_password=OP, idempotency_key=key()
    )


async def chain_with_stock(a):
    """huaxin (L1) → huaxin.pudong (L2) → huaxin.lujiazui (L3), each having remitted and bought."""
    l1, l2, l3 = a["huaxin"], a["huaxin.pudong"], a["huaxin.lujiazui"]
    await set_operator_prices(a["admin"])
    await prices.save_agent_list(l1, l1.agent_id, [{"min_minutes": 1, "price": "10.00"}])
    await prices.save_agent_list(l2, l2.agent_id, [{"min_minutes": 1, "price": "11.00"}])
    await remit(l1, a["admin"], "100000")
    await remit(l2, l1, "5000")
    await remit(l3, l2, "2000")
    await bundles.buy_bundle(l1, 1000, operation_password=OP, idempotency_key=key())
    await bundles.buy_bundle(l2, 300, operation_password=OP, idempotency_key=key())
    await bundles.buy_bundle(l3, 100, operation_password=OP, idempotency_key=key())
    return l1, l2, l3


def only(values: dict[str, int]) -> dict[str, int]:
    """All figures zero but these."""
    return {name: values.get(name, 0) for name in (*METRICS, "active_accounts")}


async def test_every_kind_of_operation_counts_for_its_agent_and_up_its_chain(db):
    a = await demo_actors()
    l1, l2, l3 = await chain_with_stock(a)
    # L3 puts 5 recharge cards of 10 minutes and 2 e-cards of 20 minutes on sale.
    _batch, recharge = await make_batch(l3, kind="recharge", count=5, face=10)
    _batch, ecards = await make_batch(l3, kind="e-card", count=2, face=20)
    await activate_cards(l3, ecards[0][0], ecards[1][0])  # two accounts opened, 2 x 20 min
    account = await Subscriber.select().where(Subscriber.account_number == ecards[0][0]).first()
    other = await Subscriber.select().where(Subscriber.account_number == ecards[1][0]).first()
    await activate_cards(l3, recharge[0][0], recharge[2][0])  # 3 recharge cards sold
    for serial, pin in recharge[:2]:
        await redeem_card(serial, pin, subscriber_id=account["id"], address="10.9.0.1", card_key=KEY)
    await void_cards(l3, recharge[2][0], recharge[3][0], operation_password=OP)  # one active, one unsold
    [rated] = await switch.rate_calls([record("stats-call-1", account["account_number"], 65)])
    await subscribers.close_subscriber(l3, other["id"], "moved away", operation_password=OP)

    # Prices are in fen a minute. The sellers' costs: 300 min at the operator's 9.00 for L1, 100 at L1's 10.00.
    cost_l1, cost_l2 = 300 * 9, 100 * 10
    own_l3 = only(
        {
            "bought_seconds": 6000,
            "paid_fen": 100 * 11,
            "remitted_fen": 200_000,
            "carded_seconds": 5 * 600 + 2 * 1200,
            "activated_cards": 5,
            "activated_seconds": 3 * 600 + 2 * 1200,
            "redeemed_cards": 4,
            "redeemed_seconds": 2 * 600 + 2 * 1200,
            "returned_seconds": 2 * 600,
            "opened_accounts": 2,
            "closed_accounts": 1,
            "active_accounts": 1,
            "calls": 1,
            "consumed_seconds": rated["charged"],
        }
    )
    own_l2 = only(
        {
            "bought_seconds": 18000,
            "paid_fen": 300 * 10,
            "remitted_fen": 500_000,
            "sold_seconds": 6000,
            "received_fen": 100 * 11,
            "margin_fen": 100 * 11 - cost_l2,
        }
    )
    own_l1 = only(
        {
            "bought_seconds": 60000,
            "paid_fen": 1000 * 17 // 2,  # 1,000 minutes or more: 8.50
            "remitted_fen": 10_000_000,
            "sold_seconds": 18000,
            "received_fen": 300 * 10,
            "margin_fen": 300 * 10 - cost_l1,
        }
    )
    assert rated["charged"] == 120  # 65 s in blocks of 60

    def added(*rows):
        return {name: sum(row[name] for row in rows) for name in rows[0]}

    expected = {
        (l3.agent_id, "own"): own_l3,
        (l3.agent_id, "subtree"): own_l3,
        (l2.agent_id, "own"): own_l2,
        (l2.agent_id, "subtree"): added(own_l2, own_l3),
        (l1.agent_id, "own"): own_l1,
        (l1.agent_id, "subtree"): added(own_l1, own_l2, own_l3),
    }
    admin = a["admin"]
    for (agent_id, scope), want in expected.items():
        for granularity in ("day", "month"):
            got = await figures.statistics(admin, agent_id, today_period(granularity, scope))
            assert got["totals"] == want, (agent_id, scope, granularity)
            assert sum(entry["calls"] for entry in got["series"]) == want["calls"]
        # The agent itself sees the same figures as the operator.
        owner = {l1.agent_id: l1, l2.agent_id: l2, l3.agent_id: l3}[agent_id]
        assert (await figures.statistics(owner, agent_id, today_period("day", scope)))["totals"] == want
    # A period that ended before today: nothing happened in it, and no account was open at its end
    # (the accounts open now, less what opened and closed since).
    today = dt.date.fromisoformat(local_day(now()))
    earlier = await figures.statistics(admin, l3.agent_id, whole(today - dt.timedelta(days=9), today))
    assert earlier["totals"] == only({}) and earlier["children"] == []
    assert [entry["active_accounts"] for entry in earlier["series"]] == [0] * 9
    l2_earlier = await figures.statistics(admin, l2.agent_id, whole(today - dt.timedelta(days=9), today))
    assert l2_earlier["children"] == [{"agent_id": l3.agent_id, "brand_name": "华信陆家嘴", **only({})}]
    # The breakdown: each direct sub-agent with its subtree; the network: each level-1 agent.
    l1_view = await figures.statistics(l1, l1.agent_id, today_period())
    assert [(c["agent_id"], c["redeemed_cards"]) for c in l1_view["children"]] == [(l2.agent_id, 4)]
    assert l1_view["children"][0]["brand_name"] == "华信浦东"
    network = await figures.statistics(admin, figures.NETWORK, today_period("month"))
    pearl = await figures.statistics(admin, a["pearl"].agent_id, today_period("month"))  # the demo's purchase
    assert pearl["totals"]["bought_seconds"] == 20_000 * 60
    assert network["totals"] == added(own_l1, own_l2, own_l3, pearl["totals"])
    assert {c["brand_name"]: c["bought_seconds"] for c in network["children"]} == {
        "华信通讯": 60000 + 18000 + 6000,
        "Pearl River Telecom": 20_000 * 60,
    }


async def test_siblings_and_ancestors_are_out_of_sight(db):
    a = await demo_actors()
    with pytest.raises(NotFound):  # a sibling tree
        await figures.statistics(a["pearl"], a["huaxin"].agent_id, today_period())
    with pytest.raises(NotFound):  # its own parent
        await figures.statistics(a["huaxin.pudong"], a["huaxin"].agent_id, today_period())
    with pytest.raises(Forbidden):  # the network is the operator's
        await figures.statistics(a["huaxin"], figures.NETWORK, today_period())
    with pytest.raises(Forbidden):  # support staff see no money
        await figures.statistics(a["pearl.support"], a["pearl"].agent_id, today_period())


@pytest.mark.parametrize(
    "since, until, granularity, scope, field",
    [
        ("2026-13-01", "", "day", "own", "since"),
        ("2026-1-1", "", "day", "own", "since"),
        ("2026-11-02", "2026-11-01", "day", "own", "until"),
        ("2020-01-01", "2026-01-01", "day", "own", "until"),
        ("", "", "week", "own", "granularity"),
        ("", "", "day", "siblings", "scope"),
    ],
)
def test_a_period_that_could_be_read_two_ways_is_refused(since, until, granularity, scope, field):
    with pytest.raises(ValidationFailed) as refused:
        figures.parse_period(since, until, granularity, scope)
    assert field in refused.value.errors


async def test_a_local_midnight_separates_days_and_months(db, monkeypatch):
    a = await demo_actors()
    l1, l2, _l3 = await chain_with_stock(a)
    before = dt.datetime(2026, 11, 30, 23, 59, 59, tzinfo=SH)
    after = dt.datetime(2026, 12, 1, 0, 0, 0, tzinfo=SH)
    for moment in (before, after):
        monkeypatch.setattr(bundles, "now", lambda moment=moment: moment)
        await bundles.buy_bundle(l2, 7, operation_password=OP, idempotency_key=key())
    by_day = await figures.statistics(l1, l2.agent_id, whole(dt.date(2026, 11, 30), dt.date(2026, 12, 2), "day", "own"))
    assert [(e["period"], e["bought_seconds"]) for e in by_day["series"]] == [("2026-11-30", 420), ("2026-12-01", 420)]
    by_month = await figures.statistics(
        l1, l2.agent_id, whole(dt.date(2026, 11, 1), dt.date(2027, 1, 1), "month", "own")
    )
    this_month = 420 + (18000 if local_day(now()).startswith("2026-12") else 0)  # the chain's own purchase
    assert [(e["period"], e["bought_seconds"]) for e in by_month["series"]] == [
        ("2026-11", 420),
        ("2026-12", this_month),
    ]
    # The seller's side lands on the same days; the period excludes `until`.
    only_first = await figures.statistics(
        l1, l1.agent_id, whole(dt.date(2026, 11, 30), dt.date(2026, 12, 1), "day", "own")
    )
    assert only_first["totals"]["sold_seconds"] == 420


async def test_concurrent_redemptions_and_purchases_keep_the_figures_exact(db):
    a = await demo_actors()
    l1, l2, l3 = await chain_with_stock(a)
    _batch, ecard = await make_batch(l2, kind="e-card", count=1, face=5)
    await activate_cards(l2, ecard[0][0])
    account = await Subscriber.select().where(Subscriber.account_number == ecard[0][0]).first()
    _batch, pairs = await make_batch(l2, kind="recharge", count=50, face=1)
    await activate_cards(l2, pairs[0][0], pairs[-1][0])
    outcomes = await asyncio.gather(
        *(
            redeem_card(serial, pin, subscriber_id=account["id"], address=f"10.7.0.{i}", card_key=KEY)
            for i, (serial, pin) in enumerate(pairs)
        ),
        *(bundles.buy_bundle(l3, 1, operation_password=OP, idempotency_key=key()) for _ in range(50)),
        return_exceptions=True,
    )
    assert all(isinstance(outcome, dict) for outcome in outcomes), [o for o in outcomes if not isinstance(o, dict)]
    l2_figures = (await figures.statistics(l1, l2.agent_id, today_period("day", "own")))["totals"]
    assert (l2_figures["redeemed_cards"], l2_figures["sold_seconds"]) == (51, 6000 + 50 * 60)
    assert (await recompute.verify()).ok


async def test_an_altered_row_fails_verify_and_rebuild_mends_it(db):
    a = await demo_actors()
    await chain_with_stock(a)
    assert (await recompute.verify()).ok
    await sql.execute(
        "UPDATE agent_day SET paid_fen = paid_fen + 1 WHERE scope = 'own' AND agent = {}", a["huaxin"].agent_id
    )
    report = await recompute.verify()
    assert not report.ok and "paid_fen: stored" in report.differences[0]
    await sql.execute("DELETE FROM agent_day WHERE scope = 'subtree'")
    assert len((await recompute.verify()).differences) > 1
    assert await recompute.rebuild() > 0
    assert (await recompute.verify()).ok
    # An upgrade from a version without statistics: history, no figures; migrating fills them.
    await sql.execute("DELETE FROM agent_day")
    assert await recompute.fill_if_missing() > 0
    assert await recompute.fill_if_missing() == 0 and (await recompute.verify()).ok


def test_the_commands_verify_and_rebuild(tmp_path):
    """The demo's 90 days of history, loaded through the real services, leave the ledger and the
    statistics verified; `voipagency stats verify` exits 1 on a difference; `stats rebuild` mends it."""
    import sqlite3
    import subprocess

    env = clean_env({"VOIPAGENCY_DB_PATH": str(tmp_path / "cli.sqlite3"), "VOIPAGENCY_DEMO_DAYS": "90"})
    cli = command()
    demo = subprocess.run([*cli, "demo"], env=env, capture_output=True, text=True)
    assert demo.returncode == 0 and "/portal" in demo.stdout, demo.stdout + demo.stderr
    ledger = subprocess.run([*cli, "ledger", "verify"], env=env, capture_output=True, text=True)
    assert ledger.returncode == 0 and "OK" in ledger.stdout, ledger.stdout + ledger.stderr
    ok = subprocess.run([*cli, "stats", "verify"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0 and "OK" in ok.stdout, ok.stdout + ok.stderr
    with sqlite3.connect(tmp_path / "cli.sqlite3") as connection:
        connection.execute(
            "INSERT INTO agent_day (agent, scope, day, path, bought_seconds, sold_seconds, carded_seconds, "
            "returned_seconds, activated_cards, activated_seconds, redeemed_cards, redeemed_seconds, "
            "consumed_seconds, calls, opened_accounts, closed_accounts, remitted_fen, paid_fen, received_fen, "
            "margin_fen) VALUES (1, 'own', '2026-01-01', '/00000001/', 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)"
        )
    bad = subprocess.run([*cli, "stats", "verify"], env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "bought_seconds: stored 60, recomputed 0" in bad.stdout, bad.stdout
    assert subprocess.run([*cli, "stats", "rebuild"], env=env, capture_output=True, text=True).returncode == 0
    assert subprocess.run([*cli, "stats", "verify"], env=env, capture_output=True, text=True).returncode == 0
