"""The agent tree on a real database: scoping (R-1), depth, lifecycle (R-2)."""

import datetime as dt

import pytest

from agency import agents
from agency.tables import Agent, AuditEntry
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from money import onboarding
from tests.helpers import demo_actors

FIELDS = {"brand_name": "New Co", "contact_person": "Zhao", "phone": "+86 10 1234", "timezone": "Asia/Shanghai"}


async def test_sibling_cannot_see_or_change_sibling(db):
    a = await demo_actors()
    huaxin, pearl = a["huaxin"], a["pearl"]
    rows, total = await agents.list_agents(huaxin)
    assert {r["brand_name"] for r in rows} == {"华信通讯", "华信浦东", "华信陆家嘴"}
    assert total == 3
    with pytest.raises(NotFound):
        await agents.get_agent(huaxin, pearl.agent_id)
    with pytest.raises(NotFound):
        await agents.update_agent(huaxin, pearl.agent_id, {"brand_name": "stolen"})
    with pytest.raises(NotFound):
        await agents.suspend_agent(huaxin, pearl.agent_id)
    with pytest.raises(NotFound):
        await onboarding.create_agent(huaxin, pearl.agent_id, FIELDS)
    assert (await Agent.select(Agent.brand_name).where(Agent.id == pearl.agent_id).first())[
        "brand_name"
    ] == "Pearl River Telecom"


async def test_child_cannot_see_parent_or_parents_other_children(db):
    a = await demo_actors()
    top = a["huaxin"]
    second = await onboarding.create_agent(top, top.agent_id, {**FIELDS, "brand_name": "Second child"})
    pudong = a["huaxin.pudong"]
    rows, _ = await agents.list_agents(pudong)
    names = {r["brand_name"] for r in rows}
    assert names == {"华信浦东", "华信陆家嘴"}
    for hidden in (top.agent_id, second["id"]):
        with pytest.raises(NotFound):
            await agents.get_agent(pudong, hidden)
    # ...but may name its ancestors
    me = await agents.get_agent(pudong, pudong.agent_id)
    assert [x["brand_name"] for x in await agents.ancestors(pudong, me)] == ["华信通讯"]


async def test_parent_manages_descendants_but_not_own_status(db):
    a = await demo_actors()
    top = a["huaxin"]
    grandchild = a["huaxin.lujiazui"]
    changed = await agents.update_agent(top, grandchild.agent_id, {"contact_person": "新联系人"})
    assert changed["contact_person"] == "新联系人"
    assert (await agents.suspend_agent(top, grandchild.agent_id))["status"] == "suspended"
    assert (await agents.resume_agent(top, grandchild.agent_id))["status"] == "active"
    with pytest.raises(Forbidden):
        await agents.suspend_agent(top, top.agent_id)
    with pytest.raises(Forbidden):  # a clerk may not change status
        await agents.suspend_agent(a["huaxin.clerk"], grandchild.agent_id)
    with pytest.raises(Forbidden):  # a viewer may not create
        await onboarding.create_agent(a["huaxin.view"], top.agent_id, FIELDS)


async def test_depth_limit_and_paths(db):
    a = await demo_actors()
    parent_id = a["huaxin.lujiazui"].agent_id  # level 3
    level4 = await onboarding.create_agent(a["huaxin"], parent_id, FIELDS, max_depth=5)
    level5 = await onboarding.create_agent(a["huaxin"], level4["id"], FIELDS, max_depth=5)
    assert (level4["level"], level5["level"]) == (4, 5)
    assert level5["path"].startswith(level4["path"]) and level5["path"].endswith(f"{level5['id']:08d}/")
    before = await Agent.count()
    with pytest.raises(ValidationFailed):
        await onboarding.create_agent(a["huaxin"], level5["id"], FIELDS, max_depth=5)
    assert await Agent.count() == before


async def test_bad_fields_change_nothing(db):
    a = await demo_actors()
    before = await Agent.count()
    bad = [
        {**FIELDS, "brand_name": ""},
        {**FIELDS, "brand_name": "x" * 101},
        {**FIELDS, "phone": "call me maybe"},
        {**FIELDS, "timezone": "Mars/Olympus"},
        {**FIELDS, "contact_person": 12},
    ]
    for data in bad:
        with pytest.raises(ValidationFailed):
            await onboarding.create_agent(a["admin"], None, data)
    assert await Agent.count() == before
    with pytest.raises(NotFound):
        await agents.get_agent(a["admin"], 10**30)


async def test_notice_and_scheduled_termination(db):
    a = await demo_actors()
    top, child = a["huaxin"], a["huaxin.pudong"]
    with pytest.raises(ValidationFailed):
        await agents.give_notice(top, child.agent_id, dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=20))
    noticed = await agents.give_notice(top, child.agent_id)
    assert noticed["status"] == "terminating"
    assert noticed["terminates_at"] - noticed["notice_at"] >= dt.timedelta(days=28)
    with pytest.raises(Conflict):
        await agents.resume_agent(top, child.agent_id)
    assert await onboarding.apply_due_terminations() == 0
    later = noticed["terminates_at"] + dt.timedelta(seconds=1)
    assert await onboarding.apply_due_terminations(later) == 1
    assert (await agents.get_agent(top, child.agent_id))["status"] == "terminated"
    actions = [r["action"] for r in await AuditEntry.select(AuditEntry.action).order_by(AuditEntry.id)]
    assert actions[-2:] == ["agent.notice", "agent.terminated"]


def test_earliest_termination_is_one_calendar_month():
    t = dt.datetime(2026, 1, 31, 10, tzinfo=dt.timezone.utc)
    assert agents.earliest_termination(t) == dt.datetime(2026, 2, 28, 10, tzinfo=dt.timezone.utc)
    t = dt.datetime(2026, 12, 15, tzinfo=dt.timezone.utc)
    assert agents.earliest_termination(t) == dt.datetime(2027, 1, 15, tzinfo=dt.timezone.utc)


async def test_search_and_paging(db):
    a = await demo_actors()
    for i in range(12):
        await onboarding.create_agent(a["admin"], None, {**FIELDS, "brand_name": f"Searchable {i:02d}"})
    rows, total = await agents.list_agents(a["admin"], search="searchable", per_page=5, page=3)
    assert total == 12 and [r["brand_name"] for r in rows] == ["Searchable 10", "Searchable 11"]
    rows, total = await agents.list_agents(a["huaxin"], search="Searchable")
    assert total == 0 and rows == []
