"""Flow control and fraud (R-22a) on both databases: caps on calls at once under concurrent bursts,
the longest call, barred prefixes, usage rules that suspend once, and the review list."""

from __future__ import annotations

import asyncio

import pytest

from accounts import controls, review, switch
from accounts.tables import CallReview, CallSlot, Subscriber
from agency.tables import AuditEntry
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.helpers import demo_actors
from tests.integration.test_cards import live_subscriber, stocked_owner
from tests.integration.test_switch import ask, record
from tests.money import assert_ledger_ok


@pytest.fixture
async def tree(db):
    """The demo's actors, huaxin stocked, and the operator's longest call set to a minute (so that
    a call reserves a minute, not the whole balance)."""
    actors = await demo_actors()
    await stocked_owner(actors, minutes=10_000)
    await controls.save_settings(actors["admin"], {"max_call_seconds": "60", "subscriber_call_cap": "1"})
    return actors


async def subscriber(actors, minutes: int = 30, cap: int | None = None) -> dict:
    row, _card = await live_subscriber(actors["huaxin"], minutes)
    if cap is not None:
        await controls.set_subscriber_cap(actors["huaxin"], row["id"], str(cap))
    return row


async def burst(accounts: list[str], each: int, destination: str = "8613800138000") -> list[dict]:
    return await asyncio.gather(
        *(switch.authorize(ask(account, destination)) for _ in range(each) for account in accounts)
    )


async def test_a_subscriber_cap_holds_under_a_burst(tree):
    sub = await subscriber(tree, cap=2)
    answers = await burst([sub["account_number"]], 20)
    granted = [a for a in answers if a["allow"]]
    assert len(granted) == 2 and {a["max_seconds"] for a in granted} == {60}  # the operator's longest call
    assert {a["reason"] for a in answers if not a["allow"]} == {switch.CALL_LIMIT}
    # the default cap (1) applies where the subscriber has none of its own
    other = await subscriber(tree)
    assert sum(a["allow"] for a in await burst([other["account_number"]], 10)) == 1
    await assert_ledger_ok()


async def test_a_subtree_cap_holds_across_its_subscribers(tree):
    with pytest.raises(Forbidden):  # an agent cannot lift its own cap
        await controls.set_agent_cap(tree["huaxin"], tree["huaxin"].agent_id, "100")
    await controls.set_agent_cap(tree["admin"], tree["huaxin"].agent_id, "3")
    subs = [await subscriber(tree, cap=2) for _ in range(6)]  # more subscribers than places
    answers = await burst([s["account_number"] for s in subs], 3)
    assert sum(a["allow"] for a in answers) == 3
    late = await subscriber(tree)
    assert (await switch.authorize(ask(late["account_number"])))["reason"] == switch.CALL_LIMIT
    await controls.set_agent_cap(tree["admin"], tree["huaxin"].agent_id, "")  # lifted
    assert (await switch.authorize(ask(late["account_number"])))["allow"]


async def test_setting_a_cap_twice_at_once_makes_its_slots_once(tree):
    caps = [controls.set_agent_cap(tree["admin"], tree["huaxin"].agent_id, "3") for _ in range(5)]
    assert {answer["call_cap"] for answer in await asyncio.gather(*caps)} == {3}
    slots = await CallSlot.select(CallSlot.slot).where(CallSlot.agent == tree["huaxin"].agent_id)
    assert sorted(row["slot"] for row in slots) == [0, 1, 2]


async def test_barred_prefixes_by_scope(tree):
    admin, owner = tree["admin"], tree["huaxin"]
    sub = await subscriber(tree, cap=5)
    number = sub["account_number"]
    await controls.add_bar(admin, {"prefix": "8690", "reason": "premium", "note": "paid lines"})
    refused = await switch.authorize(ask(number, "869012345"))
    assert refused["reason"] == switch.BARRED and refused["detail"] == "premium" and not refused["allow"]
    pudong = (await owner_children(owner))[0]
    await controls.add_bar(admin, {"prefix": "4420", "reason": "fraud", "agent": str(pudong)})  # below huaxin
    assert (await switch.authorize(ask(number, "442071234567")))["allow"]  # not huaxin's own subscribers
    await controls.add_bar(owner, {"prefix": "44", "reason": "policy"})  # huaxin's subtree
    assert (await switch.authorize(ask(number, "442071234567")))["detail"] == "policy"
    with pytest.raises(ValidationFailed):
        await controls.add_bar(owner, {"prefix": "44", "reason": "policy"})  # there already
    bars = {(b["prefix"], b["editable"]) for b in await controls.list_bars(owner)}
    assert bars == {("8690", False), ("4420", True), ("44", True)}  # the operator's, shown but not its own
    operator_bar = next(b for b in await controls.list_bars(owner) if b["prefix"] == "8690")
    with pytest.raises(Forbidden):
        await controls.remove_bar(owner, operator_bar["id"])
    with pytest.raises(NotFound):
        await controls.remove_bar(tree["pearl"], operator_bar["id"] + 1)  # huaxin's "4420": not pearl's to see
    await controls.remove_bar(admin, operator_bar["id"])
    assert (await switch.authorize(ask(number, "869012345")))["allow"]


async def owner_children(owner) -> list[int]:
    from agency.tables import Agent

    return [r["id"] for r in await Agent.select(Agent.id).where(Agent.parent == owner.agent_id).order_by(Agent.id)]


async def test_a_rule_that_fires_in_a_burst_suspends_once(tree):
    await controls.set_rule(tree["admin"], {"kind": controls.CALLS, "threshold": "3"})
    sub = await subscriber(tree, cap=10)
    answers = await burst([sub["account_number"]], 20)
    assert sum(a["allow"] for a in answers) == 3
    refused = [a for a in answers if not a["allow"]]
    assert {a["reason"] for a in refused} == {switch.SUSPENDED}
    assert sum(a.get("detail") == controls.FRAUD_SUSPECTED for a in refused) == 1  # the call that tripped it
    assert (await Subscriber.select(Subscriber.status).where(Subscriber.id == sub["id"]).first())["status"] == (
        "suspended"
    )
    [item] = await CallReview.select().where(CallReview.subscriber == sub["id"])
    assert item["kind"] == controls.CALLS and item["observed"] == 4 and item["threshold"] == 3 and item["suspended"]
    entries = await AuditEntry.select(AuditEntry.after).where(
        (AuditEntry.action == "subscriber.suspend") & (AuditEntry.target_id == str(sub["id"]))
    )
    assert len(entries) == 1 and '"fraud_suspected"' in str(entries[0]["after"]).replace("'", '"')
    assert not (await switch.authorize(ask(sub["account_number"])))["allow"]
    # the review: pearl's staff do not see it; huaxin's support resumes the subscriber, once
    with pytest.raises(NotFound):
        await review.decide(tree["pearl.support"], item["id"], "resume")
    rows, total = await review.list_reviews(tree["huaxin"])
    assert total == 1 and rows[0]["account_number"] == sub["account_number"]
    assert await review.count_open(tree["admin"]) == 1 and await review.count_open(tree["pearl"]) == 0
    with pytest.raises(ValidationFailed):
        await review.decide(tree["huaxin"], item["id"], "drop")
    decided = await review.decide(tree["huaxin.clerk"], item["id"], "resume")
    assert decided["status"] == "resumed" and decided["subscriber_status"] == "active"
    with pytest.raises(Conflict):
        await review.decide(tree["huaxin"], item["id"], "dismiss")
    await controls.remove_rule(tree["admin"], (await controls.list_rules(tree["admin"]))[0]["id"])
    assert (await switch.authorize(ask(sub["account_number"])))["allow"]
    await assert_ledger_ok()


async def test_minutes_and_new_countries_rules(tree):
    await controls.set_rule(tree["huaxin"], {"kind": controls.MINUTES, "threshold": "1"})
    talker = await subscriber(tree, cap=5)
    [rated] = await switch.rate_calls([record("long-1", talker["account_number"], 150)])
    assert rated["status"] == "rated"
    [item] = await CallReview.select().where(CallReview.subscriber == talker["id"])
    assert (item["kind"], item["observed"], item["threshold"]) == (controls.MINUTES, 2, 1)
    await controls.set_rule(tree["admin"], {"kind": controls.COUNTRIES, "threshold": "2"})
    traveller = await subscriber(tree, cap=5)
    number = traveller["account_number"]
    for destination in ("8613800138000", "447700900123"):
        assert (await switch.authorize(ask(number, destination)))["allow"]
    assert (await switch.authorize(ask(number, "8613900000000")))["allow"]  # China again: not new
    third = await switch.authorize(ask(number, "12025550123"))
    assert third["detail"] == controls.FRAUD_SUSPECTED
    kinds = [r["kind"] for r in await CallReview.select().where(CallReview.subscriber == traveller["id"])]
    assert kinds == [controls.COUNTRIES]


async def test_flagged_calls_open_review_items(tree):
    sub = await subscriber(tree, minutes=1)
    await switch.rate_calls([record("over", sub["account_number"], 300)])  # more than the balance
    [item] = await CallReview.select().where(CallReview.subscriber == sub["id"])
    assert (item["kind"], item["call_id"], item["observed"], item["suspended"]) == (
        review.UNCOVERED,
        "over",
        240,
        False,
    )
    with pytest.raises(ValidationFailed):  # it suspended nothing
        await review.decide(tree["admin"], item["id"], "resume")
    assert (await review.decide(tree["admin"], item["id"], "confirm"))["status"] == "confirmed"


@pytest.mark.parametrize(
    "call, data",
    [
        ("settings", {"max_call_seconds": "59", "subscriber_call_cap": "1"}),
        ("settings", {"max_call_seconds": "3600", "subscriber_call_cap": "0"}),
        ("settings", {"max_call_seconds": "9" * 40, "subscriber_call_cap": "1"}),
        ("settings", {"max_call_seconds": True, "subscriber_call_cap": "1"}),
        ("bar", {"prefix": "+44", "reason": "policy"}),
        ("bar", {"prefix": "44", "reason": "because"}),
        ("bar", {"prefix": "44", "reason": "policy", "note": "a\nb"}),
        ("bar", {"prefix": "44", "reason": "policy", "agent": "99999999999"}),
        ("rule", {"kind": "calls_per_day", "threshold": "3"}),
        ("rule", {"kind": controls.CALLS, "threshold": "-1"}),
        ("cap", "0"),
        ("cap", "1001"),
        ("cap", "２"),
    ],
)
async def test_hostile_input_changes_nothing(tree, call, data):
    admin = tree["admin"]
    before = (await controls.get_settings(), await controls.list_bars(admin), await controls.list_rules(admin))
    with pytest.raises(ValidationFailed):
        if call == "settings":
            await controls.save_settings(admin, data)
        elif call == "bar":
            await controls.add_bar(admin, data)
        elif call == "rule":
            await controls.set_rule(admin, data)
        else:
            await controls.set_agent_cap(admin, tree["huaxin"].agent_id, data)
    assert before == (await controls.get_settings(), await controls.list_bars(admin), await controls.list_rules(admin))


async def test_who_may_set_what(tree):
    with pytest.raises(Forbidden):  # the operator's settings are the operator's
        await controls.save_settings(tree["huaxin"], {"max_call_seconds": "60", "subscriber_call_cap": "1"})
    with pytest.raises(Forbidden):
        await controls.add_bar(tree["huaxin.clerk"], {"prefix": "44", "reason": "policy"})
    with pytest.raises(NotFound):  # another tree's agent
        await controls.set_agent_cap(tree["pearl"], tree["huaxin"].agent_id, "5")
    with pytest.raises(Forbidden):
        await review.list_reviews(tree["huaxin.view"])
