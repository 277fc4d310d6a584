"""Issue 10 on a real database: calling hours set from above and bounded by every ancestor (R-22),
an agent's own notice, a suspended agent stopping its whole subtree, and the operator's bulk
suspension of an agent's subscribers (R-2)."""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo

import pytest

from accounts import bulk, controls, switch
from accounts import services as subscribers
from accounts.tables import CallReservation, Subscriber
from agency import agents, sessions
from agency.tables import Agent, AuditEntry
from core.db import lifting_append_only, transaction
from core.errors import Conflict, Forbidden, LoginFailed, OperationPasswordRejected, ValidationFailed
from money import bundles
from tests.helpers import demo_actors
from tests.integration.test_cards import live_subscriber
from tests.money import fund, key, set_operator_prices
from web.demo import DEMO_OPERATION_PASSWORD as OP
from web.demo import DEMO_PASSWORD

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


async def hours_of(agent_id: int) -> tuple[str, str]:
    row = await Agent.select(Agent.calling_hours, Agent.timezone).where(Agent.id == agent_id).first()
    return row["calling_hours"], row["timezone"]


async def stocked(actors, *names: str) -> None:
    """Each named owner (top first) buys minutes from its seller, so that it can open accounts."""
    await set_operator_prices(actors["admin"])
    for name in names:
        await fund(actors[name].agent_id, 10**9)
        await bundles.buy_bundle(
            actors[name], 2000 // (names.index(name) + 1), operation_password=OP, idempotency_key=key()
        )


def ask(account: str) -> dict:
    return {"account": account, "destination": "8613800138000", "call_id": uuid.uuid4().hex}


async def asked(account: str) -> dict:
    """authorize's answer, its reservation then dropped, so that each question sees the whole balance."""
    answer = await switch.authorize(ask(account))
    await CallReservation.delete(force=True)
    return answer


# --- calling hours (R-22) ---------------------------------------------------------------------------


async def test_own_users_cannot_change_their_agents_calling_hours_or_time_zone(db):
    a = await demo_actors()
    parent, child = a["huaxin"], a["huaxin.pudong"]
    await agents.update_agent(parent, child.agent_id, {"calling_hours": "08:00-19:30"})
    for change in (
        {"calling_hours": ""},
        {"calling_hours": "07:00-21:00"},
        {"calling_hours": "09:00-10:00"},
        {"timezone": "Europe/London"},
        {"calling_hours": "00:00-24:00", "contact_person": "x"},
    ):
        with pytest.raises(Forbidden):
            await agents.update_agent(child, child.agent_id, change)
    with pytest.raises(Forbidden):  # the clerk of the top agent neither
        await agents.update_agent(a["huaxin.clerk"], parent.agent_id, {"calling_hours": "00:00-24:00"})
    assert await hours_of(child.agent_id) == ("08:00-19:30", "Asia/Shanghai")
    # Sending what is already set changes nothing and is not refused; other fields stay theirs.
    same = await agents.update_agent(child, child.agent_id, {"calling_hours": "08:00-19:30", "contact_person": "新"})
    assert same["contact_person"] == "新" and same["calling_hours"] == "08:00-19:30"
    # The parent (owner or clerk) and the operator set them.
    assert (await agents.update_agent(a["huaxin.clerk"], child.agent_id, {"calling_hours": "09:00-18:00"}))[
        "calling_hours"
    ] == "09:00-18:00"
    assert (await agents.update_agent(parent, child.agent_id, {"timezone": "Asia/Tokyo", "calling_hours": ""}))[
        "timezone"
    ] == "Asia/Tokyo"
    assert (await agents.update_agent(a["admin"], parent.agent_id, {"calling_hours": "07:00-22:00"}))[
        "calling_hours"
    ] == "07:00-22:00"


async def test_a_childs_window_lies_within_every_ancestors(db):
    a = await demo_actors()
    top, child, grandchild = a["huaxin"], a["huaxin.pudong"], a["huaxin.lujiazui"]
    await agents.update_agent(a["admin"], top.agent_id, {"calling_hours": "08:00-19:30"})
    for outside in ("07:00-12:00", "18:00-20:00", "22:00-06:00", "00:00-24:00"):
        with pytest.raises(ValidationFailed) as refused:
            await agents.update_agent(top, child.agent_id, {"calling_hours": outside})
        assert set(refused.value.errors) == {"calling_hours"}
    assert await hours_of(child.agent_id) == ("", "Asia/Shanghai")
    # The child has no window of its own: the grandchild is still bounded by the top agent's.
    with pytest.raises(ValidationFailed):
        await agents.update_agent(top, grandchild.agent_id, {"calling_hours": "06:00-09:00"})
    await agents.update_agent(top, child.agent_id, {"calling_hours": "09:00-12:00"})
    await agents.update_agent(child, grandchild.agent_id, {"calling_hours": "10:00-11:30"})
    with pytest.raises(ValidationFailed):  # within the top's, but not within the child's
        await agents.update_agent(child, grandchild.agent_id, {"calling_hours": "13:00-15:00"})
    # A time zone moves the window: 09:00-11:00 in Tokyo is 08:00-10:00 in Shanghai, not in 09:00-12:00.
    await agents.update_agent(child, grandchild.agent_id, {"calling_hours": "09:00-11:00"})
    with pytest.raises(ValidationFailed):
        await agents.update_agent(child, grandchild.agent_id, {"timezone": "Asia/Tokyo"})
    await agents.update_agent(child, grandchild.agent_id, {"timezone": "Asia/Tokyo", "calling_hours": "11:00-12:30"})
    assert await hours_of(grandchild.agent_id) == ("11:00-12:30", "Asia/Tokyo")


async def test_authorize_ends_the_call_with_the_effective_window(db, monkeypatch):
    a = await demo_actors()
    await stocked(a, "huaxin", "huaxin.pudong")
    child = a["huaxin.pudong"]
    sub, _card = await live_subscriber(child, 120)  # 7,200 s of airtime, under a level-2 agent
    number = sub["account_number"]
    await controls.save_settings(a["admin"], {"max_call_seconds": "14400", "subscriber_call_cap": "1"})  # 4 h calls
    clock = {"at": dt.datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)}
    monkeypatch.setattr(switch, "now", lambda: clock["at"].astimezone(dt.timezone.utc))
    assert (await asked(number))["max_seconds"] == 7200  # no window anywhere: the balance
    await agents.update_agent(a["admin"], a["huaxin"].agent_id, {"calling_hours": "08:00-10:30"})
    # The child has no window: its parent's ends the call at 10:30.
    granted = await asked(number)
    assert granted["allow"] and granted["max_seconds"] == 1800
    await agents.update_agent(a["huaxin"], child.agent_id, {"calling_hours": "09:00-10:20"})
    assert (await asked(number))["max_seconds"] == 1200
    # In the child's own time zone: 10:00 in Shanghai is 11:00 in Tokyo, and its window ends at 11:15 there.
    await agents.update_agent(a["huaxin"], child.agent_id, {"timezone": "Asia/Tokyo", "calling_hours": "09:30-11:15"})
    assert (await asked(number))["max_seconds"] == 900
    # The parent narrows its own window later: the child's is cut by it at once.
    await agents.update_agent(a["admin"], a["huaxin"].agent_id, {"calling_hours": "08:00-10:05"})
    assert (await asked(number))["max_seconds"] == 300
    clock["at"] = dt.datetime(2026, 11, 23, 10, 6, tzinfo=SHANGHAI)
    refused = await asked(number)
    assert (refused["allow"], refused["reason"]) == (False, switch.OUTSIDE_HOURS)
    # A window across midnight ends the next morning.
    await agents.update_agent(a["admin"], a["huaxin"].agent_id, {"calling_hours": "22:00-06:00"})
    await agents.update_agent(a["huaxin"], child.agent_id, {"timezone": "Asia/Shanghai", "calling_hours": ""})
    clock["at"] = dt.datetime(2026, 11, 23, 5, 50, tzinfo=SHANGHAI)
    assert (await asked(number))["max_seconds"] == 600


# --- lifecycle (R-2) --------------------------------------------------------------------------------


async def test_an_agent_gives_its_own_notice_with_its_operation_password(db):
    a = await demo_actors()
    owner = a["huaxin.pudong"]
    for wrong in (None, "", "000000"):
        with pytest.raises(OperationPasswordRejected):
            await agents.give_notice(owner, owner.agent_id, operation_password=wrong)
    with pytest.raises(Forbidden):  # a clerk gives no notice
        await agents.give_notice(a["huaxin.clerk"], a["huaxin"].agent_id, operation_password=OP)
    assert (await agents.get_agent(owner, owner.agent_id))["status"] == "active"
    noticed = await agents.give_notice(owner, owner.agent_id, operation_password=OP)
    assert noticed["status"] == "terminating"
    assert noticed["terminates_at"] >= agents.earliest_termination(noticed["notice_at"]) - dt.timedelta(minutes=1)
    entry = await AuditEntry.select().where(AuditEntry.action == "agent.notice").first()
    assert entry["username"] == "huaxin.pudong" and entry["target_id"] == str(owner.agent_id)
    # Its users work on until the notice takes effect.
    assert (await sessions.log_in("huaxin.pudong", DEMO_PASSWORD, address="a"))[1]


async def test_a_suspended_agent_stops_its_whole_subtree_until_resumed(db):
    a = await demo_actors()
    grandchild = a["huaxin.lujiazui"]
    token, _ = await sessions.log_in("huaxin.lujiazui", DEMO_PASSWORD, address="a")
    api_token = await sessions.create_api_token(grandchild, "script")
    top = await agents.get_agent(a["admin"], a["huaxin"].agent_id)
    child = await agents.get_agent(a["admin"], a["huaxin.pudong"].agent_id)
    assert await agents.ancestors_operating(child["path"]) and await agents.selling_allowed(top)
    await agents.suspend_agent(a["admin"], a["huaxin"].agent_id)
    assert await sessions.actor_for_session(token, address="a") is None
    assert await sessions.actor_for_api_token(api_token, address="a") is None
    with pytest.raises(LoginFailed):
        await sessions.log_in("huaxin.lujiazui", DEMO_PASSWORD, address="b")
    # It sells nothing: its sub-agents' purchases must be refused (money calls this check).
    assert not await agents.ancestors_operating(child["path"])
    assert not await agents.selling_allowed(await agents.get_agent(a["admin"], top["id"]))
    with pytest.raises(agents.SellerNotSelling):
        await agents.require_seller_selling(child)
    assert await agents.ancestors_operating(top["path"])  # the operator above it sells on
    await agents.resume_agent(a["admin"], a["huaxin"].agent_id)
    assert (await sessions.actor_for_session(token, address="a")).username == "huaxin.lujiazui"
    assert (await sessions.actor_for_api_token(api_token, address="a")).username == "huaxin.lujiazui"
    # A parent whose notice has run out stops its descendants too, before the scheduled job runs.
    await Agent.update(
        {Agent.status: "terminating", Agent.terminates_at: dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)}
    ).where(Agent.id == a["huaxin.pudong"].agent_id)
    assert await sessions.actor_for_session(token, address="a") is None
    assert (
        await sessions.actor_for_session((await sessions.log_in("huaxin", DEMO_PASSWORD, address="c"))[0], address="c")
        is not None
    )


# --- the operator's bulk suspension of an agent's subscribers ----------------------------------------


async def test_bulk_suspension_of_an_agents_subscribers_and_its_reversal(db):
    a = await demo_actors()
    await stocked(a, "huaxin", "huaxin.pudong", "pearl")
    admin, top = a["admin"], a["huaxin"]
    own = (await live_subscriber(top, 10))[0]
    below = (await live_subscriber(a["huaxin.pudong"], 10))[0]
    earlier = (await live_subscriber(top, 10))[0]  # suspended before, for its own reason
    later = (await live_subscriber(a["huaxin.pudong"], 10))[0]  # resumed and suspended again after
    sibling = (await live_subscriber(a["pearl"], 10))[0]
    await subscribers.suspend_subscriber(top, earlier["id"], "lost phone")
    with pytest.raises(Forbidden):  # only the operator
        await bulk.suspend_subscribers(top, top.agent_id, "not mine to do")
    with pytest.raises(ValidationFailed):
        await bulk.suspend_subscribers(admin, top.agent_id, "")
    assert await bulk.preview(admin, top.agent_id) == {"to_suspend": 3, "to_resume": 0}
    done = await bulk.suspend_subscribers(admin, top.agent_id, "合同违约")
    assert done["count"] == 3 and done["reason"] == "合同违约"
    status = {r["id"]: r["status"] for r in await Subscriber.select(Subscriber.id, Subscriber.status)}
    assert status == {
        own["id"]: "suspended",
        below["id"]: "suspended",
        earlier["id"]: "suspended",
        later["id"]: "suspended",
        sibling["id"]: "active",
    }
    for row in (own, below, later):
        answer = await switch.authorize(ask(row["account_number"]))
        assert (answer["allow"], answer["reason"]) == (False, switch.SUSPENDED)
    assert (await switch.authorize(ask(sibling["account_number"])))["allow"]
    with pytest.raises(Conflict):  # nothing active is left to suspend: refused, and nothing recorded
        await bulk.suspend_subscribers(admin, top.agent_id, "again")
    summary = await AuditEntry.select().where(AuditEntry.action == "agent.subscribers_suspend").output(load_json=True)
    assert len(summary) == 1 and summary[0]["after"] == {"reason": "合同违约", "count": 3}
    assert summary[0]["username"] == "admin" and summary[0]["target_id"] == str(top.agent_id)
    each = (
        await AuditEntry.select()
        .where((AuditEntry.action == "subscriber.suspend") & (AuditEntry.username == "admin"))
        .output(load_json=True)
    )
    assert {int(e["target_id"]) for e in each} == {own["id"], below["id"], later["id"]}
    assert all(e["after"]["reason"] == "合同违约" for e in each)
    # One of them is resumed by its agent's staff, then suspended again for another reason.
    await subscribers.resume_subscriber(top, later["id"], "paid")
    await subscribers.suspend_subscriber(top, later["id"], "fraud")
    with pytest.raises(Forbidden):
        await bulk.resume_subscribers(top, top.agent_id, "nope")
    assert await bulk.preview(admin, top.agent_id) == {"to_suspend": 0, "to_resume": 2}
    undone = await bulk.resume_subscribers(admin, top.agent_id, "合同恢复")
    assert undone["count"] == 2
    status = {r["id"]: r["status"] for r in await Subscriber.select(Subscriber.id, Subscriber.status)}
    assert status == {
        own["id"]: "active",
        below["id"]: "active",
        earlier["id"]: "suspended",
        later["id"]: "suspended",
        sibling["id"]: "active",
    }
    assert (await switch.authorize(ask(below["account_number"])))["allow"]
    resumed = await AuditEntry.select().where(AuditEntry.action == "agent.subscribers_resume").output(load_json=True)
    assert len(resumed) == 1 and resumed[0]["after"]["count"] == 2
    with pytest.raises(Conflict):  # nothing left to reverse
        await bulk.resume_subscribers(admin, top.agent_id, "again")
    # A bulk suspension of a sub-agent's subscribers leaves its parent's own ones alone.
    assert (await bulk.suspend_subscribers(admin, a["huaxin.pudong"].agent_id, "audit"))["count"] == 1
    assert (await Subscriber.select(Subscriber.status).where(Subscriber.id == own["id"]).first())["status"] == "active"


async def test_a_bulk_suspension_survives_the_audit_purge(db):
    a = await demo_actors()
    await stocked(a, "huaxin")
    admin, top = a["admin"], a["huaxin"]
    row = (await live_subscriber(top, 10))[0]
    await bulk.suspend_subscribers(admin, top.agent_id, "long dispute")
    from agency import audit

    long_ago = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=400)
    async with transaction(), lifting_append_only("test: entries made long ago"):
        await AuditEntry.update({AuditEntry.at: long_ago}, force=True)
    await audit.purge(180)
    # The suspension is its own record, not the log's: only the purge's own entry is left.
    assert [r["action"] for r in await AuditEntry.select(AuditEntry.action)] == ["audit.purge"]
    assert [s["reason"] for s in await bulk.suspensions_in_force(admin, top.agent_id)] == ["long dispute"]
    assert await bulk.preview(admin, top.agent_id) == {"to_suspend": 0, "to_resume": 1}
    assert (await bulk.resume_subscribers(admin, top.agent_id, "settled"))["count"] == 1
    assert (await Subscriber.select(Subscriber.status).where(Subscriber.id == row["id"]).first())["status"] == "active"
