"""Issue 13.2 and 13.4: every state-changing form says what happened, on the page the user lands
on, in the user's language (web/flash.py); and a refresh, a pager and a language switch keep the
filters.

FORMS names, for every POST route of the pages (not the JSON API), the demo user who submits it and
how to build a valid submission. The walk submits each one, follows the redirect as a browser
does, and looks for the confirmation: an element with role="status" and words in it."""

from __future__ import annotations

import html
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest

from agency.tables import Agent, ApiToken
from support.tables import Ticket
from tests.helpers import api, csrf, demo_actors, web_login
from tests.money import fund, key
from tests.web.routes import endpoints
from tests.web.test_cards_integrity_web import World
from web.auth import CSRF_COOKIE
from web.demo import DEMO_OPERATION_PASSWORD as OP
from web.demo import DEMO_PASSWORD

# What a form builder gives: the URL to post to and the fields (without the CSRF token).
Submission = tuple[str, dict[str, str]]


@dataclass(frozen=True)
class Form:
    user: str  # the demo user who submits it ("portal": a subscriber on the portal)
    build: Callable[[World], Awaitable[Submission]]


def fixed(url: str, data: dict[str, str] | None = None) -> Callable[[World], Awaitable[Submission]]:
    async def build(w: World) -> Submission:
        return url, dict(data or {})

    return build


def agent_of(username: str, path: str = "", data: dict[str, str] | None = None):
    """A form on the agent of demo user `username`: /agents/{id}{path}."""

    async def build(w: World) -> Submission:
        return f"/agents/{w.actors[username].agent_id}{path}", dict(data or {})

    return build


def user_of(username: str, path: str = "", data: dict[str, str] | None = None):
    async def build(w: World) -> Submission:
        return f"/users/{w.actors[username].user_id}{path}", dict(data or {})

    return build


async def bulk_suspension(w: World) -> Submission:
    await w.subscriber()  # one account to suspend at least
    return f"/agents/{w.actors['huaxin'].agent_id}/subscribers/suspend", {"reason": "欠费", "confirm": "1"}


async def new_token(w: World) -> Submission:
    row = await ApiToken.select(ApiToken.id).where(ApiToken.user == w.actors["huaxin.view"].user_id).first()
    return f"/account/tokens/{row['id']}/revoke", {}


async def applied_agent(w: World) -> Submission:
    """A level-1 agent that applied (its level charges a deposit), its wallet funded: activation collects it."""
    admin = await signed_in(w, "admin")
    await admin.post(
        "/prices/levels/1/policy",
        data={"deposit": "100", "franchise_fee": "0", "csrf_token": admin.cookies[CSRF_COOKIE]},
    )
    made = await admin.post(
        "/agents",
        data={
            "brand_name": "待开通",
            "contact_person": "王",
            "phone": "123456",
            "timezone": "Asia/Shanghai",
            "csrf_token": admin.cookies[CSRF_COOKIE],
        },
    )
    agent_id = int(made.headers["location"].rsplit("/", 1)[1])
    assert (await Agent.select(Agent.status).where(Agent.id == agent_id).first())["status"] == "applied"
    await fund(agent_id, 100_000)
    return f"/agents/{agent_id}/activate", {"operation_password": OP, "idempotency_key": key()}


async def pending_remittance(w: World) -> int:
    huaxin = await signed_in(w, "huaxin")
    await huaxin.post(
        "/remittances",
        data={
            "amount": "300.00",
            "bank_reference": key(),
            "remitted_on": today(),
            "idempotency_key": key(),
            "csrf_token": huaxin.cookies[CSRF_COOKIE],
        },
    )
    from money.tables import Remittance

    row = (
        await Remittance.select(Remittance.id)
        .where(Remittance.status == "pending")
        .order_by(Remittance.id, ascending=False)
        .first()
    )
    return row["id"]


def decide(step: str):
    async def build(w: World) -> Submission:
        remittance = await pending_remittance(w)
        body = {"operation_password": OP, "idempotency_key": key(), "note": "对不上"}
        return f"/remittances/{remittance}/{step}", body

    return build


def today() -> str:
    from core.clock import now

    return now().date().isoformat()


async def a_ticket(w: World) -> int:
    """A subscriber's open ticket, in the queue of huaxin's users."""
    portal = await w.portal_session()
    opened = await portal.post(
        "/portal/tickets",
        data={"subject": "没声音", "body": "打不通", "csrf_token": portal.cookies[CSRF_COOKIE]},
    )
    return int(opened.headers["location"].rsplit("/", 1)[1])


def on_ticket(path: str, data: dict[str, str]):
    async def build(w: World) -> Submission:
        return f"/support/tickets/{await a_ticket(w)}{path}", dict(data)

    return build


async def operator_ticket(w: World) -> Submission:
    """A complaint made to the operator's support: in its queue, to be forwarded to the agent."""
    from support.tickets import open_ticket

    subscriber_id, _number, _initial = await w.subscriber()
    ticket = await open_ticket(
        {"subject": "投诉", "body": "打不通"}, subscriber_id=subscriber_id, actor=w.actors["support"]
    )
    return f"/support/tickets/{ticket['id']}/forward", {}


async def take_next(w: World) -> Submission:
    await a_ticket(w)
    return "/support/take-next", {}


async def portal_reply(w: World) -> Submission:
    return f"/portal/tickets/{await a_ticket(w)}/messages", {"body": "还是不行"}


async def recharge_on_behalf(w: World) -> Submission:
    subscriber_id, _number, _initial = await w.subscriber()
    ((serial, pin),) = await w.cards()
    return f"/subscribers/{subscriber_id}/recharge", {"serial": serial, "pin": pin, "idempotency_key": key()}


def account(status_step: str):
    async def build(w: World) -> Submission:
        subscriber_id, _number, _initial = await w.subscriber()
        if status_step == "resume":
            await (await signed_in(w, "huaxin")).post(
                f"/subscribers/{subscriber_id}/suspend",
                data={"reason": "停机", "csrf_token": (await signed_in(w, "huaxin")).cookies[CSRF_COOKIE]},
            )
        body = {"reason": "用户要求", "idempotency_key": key(), "operation_password": OP, "confirm": "1"}
        return f"/subscribers/{subscriber_id}/{status_step}", body

    return build


async def void_range(w: World) -> Submission:
    pairs = await w.cards(count=2, activate=False)
    body = {"serial_from": pairs[0][0], "serial_to": pairs[-1][0], "operation_password": OP, "confirm": "1"}
    return "/cards/void", {**body, "idempotency_key": key()}


async def activate_one(w: World) -> Submission:
    ((serial, _pin),) = await w.cards(activate=False)
    return "/cards/activate", {"serial_from": serial, "idempotency_key": key()}


async def portal_recharge(w: World) -> Submission:
    ((serial, pin),) = await w.cards()
    return "/portal/recharge", {"serial": serial, "pin": pin, "idempotency_key": key()}


async def a_rate(w: World) -> Submission:
    admin = await signed_in(w, "admin")
    await admin.post("/switch/rates", data={"prefix": "8899", "csrf_token": admin.cookies[CSRF_COOKIE]})
    return "/switch/rates/8899/delete", {}


async def a_switch_key(w: World) -> Submission:
    from accounts.switch import list_keys

    admin = await signed_in(w, "admin")
    await admin.post("/switch/keys", data={"name": "fs-9", "csrf_token": admin.cookies[CSRF_COOKIE]})
    keys = await list_keys(w.actors["admin"])
    return f"/switch/keys/{keys[0]['id']}/revoke", {}


async def two_factor_user(w: World) -> Submission:
    """huaxin.clerk with two-factor login on (set up on the clerk's own page), reset by its owner."""
    from tests.web.test_two_factor_web import enrol_by_page

    clerk = await signed_in(w, "huaxin.clerk")
    await enrol_by_page(clerk)
    return f"/users/{w.actors['huaxin.clerk'].user_id}/two-factor/reset", {}


async def enrolled(w: World) -> Submission:
    """Two-factor login being set up for huaxin.pudong: the code from the secret on the page."""
    from tests.web.test_two_factor_web import code

    me = await signed_in(w, "huaxin.pudong")
    await me.post("/account/two-factor/start", data={"csrf_token": me.cookies[CSRF_COOKIE]})
    page = await me.get("/account/two-factor")
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page.text).group(1)
    return "/account/two-factor/confirm", {"code": code(secret, -30)}


async def disable_two_factor(w: World) -> Submission:
    from tests.web.test_two_factor_web import code, enrol_by_page

    me = await signed_in(w, "pearl.tianhe")
    secret, _codes = await enrol_by_page(me)
    return "/account/two-factor/disable", {"password": DEMO_PASSWORD, "code": code(secret)}


async def a_bar(w: World) -> Submission:
    from accounts import controls

    bar = await controls.add_bar(w.actors["admin"], {"prefix": "1976", "reason": "premium"})
    return f"/calls/bars/{bar['id']}/remove", {"confirm": "1"}


async def a_rule(w: World) -> Submission:
    from accounts import controls

    await controls.set_rule(w.actors["admin"], {"kind": controls.MINUTES, "threshold": "600"})
    rule = next(r for r in await controls.list_rules(w.actors["admin"]) if r["kind"] == controls.MINUTES)
    return f"/calls/rules/{rule['id']}/remove", {"confirm": "1"}


async def a_review(w: World) -> Submission:
    """A call over an hour, rated: its review item, confirmed by huaxin's owner."""
    from accounts import switch
    from accounts.tables import CallReview
    from tests.integration.test_switch import record

    subscriber_id, number, _initial = await w.subscriber()
    await switch.rate_calls([record(key(), number, 3700)])
    item = await CallReview.select(CallReview.id).where(CallReview.subscriber == subscriber_id).first()
    return f"/calls/reviews/{item['id']}/decision", {"decision": "confirm", "confirm": "1"}


async def subscriber_cap(w: World) -> Submission:
    subscriber_id, _number, _initial = await w.subscriber()
    return f"/subscribers/{subscriber_id}/call-cap", {"call_cap": "2"}


TIERS = {"tier_min_0": "1", "tier_price_0": "9.00"}

# Every POST route of the pages, with who submits it and a valid submission.
FORMS: dict[str, Form] = {
    "/account/password": Form(
        "pearl.zhujiang",
        fixed("/account/password", {"current_password": DEMO_PASSWORD, "new_password": "another-pass-2026"}),
    ),
    "/account/operation-password": Form(
        "huaxin.view",
        fixed("/account/operation-password", {"login_password": DEMO_PASSWORD, "operation_password": "135790"}),
    ),
    "/account/sessions/revoke-others": Form("huaxin.view", fixed("/account/sessions/revoke-others")),
    "/account/tokens": Form("huaxin.view", fixed("/account/tokens", {"name": "脚本", "days": "30"})),
    "/account/tokens/{token_id:int}/revoke": Form("huaxin.view", new_token),
    "/account/two-factor/start": Form("huaxin.lujiazui", fixed("/account/two-factor/start")),
    "/account/two-factor/confirm": Form("huaxin.pudong", enrolled),
    "/account/two-factor/disable": Form("pearl.tianhe", disable_two_factor),
    "/agents": Form(
        "admin",
        fixed(
            "/agents", {"brand_name": "新代理", "contact_person": "张", "phone": "123456", "timezone": "Asia/Shanghai"}
        ),
    ),
    "/agents/{agent_id:int}/edit": Form("huaxin", agent_of("huaxin.pudong", "/edit", {"contact_person": "李四"})),
    "/agents/{agent_id:int}/suspend": Form("admin", agent_of("pearl.zhujiang", "/suspend")),
    "/agents/{agent_id:int}/resume": Form("admin", agent_of("pearl.zhujiang", "/resume")),  # suspended above
    "/agents/{agent_id:int}/notice": Form(
        "admin", agent_of("pearl.tianhe", "/notice", {"effective": "", "operation_password": OP})
    ),
    "/agents/{agent_id:int}/subscribers/suspend": Form("admin", bulk_suspension),
    "/agents/{agent_id:int}/subscribers/resume": Form(
        "admin",
        agent_of("huaxin", "/subscribers/resume", {"reason": "缴清", "confirm": "1"}),  # suspended above
    ),
    "/agents/{agent_id:int}/users": Form(
        "huaxin",
        agent_of("huaxin", "/users", {"username": "huaxin.new", "role": "clerk", "password": "new-user-pass-1"}),
    ),
    "/agents/{agent_id:int}/adjustments": Form(
        "finance",
        agent_of(
            "huaxin",
            "/adjustments",
            {
                "account": "wallet",
                "direction": "credit",
                "kind": "adjustment",
                "amount": "12.50",
                "reason": "补差",
                "reference": "A-1",
                "operation_password": OP,
                "idempotency_key": key(),
            },
        ),
    ),
    "/agents/{agent_id:int}/activate": Form("admin", applied_agent),
    "/bank-details": Form(
        "finance",
        fixed(
            "/bank-details",
            {
                "bank_name": "工商银行",
                "account_name": "运营商",
                "account_number": "6222 0000 1111",
                "operation_password": OP,
            },
        ),
    ),
    "/bundles": Form(
        "huaxin", fixed("/bundles", {"minutes": "1000", "operation_password": OP, "idempotency_key": key()})
    ),
    "/remittances": Form(
        "huaxin",
        fixed(
            "/remittances",
            {"amount": "500.00", "bank_reference": "ICBC-77", "remitted_on": "", "idempotency_key": key()},
        ),
    ),
    "/remittances/{remittance_id:int}/confirm": Form("finance", decide("confirm")),
    "/remittances/{remittance_id:int}/reject": Form("finance", decide("reject")),
    "/prices/levels/{level:int}": Form("admin", fixed("/prices/levels/2", TIERS)),
    "/prices/levels/{level:int}/policy": Form(
        "admin",
        fixed("/prices/levels/3/policy", {"min_first_purchase_minutes": "0", "deposit": "0", "franchise_fee": "0"}),
    ),
    "/prices/mine": Form("huaxin", fixed("/prices/mine", TIERS)),
    "/cards/batches": Form(
        "huaxin",
        fixed(
            "/cards/batches",
            {
                "kind": "recharge",
                "count": "2",
                "face_minutes": "10",
                "expiry_rule": "none",
                "operation_password": OP,
                "idempotency_key": key(),
            },
        ),
    ),
    "/cards/activate": Form("huaxin", activate_one),
    "/cards/void": Form("huaxin", void_range),
    "/subscribers/{subscriber_id:int}/suspend": Form("huaxin", account("suspend")),
    "/subscribers/{subscriber_id:int}/resume": Form("huaxin", account("resume")),
    "/subscribers/{subscriber_id:int}/close": Form("huaxin", account("close")),
    "/subscribers/{subscriber_id:int}/recharge": Form("huaxin", recharge_on_behalf),
    "/subscribers/{subscriber_id:int}/sip-password/reset": Form("huaxin", account("sip-password/reset")),
    "/portal/sip": Form(  # before /portal/password changes the portal password it confirms
        "portal",
        fixed(
            "/portal/sip",
            {
                "sip_password": "Desk-Phone-77",
                "repeat_sip_password": "Desk-Phone-77",
                "current_password": "portal-pass-1",
            },
        ),
    ),
    "/portal/password": Form(
        "portal",
        fixed(
            "/portal/password",
            {"current_password": "portal-pass-1", "new_password": "portal-pass-2", "repeat_password": "portal-pass-2"},
        ),
    ),
    "/portal/recharge": Form("portal", portal_recharge),
    "/portal/tickets": Form("portal", fixed("/portal/tickets", {"subject": "余额不对", "body": "请查一下"})),
    "/portal/tickets/{ticket_id:int}/messages": Form("portal", portal_reply),
    "/support/tickets/{ticket_id:int}/messages": Form("huaxin", on_ticket("/messages", {"body": "已处理"})),
    "/support/tickets/{ticket_id:int}/status": Form("huaxin", on_ticket("/status", {"status": "pending"})),
    "/support/tickets/{ticket_id:int}/escalate": Form("huaxin", on_ticket("/escalate", {})),
    "/support/tickets/{ticket_id:int}/forward": Form("support", operator_ticket),
    "/support/take-next": Form("huaxin", take_next),
    "/support/calendar": Form("admin", fixed("/support/calendar", {"tz": "Asia/Shanghai", "day_0": "09:00-18:00"})),
    "/support/targets/priority/{priority:str}": Form(
        "support", fixed("/support/targets/priority/high", {"first_response_minutes": "120", "at_risk_percent": "75"})
    ),
    "/support/targets/queue/{queue:str}": Form(
        "support",
        fixed(
            "/support/targets/queue/operator",
            {
                "forward_minutes": "720",
                "forward_counting": "wall",
                "resolution_minutes": "2880",
                "resolution_counting": "wall",
            },
        ),
    ),
    "/calls/settings": Form("admin", fixed("/calls/settings", {"max_call_minutes": "90", "subscriber_call_cap": "1"})),
    "/calls/bars": Form("admin", fixed("/calls/bars", {"prefix": "1900", "reason": "premium", "note": "付费号码"})),
    "/calls/bars/{bar_id:int}/remove": Form("admin", a_bar),
    "/calls/rules": Form("admin", fixed("/calls/rules", {"kind": "calls_per_hour", "threshold": "120"})),
    "/calls/rules/{rule_id:int}/remove": Form("admin", a_rule),
    "/calls/reviews/{review_id:int}/decision": Form("huaxin", a_review),
    "/agents/{agent_id:int}/call-cap": Form("huaxin", agent_of("huaxin.pudong", "/call-cap", {"call_cap": "20"})),
    "/subscribers/{subscriber_id:int}/call-cap": Form("huaxin", subscriber_cap),
    "/switch/keys": Form("admin", fixed("/switch/keys", {"name": "fs-2"})),
    "/switch/keys/{key_id:int}/revoke": Form("admin", a_switch_key),
    "/switch/rates": Form("admin", fixed("/switch/rates", {"prefix": "8613", "multiplier": "150"})),
    "/switch/rates/{prefix:str}/delete": Form("admin", a_rate),
    "/staff": Form(
        "admin", fixed("/staff", {"username": "new.finance", "role": "finance", "password": "new-staff-pass-1"})
    ),
    "/users/{user_id:int}": Form("huaxin", user_of("huaxin.clerk", "", {"role": "viewer"})),
    "/users/{user_id:int}/password": Form(
        "huaxin", user_of("huaxin.view", "/password", {"password": "reset-pass-2026"})
    ),
    "/users/{user_id:int}/two-factor/reset": Form("huaxin", two_factor_user),
    # Last: these end their sessions.
    "/logout": Form("support", fixed("/logout")),
    "/portal/logout": Form("portal", fixed("/portal/logout")),
}

# POST routes of the pages that lead to no page of their own: logging in shows the dashboard,
# the language switch the same page in the other language, and the export with the secrets is
# the file itself (its confirmation step is in test_confirmations.py).
NO_PAGE = {"/login", "/language", "/portal/login", "/cards/batches/{batch_id:int}/export"}


async def signed_in(w: World, username: str) -> httpx.AsyncClient:
    """A client of the app with `username`'s session (one per user, kept in `w`)."""
    sessions = w.__dict__.setdefault("sessions", {})
    if username not in sessions:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=w.app), base_url="http://127.0.0.1")
        client.headers["Accept-Language"] = "zh-CN"
        assert (await web_login(client, username)).status_code == 303, username
        sessions[username] = client
    return sessions[username]


def confirmation(page: str) -> str:
    """The text of the page's status message (role="status"), or ""."""
    found = re.search(r'<(p|div)[^>]*role="status"[^>]*>(.*?)</\1>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(2))).strip() if found else ""


def test_every_form_of_the_pages_is_walked(app):
    posted = {e.path for e in endpoints(app) if e.method == "POST" and not e.path.startswith("/api/")}
    assert posted - NO_PAGE == set(FORMS), "a POST form route is missing from FORMS, or FORMS names a gone one"


@pytest.mark.parametrize("group", ["staff", "portal"])
async def test_every_form_says_what_it_did(app, client, settings, group):
    """Each submission, followed as a browser follows it, ends on a page (200) with a status
    message, in Chinese for a Chinese user."""
    world = await World(app, client, settings.card_key).start()
    world.staff.headers["Accept-Language"] = "zh-CN"
    await (await signed_in(world, "admin")).post(
        "/prices/levels/1", data={"tier_min_0": "1", "tier_price_0": "5.00", "csrf_token": csrf_of(world, "admin")}
    )
    silent = []
    try:
        for route, form in FORMS.items():
            if (form.user == "portal") != (group == "portal"):
                continue
            url, data = await form.build(world)
            if form.user == "portal":
                session = await world.portal_session()
                session.headers["Accept-Language"] = "zh-CN"
            else:
                session = await signed_in(world, form.user)
            if "remitted_on" in data:
                data["remitted_on"] = today()
            answer = await session.post(
                url, data={**data, "csrf_token": session.cookies[CSRF_COOKIE]}, follow_redirects=True
            )
            said = confirmation(answer.text)
            if answer.status_code != 200 or not said or not re.search(r"[\u4e00-\u9fff]", said):
                silent.append((route, answer.status_code, said or answer.text[:300]))
    finally:
        for session in world.__dict__.get("sessions", {}).values():
            await session.aclose()
        await world.close()
    assert not silent, silent


def csrf_of(w: World, username: str) -> str:
    return w.__dict__["sessions"][username].cookies[CSRF_COOKIE]


async def test_the_message_is_shown_once_and_in_the_readers_language(client):
    """The flash cookie carries a message id, not text: the next page shows it in its language,
    and only once."""
    await demo_actors()
    client.headers["Accept-Language"] = "en"
    await web_login(client, "pearl.support")
    taken = await client.post("/support/take-next", data={"csrf_token": await csrf(client)})
    assert taken.status_code == 303 and "flash" in taken.cookies
    english = await client.get("/support")
    assert "No ticket is waiting in your queues." in confirmation(english.text)
    assert confirmation((await client.get("/support")).text) == ""  # once
    await client.post("/support/take-next", data={"csrf_token": await csrf(client)})
    client.cookies.set("lang", "zh_CN")
    chinese = confirmation((await client.get("/support")).text)
    assert chinese and "No ticket" not in chinese and re.search(r"[\u4e00-\u9fff]", chinese)


async def test_a_forged_flash_cookie_shows_nothing(client):
    await demo_actors()
    await web_login(client, "huaxin")
    client.cookies.set("flash", "eyJ4Ijoi5YGHIn0.0000")
    assert confirmation((await client.get("/")).text) == ""


async def test_htmx_fragments_carry_the_message_out_of_band(client):
    """An htmx request after the action gets the message beside its fragment, swapped into #flash."""
    await demo_actors()
    await web_login(client, "pearl.support")
    await client.post("/support/take-next", data={"csrf_token": await csrf(client)})
    fragment = await client.get("/support?status=open", headers={"HX-Request": "true"})
    assert "<html" not in fragment.text and 'id="queue-refresh"' in fragment.text
    assert 'id="flash" aria-live="polite" hx-swap-oob="true"' in fragment.text and confirmation(fragment.text)


async def test_taking_a_ticket_says_which(client, app, settings):
    world = await World(app, client, settings.card_key).start()
    try:
        ticket = await a_ticket(world)
        support = await signed_in(world, "huaxin")
        page = await support.post(
            "/support/take-next", data={"csrf_token": support.cookies[CSRF_COOKIE]}, follow_redirects=True
        )
        assert str(page.url).endswith(f"/support/tickets/{ticket}") and f"#{ticket}" in confirmation(page.text)
        assert (await Ticket.select(Ticket.assignee).where(Ticket.id == ticket).first())["assignee"] == (
            world.actors["huaxin"].user_id
        )
    finally:
        for session in world.__dict__.get("sessions", {}).values():
            await session.aclose()
        await world.close()


async def test_closing_an_account_says_how_many_minutes_went_back(client, app, settings):
    world = await World(app, client, settings.card_key).start()
    try:
        subscriber_id, number, _initial = await world.subscriber(45)
        huaxin = await signed_in(world, "huaxin")
        huaxin.headers["Accept-Language"] = "en"
        page = await huaxin.post(
            f"/subscribers/{subscriber_id}/close",
            data={
                "reason": "moving",
                "operation_password": OP,
                "idempotency_key": key(),
                "confirm": "1",
                "csrf_token": huaxin.cookies[CSRF_COOKIE],
            },
            follow_redirects=True,
        )
        said = confirmation(page.text)
        assert number in said and "45 minutes went back" in said, said
    finally:
        for session in world.__dict__.get("sessions", {}).values():
            await session.aclose()
        await world.close()


# --- filters kept across the queue's refresh, the pager and the language switch -------------


async def test_the_queue_refresh_keeps_the_filters_it_shows(client):
    """The 30 s refresh lives in the swapped fragment, so after htmx applies new filters it asks
    for those, not for the filters the page was first loaded with."""
    await demo_actors()
    await web_login(client, "support")
    first = await client.get("/support")
    assert 'hx-get="/support?queue=&amp;status=&amp;' in first.text
    filtered = await client.get(
        "/support",
        params={"queue": "operator", "status": "pending", "priority": "high", "assignee": "me"},
        headers={"HX-Request": "true"},
    )
    refresh = re.search(r'id="queue-refresh" hx-get="([^"]+)"', filtered.text).group(1)
    assert all(
        part in html.unescape(refresh) for part in ("queue=operator", "status=pending", "priority=high", "assignee=me")
    )


async def test_the_pager_keeps_the_filters(client, app, settings):
    """The cards list and the support queue, longer than a page: Next keeps every filter, in the
    full page and in the htmx fragment the filter form swaps in."""
    from support import tickets

    world = await World(app, client, settings.card_key).start()
    try:
        await world.cards(count=60, activate=True)
        subscriber_id, _number, _initial = await world.subscriber()
        for n in range(55):
            await tickets.open_ticket(
                {"subject": f"问题 {n}", "body": "x", "priority": "high"}, subscriber_id=subscriber_id
            )
        huaxin = await signed_in(world, "huaxin")
        for headers in ({}, {"HX-Request": "true"}):
            cards = await huaxin.get("/cards", params={"status": "active", "serial": "86"}, headers=headers)
            assert "status=active" in next_link(cards.text) and "serial=86" in next_link(cards.text)
            queue = await huaxin.get("/support", params={"priority": "high", "queue": "agent"}, headers=headers)
            assert "priority=high" in next_link(queue.text) and "queue=agent" in next_link(queue.text)
    finally:
        for session in world.__dict__.get("sessions", {}).values():
            await session.aclose()
        await world.close()


def next_link(page: str) -> str:
    """The pager's link to page 2."""
    links = re.findall(r'<nav class="pager">.*?</nav>', page, re.S)
    assert links, "no pager"
    return html.unescape(re.search(r'href="([^"]*page=2[^"]*)"', links[0]).group(1))


async def test_the_language_switch_comes_back_with_the_filters(client):
    await demo_actors()
    await web_login(client, "huaxin")
    page = await client.get("/cards", params={"status": "active", "serial": "86", "batch": "2"})
    back = re.search(r'name="next" value="([^"]+)"', page.text).group(1)
    assert html.unescape(back) == "/cards?status=active&serial=86&batch=2"
    switched = await client.post(
        "/language",
        data={"language": "en", "next": html.unescape(back), "csrf_token": await csrf(client)},
        follow_redirects=True,
    )
    assert str(switched.url).endswith("/cards?status=active&serial=86&batch=2")
    assert 'value="86"' in switched.text and 'value="active" selected' in switched.text


# --- input read two ways is refused; a refused form keeps what was typed --------------------


async def test_an_amount_with_a_decimal_comma_is_refused_not_guessed(client):
    """ "12,50" may mean 12.50 or 1250 yuan: refused with a message, and the form keeps it."""
    from money.tables import Remittance

    await demo_actors()
    client.headers["Accept-Language"] = "en"
    await web_login(client, "huaxin")
    before = await Remittance.count()
    for amount in ("12,50", "1,5", "1.200,50", "1,2345"):
        page = await client.post(
            "/remittances",
            data={
                "amount": amount,
                "bank_reference": "ICBC-1",
                "remitted_on": today(),
                "idempotency_key": key(),
                "csrf_token": await csrf(client),
            },
        )
        assert page.status_code == 400 and "with a point for the decimals" in page.text, amount
        assert f'value="{html.escape(amount)}"' in page.text and 'value="ICBC-1"' in page.text
    assert await Remittance.count() == before
    grouped = await client.post(
        "/remittances",
        data={
            "amount": "1,200.50",
            "bank_reference": "ICBC-2",
            "remitted_on": today(),
            "idempotency_key": key(),
            "csrf_token": await csrf(client),
        },
    )
    assert grouped.status_code == 303
    assert (await Remittance.select(Remittance.amount_fen).where(Remittance.bank_reference == "ICBC-2").first())[
        "amount_fen"
    ] == 120_050


async def test_refused_forms_keep_what_was_typed(client, app, settings):
    world = await World(app, client, settings.card_key).start()
    try:
        huaxin = await signed_in(world, "huaxin")
        token = huaxin.cookies[CSRF_COOKIE]
        # Prices: a bad row refuses the list; every row typed stays.
        prices = await huaxin.post(
            "/prices/mine",
            data={
                "tier_min_0": "1",
                "tier_price_0": "9.50",
                "tier_min_1": "500",
                "tier_price_1": "8,5",
                "csrf_token": token,
            },
        )
        assert prices.status_code == 400
        assert 'name="tier_price_0" inputmode="decimal" value="9.50"' in prices.text
        assert 'name="tier_min_1" inputmode="numeric" value="500"' in prices.text
        # A subscriber's recharge with a wrong PIN keeps the serial (never the PIN) and the reason field.
        subscriber_id, _number, _initial = await world.subscriber()
        ((serial, pin),) = await world.cards()
        wrong = await huaxin.post(
            f"/subscribers/{subscriber_id}/recharge",
            data={"serial": serial, "pin": "0" * len(pin), "idempotency_key": key(), "csrf_token": token},
        )
        assert wrong.status_code == 400 and f'value="{serial}"' in wrong.text and "0" * len(pin) not in wrong.text
        # A ticket's answer refused (too long) keeps its text.
        ticket = await a_ticket(world)
        long = "很长" * 2600
        answer = await huaxin.post(f"/support/tickets/{ticket}/messages", data={"body": long, "csrf_token": token})
        assert answer.status_code == 400 and long in answer.text
        # A notice dated too early keeps its day.
        admin = await signed_in(world, "admin")
        early = await admin.post(
            f"/agents/{world.actors['pearl.tianhe'].agent_id}/notice",
            data={"effective": today(), "operation_password": OP, "csrf_token": admin.cookies[CSRF_COOKIE]},
        )
        assert early.status_code == 400 and 'name="effective" min="' in early.text
        assert f'value="{today()}"' in early.text
    finally:
        for session in world.__dict__.get("sessions", {}).values():
            await session.aclose()
        await world.close()


async def test_a_filter_day_that_is_not_a_date_is_said_not_guessed(client):
    """A day typed as 12/01/2026 could be December or January: the list says it could not read it."""
    agent = (await demo_actors())["huaxin"].agent_id
    client.headers["Accept-Language"] = "en"
    await web_login(client, "huaxin")
    days = ("12/01/2026", "01/12/2026", "2026-13-01", "2026年12月1日")
    for day, url in zip(days, ("/audit", f"/agents/{agent}/money", "/bundles", "/support/report"), strict=True):
        page = await client.get(url, params={"since": day})
        assert page.status_code == 200 and "could not be read" in confirmation(page.text), url
        fragment = await client.get(url, params={"since": day}, headers={"HX-Request": "true"})
        assert "could not be read" in confirmation(fragment.text), url
        assert confirmation((await client.get(url, params={"since": "2026-12-01"})).text) == "", url


async def test_the_api_refuses_an_unreadable_day_instead_of_dropping_it(client):
    """Class 4 on the JSON API: a filter's day that is not a date is a 400 naming the field."""
    await demo_actors()
    await web_login(client, "admin")
    for url in ("/api/v1/audit?since=12/01/2026", "/api/v1/support/report?until=2026-13-01"):
        response = await api(client, "GET", url)
        assert response.status_code == 400, (url, response.text)
        assert set(response.json()["errors"]) & {"since", "until"}, response.text
    assert (await api(client, "GET", "/api/v1/audit?since=2026-12-01")).status_code == 200
