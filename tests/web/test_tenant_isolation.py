"""R-1 over every route: an agent's users never see or change a sibling's subtree, and a child
never sees its parent or the parent's other children; a parent does manage its descendants."""
from __future__ import annotations

import httpx
import pytest

from accounts import controls, review
from accounts.tables import CallReview, Subscriber
from agency import sessions
from cards.services import activate_cards, generate_batch
from money import bundles, onboarding, remittances
from support.tickets import open_ticket
from tests.helpers import api, demo_actors, post_form, web_login
from tests.money import fund, key, set_operator_prices
from tests.web.routes import endpoints
from tests.web.snapshot import state
from web.demo import DEMO_OPERATION_PASSWORD as OP

CARD_KEY = b"unused: the app under test has its own card key"
BODIES = {
    "brand_name": "Hijacked",
    "contact_person": "x",
    "phone": "123456",
    "username": "intruder",
    "role": "owner",
    "password": "intruder-password-1",
    "display_name": "x",
    "is_active": "0",
    "name": "t",
    "call_cap": 5,
    "decision": "dismiss",
}


async def _probe_all(client: httpx.AsyncClient, app, ids: dict[str, int], secrets: list[str]) -> list[str]:
    """Call every route that takes an id with the victim's ids; return what leaked or changed."""
    problems = []
    for endpoint in endpoints(app):
        if not endpoint.tenant_params:
            continue
        url = endpoint.url(**ids)
        before = await state()
        if endpoint.method == "GET":
            response = await client.get(url)
        elif url.startswith("/api/"):
            response = await api(client, endpoint.method, url, json=BODIES)
        else:
            response = await post_form(client, url, BODIES)
        after = await state()
        to_portal_login = response.status_code in (302, 303) and response.headers["location"] == "/portal/login"
        if response.status_code not in (400, 403, 404) and not to_portal_login:
            problems.append(f"{endpoint.method} {url}: {response.status_code}")
        if any(secret in response.text for secret in secrets):
            problems.append(f"{endpoint.method} {url}: reveals victim data")
        if before != after:
            problems.append(f"{endpoint.method} {url}: changed data")
    return problems


async def _victims(actors) -> dict[str, int]:
    """Ids of the huaxin subtree's things: a user, an API token, a bundle order, a remittance, a
    barred prefix, a usage rule and a review item."""
    owner = actors["huaxin"]
    victim_user = actors["huaxin.clerk"]
    token = await sessions.create_api_token(owner, "victim token")
    victim_token_id = (await sessions.list_api_tokens(owner))[0]["id"]
    assert token
    await set_operator_prices(actors["admin"])
    await fund(owner.agent_id, 10**6)
    order = await bundles.buy_bundle(owner, 1000, operation_password=OP, idempotency_key=key())
    remittance = await remittances.record_remittance(
        owner, {"amount": "100", "bank_reference": "victim-ref", "remitted_on": "2026-11-01"},
        ("slip.png", b"\x89PNG\r\n\x1a\nvictim"))
    batch, pairs = await generate_batch(owner, {"kind": "e-card", "count": "2", "face_minutes": "5",
                                                "expiry_rule": "none"}, card_key=CARD_KEY, operation_password=OP)
    await activate_cards(owner, pairs[0][0])
    subscriber = await Subscriber.select(Subscriber.id).where(Subscriber.account_number == pairs[0][0]).first()
    ticket = await open_ticket({"subject": "victim-ticket", "body": "victim"}, subscriber_id=subscriber["id"])
    bar = await controls.add_bar(owner, {"prefix": "4420", "reason": "fraud", "note": "victim-bar"})
    await controls.set_rule(owner, {"kind": controls.CALLS, "threshold": "9"})
    rule = (await controls.list_rules(owner))[0]
    await review.flag_calls([(subscriber["id"], owner.agent_id, "victim-call", review.UNCOVERED, 30, 0)])
    item = await CallReview.select(CallReview.id).where(CallReview.call_id == "victim-call").first()
    return {"agent_id": owner.agent_id, "user_id": victim_user.user_id, "token_id": victim_token_id,
            "order_id": order["id"], "remittance_id": remittance["id"], "batch_id": batch["id"],
            "subscriber_id": subscriber["id"], "ticket_id": ticket["id"], "bar_id": bar["id"], "rule_id": rule["id"],
            "review_id": item["id"]}


async def test_sibling_reaches_nothing_of_the_other_subtree(app, client):
    actors = await demo_actors()
    ids = await _victims(actors)
    await web_login(client, "pearl")
    victim_agents = [actors[name].agent_id for name in ("huaxin", "huaxin.pudong", "huaxin.lujiazui")]
    secrets = ["华信", "huaxin", "王伟", "5555 0101", "victim-ref", "victim"]
    problems = []
    for agent_id in victim_agents:
        problems += await _probe_all(client, app, {**ids, "agent_id": agent_id}, secrets)
    assert problems == []
    # Lists and searches show nothing of the sibling either.
    for url in ["/agents", "/agents?q=王", "/api/v1/agents?search=hua", "/audit", "/api/v1/audit", "/", "/bundles",
                "/api/v1/bundles", "/remittances", "/api/v1/remittances", "/prices", "/cards/batches", "/cards",
                "/subscribers", "/support", "/calls/controls", "/calls/reviews?status=all", "/api/v1/calls/bars",
                "/api/v1/calls/rules", "/api/v1/calls/reviews?status=all"]:
        response = await client.get(url)
        assert response.status_code == 200, url
        assert not any(s in response.text for s in secrets), url
    response = await client.get(f"/api/v1/agents?under={victim_agents[0]}")
    assert response.status_code == 404
    # Creating a sub-agent under the sibling, by form and by API, is refused.
    before = await state()
    response = await post_form(client, "/agents", {**BODIES, "parent": str(victim_agents[1])})
    assert response.status_code == 404
    response = await api(client, "POST", "/api/v1/agents", json={**BODIES, "parent_id": victim_agents[1]})
    assert response.status_code == 404
    assert await state() == before


async def test_child_reaches_neither_parent_nor_parents_other_children(app, client):
    actors = await demo_actors()
    other_child = await onboarding.create_agent(
        actors["huaxin"],
        actors["huaxin"].agent_id,
        {"brand_name": "华信另一个下级", "contact_person": "周", "phone": "+86 21 5555 0199"},
    )
    ids = await _victims(actors)
    await web_login(client, "huaxin.pudong")
    secrets = ["华信另一个下级", "5555 0199", "5555 0101", "huaxin.clerk"]
    problems = []
    for agent_id in (actors["huaxin"].agent_id, other_child["id"]):
        problems += await _probe_all(client, app, {**ids, "agent_id": agent_id}, secrets)
    assert problems == []
    listing = (await client.get("/agents")).text
    assert "华信陆家嘴" in listing and "华信另一个下级" not in listing


@pytest.mark.parametrize("username", ["huaxin", "admin"])
async def test_parent_sees_and_manages_descendants(client, username):
    actors = await demo_actors()
    await web_login(client, username)
    grandchild = actors["huaxin.lujiazui"].agent_id
    assert (await client.get(f"/agents/{grandchild}")).status_code == 200
    response = await post_form(client, f"/agents/{grandchild}/edit", {"contact_person": "新的联系人"})
    assert response.status_code == 303
    assert (await client.get(f"/api/v1/agents/{grandchild}")).json()["contact_person"] == "新的联系人"
    response = await post_form(client, f"/agents/{grandchild}/suspend")
    assert response.status_code == 303
    assert (await client.get(f"/api/v1/agents/{grandchild}")).json()["status"] == "suspended"
    users = (await client.get(f"/api/v1/agents/{grandchild}/users")).json()
    assert [u["username"] for u in users] == ["huaxin.lujiazui"]
