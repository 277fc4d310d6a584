"""A property of the whole business (issue 10): random sequences of remittances and their
confirmations, purchases down a three-level chain, adjustments and penalties, card batches,
activations, redemptions, closed accounts and calls leave every invariant of `ledger verify`
true after every step; the operator's money received equals its level-1 agents' wallets and
deposits plus its fees and revenue; and no wallet grows except by its holder's hand."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts import services as subscribers
from accounts import switch
from agency import agents
from cards import services as card_services
from cards.integrity import verify_everything
from core import sql
from core.errors import DomainError
from money import adjustments, bundles, ledger, prices, remittances
from tests.conftest import empty_database
from tests.helpers import demo_actors
from tests.money import key, set_operator_prices
from web.demo import DEMO_OPERATION_PASSWORD as OP

CHAIN = ("huaxin", "huaxin.pudong", "huaxin.lujiazui")  # levels 1, 2 and 3
HOLDER = {"huaxin": "finance", "huaxin.pudong": "huaxin", "huaxin.lujiazui": "huaxin.pudong"}

agent_of_chain = st.sampled_from(CHAIN)
steps = st.one_of(
    st.tuples(st.just("remit"), agent_of_chain, st.integers(1, 3_000), st.booleans()),
    st.tuples(st.just("buy"), agent_of_chain, st.integers(1, 1_500)),
    st.tuples(
        st.just("adjust"),
        agent_of_chain,
        st.sampled_from(("wallet", "stock")),
        st.sampled_from(("credit", "debit")),
        st.integers(1, 500),
    ),
    st.tuples(
        st.just("batch"), agent_of_chain, st.sampled_from(("e-card", "recharge")), st.integers(1, 3), st.integers(1, 30)
    ),
    st.tuples(st.just("activate"), agent_of_chain, st.integers(0, 5)),
    st.tuples(st.just("void"), agent_of_chain, st.integers(0, 5)),
    st.tuples(st.just("redeem"), agent_of_chain, st.integers(0, 5), agent_of_chain),  # card's agent, subscriber's
    st.tuples(st.just("call"), agent_of_chain, st.integers(0, 400)),
    st.tuples(st.just("close"), agent_of_chain),
)
CARD_KEY = b"p" * 32


async def _setting_up():
    a = await demo_actors()
    await set_operator_prices(a["admin"])
    for seller in CHAIN[:2]:  # each sells one fen a minute above its own cost
        actor = a[seller]
        own = (await prices.price_list_for(await agents.get_agent(actor, actor.agent_id)))[0]
        await prices.save_agent_list(
            actor,
            actor.agent_id,
            [{"min_minutes": t.min_minutes, "price": f"{(t.price + 100) / 100:.2f}"} for t in own],
        )
    return a


async def _subscriber_of(agent_id: int) -> dict | None:
    return await sql.fetch_one(
        "SELECT id, account_number FROM subscriber WHERE agent = {} AND status = 'active' ORDER BY id LIMIT 1", agent_id
    )


async def _apply(a, step, cards: dict[str, list[tuple[str, str, str]]]) -> None:
    """One step; `cards` keeps each agent's generated cards (serial, secret, kind)."""
    kind, who = step[0], step[1]
    actor, holder = a[who], a[HOLDER[who]]
    mine = cards.setdefault(who, [])
    if kind == "remit":
        _kind, _who, yuan, confirm = step
        recorded = await remittances.record_remittance(
            actor, {"amount": str(yuan), "bank_reference": f"R-{key()[:6]}", "remitted_on": dt.date.today().isoformat()}
        )
        await remittances.decide_remittance(
            holder, recorded["id"], confirm=confirm, operation_password=OP, idempotency_key=key()
        )
    elif kind == "buy":
        await bundles.buy_bundle(actor, step[2], operation_password=OP, idempotency_key=key())
    elif kind == "adjust":
        _kind, _who, account, direction, amount = step
        fields = {
            "account": account,
            "direction": direction,
            "kind": "adjustment",
            "amount": str(amount),
            "reason": "property test",
            "reference": "P-1",
        }
        await adjustments.adjust(holder, actor.agent_id, fields, operation_password=OP, idempotency_key=key())
    elif kind == "batch":
        _kind, _who, card_kind, count, face = step
        data = {"kind": card_kind, "count": str(count), "face_minutes": str(face), "expiry_rule": "none"}
        _batch, pairs = await card_services.generate_batch(actor, data, card_key=CARD_KEY, operation_password=OP)
        mine.extend((serial, secret, card_kind) for serial, secret in pairs)
    elif kind in ("activate", "void") and mine:
        serial = mine[step[2] % len(mine)][0]
        if kind == "activate":
            await card_services.activate_cards(actor, serial)
        else:
            await card_services.void_cards(actor, serial, operation_password=OP)
    elif kind == "redeem" and mine:
        serial, secret, _card_kind = mine[step[2] % len(mine)]
        subscriber = await _subscriber_of(a[step[3]].agent_id)
        if subscriber is not None:
            await card_services.redeem_card(
                serial, secret, subscriber_id=subscriber["id"], address="property", card_key=CARD_KEY
            )
    elif kind == "call" and (subscriber := await _subscriber_of(actor.agent_id)) is not None:
        call_id = key()
        await switch.authorize(
            {"account": subscriber["account_number"], "destination": "8613800138000", "call_id": call_id}
        )
        end = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(seconds=5)
        answer = end - dt.timedelta(seconds=step[2])
        await switch.rate_calls(
            [
                {
                    "call_id": call_id,
                    "account": subscriber["account_number"],
                    "destination": "8613800138000",
                    "start": (answer - dt.timedelta(seconds=5)).isoformat(),
                    "answer": answer.isoformat(),
                    "end": end.isoformat(),
                }
            ]
        )
    elif kind == "close" and (subscriber := await _subscriber_of(actor.agent_id)) is not None:
        await subscribers.close_subscriber(actor, subscriber["id"], "property test", operation_password=OP)


async def _wallets() -> dict[int, int]:
    rows = await sql.fetch("SELECT agent, balance FROM ledger_account WHERE kind = 'wallet'")
    return {row["agent"]: row["balance"] for row in rows}


async def _operator_identity() -> tuple[int, int]:
    """(money the operator received, less its adjustments' net; level-1 wallets and deposits
    plus fees and revenue)."""
    received = -await ledger.system_balance(ledger.OPERATOR_INFLOW) - await ledger.system_balance(
        ledger.OPERATOR_ADJUSTMENTS
    )
    held = await sql.fetch_one(
        "SELECT COALESCE(SUM(a.balance), 0) AS total FROM ledger_account a JOIN agent g ON g.id = a.agent "
        "WHERE g.parent IS NULL AND a.kind IN ('wallet', 'deposit')"
    )
    taken = await ledger.system_balance(ledger.OPERATOR_FEES) + await ledger.system_balance(ledger.OPERATOR_REVENUE)
    return received, int(held["total"]) + taken


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(steps, min_size=1, max_size=14))
async def test_random_business_keeps_every_invariant(database, plan):
    await empty_database(database)
    a = await _setting_up()
    cards: dict[str, list[tuple[str, str, str]]] = {}
    start = [("remit", who, 5_000, True) for who in CHAIN] + [("buy", who, 1_000) for who in CHAIN]
    start += [("batch", "huaxin.pudong", "e-card", 2, 10), ("activate", "huaxin.pudong", 0)]
    for step in start + plan:
        before = await _wallets()
        try:
            await _apply(a, step, cards)
        except DomainError:
            pass  # refused (short of money or minutes, and the like): nothing may have changed
        report = await verify_everything()
        assert report.ok, (step, report.breaches)
        received, accounted = await _operator_identity()
        assert received == accounted, step
        after = await _wallets()
        grown = {agent for agent, balance in after.items() if balance > before.get(agent, 0)}
        by_holder = {a[step[1]].agent_id} if step[0] in ("remit", "adjust") else set()
        assert grown <= by_holder, (step, grown)
