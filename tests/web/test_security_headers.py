"""Security headers on every response (issue 11.6): a strict Content-Security-Policy, no framing,
nosniff, a same-origin referrer, HSTS outside demo mode; and pages that need nothing the policy
forbids (no inline script, event handler, style attribute or javascript: URL)."""

from __future__ import annotations

import dataclasses
import re

import httpx

from cards.services import activate_cards, generate_batch
from money.bundles import buy_bundle
from tests.helpers import csrf, demo_actors, web_login
from tests.money import fund, key
from tests.web.routes import endpoints
from web.demo import DEMO_OPERATION_PASSWORD as OP

STAFF_ROLES = [
    "admin",
    "finance",
    "support",
    "huaxin",
    "huaxin.clerk",
    "huaxin.view",
    "huaxin.lujiazui",
    "pearl.support",
]
# What the markup may not hold under script-src 'self' and style-src 'self'.
INLINE = {
    "inline script": re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I),
    "event handler attribute": re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I | re.S),
    "style attribute": re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I | re.S),
    "style element": re.compile(r"<style\b", re.I),
    "javascript: URL": re.compile(r"=\s*[\"']?\s*javascript:", re.I),
}


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        if part.strip():
            name, *values = part.split()
            parsed[name.lower()] = values
    return parsed


def header_problems(response: httpx.Response, *, hsts: bool = False) -> list[str]:
    """What is wrong with the security headers of one response."""
    problems = []
    policies = response.headers.get_list("content-security-policy")
    if len(policies) != 1:
        return [f"{len(policies)} Content-Security-Policy headers"]
    csp = directives(policies[0])
    if csp.get("default-src") not in (["'none'"], ["'self'"]):
        problems.append(f"default-src {csp.get('default-src')}")
    for name in ("script-src", "style-src"):
        if csp.get(name) != ["'self'"]:
            problems.append(f"{name} {csp.get(name)}")
    if csp.get("frame-ancestors") != ["'none'"]:
        problems.append(f"frame-ancestors {csp.get('frame-ancestors')}")
    if csp.get("base-uri") not in (["'none'"], ["'self'"]):
        problems.append(f"base-uri {csp.get('base-uri')}")
    if response.headers.get_list("x-content-type-options") != ["nosniff"]:
        problems.append(f"X-Content-Type-Options {response.headers.get_list('x-content-type-options')}")
    if response.headers.get("referrer-policy") not in ("same-origin", "no-referrer", "strict-origin"):
        problems.append(f"Referrer-Policy {response.headers.get('referrer-policy')}")
    sts = response.headers.get("strict-transport-security")
    if hsts and not (sts and int(re.search(r"max-age=(\d+)", sts).group(1)) >= 180 * 86400):
        problems.append(f"Strict-Transport-Security {sts}")
    if not hsts and sts is not None:
        problems.append("Strict-Transport-Security in demo mode (plain HTTP)")
    return problems


def markup_problems(response: httpx.Response) -> list[str]:
    if "text/html" not in response.headers.get("content-type", ""):
        return []
    return [f"{what}: {m.group(0)[:80]}" for what, pattern in INLINE.items() if (m := pattern.search(response.text))]


async def portal_client(app, actors, settings) -> httpx.AsyncClient:
    """A subscriber logged in to the portal, initial password replaced."""
    owner = actors["huaxin"]
    await fund(owner.agent_id, 10**8)
    await buy_bundle(owner, 10_000, operation_password=OP, idempotency_key=key())
    _batch, ecard = await generate_batch(
        owner,
        {"kind": "e-card", "count": "1", "face_minutes": "20", "expiry_rule": "none"},
        card_key=settings.card_key,
        operation_password=OP,
    )
    await activate_cards(owner, ecard[0][0])
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")
    number, initial = ecard[0]
    login = await client.post(
        "/portal/login", data={"account_number": number, "password": initial, "csrf_token": await csrf(client)}
    )
    assert login.status_code == 303, login.text
    changed = await client.post(
        "/portal/password",
        data={"new_password": "portal-pass-1", "repeat_password": "portal-pass-1", "csrf_token": await csrf(client)},
    )
    assert changed.status_code == 303, changed.text
    return client


async def test_every_page_of_every_role_carries_the_security_headers(app, client, settings):
    actors = await demo_actors()
    gets = [e for e in endpoints(app) if e.method == "GET"]
    extra = [
        "/static/app.css",
        "/static/app.js",
        "/static/vendor/htmx-2.0.11.min.js",
        "/no/such/page",
        "/api/v1/no/such/thing",
        "/schema/openapi.json",
        "/agents/abc",
    ]
    sessions: dict[str, httpx.AsyncClient] = {"visitor": client}
    for username in STAFF_ROLES:
        sessions[username] = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")
        assert (await web_login(sessions[username], username)).status_code == 303
    sessions["subscriber"] = await portal_client(app, actors, settings)
    failures, statuses, pages = [], set(), 0
    try:
        for role, session in sessions.items():
            actor = actors.get(role)
            ids = {"agent_id": actor.agent_id or 1, "user_id": actor.user_id} if actor else {}
            for url in [e.url(**ids) for e in gets] + extra:
                for headers in ({}, {"HX-Request": "true"}):
                    response = await session.get(url, headers=headers)
                    statuses.add(response.status_code)
                    pages += response.status_code == 200 and "text/html" in response.headers.get("content-type", "")
                    problems = header_problems(response) + markup_problems(response)
                    if problems:
                        failures.append((role, url, response.status_code, headers, problems))
    finally:
        for session in sessions.values():
            if session is not client:
                await session.aclose()
    assert {200, 302, 401, 403, 404} <= statuses and pages > 250, (statuses, pages)  # pages, refusals, misses
    assert failures == [], "\n".join(map(str, failures[:40]))


async def test_refusals_and_changes_carry_them_too(client):
    """Error answers of every kind, and the answers of POSTs, not only pages."""
    await demo_actors()
    refused = await client.post("/agents", data={"brand_name": "x"})  # no CSRF token: 403
    assert refused.status_code == 403 and not header_problems(refused), header_problems(refused)
    login = await web_login(client, "admin")
    assert login.status_code == 303 and not header_problems(login), header_problems(login)
    bad_host = await client.get("/login", headers={"Host": "evil.example"})
    assert not header_problems(bad_host), header_problems(bad_host)


async def test_hsts_outside_demo_mode_only(db, settings):
    from web.app import create_app

    production = dataclasses.replace(settings, demo=False)
    for app_settings, hsts in ((production, True), (settings, False)):
        app = create_app(app_settings, engine=db["engine"])
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as c:
            for url in ("/login", "/static/app.css", "/no/such/page", "/api/v1/agents"):
                response = await c.get(url)
                assert header_problems(response, hsts=hsts) == [], (url, hsts, header_problems(response, hsts=hsts))


async def test_the_api_docs_load_from_this_site_under_the_strict_policy(client):
    """The Swagger UI page (issue 13.8) loads Swagger UI vendored in web/static/vendor, not from a
    CDN, and starts it from app.js: the strict policy and no inline code, like every page; its
    scripts and styles are served. The OpenAPI JSON document keeps the strict policy too."""
    for url in ("/schema/swagger", "/schema"):
        response = await client.get(url)
        assert response.status_code == 200
        assert header_problems(response) == [] and markup_problems(response) == [], url
        sources = re.findall(r'(?:src|href)="([^"]+)"', response.text)
        assert sources and all(source.startswith("/static/") for source in sources), sources
        for source in sources:
            assert (await client.get(source)).status_code == 200, source
    document = await client.get("/schema/openapi.json")
    assert document.status_code == 200 and header_problems(document) == [], header_problems(document)
