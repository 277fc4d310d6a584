"""Changing the portal password needs the current one (issue 11, point 8d), checked by the login's
throttle: guesses here and at the login page add up. The first change, from the initial password
printed on the e-card, does not ask for it again (the session has just proved it)."""

from __future__ import annotations

import httpx

from accounts.tables import Subscriber
from agency.tables import AuditEntry
from core.passwords import verify_password
from tests.helpers import csrf, demo_actors
from tests.web.test_portal import _cards, portal_login

FIRST, SECOND, THIRD = "first-pass-1", "second-pass-2", "third-pass-3"


async def change(client, new: str, current: str | None = None):
    data = {"new_password": new, "repeat_password": new, "csrf_token": await csrf(client)}
    if current is not None:
        data["current_password"] = current
    return await client.post("/portal/password", data=data)


async def logged_in_subscriber(client, settings) -> str:
    """A subscriber who replaced the initial password with FIRST, logged in; its account number."""
    (number, initial), _recharge = await _cards(await demo_actors(), settings)
    assert (await portal_login(client, number, initial)).headers["location"] == "/portal/password"
    page = await client.get("/portal/password")
    assert 'name="current_password"' not in page.text  # the first change: the card's secret was just given
    assert (await change(client, FIRST)).status_code == 303
    return number


async def test_a_later_change_needs_the_current_password(client, settings):
    number = await logged_in_subscriber(client, settings)
    page = await client.get("/portal/password")
    assert page.status_code == 200 and 'name="current_password"' in page.text
    without = await change(client, SECOND)
    assert without.status_code == 400 and 'id="current_password-error"' in without.text
    wrong = await change(client, SECOND, current="not-my-password")
    assert wrong.status_code == 400 and 'id="current_password-error"' in wrong.text
    failures = await AuditEntry.count().where(AuditEntry.action == "subscriber.change_password_failed")
    assert failures == 2
    right = await change(client, SECOND, current=FIRST)
    assert right.status_code == 303 and right.headers["location"] == "/portal"
    client.cookies.clear()
    assert (await portal_login(client, number, FIRST)).status_code == 401
    assert (await portal_login(client, number, SECOND)).headers["location"] == "/portal"


async def test_guesses_are_throttled_with_the_login(client, settings):
    number = await logged_in_subscriber(client, settings)
    for _ in range(5):
        assert (await change(client, SECOND, current="a-wrong-guess")).status_code == 400
    # Locked now: even the right current password is refused, with the same answer ...
    locked = await change(client, SECOND, current=FIRST)
    assert locked.status_code == 400 and 'id="current_password-error"' in locked.text
    # ... and so is the login with it, since both count under the same keys.
    other = httpx.Cookies(client.cookies)
    client.cookies.clear()
    assert (await portal_login(client, number, FIRST)).status_code == 401
    client.cookies = other
    assert (await client.get("/portal")).status_code == 200  # the session itself goes on
    row = await Subscriber.select(Subscriber.password_hash).where(Subscriber.account_number == number).first()
    assert verify_password(row["password_hash"], FIRST)  # nothing was changed
