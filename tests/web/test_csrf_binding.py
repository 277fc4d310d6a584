"""The CSRF token is bound to the session (issue 11.8a): a token issued to one session, or
before login, is refused in another (403), logging in or out rotates it, and the form field, the
htmx header and the bearer-token exemption keep working."""

from __future__ import annotations

import re

import httpx

from agency.tables import Agent
from tests.helpers import api, csrf, demo_actors, web_login
from web.auth import CSRF_COOKIE


def new_client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")


def page_token(html: str) -> str:
    """The token a page gives htmx (hx-headers on <body>)."""
    return re.search(r"""hx-headers='\{"X-CSRF-Token": "([^"]+)"\}'""", html).group(1)


async def suspend_with(client: httpx.AsyncClient, token: str, agent_id: int) -> httpx.Response:
    """A change sent with `token` as both the cookie and the form field (a double submit that
    would pass any check that ignores whose session the token belongs to)."""
    client.cookies.set(CSRF_COOKIE, token, domain="127.0.0.1")
    return await client.post(f"/agents/{agent_id}/suspend", data={"reason": "test", "csrf_token": token})


async def test_a_token_from_another_session_is_refused(app):
    await demo_actors()
    pearl_id = (await Agent.select(Agent.id).where(Agent.brand_name == "Pearl River Telecom").first())["id"]
    async with new_client(app) as mallory, new_client(app) as admin:
        assert (await web_login(mallory, "huaxin")).status_code == 303
        assert (await web_login(admin, "admin")).status_code == 303
        foreign = mallory.cookies[CSRF_COOKIE]
        own = admin.cookies[CSRF_COOKIE]
        assert foreign != own
        refused = await suspend_with(admin, foreign, pearl_id)
        assert refused.status_code == 403, refused.status_code
        header = await admin.post(
            f"/api/v1/agents/{pearl_id}/suspend", json={"reason": "test"}, headers={"X-CSRF-Token": foreign}
        )
        assert header.status_code == 403
        assert (await Agent.select(Agent.status).where(Agent.id == pearl_id).first())["status"] == "active"
        # The session's own token works, as the form field and as the header.
        admin.cookies.set(CSRF_COOKIE, own, domain="127.0.0.1")
        page = await admin.get("/agents")
        assert page_token(page.text) == own
        done = await api(admin, "POST", f"/api/v1/agents/{pearl_id}/resume", json={"reason": "test"})
        assert done.status_code != 403, done.text
        # A bearer token needs no CSRF token at all: a browser never sends one by itself.
        made = await api(admin, "POST", "/api/v1/me/tokens", json={"name": "script"})
        assert made.status_code == 201, made.text
        async with new_client(app) as script:
            script.headers["Authorization"] = f"Bearer {made.json()['token']}"
            answer = await script.post(f"/api/v1/agents/{pearl_id}/suspend", json={"reason": "test"})
            assert answer.status_code == 200, answer.text


async def test_logging_in_and_out_rotates_the_token(app, client):
    await demo_actors()
    huaxin_id = (await Agent.select(Agent.id).where(Agent.brand_name == "华信通讯").first())["id"]
    before = await csrf(client)  # issued to a visitor, on the login page
    login = await web_login(client, "admin")
    assert login.status_code == 303
    after = login.cookies.get(CSRF_COOKIE)
    assert after and after != before, "logging in must issue a new token"
    page = await client.get("/")
    assert page_token(page.text) == after
    assert (await suspend_with(client, before, huaxin_id)).status_code == 403
    client.cookies.set(CSRF_COOKIE, after, domain="127.0.0.1")
    htmx = await client.post(
        f"/agents/{huaxin_id}/suspend",
        data={"reason": "test"},
        headers={"X-CSRF-Token": page_token(page.text), "HX-Request": "true"},
    )
    assert htmx.status_code in (200, 303), htmx.status_code
    logout = await client.post("/logout", data={"csrf_token": after})
    assert logout.status_code == 303
    visitor = logout.cookies.get(CSRF_COOKIE)
    assert visitor and visitor not in (before, after), "logging out must issue a new token"
    # The logged-in token does not serve the next login (login CSRF with a stolen token).
    client.cookies.set(CSRF_COOKIE, after, domain="127.0.0.1")
    again = await client.post("/login", data={"username": "admin", "password": "demo-pass-2026", "csrf_token": after})
    assert again.status_code == 403 and "vs_session" not in again.cookies
