"""R-35 over every state-changing route: no CSRF token, over-long fields, wrong types and
unknown ids get a clear message in the user's language, change nothing, and never a 500."""
from __future__ import annotations

import re

import pytest

from tests.helpers import api, csrf, demo_actors, post_form, web_login
from tests.web.routes import OUT_OF_RANGE, endpoints
from tests.web.snapshot import state
from web.auth import SWITCH

CHINESE = re.compile(r"[\u4e00-\u9fff]")
LONG = "長" * 5000
GARBAGE_FORMS = [
    {"brand_name": LONG, "contact_person": LONG, "phone": LONG, "username": LONG, "password": LONG, "name": LONG,
     "role": LONG, "display_name": LONG, "effective": LONG, "parent": LONG, "is_active": LONG, "next": LONG},
    {"brand_name": "\x00", "phone": "' OR 1=1 --", "username": "<script>", "role": "root", "parent": "99999999"},
    {"parent": "-1", "effective": "2020-01-01", "timezone": "../../etc/passwd"},
]
GARBAGE_JSON = [
    [1, 2, 3],
    {"brand_name": 5, "contact_person": None, "phone": ["x"], "username": {"a": 1}, "password": 1.5, "role": True},
    {"brand_name": LONG, "contact_person": LONG, "phone": LONG, "parent_id": 10**30, "username": LONG,
     "password": LONG, "role": "owner", "name": LONG, "effective": "not a date", "is_active": "maybe"},
    {"parent_id": 99999999, "brand_name": "x", "contact_person": "y", "phone": "123"},
]
UNKNOWN_IDS = {name: 99999999 for name in ("agent_id", "user_id", "token_id", "order_id", "remittance_id", "level",
                                           "batch_id", "subscriber_id", "job_id", "ticket_id",
                                           "attachment_id", "bar_id", "rule_id", "review_id")}
HUGE_IDS = {name: 10**30 for name in UNKNOWN_IDS}


def _changing(app):
    return [e for e in endpoints(app) if e.method != "GET" and e.path not in ("/login", "/logout", "/language")]


async def test_missing_csrf_token_is_refused_in_the_users_language(app, client):
    actors = await demo_actors()
    assert actors
    client.headers["Accept-Language"] = "zh-CN"
    await web_login(client, "admin")
    before = await state()
    # The switch API takes no cookies at all (its own test shows a session cannot open it).
    for endpoint in [e for e in _changing(app) if e.access != SWITCH]:
        url = endpoint.url(agent_id=1, user_id=2)
        response = await client.request(endpoint.method, url, data={"brand_name": "x"} if endpoint.method != "DELETE"
                                        else None)
        assert response.status_code == 403, (endpoint, response.status_code)
        assert CHINESE.search(response.text), endpoint
        wrong = await client.request(endpoint.method, url, headers={"X-CSRF-Token": "forged.token"})
        assert wrong.status_code == 403, endpoint
    assert await state() == before
    # The login form needs the token too (login CSRF).
    client.cookies.clear()
    response = await client.post("/login", data={"username": "admin", "password": "demo-pass-2026"})
    assert response.status_code == 403 and "vs_session" not in response.cookies


async def test_garbage_on_every_route_is_never_a_server_error(app, client):
    """Whatever the body and ids, the answer is a 2xx/3xx or a 4xx with a message, never a 500."""
    await demo_actors()
    await web_login(client, "admin")
    await csrf(client)
    failures = []
    for endpoint in _changing(app):
        for ids in (UNKNOWN_IDS, HUGE_IDS, {"agent_id": 2, "user_id": 5, "token_id": 1}):
            url = endpoint.url(**ids)
            for body in GARBAGE_JSON if url.startswith("/api/") else GARBAGE_FORMS:
                if url.startswith("/api/"):
                    response = await api(client, endpoint.method, url, json=body)
                else:
                    response = await post_form(client, url, body)
                if response.status_code >= 500 or (response.status_code >= 400 and len(response.text) < 10):
                    failures.append((endpoint.method, url, str(body)[:60], response.status_code))
    assert failures == [], "\n".join(map(str, failures))


# Each route that takes input, with inputs it must refuse.
AGENT = {"brand_name": "Good Co", "contact_person": "Zhao", "phone": "+86 10 1234"}
USER = {"username": "new.user", "role": "clerk", "password": "long-enough-pw"}
BAD_INPUTS = [
    ("POST", "/agents", [{**AGENT, "brand_name": ""}, {**AGENT, "brand_name": LONG}, {**AGENT, "phone": "abc"},
                         {**AGENT, "timezone": "Nowhere/Land"}, {**AGENT, "parent": "abc"},
                         {**AGENT, "parent": "99999999"}]),
    ("POST", "/agents/2/edit", [{"brand_name": ""}, {"contact_person": LONG}, {"phone": "x"}]),
    ("POST", "/agents/2/notice", [{"effective": "2020-01-01"}, {"effective": "tomorrow"}]),
    ("POST", "/agents/2/users", [{**USER, "username": "a"}, {**USER, "role": "admin"}, {**USER, "password": "short"},
                                 {**USER, "username": "huaxin"}, {**USER, "password": LONG}]),
    ("POST", "/staff", [{**USER, "role": "owner"}, {**USER, "username": "bad name!"}]),
    ("POST", "/users/5", [{"role": "emperor"}, {"display_name": LONG}]),
    ("POST", "/users/5/password", [{"password": ""}, {"password": "short"}]),
    ("POST", "/account/password", [{"current_password": "wrong-password", "new_password": "new-password-1"},
                                   {"current_password": "demo-pass-2026", "new_password": "short"}]),
    ("POST", "/account/operation-password", [{"login_password": "wrong", "operation_password": "123456"},
                                             {"login_password": "demo-pass-2026", "operation_password": "12"},
                                             {"login_password": "demo-pass-2026",
                                              "operation_password": "demo-pass-2026"}]),
    ("POST", "/account/tokens", [{"name": ""}, {"name": LONG}]),
    ("POST", "/api/v1/agents", [{**AGENT, "brand_name": 5}, {**AGENT, "phone": None}, [AGENT], {"brand_name": "x"},
                                {**AGENT, "parent_id": "two"}, {**AGENT, "parent_id": 10**30}]),
    ("PATCH", "/api/v1/agents/2", [{"brand_name": ""}, {"timezone": "UTC+8"}, {"phone": 123}]),
    ("POST", "/api/v1/agents/2/notice", [{"effective": "2020-01-01T00:00:00Z"}, {"effective": "soon"}]),
    ("POST", "/api/v1/agents/2/users", [{**USER, "role": "god"}, {**USER, "password": 12345678901}]),
    ("PATCH", "/api/v1/users/5", [{"role": "admin"}, {"is_active": "maybe"}]),
    ("POST", "/api/v1/users/5/password", [{"password": "x"}, {}]),
    ("POST", "/api/v1/me/tokens", [{"name": ""}, {"name": ["a"]}]),
    ("POST", "/api/v1/me/password", [{"current_password": "nope", "new_password": "new-password-1"}]),
    # call controls (R-22a)
    ("POST", "/calls/settings", [{"max_call_minutes": "0", "subscriber_call_cap": "1"},
                                 {"max_call_minutes": LONG, "subscriber_call_cap": "1"},
                                 {"max_call_minutes": "60", "subscriber_call_cap": "x"},
                                 {"max_call_minutes": "１", "subscriber_call_cap": "1"}]),
    ("POST", "/calls/bars", [{"prefix": "+44", "reason": "policy"}, {"prefix": "44", "reason": "nope"},
                             {"prefix": "44", "reason": "policy", "note": LONG}, {"prefix": LONG, "reason": "fraud"},
                             {"prefix": "44", "reason": "policy", "bar_agent": "x"},
                             {"prefix": "44", "reason": "policy", "bar_agent": "99999999"}]),
    ("POST", "/calls/rules", [{"kind": "calls_per_day", "threshold": "3"},
                              {"kind": "calls_per_hour", "threshold": "-1"},
                              {"kind": "calls_per_hour", "threshold": LONG}]),
    ("POST", "/agents/2/call-cap", [{"call_cap": "0"}, {"call_cap": "２"}, {"call_cap": LONG}]),
    ("POST", "/calls/reviews/99999999/decision", [{"decision": "resume"}, {"decision": LONG}]),
    ("PUT", "/api/v1/calls/settings", [{"max_call_seconds": 59, "subscriber_call_cap": 1},
                                       {"max_call_seconds": 86_401, "subscriber_call_cap": 1}, {}]),
    ("POST", "/api/v1/calls/bars", [{"prefix": "44", "reason": "policy", "note": "a\nb"},
                                    {"prefix": 44, "reason": "policy"}, {"prefix": "44", "reason": "policy",
                                                                         "agent_id": 10**30}]),
    ("PUT", "/api/v1/calls/rules", [{"kind": "x", "threshold": 1}, {"kind": "calls_per_hour", "threshold": 10**30},
                                    {"kind": "calls_per_hour", "threshold": -5}]),
    ("PUT", "/api/v1/agents/2/call-cap", [{"call_cap": 0}, {"call_cap": "many"}, {}]),
    ("POST", "/api/v1/calls/reviews/99999999/decision", [{"decision": "resume"}, {"decision": 1}]),
]


@pytest.mark.parametrize("language,pattern", [("zh-CN", CHINESE), ("en", re.compile(r"[A-Za-z]{4}"))])
async def test_bad_input_gets_a_clear_message_and_changes_nothing(app, client, language, pattern):
    await demo_actors()
    client.headers["Accept-Language"] = language
    await web_login(client, "admin")
    failures = []
    for method, url, bodies in BAD_INPUTS:
        for body in bodies:
            before = await state()
            if url.startswith("/api/"):
                response = await api(client, method, url, json=body)
            else:
                response = await post_form(client, url, body)
            changed = await state() != before
            message = response.json().get("error", "") if url.startswith("/api/") else response.text
            if response.status_code not in (400, 404) or changed or not pattern.search(message):
                failures.append((method, url, str(body)[:60], response.status_code, changed))
    assert failures == [], "\n".join(map(str, failures))


async def test_bad_query_parameters_are_not_500(client):
    await demo_actors()
    await web_login(client, "admin")
    for url in ["/agents?page=abc", "/agents?page=-5", f"/agents?page={10**40}", "/agents?q=" + "%" * 500,
                "/agents/new?parent=abc", f"/agents/{10**30}", "/audit?since=yesterday&page=0",
                "/api/v1/agents?per_page=100000&page=-1", "/api/v1/agents?under=0", "/login?next=//evil.example",
                "/calls/reviews?page=abc", "/calls/reviews?status=" + "%" * 500, "/api/v1/calls/reviews?page=0",
                "/api/v1/calls/reviews?status=" + "x" * 500]:
        response = await client.get(url)
        assert response.status_code < 500, url


async def test_oversized_body_is_refused(client):
    await demo_actors()
    await web_login(client, "admin")
    response = await post_form(client, "/agents", {"brand_name": "x" * (3 * 1024 * 1024)})
    assert response.status_code in (400, 413)


OUT_OF_RANGE_MESSAGE = {"zh-CN": "数值超出范围。", "en": "The number is out of range."}


async def _out_of_range_answer(client, method: str, url: str):
    if url.startswith("/api/"):
        return await api(client, method, url, json={} if method in ("POST", "PUT", "PATCH") else None)
    if method == "GET":
        return await client.get(url)
    return await post_form(client, url, {})


@pytest.mark.parametrize("language", ["zh-CN", "en"])
async def test_out_of_range_integers_are_refused_at_the_edge(app, client, language):
    """Every integer path parameter, and the common integer query parameters, beyond a database
    integer or negative: 400 in the user's language (JSON under /api/, the error page elsewhere),
    whatever the route, and nothing changes."""
    await demo_actors()
    client.headers["Accept-Language"] = language
    await web_login(client, "admin")
    message = OUT_OF_RANGE_MESSAGE[language]
    before = await state()
    failures, tried = [], 0
    for endpoint in endpoints(app):
        cases = [(endpoint.method, endpoint.url(**{name: value}), name)
                 for name in sorted(endpoint.int_params) for value in OUT_OF_RANGE]
        cases += [(endpoint.method, f"{endpoint.url()}?{name}={value}", name)
                  for name in endpoint.int_query for value in OUT_OF_RANGE]
        for method, url, name in cases:
            tried += 1
            response = await _out_of_range_answer(client, method, url)
            if url.startswith("/api/"):
                json_answer = response.headers.get("content-type", "").startswith("application/json")
                body = response.json() if json_answer else {}
                ok = response.status_code == 400 and body.get("errors") == {name: message} and body.get("error")
            else:
                ok = (response.status_code == 400 and "text/html" in response.headers.get("content-type", "")
                      and f"<strong>{name}</strong>: {message}" in response.text)
            if not ok:
                failures.append((method, url[:90], response.status_code, response.text[:120]))
    assert tried > 400
    assert failures == [], "\n".join(map(str, failures))
    assert await state() == before


async def test_out_of_range_integers_need_no_login_to_be_refused(client):
    """The bounds are checked before anything looks the id up, for a visitor as for a user."""
    for url in [f"/agents/{2**63}", f"/api/v1/agents/{2**31}", "/api/v1/agents/-1", f"/portal/tickets/{10**30}",
                f"/api/v1/tickets?agent_id={2**31}", "/agents?page=-1", f"/api/v1/portal/calls?limit={2**63}"]:
        response = await client.get(url)
        assert response.status_code == 400, (url, response.status_code)


async def test_a_nul_character_in_a_query_or_path_is_refused(client):
    """Found by the API fuzzer: a NUL in a filter reached PostgreSQL, which cannot compare it (500)."""
    await demo_actors()
    await web_login(client, "admin")
    for url in ("/api/v1/audit?action=a%00b", "/audit?user=%00", "/api/v1/agents?search=x%00"):
        answer = await client.get(url)
        assert answer.status_code == 400, (url, answer.status_code)
