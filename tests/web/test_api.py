"""The JSON API: session or bearer-token auth, the same scoping, OpenAPI at /schema."""
from tests.helpers import api, demo_actors, post_form, web_login


async def test_token_flow_and_scoping(client):
    await demo_actors()
    await web_login(client, "huaxin")
    created = await api(client, "POST", "/api/v1/me/tokens", json={"name": "integration"})
    assert created.status_code == 201
    token = created.json()["token"]
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {token}"}
    me = await client.get("/api/v1/me", headers=bearer)
    assert me.json()["username"] == "huaxin"
    # Bearer requests need no CSRF token: a browser never sends one by itself.
    new = await client.post(
        "/api/v1/agents",
        headers=bearer,
        json={"brand_name": "API child", "contact_person": "钱", "phone": "+86 1", "parent_id": me.json()["agent_id"]},
    )
    assert new.status_code == 201 and new.json()["level"] == 2
    listing = (await client.get("/api/v1/agents?search=API", headers=bearer)).json()
    assert [a["brand_name"] for a in listing["items"]] == ["API child"]
    pearl_agent = 4
    assert (await client.get(f"/api/v1/agents/{pearl_agent}", headers=bearer)).status_code == 404
    token_id = (await client.get("/api/v1/me/tokens", headers=bearer)).json()[0]["id"]
    assert (await client.delete(f"/api/v1/me/tokens/{token_id}", headers=bearer)).status_code == 204
    assert (await client.get("/api/v1/me", headers=bearer)).status_code == 401


async def test_operator_manages_staff_and_agents_over_api(client):
    await demo_actors()
    await web_login(client, "admin")
    staff = await api(client, "POST", "/api/v1/staff", json={"username": "new.admin", "role": "finance",
                                                             "password": "finance-pass-1"})
    assert staff.status_code == 201 and staff.json()["agent"] is None
    agent = await api(client, "POST", "/api/v1/agents", json={"brand_name": "Level One", "contact_person": "A",
                                                              "phone": "12345"})
    assert agent.status_code == 201 and agent.json()["level"] == 1
    agent_id = agent.json()["id"]
    patched = await api(client, "PATCH", f"/api/v1/agents/{agent_id}", json={"address": "上海"})
    assert patched.json()["address"] == "上海"
    assert (await api(client, "POST", f"/api/v1/agents/{agent_id}/suspend")).json()["status"] == "suspended"
    assert (await api(client, "POST", f"/api/v1/agents/{agent_id}/resume")).json()["status"] == "active"
    notice = await api(client, "POST", f"/api/v1/agents/{agent_id}/notice", json={})
    assert notice.json()["status"] == "terminating"
    user = await api(client, "POST", f"/api/v1/agents/{agent_id}/users",
                     json={"username": "lvl1.owner", "role": "owner", "password": "owner-pass-12"})
    assert user.status_code == 201
    audit = (await client.get("/api/v1/audit?action=agent.create")).json()
    assert audit["total"] >= 1


async def test_finance_cannot_manage(client):
    await demo_actors()
    await web_login(client, "finance")
    response = await api(client, "POST", "/api/v1/agents", json={"brand_name": "x", "contact_person": "y",
                                                                  "phone": "123"})
    assert response.status_code == 403
    assert (await client.get("/staff")).status_code == 403
    assert (await client.get("/api/v1/agents")).status_code == 200


async def test_openapi_schema(client):
    schema = await client.get("/schema/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/agents" in paths and "/api/v1/me/tokens" in paths


async def test_language_switch_is_remembered(client):
    await demo_actors()
    client.headers["Accept-Language"] = "en-US"
    await web_login(client, "huaxin")
    assert "Log out" in (await client.get("/")).text
    response = await post_form(client, "/language", {"language": "zh_CN", "next": "/agents"})
    assert response.status_code == 303 and response.headers["location"] == "/agents"
    assert "退出登录" in (await client.get("/")).text
    await post_form(client, "/language", {"language": "klingon"})
    assert "退出登录" in (await client.get("/")).text


async def test_notice_from_the_agent_page(client):
    """The form's day is the termination's midnight (UTC); left empty, the earliest day allowed."""
    import datetime as dt

    from agency.tables import Agent

    actors = await demo_actors()
    await web_login(client, "admin")
    day = dt.date.today() + dt.timedelta(days=45)
    pearl, huaxin = actors["pearl"].agent_id, actors["huaxin"].agent_id
    assert (await post_form(client, f"/agents/{pearl}/notice", {"effective": day.isoformat()})).status_code == 303
    row = await Agent.select(Agent.status, Agent.terminates_at).where(Agent.id == pearl).first()
    assert row["status"] == "terminating"
    assert row["terminates_at"] == dt.datetime.combine(day, dt.time(0), tzinfo=dt.timezone.utc)
    assert (await post_form(client, f"/agents/{huaxin}/notice", {"effective": ""})).status_code == 303
    assert (await Agent.select(Agent.status).where(Agent.id == huaxin).first())["status"] == "terminating"
