"""R-7 over HTTP: every JSON route that moves money takes an idempotency key; 8 requests at once
with one key make one effect, and the key with other values is refused with 409.

The routes are walked: a route whose body declares `idempotency_key` must have a row in ROUTES,
and the money routes below must declare one. Cards and subscribers have their own table in
test_cards_integrity_web.py, checked by the same walk."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from core import sql
from money import prices
from money.tables import BundleOrder, Remittance
from tests.helpers import api, demo_actors, web_login
from tests.money import fund, key, set_operator_prices
from web.demo import DEMO_OPERATION_PASSWORD as OP

MUST_TAKE_A_KEY = {
    ("POST", "/api/v1/bundles"),
    ("POST", "/api/v1/remittances"),
    ("POST", "/api/v1/remittances/{remittance_id:int}/confirm"),
    ("POST", "/api/v1/remittances/{remittance_id:int}/reject"),
    ("POST", "/api/v1/agents/{agent_id:int}/adjustments"),
    ("POST", "/api/v1/agents/{agent_id:int}/activate"),
}


@dataclass
class Case:
    user: str
    url: str
    body: dict  # without the key
    other: tuple[str, dict]  # the same key on these (url, body): refused
    effects: Callable[[], Awaitable[int]]


async def _count(sql_text: str, *args) -> int:
    return (await sql.fetch_one(sql_text, *args))["n"]


async def _bundle(a) -> Case:
    await set_operator_prices(a["admin"])
    await fund(a["huaxin"].agent_id, 10**6)
    body = {"minutes": 100, "operation_password": OP}
    return Case("huaxin", "/api/v1/bundles", body, ("/api/v1/bundles", {**body, "minutes": 200}), BundleOrder.count)


async def _record(a) -> Case:
    body = {"amount": "10", "bank_reference": "R-1", "remitted_on": dt.date.today().isoformat()}
    return Case(
        "huaxin", "/api/v1/remittances", body, ("/api/v1/remittances", {**body, "amount": "11"}), Remittance.count
    )


async def _pending(a) -> int:
    from money import remittances

    recorded = await remittances.record_remittance(
        a["huaxin"], {"amount": "10", "bank_reference": f"R-{key()[:8]}", "remitted_on": dt.date.today().isoformat()}
    )
    return recorded["id"]


def _decision(verb: str, other: str, effects_sql: str) -> Callable[..., Awaitable[Case]]:
    """A pending remittance decided by `verb`; the same key on `other` is refused."""

    async def prepare(a) -> Case:
        rid = await _pending(a)
        body = {"operation_password": OP, "note": "checked"}  # a rejection needs its reason
        url = f"/api/v1/remittances/{rid}/"
        return Case("finance", url + verb, body, (url + other, body), lambda: _count(effects_sql))

    return prepare


async def _adjust(a) -> Case:
    agent = a["huaxin"].agent_id
    await fund(agent, 10**6)
    body = {
        "account": "wallet",
        "direction": "debit",
        "kind": "penalty",
        "amount": "5",
        "reason": "late",
        "reference": "TK-1",
        "operation_password": OP,
    }
    url = f"/api/v1/agents/{agent}/adjustments"
    return Case(
        "finance",
        url,
        body,
        (url, {**body, "amount": "6"}),
        lambda: _count("SELECT COUNT(*) AS n FROM journal_transaction WHERE kind = 'penalty'"),
    )


async def _activate(a) -> Case:
    from money import onboarding

    await prices.save_level_policy(
        a["admin"], 1, {"min_first_purchase_minutes": 0, "deposit_fen": 100, "franchise_fee_fen": 100}
    )
    fields = {"contact_person": "x", "phone": "12345"}
    first = await onboarding.create_agent(a["admin"], None, {**fields, "brand_name": "Applicant One"})
    second = await onboarding.create_agent(a["admin"], None, {**fields, "brand_name": "Applicant Two"})
    await fund(first["id"], 1_000)
    body = {"operation_password": OP}
    return Case(
        "finance",
        f"/api/v1/agents/{first['id']}/activate",
        body,
        (f"/api/v1/agents/{second['id']}/activate", body),
        lambda: _count("SELECT COUNT(*) AS n FROM journal_transaction WHERE kind = 'onboarding'"),
    )


ROUTES: dict[tuple[str, str], Callable[..., Awaitable[Case]]] = {
    ("POST", "/api/v1/bundles"): _bundle,
    ("POST", "/api/v1/remittances"): _record,
    ("POST", "/api/v1/remittances/{remittance_id:int}/confirm"): _decision(
        "confirm", "reject", "SELECT COUNT(*) AS n FROM journal_transaction WHERE kind = 'remittance'"
    ),
    ("POST", "/api/v1/remittances/{remittance_id:int}/reject"): _decision(
        "reject", "confirm", "SELECT COUNT(*) AS n FROM audit_entry WHERE action = 'remittance.reject'"
    ),
    ("POST", "/api/v1/agents/{agent_id:int}/adjustments"): _adjust,
    ("POST", "/api/v1/agents/{agent_id:int}/activate"): _activate,
}


def routes_taking_a_key(app) -> set[tuple[str, str]]:
    found = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            body = handler.parsed_fn_signature.parameters.get("data")
            if body is None:
                continue
            kind = typing.get_args(body.annotation)[0] if typing.get_args(body.annotation) else body.annotation
            if dataclasses.is_dataclass(kind) and "idempotency_key" in {f.name for f in dataclasses.fields(kind)}:
                found.update((method, route.path) for method in handler.http_methods)
    return found


def test_every_route_taking_a_key_is_walked(app):
    from tests.web.test_cards_integrity_web import ROUTES as CARD_ROUTES

    taking = routes_taking_a_key(app)
    assert MUST_TAKE_A_KEY <= taking, MUST_TAKE_A_KEY - taking
    assert taking <= set(ROUTES) | set(CARD_ROUTES), taking - set(ROUTES) - set(CARD_ROUTES)


async def test_eight_retries_at_once_make_one_effect_and_other_values_are_refused(app, client):
    a = await demo_actors()
    for route, prepare in ROUTES.items():
        case = await prepare(a)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as user:
            await web_login(user, case.user)
            before = await case.effects()
            same = key()
            answers = await asyncio.gather(
                *(api(user, "POST", case.url, json={**case.body, "idempotency_key": same}) for _ in range(8))
            )
            assert {r.status_code for r in answers} <= {200, 201}, (route, [r.text for r in answers])
            assert len({r.text for r in answers}) == 1, (route, "a retry answered differently")
            assert await case.effects() == before + 1, route
            url, body = case.other
            refused = await api(user, "POST", url, json={**body, "idempotency_key": same})
            assert refused.status_code == 409, (route, refused.text)
            assert await case.effects() == before + 1, route
