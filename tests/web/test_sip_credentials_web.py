"""Issue 16 over HTTP: the switch's route to a subscriber's SIP digest credentials
(GET /api/switch/v1/sip/{account}), the portal's SIP page where the subscriber sets its SIP
password, and the staff reset that shows a random one once."""

from __future__ import annotations

import hashlib
import html
import re

import httpx
import pytest

from accounts.tables import Subscriber
from agency.tables import AuditEntry
from tests.helpers import api, demo_actors, post_form, web_login
from tests.money import key
from tests.web.snapshot import state
from tests.web.test_cards_integrity_web import World
from web.app import create_switch_app
from web.auth import CSRF_COOKIE
from web.demo import DEMO_OPERATION_PASSWORD as OP

REALM = "voipagency"
PORTAL = "portal-pass-1"  # World.portal_session's portal password
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


@pytest.fixture
async def world(app, client, settings):
    world = await World(app, client, settings.card_key).start()
    client.headers["Accept-Language"] = "en"
    yield world
    await world.close()


async def switch_key(app) -> str:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as admin:
        await web_login(admin, "admin")
        created = await api(admin, "POST", "/api/v1/switch/keys", json={"name": "kamailio-1"})
        assert created.status_code == 201, created.text
        return created.json()["key"]


async def set_on_portal(portal: httpx.AsyncClient, password: str, current: str = PORTAL, repeat: str | None = None):
    return await portal.post(
        "/portal/sip",
        data={
            "sip_password": password,
            "repeat_sip_password": password if repeat is None else repeat,
            "current_password": current,
            "csrf_token": portal.cookies[CSRF_COOKIE],
        },
    )


async def sip_row(subscriber_id: int) -> dict:
    return (
        await Subscriber.select(Subscriber.account_number, Subscriber.sip_ha1, Subscriber.sip_realm)
        .where(Subscriber.id == subscriber_id)
        .first()
    )


async def test_the_switch_gets_the_ha1_with_its_key_and_nothing_else_does(world, app, client, db):
    portal = await world.portal_session()
    row = await sip_row(world.portal_subscriber)
    number = row["account_number"]
    sw_key = await switch_key(app)
    bearer = {"Authorization": f"Bearer {sw_key}"}
    url = f"/api/switch/v1/sip/{number}"
    unset = await client.get(url, headers=bearer)
    assert unset.status_code == 404 and unset.json()["error"]  # the project's error body
    assert (await set_on_portal(portal, "Desk-Phone-77")).status_code == 303
    answer = await client.get(url, headers=bearer)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"account": number, "realm": REALM, "ha1": md5(f"{number}:{REALM}:Desk-Phone-77")}
    assert "set-cookie" not in answer.headers
    # No key, a forged key, a staff session, a staff API token, a portal session: 401, no HA1.
    assert (await client.get(url)).status_code == 401
    assert (await client.get(url, headers={"Authorization": "Bearer sw_forged"})).status_code == 401
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as staff:
        await web_login(staff, "admin")
        assert (await staff.get(url)).status_code == 401
        token = (await api(staff, "POST", "/api/v1/me/tokens", json={"name": "t"})).json()["token"]
    assert (await client.get(url, headers={"Authorization": f"Bearer {token}"})).status_code == 401
    refused = await portal.get(url)
    assert refused.status_code == 401 and answer.json()["ha1"] not in refused.text
    # The switch's own processes (serve --switch-port) answer it too.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_switch_app(app.state.settings, engine=db["engine"])),
        base_url="http://127.0.0.1",
    ) as switch_only:
        assert (await switch_only.get(url, headers=bearer)).json() == answer.json()


async def test_unknown_closed_and_stale_accounts_get_404(world, app, client):
    sw_key = await switch_key(app)
    bearer = {"Authorization": f"Bearer {sw_key}"}
    subscriber_id, number, _initial = await world.subscriber()
    reset = await post_form(world.staff, f"/subscribers/{subscriber_id}/sip-password/reset")
    assert reset.status_code == 200
    assert (await client.get(f"/api/switch/v1/sip/{number}", headers=bearer)).status_code == 200
    # A suspended account keeps its credentials (authorize says why its calls are refused).
    await post_form(world.staff, f"/subscribers/{subscriber_id}/suspend", {"reason": "unpaid"})
    assert (await client.get(f"/api/switch/v1/sip/{number}", headers=bearer)).status_code == 200
    # Made for another realm (the setting changed since): not handed out.
    await Subscriber.update({Subscriber.sip_realm: "old.example.com"}).where(Subscriber.id == subscriber_id)
    stale = await client.get(f"/api/switch/v1/sip/{number}", headers=bearer)
    assert stale.status_code == 404 and stale.json() == {"error": "Not found, or not yours to see."}
    await Subscriber.update({Subscriber.sip_realm: REALM}).where(Subscriber.id == subscriber_id)
    closed = await post_form(
        world.staff,
        f"/subscribers/{subscriber_id}/close",
        {"reason": "moving", "operation_password": OP, "confirm": "1", "idempotency_key": key()},
    )
    assert closed.status_code == 303, closed.text[-3000:]
    assert (await client.get(f"/api/switch/v1/sip/{number}", headers=bearer)).status_code == 404
    assert (await client.get("/api/switch/v1/sip/8600000000000", headers=bearer)).status_code == 404


@pytest.mark.parametrize(
    "account",
    [
        "abc",
        "1%20OR%201=1",
        "1" * 21,
        "%D9%A1%D9%A2",
        "%2B8613800000000",
        "12%00",
        "x" * 5000,
        "..",
        "%27--",
        "%E9%95%B7" * 100,
    ],
)
async def test_hostile_account_strings_get_a_clear_4xx(app, client, account):
    await demo_actors()
    sw_key = await switch_key(app)
    answer = await client.get(f"/api/switch/v1/sip/{account}", headers={"Authorization": f"Bearer {sw_key}"})
    assert 400 <= answer.status_code < 500, (account, answer.status_code)
    assert answer.headers["content-type"].startswith("application/json") and answer.json()["error"]


async def test_the_route_is_documented_in_the_openapi_schema(client):
    doc = (await client.get("/schema/openapi.json")).json()
    operation = doc["paths"]["/api/switch/v1/sip/{account}"]["get"]
    assert "switch" in operation["tags"] and "ha1" in operation["description"]
    assert {"200", "400", "401", "404"} <= set(operation["responses"])
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    fields = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]["properties"]
    assert set(fields) == {"account", "realm", "ha1"}


async def test_the_portal_shows_the_phone_settings_and_sets_the_password(world):
    portal = await world.portal_session()
    portal.headers["Accept-Language"] = "en"
    number = (await sip_row(world.portal_subscriber))["account_number"]
    home = await portal.get("/portal")
    assert 'href="/portal/sip"' in home.text
    page = await portal.get("/portal/sip")
    assert page.status_code == 200 and number in page.text and REALM in page.text
    assert "Not set yet" in page.text
    before = await state()
    # A wrong portal password: refused beside its field, nothing changed.
    wrong = await set_on_portal(portal, "Desk-Phone-77", current="not-my-password")
    assert wrong.status_code == 400 and 'id="current_password-error"' in wrong.text
    differ = await set_on_portal(portal, "Desk-Phone-77", repeat="Desk-Phone-78")
    assert differ.status_code == 400 and 'id="repeat_sip_password-error"' in differ.text
    short = await set_on_portal(portal, "short")
    assert short.status_code == 400 and 'id="sip_password-error"' in short.text and "8 to 64" in short.text
    spaced = await set_on_portal(portal, "with a space")
    assert spaced.status_code == 400 and 'id="sip_password-error"' in spaced.text
    assert (await sip_row(world.portal_subscriber))["sip_ha1"] is None
    assert await AuditEntry.count().where(AuditEntry.action == "subscriber.set_sip_password_failed") == 1
    assert await state() == before  # refusals write only their audit entries
    done = await set_on_portal(portal, "Desk-Phone-77")
    assert done.status_code == 303 and done.headers["location"] == "/portal/sip"
    shown = await portal.get("/portal/sip")
    assert 'role="status"' in shown.text and "Your SIP password was set" in shown.text
    assert re.search(r'id="sip-password-state">\s*Set\s*<', shown.text)
    assert "Desk-Phone-77" not in shown.text
    assert (await sip_row(world.portal_subscriber))["sip_ha1"] == md5(f"{number}:{REALM}:Desk-Phone-77")
    # In Chinese too.
    portal.headers["Accept-Language"] = "zh-CN"
    chinese = await portal.get("/portal/sip")
    assert CHINESE.search(chinese.text) and "SIP password" not in chinese.text


async def test_the_portal_api_twin(world):
    portal = await world.portal_session()
    number = (await sip_row(world.portal_subscriber))["account_number"]
    headers = {"X-CSRF-Token": portal.cookies[CSRF_COOKIE]}
    got = await portal.get("/api/v1/portal/sip")
    assert got.json() == {"username": number, "realm": REALM, "is_set": False, "stale": False}
    wrong = await portal.post(
        "/api/v1/portal/sip", json={"sip_password": "Desk-Phone-77", "current_password": "no"}, headers=headers
    )
    assert wrong.status_code == 400 and "current_password" in wrong.json()["errors"]
    bad = await portal.post(
        "/api/v1/portal/sip", json={"sip_password": "短", "current_password": PORTAL}, headers=headers
    )
    assert bad.status_code == 400 and "sip_password" in bad.json()["errors"]
    assert (await sip_row(world.portal_subscriber))["sip_ha1"] is None
    ok = await portal.post(
        "/api/v1/portal/sip", json={"sip_password": "Desk-Phone-77", "current_password": PORTAL}, headers=headers
    )
    assert ok.status_code == 200 and ok.json()["is_set"] is True


async def test_staff_reset_shows_the_password_once(world, client, app):
    subscriber_id, number, _initial = await world.subscriber()
    detail = await world.staff.get(f"/subscribers/{subscriber_id}")
    assert f'action="/subscribers/{subscriber_id}/sip-password/reset"' in detail.text
    assert re.search(r'id="sip-password-state">\s*Not set\s*<', detail.text)
    reset = await post_form(world.staff, f"/subscribers/{subscriber_id}/sip-password/reset")
    assert reset.status_code == 200 and reset.headers["cache-control"] == "no-store"
    status = re.search(r'role="status">(.*?)</p>', reset.text, re.S)
    assert status and number in html.unescape(status.group(1)) and "shown only this once" in status.group(1)
    password = html.unescape(re.search(r'id="new-sip-password" value="([^"]+)"', reset.text).group(1))
    assert 'data-copy="new-sip-password"' in reset.text and REALM in reset.text
    assert (await sip_row(subscriber_id))["sip_ha1"] == md5(f"{number}:{REALM}:{password}")
    # Never again: not on the account's page, not in the audit log, not in the API.
    again = await world.staff.get(f"/subscribers/{subscriber_id}")
    assert password not in again.text and re.search(r'id="sip-password-state">\s*Set\s*<', again.text)
    assert password not in (await world.staff.get("/audit")).text
    assert password not in (await world.staff.get(f"/api/v1/subscribers/{subscriber_id}")).text
    entries = await AuditEntry.select().where(AuditEntry.action == "subscriber.reset_sip_password")
    assert len(entries) == 1 and entries[0]["username"] == "huaxin" and password not in repr(entries)
    assert "SIP password reset" in (await world.staff.get("/audit")).text  # labelled, not a code
    # The JSON twin: a new one, in its answer only.
    answer = await api(world.staff, "POST", f"/api/v1/subscribers/{subscriber_id}/sip-password/reset")
    assert answer.status_code == 200
    body = answer.json()
    assert body["account_number"] == number and body["username"] == number and body["realm"] == REALM
    assert body["password"] != password and body["is_set"] is True
    assert (await sip_row(subscriber_id))["sip_ha1"] == md5(f"{number}:{REALM}:{body['password']}")


async def test_a_reset_in_chinese_says_what_it_did(world):
    subscriber_id, _number, _initial = await world.subscriber()
    world.staff.headers["Accept-Language"] = "zh-CN"
    reset = await post_form(world.staff, f"/subscribers/{subscriber_id}/sip-password/reset")
    status = re.search(r'role="status">(.*?)</p>', reset.text, re.S)
    assert reset.status_code == 200 and status and CHINESE.search(status.group(1))


async def test_another_agents_staff_and_a_viewer_cannot_reset(world, app):
    subscriber_id, number, _initial = await world.subscriber()
    for username, code in (("pearl", 404), ("pearl.support", 404), ("huaxin.view", 403)):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as other:
            await web_login(other, username)
            before = await state()
            form = await post_form(other, f"/subscribers/{subscriber_id}/sip-password/reset")
            assert form.status_code == code, (username, form.status_code)
            json = await api(other, "POST", f"/api/v1/subscribers/{subscriber_id}/sip-password/reset")
            assert json.status_code == code, (username, json.status_code)
            assert number not in form.text and number not in json.text
            assert await state() == before
    assert (await sip_row(subscriber_id))["sip_ha1"] is None


async def test_a_closed_account_cannot_be_reset(world):
    subscriber_id, _number, _initial = await world.subscriber()
    closed = await post_form(
        world.staff,
        f"/subscribers/{subscriber_id}/close",
        {"reason": "moving", "operation_password": OP, "confirm": "1", "idempotency_key": key()},
    )
    assert closed.status_code == 303
    before = await state()
    refused = await post_form(world.staff, f"/subscribers/{subscriber_id}/sip-password/reset")
    assert refused.status_code == 409 and 'role="alert"' in refused.text
    assert await state() == before
