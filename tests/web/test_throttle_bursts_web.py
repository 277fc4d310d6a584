"""The throttles under bursts over HTTP (R-15, R-33, R-35): 200 concurrent wrong logins or recharges
through the app get the generic refusal, never a server error; at most the configured number of
secrets is checked, every guess is audited, and the right secret is refused while locked, from
that address; the holder elsewhere still gets in."""

from __future__ import annotations

import asyncio

import httpx

from agency.tables import AuditEntry
from agency.throttle import FREE_FAILURES
from cards.tables import Card
from tests.helpers import csrf, demo_actors, web_login
from tests.integration.test_throttle_bursts import password_checks, pin_checks  # noqa: F401 (fixtures)
from tests.money import key
from tests.web.test_portal import _cards, portal_login
from web.demo import DEMO_PASSWORD

BURST = 200


async def test_a_burst_of_wrong_logins(app, client, password_checks):  # noqa: F811
    await demo_actors()
    token = await csrf(client)
    password_checks.clear()
    answers = await asyncio.gather(
        *(
            client.post("/login", data={"username": "huaxin", "password": f"wrong-{i}", "csrf_token": token})
            for i in range(BURST)
        )
    )
    assert {a.status_code for a in answers} == {401}
    assert 1 <= len(password_checks) <= FREE_FAILURES
    assert (await web_login(client, "huaxin")).status_code == 401  # the right one, from there: locked
    assert await AuditEntry.count().where(AuditEntry.action == "login.failed") == BURST + 1
    # The holder, from another address, gets in.
    elsewhere = httpx.ASGITransport(app=app, client=("203.0.113.40", 50000))
    async with httpx.AsyncClient(transport=elsewhere, base_url="http://127.0.0.1") as holder:
        answer = await web_login(holder, "huaxin", DEMO_PASSWORD)
        assert answer.status_code == 303, answer.text[:300]


async def test_a_burst_of_wrong_portal_recharges(client, settings, pin_checks):  # noqa: F811
    (number, initial), recharge = await _cards(await demo_actors(), settings)
    assert (await portal_login(client, number, initial)).status_code == 303
    token = await csrf(client)
    changed = await client.post(
        "/portal/password", data={"new_password": "abc12345", "repeat_password": "abc12345", "csrf_token": token}
    )
    assert changed.status_code == 303
    serial, pin = recharge[0]
    pin_checks.clear()
    answers = await asyncio.gather(
        *(
            client.post(
                "/api/v1/portal/recharge",
                json={"serial": serial, "pin": f"{i:016d}", "idempotency_key": key()},
                headers={"X-CSRF-Token": token},
            )
            for i in range(BURST)
        )
    )
    statuses = [a.status_code for a in answers]
    assert 500 not in statuses and set(statuses) == {400}, {a.status_code: a.text[:200] for a in answers}
    assert 1 <= len(pin_checks) <= FREE_FAILURES
    # Every guess was audited; the right PIN is refused while locked, and the card is untouched.
    assert await AuditEntry.count().where(AuditEntry.action == "cards.redeem_failed") == BURST
    right = await client.post(
        "/api/v1/portal/recharge",
        json={"serial": serial, "pin": pin, "idempotency_key": key()},
        headers={"X-CSRF-Token": token},
    )
    assert right.status_code == 400
    assert (await Card.select(Card.status).where(Card.serial == serial).first())["status"] == "active"
