"""Issue 10 over HTTP: calling hours are set from above on the page and in the API (R-22), an agent
gives its own notice with its operation password, a suspended agent's descendants are stopped,
and the operator suspends and resumes an agent's subscribers in bulk (R-2)."""

from __future__ import annotations

import httpx

from accounts.tables import Subscriber
from agency.tables import Agent, AuditEntry
from tests.helpers import api, demo_actors, post_form, web_login
from tests.integration.test_cards import live_subscriber
from tests.integration.test_lifecycle import stocked
from tests.web.snapshot import state
from web.demo import DEMO_OPERATION_PASSWORD as OP


async def _hours(agent_id: int) -> tuple[str, str]:
    row = await Agent.select(Agent.calling_hours, Agent.timezone).where(Agent.id == agent_id).first()
    return row["calling_hours"], row["timezone"]


async def test_calling_hours_are_set_by_the_parent_not_by_the_agent_itself(client):
    actors = await demo_actors()
    own, parent = actors["huaxin.pudong"].agent_id, actors["huaxin"].agent_id
    await web_login(client, "huaxin")
    set_by_parent = await api(client, "PATCH", f"/api/v1/agents/{own}", json={"calling_hours": "08:00-19:30"})
    assert set_by_parent.status_code == 200 and set_by_parent.json()["calling_hours"] == "08:00-19:30"
    # The parent's own window is set by the operator; a child's window must lie within it.
    assert (await api(client, "PATCH", f"/api/v1/agents/{parent}", json={"timezone": "Asia/Tokyo"})).status_code == 403
    client.cookies.clear()
    await web_login(client, "admin")
    assert (await api(client, "PATCH", f"/api/v1/agents/{parent}", json={"calling_hours": "08:00-20:00"})).json()[
        "calling_hours"
    ] == "08:00-20:00"
    client.cookies.clear()
    await web_login(client, "huaxin")
    outside = await api(client, "PATCH", f"/api/v1/agents/{own}", json={"calling_hours": "07:00-19:30"})
    assert outside.status_code == 400 and "08:00-20:00" in outside.json()["errors"]["calling_hours"]
    page = await post_form(
        client,
        f"/agents/{own}/edit",
        {
            "brand_name": "华信浦东",
            "contact_person": "李",
            "phone": "+86 21 5555 0102",
            "timezone": "Asia/Shanghai",
            "calling_hours": "06:00-09:00",
        },
    )
    assert page.status_code == 400 and "08:00-20:00" in page.text and 'name="calling_hours"' in page.text
    assert await _hours(own) == ("08:00-19:30", "Asia/Shanghai")
    # The agent's own owner sees them but is offered no field for them, and cannot change them.
    client.cookies.clear()
    await web_login(client, "huaxin.pudong")
    form = await client.get(f"/agents/{own}/edit")
    assert form.status_code == 200
    assert 'name="calling_hours"' not in form.text and 'name="timezone"' not in form.text and "08:00-19:30" in form.text
    before = await state()
    for change in ({"calling_hours": ""}, {"calling_hours": "00:00-24:00"}, {"timezone": "Europe/London"}):
        refused = await api(client, "PATCH", f"/api/v1/agents/{own}", json=change)
        assert refused.status_code == 403, (change, refused.text)
        page = await post_form(client, f"/agents/{own}/edit", {"contact_person": "李", **change})
        assert page.status_code == 403, (change, page.status_code)
    assert await state() == before
    saved = await post_form(
        client, f"/agents/{own}/edit", {"brand_name": "华信浦东", "contact_person": "李四", "phone": "+86 21 5555 0102"}
    )
    assert saved.status_code == 303
    assert await _hours(own) == ("08:00-19:30", "Asia/Shanghai")


async def test_an_agent_gives_its_own_notice_on_its_page_and_in_the_api(client):
    actors = await demo_actors()
    own = actors["huaxin.pudong"].agent_id
    await web_login(client, "huaxin.pudong")
    page = await client.get(f"/agents/{own}")
    assert f'action="/agents/{own}/notice"' in page.text and 'name="operation_password"' in page.text
    refused = await post_form(client, f"/agents/{own}/notice", {"effective": "", "operation_password": "000000"})
    assert refused.status_code == 403 and f'action="/agents/{own}/notice"' in refused.text
    missing = await api(client, "POST", f"/api/v1/agents/{own}/notice", json={})
    assert missing.status_code == 403
    assert (await Agent.select(Agent.status).where(Agent.id == own).first())["status"] == "active"
    done = await post_form(client, f"/agents/{own}/notice", {"effective": "", "operation_password": OP})
    assert done.status_code == 303
    assert (await client.get(f"/api/v1/agents/{own}")).json()["status"] == "terminating"
    # The API twin, for the grandchild's own owner.
    client.cookies.clear()
    grandchild = actors["huaxin.lujiazui"].agent_id
    await web_login(client, "huaxin.lujiazui")
    noticed = await api(client, "POST", f"/api/v1/agents/{grandchild}/notice", json={"operation_password": OP})
    assert noticed.status_code == 200 and noticed.json()["status"] == "terminating"


async def test_suspending_an_agent_stops_its_grandchilds_users_until_resumed(client, app):
    actors = await demo_actors()
    await web_login(client, "huaxin.lujiazui")
    token = (await api(client, "POST", "/api/v1/me/tokens", json={"name": "script"})).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    grandchild = actors["huaxin.lujiazui"].agent_id
    assert (await client.get(f"/agents/{grandchild}")).status_code == 200
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as admin:
        await web_login(admin, "admin")
        suspended = await api(admin, "POST", f"/api/v1/agents/{actors['huaxin'].agent_id}/suspend")
        assert suspended.status_code == 200
        page = await client.get(f"/agents/{grandchild}")
        assert page.status_code in (302, 303) and page.headers["location"].startswith("/login")
        assert (await client.get("/api/v1/me", headers=bearer)).status_code == 401
        assert (await client.get(f"/api/v1/agents/{grandchild}", headers=bearer)).status_code == 401
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as other:
            assert (await web_login(other, "huaxin.lujiazui")).status_code == 401
        resumed = await post_form(admin, f"/agents/{actors['huaxin'].agent_id}/resume")
        assert resumed.status_code == 303
    assert (await client.get(f"/agents/{grandchild}")).status_code == 200
    assert (await client.get("/api/v1/me", headers=bearer)).json()["username"] == "huaxin.lujiazui"


async def test_operator_suspends_and_resumes_an_agents_subscribers_in_bulk(client):
    actors = await demo_actors()
    await stocked(actors, "huaxin", "huaxin.pudong")
    top = actors["huaxin"].agent_id
    first = (await live_subscriber(actors["huaxin"], 10))[0]
    second = (await live_subscriber(actors["huaxin.pudong"], 10))[0]

    async def statuses() -> list[str]:
        rows = await Subscriber.select(Subscriber.status).where(Subscriber.id.is_in([first["id"], second["id"]]))
        return sorted(r["status"] for r in rows)

    # Not for the agent's own users, on the page or in the API.
    await web_login(client, "huaxin")
    assert "/subscribers/suspend" not in (await client.get(f"/agents/{top}")).text
    assert (
        await post_form(client, f"/agents/{top}/subscribers/suspend", {"reason": "x", "confirm": "1"})
    ).status_code == 403
    assert (
        await api(client, "POST", f"/api/v1/agents/{top}/subscribers/suspend", json={"reason": "x"})
    ).status_code == 403
    assert await statuses() == ["active", "active"]
    client.cookies.clear()
    await web_login(client, "admin")
    page = await client.get(f"/agents/{top}")
    assert f'action="/agents/{top}/subscribers/suspend"' in page.text
    # First the confirmation, with the count; nothing changes yet.
    asked = await post_form(client, f"/agents/{top}/subscribers/suspend", {"reason": "欠费停机"})
    assert asked.status_code == 200 and 'name="confirm"' in asked.text and "欠费停机" in asked.text
    assert ">2<" in asked.text
    assert await statuses() == ["active", "active"]
    refused = await post_form(client, f"/agents/{top}/subscribers/suspend", {"reason": "", "confirm": "1"})
    assert refused.status_code == 400 and await statuses() == ["active", "active"]
    done = await post_form(client, f"/agents/{top}/subscribers/suspend", {"reason": "欠费停机", "confirm": "1"})
    assert done.status_code == 303 and await statuses() == ["suspended", "suspended"]
    assert "欠费停机" in (await client.get(f"/agents/{top}")).text  # the suspension in force is shown
    entries = (await client.get("/api/v1/audit?action=agent.subscribers_suspend")).json()
    assert entries["total"] == 1
    # The JSON twin reverses it.
    undone = await api(client, "POST", f"/api/v1/agents/{top}/subscribers/resume", json={"reason": "已缴费"})
    assert undone.status_code == 200 and undone.json() == {"agent_id": top, "count": 2, "reason": "已缴费"}
    assert await statuses() == ["active", "active"]
    again = await api(client, "POST", f"/api/v1/agents/{top}/subscribers/suspend", json={"reason": "再次"})
    assert again.status_code == 200 and again.json()["count"] == 2
    assert await statuses() == ["suspended", "suspended"]
    assert await AuditEntry.count().where(AuditEntry.action == "agent.subscribers_suspend") == 2
