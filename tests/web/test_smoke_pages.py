"""Every page renders for the roles that may see it, in both languages."""
import pytest

from agency.tables import AuditEntry
from core.clock import now
from tests.helpers import demo_actors, web_login

PAGES = ["/", "/agents", "/agents?q=华信", "/agents/new", "/agents/1", "/agents/1/edit", "/agents/1/users", "/account",
         "/audit"]


@pytest.mark.parametrize("language", ["zh-CN", "en"])
async def test_owner_pages_render(client, language):
    await demo_actors()
    client.headers["Accept-Language"] = language
    response = await web_login(client, "huaxin")
    assert response.status_code == 303, response.text
    for page in PAGES:
        response = await client.get(page)
        assert response.status_code == 200, (page, response.text[:500])
    expected = "代理商" if language == "zh-CN" else "Agents"
    assert expected in (await client.get("/agents")).text


async def test_operator_pages_render(client):
    await demo_actors()
    await web_login(client, "admin")
    for page in [*PAGES, "/staff", "/users/4"]:
        response = await client.get(page)
        assert response.status_code == 200, (page, response.text[:500])


async def test_htmx_search_returns_partial(client):
    await demo_actors()
    await web_login(client, "admin")
    response = await client.get("/agents?q=Pearl", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.text and "Pearl River Tianhe" in response.text and "华信" not in response.text


async def test_anonymous_is_sent_to_login(client):
    response = await client.get("/agents")
    assert response.status_code in (302, 303, 307) and response.headers["location"].startswith("/login")
    assert (await client.get("/api/v1/agents")).status_code == 401


async def test_the_pager_keeps_the_filters_both_ways(client):
    """A long list's pager links to the pages before and after, with the filters URL-encoded."""
    await demo_actors()
    action = "probe&page=9"  # a filter that would break a query string written by hand
    await AuditEntry.insert(*(AuditEntry(at=now(), action=action) for _ in range(120)))
    await web_login(client, "admin")
    response = await client.get("/audit", params={"action": action, "page": 2})
    assert response.status_code == 200
    pager = response.text[response.text.index('<nav class="pager">') :]
    assert "action=probe%26page%3D9&amp;user=&amp;since=&amp;until=&amp;page=1" in pager  # Previous
    assert "action=probe%26page%3D9&amp;user=&amp;since=&amp;until=&amp;page=3" in pager  # Next
    last = await client.get("/audit", params={"action": action, "page": 3})
    assert "page=4" not in last.text and "page=2" in last.text


async def test_static_files_skip_the_session_lookup(client, monkeypatch):
    """A page's stylesheet and scripts do not look the session up again (one lookup per page)."""
    await demo_actors()
    await web_login(client, "huaxin")
    looked_up = []

    async def counting(*args, **kwargs):
        looked_up.append(args)
        return None

    monkeypatch.setattr("web.auth.actor_for_session", counting)
    assert (await client.get("/static/app.css")).status_code == 200
    assert looked_up == []
    await client.get("/agents")
    assert len(looked_up) == 1
