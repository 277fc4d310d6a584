"""The switch API over HTTP: only a live switch key opens it (no user credentials), keys are
managed by operator admins and shown once, authorize and call records answer JSON, bad input 400."""

from __future__ import annotations

import datetime as dt

from accounts import controls
from accounts.tables import Subscriber
from agency.sessions import log_in
from core.clock import now
from tests.helpers import api, demo_actors, web_login
from tests.integration.test_cards import live_subscriber, stocked_owner
from web.demo import DEMO_PASSWORD


async def subscriber_with(minutes: int) -> str:
    owner = await stocked_owner(await demo_actors(), minutes=1000)
    return (await live_subscriber(owner, minutes))[0]["account_number"]


async def switch_key(client) -> tuple[str, int]:
    await web_login(client, "admin")
    created = await api(client, "POST", "/api/v1/switch/keys", json={"name": "freeswitch-1"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["key"].startswith("sw_") and body["prefix"] == body["key"][:10]
    listed = (await client.get("/api/v1/switch/keys")).json()
    assert [k["name"] for k in listed] == ["freeswitch-1"] and "key" not in listed[0]  # shown once
    client.cookies.clear()
    return body["key"], body["id"]


async def test_a_switch_authorizes_and_reports_calls_with_its_key(client):
    number = await subscriber_with(10)
    key, key_id = await switch_key(client)
    bearer = {"Authorization": f"Bearer {key}"}
    asked = {"account": number, "destination": "8613800138000", "call_id": "fs-1"}
    answer = await client.post("/api/switch/v1/authorize", json=asked, headers=bearer)
    assert answer.status_code == 200 and answer.json() == {"call_id": "fs-1", "allow": True, "max_seconds": 600,
                                                            "reason": ""}
    assert "set-cookie" not in answer.headers  # no CSRF cookie for a switch
    end = now().replace(microsecond=0)
    cdr = {"call_id": "fs-1", "account": number, "destination": "8613800138000",
           "start": int((end - dt.timedelta(seconds=70)).timestamp()),
           "answer": int((end - dt.timedelta(seconds=65)).timestamp()), "end": int(end.timestamp())}
    rated = await client.post("/api/switch/v1/cdr", json={"calls": [cdr, {"call_id": "x"}]}, headers=bearer)
    assert rated.status_code == 200
    assert [r["status"] for r in rated.json()["results"]] == ["rated", "invalid"]
    assert rated.json()["results"][0]["charged"] == 120
    for bad in ({**asked, "account": "1 OR 1=1"}, {"account": number}, {**asked, "call_id": "x" * 65}):
        response = await client.post("/api/switch/v1/authorize", json=bad, headers=bearer)
        assert response.status_code == 400, response.text
    too_many = await client.post("/api/switch/v1/cdr", json={"calls": [cdr] * 1001}, headers=bearer)
    assert too_many.status_code == 400
    _token, admin = await log_in("admin", DEMO_PASSWORD, address="10.9.9.9")
    await controls.add_bar(admin, {"prefix": "8690", "reason": "premium"})
    barred = await client.post("/api/switch/v1/authorize", json={**asked, "destination": "869012", "call_id": "b"},
                               headers=bearer)
    assert barred.json() == {"call_id": "b", "allow": False, "max_seconds": 0, "reason": "barred destination",
                             "detail": "premium"}
    # revoked: the key opens nothing any more
    await web_login(client, "admin")
    assert (await api(client, "DELETE", f"/api/v1/switch/keys/{key_id}")).status_code == 204
    client.cookies.clear()
    assert (await client.post("/api/switch/v1/authorize", json=asked, headers=bearer)).status_code == 401


async def test_only_a_switch_key_opens_the_switch_api(client):
    number = await subscriber_with(5)
    asked = {"account": number, "destination": "861", "call_id": "c"}
    assert (await client.post("/api/switch/v1/authorize", json=asked)).status_code == 401
    assert (await client.post("/api/switch/v1/authorize", json=asked,
                              headers={"Authorization": "Bearer sw_forged"})).status_code == 401
    await web_login(client, "admin")  # a staff session is no switch key
    assert (await api(client, "POST", "/api/switch/v1/authorize", json=asked)).status_code == 401
    token = (await api(client, "POST", "/api/v1/me/tokens", json={"name": "t"})).json()["token"]
    client.cookies.clear()
    assert (await client.post("/api/switch/v1/authorize", json=asked,
                              headers={"Authorization": f"Bearer {token}"})).status_code == 401


async def test_only_operator_admins_manage_switch_keys(client):
    await demo_actors()
    for username in ("finance", "huaxin"):
        await web_login(client, username)
        assert (await client.get("/api/v1/switch/keys")).status_code == 403
        assert (await api(client, "POST", "/api/v1/switch/keys", json={"name": "mine"})).status_code == 403
        client.cookies.clear()
    await web_login(client, "admin")
    assert (await api(client, "POST", "/api/v1/switch/keys", json={"name": ""})).status_code == 400
    assert (await api(client, "DELETE", "/api/v1/switch/keys/999999")).status_code == 404


async def test_garbage_from_a_switch_is_refused_and_changes_nothing(client):
    from tests.web.snapshot import state
    from tests.web.test_hostile_input import GARBAGE_JSON

    number = await subscriber_with(5)
    key, _key_id = await switch_key(client)
    bearer = {"Authorization": f"Bearer {key}"}
    before = await state()
    garbage = [*GARBAGE_JSON, {"account": number, "destination": "86" * 40, "call_id": "a"},
               {"account": number, "destination": "861", "call_id": "\x00"}, {"calls": "all"},
               {"calls": [{"call_id": "z", "account": number, "destination": "861", "start": "yesterday",
                           "end": 10**30}]}, {"calls": [[1]]}]
    for path in ("/api/switch/v1/authorize", "/api/switch/v1/cdr"):
        for body in garbage:
            response = await client.post(path, json=body, headers=bearer)
            assert response.status_code in (200, 400), (path, body, response.status_code, response.text)
            if response.status_code == 200 and path.endswith("cdr"):
                assert all(r["status"] == "invalid" for r in response.json()["results"])
        raw = await client.post(path, content=b"\xff{not json", headers={**bearer, "Content-Type": "application/json"})
        assert raw.status_code == 400
    assert await state() == before


async def test_calling_hours_are_set_on_the_agent(client):
    await demo_actors()
    await web_login(client, "huaxin")  # an owner sets the hours of its sub-agent
    child = (await client.get("/api/v1/agents?search=")).json()["items"]
    child_id = next(a["id"] for a in child if a["level"] == 2)
    patched = await api(client, "PATCH", f"/api/v1/agents/{child_id}", json={"calling_hours": "08:00-19:30"})
    assert patched.status_code == 200 and patched.json()["calling_hours"] == "08:00-19:30"
    for bad in ("8-19", "08:00-25:00", "x" * 40, 5):
        refused = await api(client, "PATCH", f"/api/v1/agents/{child_id}", json={"calling_hours": bad})
        assert refused.status_code == 400, (bad, refused.text)
    page = await client.get(f"/agents/{child_id}")
    assert "08:00-19:30" in page.text
    form = await client.get(f"/agents/{child_id}/edit")
    assert 'name="calling_hours"' in form.text and 'value="08:00-19:30"' in form.text


async def test_destination_rates_bill_calls_by_prefix(client):
    number = await subscriber_with(10)
    key, _key_id = await switch_key(client)
    await web_login(client, "admin")
    saved = await api(client, "PUT", "/api/v1/switch/rates/44", json={"multiplier": 200, "note": "UK"})
    assert saved.status_code == 200 and saved.json()["multiplier"] == 200
    bad_rates = (("44", {"multiplier": 0}), ("44", {"increment": 99999}), ("4a", {}), ("44", {"note": "x" * 101}))
    for prefix, bad in bad_rates:
        assert (await api(client, "PUT", f"/api/v1/switch/rates/{prefix}", json=bad)).status_code == 400
    assert [r["prefix"] for r in (await client.get("/api/v1/switch/rates")).json()] == ["44"]
    client.cookies.clear()
    bearer = {"Authorization": f"Bearer {key}"}
    uk = await client.post("/api/switch/v1/authorize", headers=bearer,
                           json={"account": number, "destination": "447700900123", "call_id": "uk"})
    assert uk.json()["max_seconds"] == 300  # 600 s of airtime at twice the rate
    await web_login(client, "admin")
    assert (await api(client, "DELETE", "/api/v1/switch/rates/44")).status_code == 204
    assert (await api(client, "DELETE", "/api/v1/switch/rates/44")).status_code == 404
    await web_login(client, "huaxin")
    assert (await api(client, "PUT", "/api/v1/switch/rates/1", json={})).status_code == 403


async def test_calls_show_in_the_portal_and_to_the_agent_but_not_to_a_sibling(client, settings):
    from accounts import switch
    from tests.integration.test_switch import record
    from tests.web.test_portal import _cards, portal_login

    (number, initial), _recharge = await _cards(await demo_actors(), settings)
    await switch.authorize({"account": number, "destination": "8613912345678", "call_id": "shown"})
    await switch.rate_calls([record("shown", number, 99, destination="8613912345678")])
    subscriber_id = (await Subscriber.select(Subscriber.id).where(Subscriber.account_number == number).first())["id"]
    await portal_login(client, number, initial)
    await client.post("/portal/password", data={"new_password": "portal-pass-1", "repeat_password": "portal-pass-1",
                                                "csrf_token": client.cookies["vs_csrf"]})
    home = await client.get("/portal")
    assert "8613912345678" in home.text and "1:39" in home.text and "-2:00" in home.text  # 99 s, billed 120 s
    calls = (await client.get("/api/v1/portal/calls")).json()
    assert [(c["destination"], c["duration"], c["charged"]) for c in calls] == [("8613912345678", 99, 120)]
    client.cookies.clear()
    await web_login(client, "huaxin")
    assert "8613912345678" in (await client.get(f"/subscribers/{subscriber_id}")).text
    assert len((await client.get(f"/api/v1/subscribers/{subscriber_id}/calls")).json()) == 1
    client.cookies.clear()
    await web_login(client, "pearl")  # the sibling subtree
    assert (await client.get(f"/subscribers/{subscriber_id}")).status_code == 404
    assert (await client.get(f"/api/v1/subscribers/{subscriber_id}/calls")).status_code == 404


async def test_the_switch_page_for_operator_admins(client):
    from tests.helpers import post_form

    await demo_actors()
    await web_login(client, "admin")
    page = await client.get("/switch")
    assert page.status_code == 200 and 'href="/switch"' in page.text
    created = await post_form(client, "/switch/keys", {"name": "asterisk-1"})
    assert created.status_code == 200 and 'id="new-key">sw_' in created.text
    key = created.text.split('id="new-key">')[1].split("<")[0]
    again = await client.get("/switch")
    assert "asterisk-1" in again.text and key not in again.text  # shown once
    key_id = (await client.get("/api/v1/switch/keys")).json()[0]["id"]
    assert (await post_form(client, f"/switch/keys/{key_id}/revoke")).status_code == 303
    assert (await client.get("/api/v1/switch/keys")).json()[0]["revoked_at"] is not None
    assert (await post_form(client, "/switch/rates", {"prefix": "852", "multiplier": "120", "first_block": "30",
                                                       "increment": "6", "note": "HK"})).status_code == 303
    assert (await client.get("/api/v1/switch/rates")).json()[0]["multiplier"] == 120
    refused = await post_form(client, "/switch/rates", {"prefix": "85x", "multiplier": "１２０", "first_block": "0",
                                                         "increment": "6"})
    assert refused.status_code == 400 and 'aria-invalid="true"' in refused.text
    assert (await post_form(client, "/switch/rates/852/delete")).status_code == 303
    assert (await client.get("/api/v1/switch/rates")).json() == []
    client.cookies.clear()
    await web_login(client, "huaxin")
    assert (await client.get("/switch")).status_code == 403
    assert 'href="/switch"' not in (await client.get("/")).text
