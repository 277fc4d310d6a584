"""Issue 11.4 and 11.10 over HTTP: two-factor login in both steps of the login form, the set-up
that admins and finance staff must finish before anything else (outside demo mode), the JSON API,
the admin's reset, and API tokens' expiry and last use on the account page and in the API."""
from __future__ import annotations

import datetime as dt
import re

import httpx
import pyotp
import pytest

from agency import sessions, twofactor
from agency.tables import AuditEntry
from core.clock import now
from tests.helpers import api, csrf, demo_actors, post_form, web_login
from web.auth import SESSION_COOKIE
from web.controllers.session import DEVICE_COOKIE, PENDING_COOKIE
from web.settings import Settings


def code(secret: str, seconds: int = 0) -> str:
    return pyotp.TOTP(secret).at(now() + dt.timedelta(seconds=seconds))


async def enrol_by_page(client: httpx.AsyncClient) -> tuple[str, list[str]]:
    """Set up two-factor login on its page: the secret read off the page, confirmed with a code."""
    page = await post_form(client, "/account/two-factor/start")
    assert page.status_code == 200
    assert re.search(r'<img src="data:image/svg\+xml;charset=utf-8,[^"]+"', page.text)  # the QR code, inline
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text).group(1)
    done = await post_form(client, "/account/two-factor/confirm", {"code": code(secret, -30)})
    assert done.status_code == 200, done.text
    codes = re.findall(r"<li>([a-z2-9]{5}-[a-z2-9]{5})</li>", done.text)
    assert len(codes) == 10
    return secret, codes


async def test_login_asks_for_the_code_and_remembers_the_browser(client):
    await demo_actors()
    await web_login(client, "huaxin")
    secret, codes = await enrol_by_page(client)
    await post_form(client, "/logout")
    client.cookies.delete(SESSION_COOKIE)
    first = await web_login(client, "huaxin")
    assert first.status_code == 200 and 'name="code"' in first.text
    assert PENDING_COOKIE in first.cookies and SESSION_COOKIE not in first.cookies
    assert (await client.get("/account")).headers["location"].startswith("/login")  # not logged in yet
    wrong = await post_form(client, "/login", {"code": "000000"})
    assert wrong.status_code == 401 and 'name="code"' in wrong.text
    done = await post_form(client, "/login", {"code": code(secret), "remember": "1", "next": "/account"})
    assert done.status_code == 303 and done.headers["location"] == "/account"
    assert done.cookies.get(SESSION_COOKIE) and done.cookies.get(DEVICE_COOKIE)
    assert (await client.get("/account")).status_code == 200
    # This browser is remembered: the password alone logs in.
    await post_form(client, "/logout")
    again = await web_login(client, "huaxin")
    assert again.status_code == 303 and again.cookies.get(SESSION_COOKIE)
    # Another browser is asked, and a recovery code does.
    async with httpx.AsyncClient(transport=client._transport, base_url="http://127.0.0.1") as other:
        assert 'name="code"' in (await web_login(other, "huaxin")).text
        assert (await post_form(other, "/login", {"code": codes[0]})).status_code == 303
        assert (await other.get("/account/two-factor")).status_code == 200


async def test_a_pending_login_that_expired_starts_again(client):
    actors = await demo_actors()
    enrolment = await twofactor.start_enrolment(actors["huaxin"])
    await twofactor.confirm_enrolment(actors["huaxin"], code(enrolment.secret))
    await web_login(client, "huaxin")
    client.cookies.set(PENDING_COOKIE, "made-up", path="/login")
    answer = await post_form(client, "/login", {"code": code(enrolment.secret, 30)})
    assert answer.status_code == 401 and 'name="password"' in answer.text


@pytest.fixture
def production_settings(tmp_path) -> Settings:
    """Outside demo mode (over plain HTTP for the test client)."""
    return Settings.from_env(
        {
            "VOIPAGENCY_DEMO": "0",
            "VOIPAGENCY_DB_PATH": str(tmp_path / "unused.sqlite3"),
            "VOIPAGENCY_SECRET_KEY": "s" * 40,
            "VOIPAGENCY_CARD_SECRET_KEY": "c" * 40,
            "VOIPAGENCY_ALLOWED_HOSTS": "*",
            "VOIPAGENCY_SECURE_COOKIES": "0",
        }
    )


@pytest.fixture
async def production(db, production_settings):
    from web.app import create_app

    app = create_app(production_settings, engine=db["engine"])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as c:
        yield c


@pytest.mark.parametrize("username", ["admin", "finance"])
async def test_admins_and_finance_must_set_up_two_factor_first(production, username):
    actors = await demo_actors()
    token = await sessions.create_api_token(actors[username], "script")
    production.headers["Accept-Language"] = "zh-CN"
    login = await web_login(production, username)
    assert login.status_code == 303
    for page in ("/", "/agents", "/account", "/audit"):
        answer = await production.get(page)
        assert answer.status_code == 303 and answer.headers["location"] == "/account/two-factor", page
    refused = await api(production, "GET", "/api/v1/agents")
    assert refused.status_code == 403 and "双重" in refused.json()["error"]
    refused = await api(production, "POST", "/api/v1/me/tokens", json={"name": "x"})
    assert refused.status_code == 403
    setup = await production.get("/account/two-factor")
    assert setup.status_code == 200 and "/account/two-factor/start" in setup.text
    assert (await api(production, "GET", "/api/v1/me/two-factor")).json()["required"] is True
    # API tokens are a factor of their own: they keep working.
    with_token = await production.get("/api/v1/agents", headers={"Authorization": f"Bearer {token}"})
    assert with_token.status_code == 200
    await enrol_by_page(production)
    assert (await production.get("/agents")).status_code == 200
    assert (await api(production, "GET", "/api/v1/agents")).status_code == 200


async def test_others_need_no_second_factor_outside_demo_mode(production):
    await demo_actors()
    for username in ("support", "huaxin"):
        production.cookies.clear()
        assert (await web_login(production, username)).status_code == 303
        assert (await production.get("/agents")).status_code == 200


async def test_two_factor_over_the_json_api(client):
    await demo_actors()
    await web_login(client, "pearl")
    assert (await api(client, "GET", "/api/v1/me/two-factor")).json() == {
        "enabled": False, "enabled_at": None, "required": False, "recovery_codes_left": 0,
        "remembered_devices": 0, "setting_up": False,
    }
    started = await api(client, "POST", "/api/v1/me/two-factor/start")
    assert started.status_code == 201 and started.json()["uri"].startswith("otpauth://totp/voipagency:pearl?")
    secret = started.json()["secret"]
    assert (await api(client, "POST", "/api/v1/me/two-factor/confirm", json={"code": "000000"})).status_code == 400
    confirmed = await api(client, "POST", "/api/v1/me/two-factor/confirm", json={"code": code(secret, -30)})
    assert confirmed.status_code == 200 and len(confirmed.json()["recovery_codes"]) == 10
    status = (await api(client, "GET", "/api/v1/me/two-factor")).json()
    assert status["enabled"] and status["recovery_codes_left"] == 10
    wrong = await api(client, "POST", "/api/v1/me/two-factor/disable", json={"password": "nope", "code": code(secret)})
    assert wrong.status_code == 400 and "password" in wrong.json()["errors"]
    off = await api(client, "POST", "/api/v1/me/two-factor/disable",
                    json={"password": "demo-pass-2026", "code": code(secret)})
    assert off.status_code == 204
    assert (await api(client, "GET", "/api/v1/me/two-factor")).json()["enabled"] is False


async def test_an_admin_resets_a_users_two_factor(client):
    actors = await demo_actors()
    clerk = actors["huaxin.clerk"]
    enrolment = await twofactor.start_enrolment(clerk)
    await twofactor.confirm_enrolment(clerk, code(enrolment.secret))
    await web_login(client, "admin")
    page = await client.get(f"/users/{clerk.user_id}")
    assert f'action="/users/{clerk.user_id}/two-factor/reset"' in page.text
    answer = await post_form(client, f"/users/{clerk.user_id}/two-factor/reset")
    assert answer.status_code == 303
    assert not await twofactor.is_enabled(clerk.user_id)
    again = await post_form(client, f"/users/{clerk.user_id}/two-factor/reset")
    assert again.status_code == 409  # nothing to reset, said on the user's page
    pearl = actors["pearl.support"]
    enrolment = await twofactor.start_enrolment(pearl)
    await twofactor.confirm_enrolment(pearl, code(enrolment.secret))
    by_api = await api(client, "POST", f"/api/v1/users/{pearl.user_id}/two-factor/reset")
    assert by_api.status_code == 204
    assert await AuditEntry.count().where(AuditEntry.action == "user.reset_two_factor") == 2


async def test_tokens_show_expiry_and_last_use(client):
    await demo_actors()
    client.headers["Accept-Language"] = "zh-CN"
    await web_login(client, "huaxin")
    bad = await post_form(client, "/account/tokens", {"name": "script", "days": "400"})
    assert bad.status_code == 400 and "365" in bad.text and 'id="days-error"' in bad.text
    created = await post_form(client, "/account/tokens", {"name": "script", "days": "30"})
    token = re.search(r'id="new-token">(va_[^<]+)<', created.text).group(1)
    listed = (await api(client, "GET", "/api/v1/me/tokens")).json()
    assert listed[0]["last_used_at"] is None
    expires = dt.datetime.fromisoformat(listed[0]["expires_at"])
    assert expires - dt.datetime.fromisoformat(listed[0]["created_at"]) == dt.timedelta(days=30)
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code == 200
    listed = (await api(client, "GET", "/api/v1/me/tokens")).json()
    assert listed[0]["last_used_at"] is not None
    page = (await client.get("/account")).text
    assert "有效期至" in page and expires.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d") in page
    refused = await api(client, "POST", "/api/v1/me/tokens", json={"name": "x", "days": 0})
    assert refused.status_code == 400 and "365" in refused.json()["errors"]["days"]
    made = await api(client, "POST", "/api/v1/me/tokens", json={"name": "default"})
    assert made.status_code == 201
    # A password change ends them.
    await post_form(client, "/account/password", {"current_password": "demo-pass-2026",
                                                  "new_password": "a-new-password-1"})
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    assert (await api(client, "GET", "/api/v1/me/tokens")).json() == []
    assert await csrf(client)
