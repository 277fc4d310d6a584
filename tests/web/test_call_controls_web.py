"""Call controls and the review list over HTTP (R-22a), on both databases: the operator's
settings, bars and rules through the forms and the JSON API, an owner's bar for its subtree, the
caps, and a review item a usage rule opened, resumed through its confirmation step."""

from __future__ import annotations

import re

from accounts import controls, switch
from accounts.tables import Subscriber
from agency.tables import Agent
from tests.helpers import api, demo_actors, post_form, web_login
from tests.integration.test_cards import live_subscriber, stocked_owner
from tests.integration.test_switch import ask
from tests.web.snapshot import state
from tests.web.test_confirmations import hidden, summary


async def test_the_operator_sets_settings_bars_and_rules_by_form_and_json(client):
    actors = await demo_actors()
    client.headers["Accept-Language"] = "en"
    await web_login(client, "admin")
    page = await client.get("/calls/controls")
    assert page.status_code == 200 and 'name="max_call_minutes" value="60"' in page.text
    assert 'href="/calls/controls"' in page.text and 'href="/calls/reviews"' in page.text  # the menu
    # settings in minutes on the page, seconds in the API
    saved = await post_form(client, "/calls/settings", {"max_call_minutes": "45", "subscriber_call_cap": "2"})
    assert saved.status_code == 303
    assert (await client.get("/api/v1/calls/settings")).json() == {"max_call_seconds": 2700, "subscriber_call_cap": 2}
    assert "The call settings were saved" in (await client.get("/calls/controls")).text
    refused = await post_form(client, "/calls/settings", {"max_call_minutes": "0", "subscriber_call_cap": "2"})
    assert refused.status_code == 400 and "The number is out of range." in refused.text
    assert 'name="max_call_minutes" value="0"' in refused.text  # kept as typed, marked
    put = await api(client, "PUT", "/api/v1/calls/settings", json={"max_call_seconds": 3600, "subscriber_call_cap": 1})
    assert put.status_code == 200 and put.json()["max_call_seconds"] == 3600
    # a bar for everyone by form, one for huaxin's subtree by JSON
    added = await post_form(client, "/calls/bars", {"prefix": "8690", "reason": "premium", "note": "paid lines"})
    assert added.status_code == 303
    huaxin = actors["huaxin"].agent_id
    bar_body = {"prefix": "44", "reason": "fraud", "agent_id": huaxin}
    bar = await api(client, "POST", "/api/v1/calls/bars", json=bar_body)
    assert bar.status_code == 201, bar.text
    assert bar.json()["brand_name"] and bar.json()["editable"] and bar.json()["agent_id"] == huaxin
    listed = (await client.get("/calls/controls")).text
    assert "Premium-rate numbers" in listed and "Everyone" in listed and "paid lines" in listed
    again = await api(client, "POST", "/api/v1/calls/bars", json=bar_body)
    assert again.status_code == 400 and "prefix" in again.json()["errors"]
    # rules: set by form, changed by JSON (one rule of a kind where it applies)
    assert (await post_form(client, "/calls/rules", {"kind": controls.CALLS, "threshold": "5"})).status_code == 303
    rule = await api(client, "PUT", "/api/v1/calls/rules", json={"kind": controls.CALLS, "threshold": 7})
    assert rule.status_code == 200 and rule.json()["threshold"] == 7
    assert [r["threshold"] for r in (await client.get("/api/v1/calls/rules")).json()] == [7]
    assert "More than this many calls within an hour" in (await client.get("/calls/controls")).text
    # removing asks first, then removes
    bar_id = next(b["id"] for b in (await client.get("/api/v1/calls/bars")).json() if b["prefix"] == "8690")
    before = await state()
    asked = await post_form(client, f"/calls/bars/{bar_id}/remove")
    assert asked.status_code == 200 and "8690" in summary(asked.text) and await state() == before
    done = await post_form(client, f"/calls/bars/{bar_id}/remove", hidden(asked.text), follow_redirects=True)
    assert "Calls to 8690… are no longer barred here." in done.text
    assert [b["prefix"] for b in (await client.get("/api/v1/calls/bars")).json()] == ["44"]
    rule_id = rule.json()["id"]
    asked = await post_form(client, f"/calls/rules/{rule_id}/remove")
    assert "More than this many calls within an hour" in summary(asked.text)
    assert (await post_form(client, f"/calls/rules/{rule_id}/remove", hidden(asked.text))).status_code == 303
    assert (await api(client, "DELETE", f"/api/v1/calls/bars/{bar.json()['id']}")).status_code == 204
    assert (await client.get("/api/v1/calls/rules")).json() == []


async def test_an_owner_bars_for_its_subtree_and_caps_its_children(client):
    actors = await demo_actors()
    client.headers["Accept-Language"] = "en"
    await web_login(client, "admin")
    await api(client, "POST", "/api/v1/calls/bars", json={"prefix": "881", "reason": "satellite"})
    client.cookies.clear()
    await web_login(client, "huaxin")
    page = (await client.get("/calls/controls")).text
    assert 'name="max_call_minutes"' not in page and "Satellite and high-cost networks" in page
    assert 'action="/calls/bars/' not in page  # the operator's bar is shown, not removable here
    assert 'name="bar_agent"' not in page  # an owner bars for its own subtree
    assert (await post_form(client, "/calls/bars", {"prefix": "44", "reason": "policy"})).status_code == 303
    [own] = [b for b in (await client.get("/api/v1/calls/bars")).json() if b["prefix"] == "44"]
    assert own["agent_id"] == actors["huaxin"].agent_id and own["editable"]
    assert (
        await post_form(client, "/calls/settings", {"max_call_minutes": "1", "subscriber_call_cap": "9"})
    ).status_code == 403
    # caps: a child's from its detail page, its own refused; an account's by JSON
    child = (await Agent.select(Agent.id).where(Agent.parent == actors["huaxin"].agent_id).first())["id"]
    assert (await post_form(client, f"/agents/{child}/call-cap", {"call_cap": "3"})).status_code == 303
    detail = (await client.get(f"/agents/{child}")).text
    assert re.search(r'id="agent-call-cap">3<', detail) and "The cap on calls at once was saved." in detail
    assert (await post_form(client, f"/agents/{child}/call-cap", {"call_cap": "x"})).status_code == 400
    own_cap = await api(client, "PUT", f"/api/v1/agents/{actors['huaxin'].agent_id}/call-cap", json={"call_cap": 9})
    assert own_cap.status_code == 403
    cleared = await api(client, "PUT", f"/api/v1/agents/{child}/call-cap", json={"call_cap": None})
    assert cleared.json() == {"agent": child, "call_cap": None}
    await stocked_owner(actors, minutes=1000)
    row, _card = await live_subscriber(actors["huaxin"], 10)
    capped = await api(client, "PUT", f"/api/v1/subscribers/{row['id']}/call-cap", json={"call_cap": 4})
    assert capped.status_code == 200 and capped.json() == {"subscriber": row["id"], "call_cap": 4}
    by_form = await post_form(client, f"/subscribers/{row['id']}/call-cap", {"call_cap": "2"}, follow_redirects=True)
    assert re.search(r'id="subscriber-call-cap">2<', by_form.text)
    assert "The cap on calls at once was saved." in by_form.text
    assert (await post_form(client, f"/subscribers/{row['id']}/call-cap", {"call_cap": "0"})).status_code == 400
    # pearl's owner sees none of it
    client.cookies.clear()
    await web_login(client, "pearl")
    assert "44" not in [b["prefix"] for b in (await client.get("/api/v1/calls/bars")).json()]
    refused = await api(client, "PUT", f"/api/v1/subscribers/{row['id']}/call-cap", json={"call_cap": 1})
    assert refused.status_code == 404


async def test_a_rule_that_fires_is_listed_and_resumed_after_confirming(client):
    actors = await demo_actors()
    await stocked_owner(actors, minutes=1000)
    await controls.save_settings(actors["admin"], {"max_call_seconds": "60", "subscriber_call_cap": "5"})
    await controls.set_rule(actors["admin"], {"kind": controls.CALLS, "threshold": "2"})
    row, _card = await live_subscriber(actors["huaxin"], 30)
    answers = [await switch.authorize(ask(row["account_number"])) for _ in range(3)]
    assert [a["allow"] for a in answers] == [True, True, False]
    client.headers["Accept-Language"] = "en"
    await web_login(client, "huaxin.clerk")
    dashboard = (await client.get("/")).text
    assert 'id="todo-call-reviews"' in dashboard and "1 calls or usage alerts wait for review" in dashboard
    page = await client.get("/calls/reviews")
    assert page.status_code == 200
    assert "Many calls" in page.text and "3 calls within an hour; the rule allows 2." in page.text
    assert f'href="/subscribers/{row["id"]}"' in page.text and "The account was suspended at once." in page.text
    [item] = (await client.get("/api/v1/calls/reviews")).json()["items"]
    assert (item["kind"], item["observed"], item["suspended"], item["status"]) == (controls.CALLS, 3, True, "open")
    url = f"/calls/reviews/{item['id']}/decision"
    before = await state()
    asked = await post_form(client, url, {"decision": "resume"})
    assert asked.status_code == 200 and row["account_number"] in summary(asked.text) and await state() == before
    assert "may call again" in summary(asked.text)
    done = await post_form(client, url, hidden(asked.text), follow_redirects=True)
    assert f"The item was closed and account {row['account_number']} may call again." in done.text
    status = (await Subscriber.select(Subscriber.status).where(Subscriber.id == row["id"]).first())["status"]
    assert status == "active"
    assert "Nothing to review." in done.text  # the open list is empty now
    resumed = (await client.get("/calls/reviews?status=resumed")).text
    assert "Account resumed" in resumed and re.search(r"by .+ on \d{4}-\d\d-\d\d", resumed)
    again = await api(client, "POST", f"/api/v1/calls/reviews/{item['id']}/decision", json={"decision": "dismiss"})
    assert again.status_code == 409
    # the audit page says it in words, in both languages
    await web_login(client, "admin")
    for language, words in (
        ("en", ["Fraud suspected", "Review item closed, account resumed"]),
        ("zh-CN", ["涉嫌欺诈"]),
    ):
        audit = (await client.get("/audit", headers={"Accept-Language": language})).text
        assert all(word in audit for word in words), language
        assert "fraud_suspected" not in audit and "calls_per_hour" not in audit


async def test_the_review_list_pages_and_filters(client):
    await demo_actors()
    await web_login(client, "admin")
    assert (await client.get("/calls/reviews?status=nonsense&page=3")).status_code == 200
    assert (await client.get("/api/v1/calls/reviews?status=nonsense")).status_code == 400
    listed = (await client.get("/api/v1/calls/reviews?status=all")).json()
    assert listed == {"items": [], "total": 0, "page": 1}
    partial = await client.get("/calls/reviews?status=all", headers={"HX-Request": "true"})
    assert "<html" not in partial.text and 'id="reviews-count"' in partial.text
