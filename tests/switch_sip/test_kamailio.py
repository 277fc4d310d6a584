"""Issue 16, item 2: calls through a real Kamailio started from contrib/kamailio/kamailio.cfg, in
front of a real product server, on SQLite and on PostgreSQL. The phone and the gateway are the
small UAs of sip_ua.py; subscribers, balances, SIP passwords and tariffs are set up through the
product's API (conftest.py)."""

from __future__ import annotations

import secrets
import threading
import time

from tests.switch_sip.conftest import PER_SECOND, Switch
from web.demo import DEMO_OPERATION_PASSWORD

DESTINATION = PER_SECOND + "8613800138000"  # billed by the second


def test_an_allowed_call_is_relayed_answered_hung_up_rated_and_charged(switch: Switch):
    subscriber = switch.new_subscriber()
    call = switch.caller.place(subscriber.account, subscriber.password, DESTINATION)
    assert call.challenged is not None and call.challenged.status == 407  # the INVITE was challenged
    assert call.status == 200, (call.final.first_line, switch.kamailio.log_text()[-3000:])
    leg = switch.callee.wait_leg(call.call_id)
    assert leg.invite.uri.startswith(f"sip:{DESTINATION}@")
    assert leg.invite.all("record-route"), "Kamailio stays in the call's path"
    assert not leg.invite.all("proxy-authorization"), "the caller's credentials do not reach the gateway"
    time.sleep(3.5)
    assert switch.caller.hang_up(call, subscriber.account).status == 200
    switch.wait_bye(call.call_id, 2)
    rated = switch.wait_rated(subscriber, call.call_id)
    assert rated["duration"] in (3, 4) and rated["charged"] == rated["billed"] == rated["duration"], rated
    assert rated["answered_at"] is not None and not rated["flagged"]
    assert switch.balance(subscriber) == 60 - rated["charged"]


def test_a_call_longer_than_the_balance_is_cut_by_kamailio_when_the_paid_time_is_over(switch: Switch):
    subscriber = switch.new_subscriber(spend_to=4)  # 4 s of airtime left: authorize grants 4 s
    call = switch.caller.place(subscriber.account, subscriber.password, DESTINATION)
    assert call.status == 200, call.final.first_line
    leg = switch.callee.wait_leg(call.call_id)
    bye = switch.wait_bye(call.call_id, 8)  # nobody hangs up: Kamailio does
    held = bye.received_at - leg.answered_at
    assert 3.0 <= held <= 5.5, f"BYE {held:.2f} s after the answer, for 4 paid seconds"
    assert "paid time is over" in bye.get("reason")
    assert switch.caller.wait_bye(call, 2).get("reason") == bye.get("reason")  # both sides
    rated = switch.wait_rated(subscriber, call.call_id)
    assert rated["duration"] <= 4 and rated["charged"] == rated["duration"] and not rated["flagged"], rated
    assert switch.balance(subscriber) == 4 - rated["charged"] >= 0


def test_closed_suspended_and_empty_accounts_are_refused_with_their_sip_status(switch: Switch):
    closed, suspended, empty = switch.new_subscriber(), switch.new_subscriber(), switch.new_subscriber(spend_to=0)
    done = switch.agent.post(
        f"/api/v1/subscribers/{closed.id}/close",
        json={"reason": "test", "operation_password": DEMO_OPERATION_PASSWORD, "idempotency_key": secrets.token_hex(8)},
    )
    assert done.status_code == 200, done.text
    done = switch.agent.post(f"/api/v1/subscribers/{suspended.id}/suspend", json={"reason": "test"})
    assert done.status_code == 200, done.text
    expected = {closed: 403, suspended: 403, empty: 402}
    for subscriber, status in expected.items():
        call = switch.caller.place(subscriber.account, subscriber.password, DESTINATION)
        assert call.status == status, (subscriber, call.final.first_line)
        assert call.call_id not in switch.callee.legs, "a refused call never reaches the gateway"
    suspended_call = switch.caller.place(suspended.account, suspended.password, DESTINATION)
    assert suspended_call.final.reason == "suspended"
    assert 'text="suspended"' in suspended_call.final.get("reason")
    assert switch.caller.place(empty.account, empty.password, DESTINATION).final.reason == "no balance"


def test_two_simultaneous_calls_on_one_balance_cannot_both_run_past_it(switch: Switch):
    subscriber = switch.new_subscriber()
    calls = []

    def place() -> None:
        calls.append(switch.caller.place(subscriber.account, subscriber.password, DESTINATION))

    threads = [threading.Thread(target=place) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    statuses = sorted(call.status for call in calls)
    # One call gets the whole balance; the other is refused (no airtime left, or the cap on calls at once).
    assert statuses[0] == 200 and statuses[1] in (402, 486), [c.final.first_line for c in calls]
    answered = next(call for call in calls if call.status == 200)
    time.sleep(3.2)
    assert switch.caller.hang_up(answered, subscriber.account).status == 200
    rated = switch.wait_rated(subscriber, answered.call_id)
    refused = next(call for call in calls if call.status != 200)
    assert refused.call_id not in switch.callee.legs
    assert switch.balance(subscriber) == 60 - rated["charged"] >= 0


def test_an_unanswered_call_releases_its_airtime_at_once(switch: Switch):
    subscriber = switch.new_subscriber()
    switch.callee.refuse_with = (486, "Busy Here")
    try:
        busy = switch.caller.place(subscriber.account, subscriber.password, DESTINATION)
    finally:
        switch.callee.refuse_with = None
    assert busy.status == 486
    # Its record (answer null) comes at once and frees the reservation, so the next call may go.
    rated = switch.wait_rated(subscriber, busy.call_id)
    assert rated["answered_at"] is None and rated["charged"] == 0
    call = switch.caller.place(subscriber.account, subscriber.password, DESTINATION)
    assert call.status == 200, call.final.first_line
    assert switch.caller.hang_up(call, subscriber.account).status == 200
    assert switch.wait_rated(subscriber, call.call_id)["charged"] == 0  # under 3 s: free
    assert switch.balance(subscriber) == 60


def test_a_wrong_sip_password_is_rejected_after_the_challenge(switch: Switch):
    subscriber = switch.new_subscriber()
    call = switch.caller.place(subscriber.account, subscriber.password + "x", DESTINATION)
    assert call.challenged is not None and call.challenged.status == 407
    assert call.status == 403, call.final.first_line
    stranger = switch.caller.place("8699999999999", "whatever-password", DESTINATION)
    assert stranger.status == 403 and stranger.final.reason == call.final.reason  # no hint who exists
    assert call.call_id not in switch.callee.legs and stranger.call_id not in switch.callee.legs


def test_call_records_are_retried_until_the_product_has_them(switch: Switch):
    subscriber = switch.new_subscriber()
    call = switch.caller.place(subscriber.account, subscriber.password, DESTINATION)
    assert call.status == 200, call.final.first_line
    time.sleep(3.2)
    switch.server.stop()  # the product goes away while the call ends
    try:
        assert switch.caller.hang_up(call, subscriber.account).status == 200
        time.sleep(1.5)  # Kamailio tries, fails, and keeps the record
        assert "not delivered" in switch.kamailio.log_text()
    finally:
        switch.server.start()
    rated = switch.wait_rated(subscriber, call.call_id)
    assert rated["duration"] in (3, 4) and switch.balance(subscriber) == 60 - rated["charged"]


def test_a_barred_destination_is_refused_with_the_bars_reason_code(switch: Switch):
    subscriber = switch.new_subscriber()
    barred = switch.admin.post("/api/v1/calls/bars", json={"prefix": "98", "reason": "premium", "note": "test"})
    assert barred.status_code == 201, barred.text
    call = switch.caller.place(subscriber.account, subscriber.password, "9890012345")
    assert (call.status, call.final.reason) == (403, "barred destination"), call.final.first_line
    assert call.final.get("reason") == 'SIP;cause=403;text="barred destination: premium"'
    assert call.call_id not in switch.callee.legs
