"""Card and subscriber pages over HTTP: generate, export once with secrets, activate, recharge on
a subscriber's behalf, suspend and close, and the same pages render in both languages."""
from __future__ import annotations

import csv
import io

from accounts.tables import Subscriber
from money.bundles import buy_bundle
from tests.helpers import demo_actors, post_form, web_login
from tests.money import assert_ledger_ok, fund, key
from web.demo import DEMO_OPERATION_PASSWORD as OP


def rows_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.text.lstrip("\ufeff"))))


async def test_batch_export_activate_recharge_close(client):
    actors = await demo_actors()
    owner = actors["huaxin"]
    await fund(owner.agent_id, 10**8)
    await buy_bundle(owner, 10_000, operation_password=OP, idempotency_key=key())
    await web_login(client, "huaxin")
    made = await post_form(client, "/cards/batches", {"kind": "recharge", "count": "5", "face_minutes": "30",
                                                      "expiry_rule": "days_after_activation", "expiry_days": "90",
                                                      "prefix": "86", "operation_password": OP,
                                                      "idempotency_key": key()})
    assert made.status_code == 303
    batch_url = made.headers["location"]
    page = await client.get(batch_url)
    assert page.status_code == 200 and "PIN" in page.text or "密码" in page.text
    first = await post_form(client, batch_url + "/export", {"format": "csv", "confirm": "1",
                                                            "operation_password": OP})
    table = rows_of(first)
    assert len(table) == 6 and len(table[1][1]) == 16  # serial, PIN, minutes, state, expiry
    pins = {row[0]: row[1] for row in table[1:]}
    again = rows_of(await client.get(batch_url + "/export?format=csv"))
    assert len(again[1]) == 4 and not any(pin in str(again) for pin in pins.values())
    # Secrets appear on no page afterwards.
    for url in (batch_url, "/cards", f"/cards?batch={batch_url.rsplit('/', 1)[1]}"):
        body = (await client.get(url)).text
        assert not any(pin in body for pin in pins.values())
    serials = sorted(pins)
    activated = await post_form(client, "/cards/activate", {"serial_from": serials[0], "serial_to": serials[-1],
                                                            "idempotency_key": key(), "confirm": "1"})
    assert activated.status_code == 200
    # An e-card opens an account; recharge it on the subscriber's behalf with one of the cards.
    ecard = await post_form(client, "/cards/batches", {"kind": "e-card", "count": "1", "face_minutes": "10",
                                                       "expiry_rule": "none", "operation_password": OP,
                                                       "idempotency_key": key()})
    ecard_serial = rows_of(await client.get(ecard.headers["location"] + "/export?format=csv"))[1][0]
    await post_form(client, "/cards/activate", {"serial_from": ecard_serial, "idempotency_key": key()})
    subscriber = await Subscriber.select().where(Subscriber.account_number == ecard_serial).first()
    url = f"/subscribers/{subscriber['id']}"
    recharged = await post_form(client, url + "/recharge", {"serial": serials[0], "pin": pins[serials[0]],
                                                            "idempotency_key": key()})
    assert recharged.status_code == 303
    assert "40" in (await client.get(url)).text
    wrong = await post_form(client, url + "/recharge", {"serial": serials[1], "pin": "0" * 16,
                                                        "idempotency_key": key()})
    assert wrong.status_code == 400
    assert (await post_form(client, url + "/suspend", {"reason": "lost phone"})).status_code == 303
    closed = await post_form(client, url + "/close", {"reason": "moved", "operation_password": OP,
                                                      "idempotency_key": key(), "confirm": "1"})
    assert closed.status_code == 303
    assert (await Subscriber.select(Subscriber.status).where(Subscriber.id == subscriber["id"]).first())[
        "status"] == "closed"
    await assert_ledger_ok()


async def test_card_pages_render_in_both_languages(client):
    await demo_actors()
    for language, word in (("zh-CN", "卡"), ("en", "Card")):
        client.headers["Accept-Language"] = language
        client.cookies.clear()
        await web_login(client, "huaxin")
        for url in ("/cards/batches", "/cards", "/subscribers"):
            response = await client.get(url)
            assert response.status_code == 200 and word in response.text, (language, url)


async def test_cards_over_the_api(client):
    actors = await demo_actors()
    owner = actors["huaxin"]
    await fund(owner.agent_id, 10**8)
    await buy_bundle(owner, 1000, operation_password=OP, idempotency_key=key())
    await web_login(client, "huaxin")
    from tests.helpers import api

    batch = await api(client, "POST", "/api/v1/card-batches", json={"kind": "e-card", "count": 2, "face_minutes": 15,
                                                                     "operation_password": OP,
                                                                     "idempotency_key": key()})
    assert batch.status_code == 201 and '"secret"' not in batch.text and batch.json()["size"] == 2
    first = batch.json()["first_serial"]
    assert (await api(client, "POST", "/api/v1/cards/activate", json={"serial_from": first,
                                                                      "idempotency_key": key()})).json() == {
        "activated": 0, "accounts_opened": 1}
    subscribers = (await client.get("/api/v1/subscribers")).json()
    assert subscribers["total"] == 1 and subscribers["items"][0]["account_number"] == first
    sid = subscribers["items"][0]["id"]
    assert (await client.get(f"/api/v1/subscribers/{sid}")).json()["balance_seconds"] == 15 * 60
    suspended = await api(client, "POST", f"/api/v1/subscribers/{sid}/suspend", json={"reason": "asked"})
    assert suspended.json()["status"] == "suspended"
    failed = await api(client, "POST", f"/api/v1/subscribers/{sid}/recharge", json={"serial": "1" * 13, "pin": "2",
                                                                                     "idempotency_key": key()})
    assert failed.status_code == 400 and "error" in failed.json()
    for bad in ({"kind": "gift", "count": 1, "face_minutes": 1}, {"kind": "recharge", "count": 0, "face_minutes": 1},
                {"kind": "recharge", "count": "many", "face_minutes": 1},
                {"kind": "recharge", "count": 10**7, "face_minutes": 1}):
        response = await api(client, "POST", "/api/v1/card-batches", json={**bad, "operation_password": OP,
                                                                             "idempotency_key": key()})
        assert response.status_code == 400, bad
    closed = await api(client, "POST", f"/api/v1/subscribers/{sid}/close", json={"reason": "x",
                                                                                 "operation_password": OP,
                                                                                 "idempotency_key": key()})
    assert closed.json()["status"] == "closed"
    await assert_ledger_ok()


async def test_large_batch_runs_as_a_job_to_the_end(client):
    import asyncio

    actors = await demo_actors()
    owner = actors["huaxin"]
    await fund(owner.agent_id, 10**8)
    await buy_bundle(owner, 25_000, operation_password=OP, idempotency_key=key())
    await web_login(client, "huaxin")
    started = await post_form(client, "/cards/batches", {"kind": "recharge", "count": "20000", "face_minutes": "1",
                                                         "expiry_rule": "none", "operation_password": OP,
                                                         "idempotency_key": key()})
    assert started.status_code == 303
    job_url = started.headers["location"]
    for _ in range(600):
        page = (await client.get(job_url, headers={"HX-Request": "true"})).text
        if 'data-status="done"' in page:
            break
        assert 'data-status="running"' in page and "hx-trigger" in page
        await asyncio.sleep(0.05)
    assert 'id="job-batch"' in page
    job_id = int(job_url.rsplit("/", 1)[1])
    job = (await client.get(f"/api/v1/card-jobs/{job_id}")).json()
    assert job["status"] == "done" and job["percent"] == 100
    batch = (await client.get(f"/api/v1/card-batches/{job['batch']}")).json()
    assert batch["counts"] == {"generated": 20_000}
    client.cookies.clear()
    await web_login(client, "pearl")
    assert (await client.get(job_url)).status_code == 404
    await assert_ledger_ok()
