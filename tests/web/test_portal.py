"""The subscriber portal over HTTP (R-16, R-19): the initial password must be replaced, then
balance, recharge and history; a wrong card gets the generic message; API with the session."""
from __future__ import annotations

from cards.services import activate_cards, generate_batch
from money.bundles import buy_bundle
from tests.helpers import api, csrf, demo_actors
from tests.money import assert_ledger_ok, fund, key
from web.demo import DEMO_OPERATION_PASSWORD as OP


async def _cards(actors, settings):
    owner = actors["huaxin"]
    await fund(owner.agent_id, 10**8)
    await buy_bundle(owner, 10_000, operation_password=OP, idempotency_key=key())
    card_key = settings.card_key
    _e, ecard = await generate_batch(owner, {"kind": "e-card", "count": "1", "face_minutes": "20",
                                             "expiry_rule": "days_after_activation", "expiry_days": "30"},
                                     card_key=card_key, operation_password=OP)
    _r, recharge = await generate_batch(owner, {"kind": "recharge", "count": "2", "face_minutes": "50",
                                                "expiry_rule": "none"}, card_key=card_key, operation_password=OP)
    await activate_cards(owner, ecard[0][0])
    await activate_cards(owner, recharge[0][0], recharge[1][0])
    return ecard[0], recharge


async def portal_login(client, number: str, password: str):
    return await client.post("/portal/login", data={"account_number": number, "password": password,
                                                    "csrf_token": await csrf(client)})


async def test_first_login_then_recharge(client, settings):
    (number, initial), recharge = await _cards(await demo_actors(), settings)
    assert (await client.get("/portal")).headers["location"] == "/portal/login"
    bad = await portal_login(client, number, "0" * 16)
    assert bad.status_code == 401
    first = await portal_login(client, number, initial)
    assert first.status_code == 303 and first.headers["location"] == "/portal/password"
    assert (await client.get("/portal")).headers["location"] == "/portal/password"  # must change first
    assert (await api(client, "GET", "/api/v1/portal/balance")).status_code == 403
    token = await csrf(client)
    mismatch = await client.post("/portal/password", data={"new_password": "abc12345", "repeat_password": "x",
                                                            "csrf_token": token})
    assert mismatch.status_code == 400
    changed = await client.post("/portal/password", data={"new_password": "abc12345",
                                                           "repeat_password": "abc12345", "csrf_token": token})
    assert changed.status_code == 303
    home = await client.get("/portal")
    assert home.status_code == 200 and "20" in home.text and "30" in home.text  # 20 minutes, 30 days
    serial, pin = recharge[0]
    done = await client.post("/portal/recharge", data={"serial": serial, "pin": pin, "csrf_token": token,
                                                       "idempotency_key": key()})
    assert done.status_code == 200 and "70" in done.text
    wrong = await client.post("/portal/recharge", data={"serial": recharge[1][0], "pin": pin, "csrf_token": token,
                                                        "idempotency_key": key()})
    assert wrong.status_code == 400
    again = await client.post("/portal/recharge", data={"serial": serial, "pin": pin, "csrf_token": token,
                                                        "idempotency_key": key()})
    assert again.status_code == 400  # exactly once
    balance = (await api(client, "GET", "/api/v1/portal/balance")).json()
    assert balance["balance_minutes"] == 70 and balance["days_left"] == 30
    by_api = await api(client, "POST", "/api/v1/portal/recharge", json={"serial": recharge[1][0],
                                                                         "pin": recharge[1][1],
                                                                         "idempotency_key": key()})
    assert by_api.status_code == 200 and by_api.json()["balance_seconds"] == 120 * 60
    history = await client.get("/portal/history")
    assert history.text.count("+50") == 2
    # The initial password no longer works; the new one does.
    client.cookies.clear()
    assert (await portal_login(client, number, initial)).status_code == 401
    assert (await portal_login(client, number, "abc12345")).headers["location"] == "/portal"
    await assert_ledger_ok()


async def test_staff_session_is_not_a_portal_session(client, settings):
    from tests.helpers import web_login

    await _cards(await demo_actors(), settings)
    await web_login(client, "admin")
    assert (await client.get("/portal")).headers["location"] == "/portal/login"
    assert (await api(client, "GET", "/api/v1/portal/balance")).status_code == 401
