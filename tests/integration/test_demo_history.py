"""The demo's living history (R-36, issue 12 point 6): built through the real services with the clock
set back, it leaves figures on many days, tickets in every state, subscribers a visitor can log in
as, and a ledger and statistics that verify (the `db` fixture checks both afterwards)."""

from __future__ import annotations

import datetime as dt
import time

from accounts import controls, review
from cards.services import authenticate_subscriber
from cards.tables import CardBatch
from core.clock import now, operator_zone
from money.tables import BundleOrder, Remittance
from stats import figures
from support import tickets
from support.tables import Ticket
from web.demo import load_demo
from web.demo_history import build_history, demo_actors_from_users

KEY = b"k" * 32


async def history(days: int) -> tuple[dict, dict, float]:
    await load_demo()
    actors = await demo_actors_from_users()
    started = time.perf_counter()
    result = await build_history(actors["admin"], actors, card_key=KEY, days=days)
    return result, actors, time.perf_counter() - started


def period(days: int, agent_scope: str = "subtree") -> figures.Period:
    today = now().astimezone(operator_zone()).date()
    since, until = today - dt.timedelta(days=days), today + dt.timedelta(days=1)
    return figures.parse_period(since.isoformat(), until.isoformat(), "day", agent_scope)


async def ticket_states(admin) -> dict[str, set[str]]:
    """The first-response states of the tickets, and their statuses."""
    states: dict[str, set[str]] = {"first_response": set(), "status": set()}
    for row in await Ticket.select(Ticket.id):
        ticket = await tickets.get_ticket(admin, row["id"])
        states["first_response"].add(tickets.clock_states(ticket)["first_response"])
        states["status"].add(ticket["status"])
    return states


async def test_ten_days_of_history_leave_figures_tickets_and_portal_accounts(db):
    result, actors, _seconds = await history(10)
    admin = actors["admin"]

    # The network's figures: calls and redeemed cards (e-cards opening accounts, recharges) on many days.
    network = await figures.statistics(admin, figures.NETWORK, period(10))
    busy = [day for day in network["series"] if day["calls"] > 0]
    redeeming = [day for day in network["series"] if day["redeemed_cards"] > 0]
    assert len(busy) >= 8 and len(redeeming) >= 4, network["series"]
    totals = network["totals"]
    for name in ("bought_seconds", "sold_seconds", "carded_seconds", "activated_cards", "consumed_seconds"):
        assert totals[name] > 0, name
    for name in ("remitted_fen", "paid_fen", "received_fen", "opened_accounts", "active_accounts"):
        assert totals[name] > 0, name

    # Bundles went down every level: the deepest agents bought from their parents.
    deepest = [a for a in actors.values() if a.role == "owner" and a.agent_level == 3]
    assert deepest
    for owner in deepest:
        own = await figures.statistics(admin, owner.agent_id, period(10, "own"))
        assert own["totals"]["bought_seconds"] > 0 and own["totals"]["calls"] > 0, owner.username
    levels = {row["level"] for row in await BundleOrder.select(BundleOrder.buyer.level.as_alias("level"))}
    assert levels == {1, 2, 3}

    # Batches of both kinds; remittances confirmed and rejected.
    assert {row["kind"] for row in await CardBatch.select(CardBatch.kind)} == {"e-card", "recharge"}
    assert {row["status"] for row in await Remittance.select(Remittance.status)} >= {"confirmed", "rejected"}

    # Tickets met, breached, open (on track and at risk).
    states = await ticket_states(admin)
    assert states["first_response"] >= {"met", "breached", "on_track", "at_risk"}, states
    assert "open" in states["status"] and "resolved" in states["status"], states

    # The demo subscribers log in on the portal with the password returned.
    assert 2 <= len(result["portal"]) <= 3
    for account in result["portal"]:
        login = await authenticate_subscriber(
            account["account_number"], account["password"], address="10.1.0.1", card_key=KEY
        )
        assert login["must_change_password"] is False
    summary = result["summary"]
    assert summary["calls"] == totals["calls"] and summary["accounts opened"] == totals["opened_accounts"]

    # Minutes ago an account called one new country after another: a usage rule suspended it for review.
    assert summary["suspended by a usage rule"] == 1
    [item], _total = await review.list_reviews(admin)
    assert item["kind"] == controls.COUNTRIES and item["suspended"] and item["subscriber_status"] == "suspended"


# The full 90 days are loaded by `voipagency demo` in tests/integration/test_statistics.py
# (test_the_commands_verify_and_rebuild), which then runs `ledger verify` and `stats verify`.
