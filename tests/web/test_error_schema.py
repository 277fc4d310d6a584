"""The OpenAPI document describes the error body the API sends (issue 11.8b):
{"error": "…", "errors": {"field": "…"}} for 400, 401, 403, 404 and 409 on every API route."""

from __future__ import annotations

import httpx

from agency.tables import Agent
from tests.helpers import api, demo_actors, web_login

ERROR_STATUSES = ("400", "401", "403", "404", "409")


def resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        *_, name = schema["$ref"].split("/")
        schema = document["components"]["schemas"][name]
    return schema


def mismatches(document: dict, schema: dict, value: object, where: str = "body") -> list[str]:
    """Where `value` does not follow `schema` (the subset of JSON Schema the document uses)."""
    schema = resolve(document, schema)
    if "oneOf" in schema or "anyOf" in schema:
        options = schema.get("oneOf") or schema["anyOf"]
        if any(not mismatches(document, option, value, where) for option in options):
            return []
        return [f"{where}: {value!r} matches none of {options}"]
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind else []
    python = {"object": dict, "string": str, "array": list, "integer": int, "null": type(None), "boolean": bool}
    if kinds and not any(isinstance(value, python[k]) for k in kinds):
        return [f"{where}: {value!r} is not {kinds}"]
    problems = []
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        problems += [f"{where}: {name} is required" for name in schema.get("required", []) if name not in value]
        extra = schema.get("additionalProperties")
        for name, item in value.items():
            if name in properties:
                problems += mismatches(document, properties[name], item, f"{where}.{name}")
            elif isinstance(extra, dict):
                problems += mismatches(document, extra, item, f"{where}.{name}")
            elif properties or extra is False:
                problems.append(f"{where}: {name} is not in the schema")
    return problems


async def test_every_api_route_documents_the_error_body_it_sends(app, client):
    document = (await client.get("/schema/openapi.json")).json()
    undocumented = []
    for path, item in document["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            for status in ERROR_STATUSES:
                schema = operation.get("responses", {}).get(status, {}).get("content", {}).get("application/json", {})
                if resolve(document, schema.get("schema", {})) != document["components"]["schemas"].get("ErrorBody"):
                    undocumented.append((method, path, status))
    assert undocumented == [], undocumented[:20]
    body = document["components"]["schemas"]["ErrorBody"]
    assert body["required"] == ["error"] and set(body["properties"]) == {"error", "errors"}


async def test_the_documented_error_body_is_the_one_sent(app, client):
    await demo_actors()
    document = (await client.get("/schema/openapi.json")).json()
    pearl = (await Agent.select(Agent.id).where(Agent.brand_name == "Pearl River Telecom").first())["id"]
    answers: list[tuple[str, str, httpx.Response]] = [
        ("get", "/api/v1/agents/{agent_id}", await client.get(f"/api/v1/agents/{pearl}"))
    ]  # 401
    await web_login(client, "admin")
    answers += [
        ("get", "/api/v1/agents/{agent_id}", await client.get("/api/v1/agents/99999")),  # 404
        ("get", "/api/v1/agents/{agent_id}", await client.get(f"/api/v1/agents/{2**31}")),  # 400, with errors
        ("post", "/api/v1/agents", await api(client, "POST", "/api/v1/agents", json={"brand_name": 5})),  # 400
        (
            "post",
            "/api/v1/agents",
            await api(client, "POST", "/api/v1/agents", json={"brand_name": "", "contact_person": "x", "phone": "1"}),
        ),  # 400
        ("post", "/api/v1/agents/{agent_id}/suspend", await api(client, "POST", f"/api/v1/agents/{pearl}/suspend")),
        ("post", "/api/v1/agents/{agent_id}/suspend", await api(client, "POST", f"/api/v1/agents/{pearl}/suspend")),
        ("post", "/api/v1/agents", await client.post("/api/v1/agents", json={})),  # no CSRF token: 403
    ]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as viewer:
        await web_login(viewer, "huaxin.view")
        answers.append(
            (
                "post",
                "/api/v1/agents",
                await api(
                    viewer, "POST", "/api/v1/agents", json={"brand_name": "x", "contact_person": "y", "phone": "123"}
                ),
            )
        )  # 403, not allowed
    seen, with_errors = set(), 0
    for method, path, response in answers:
        if response.status_code < 400:
            continue
        status = str(response.status_code)
        seen.add(status)
        documented = document["paths"][path][method]["responses"][status]
        assert list(documented["content"]) == ["application/json"], documented
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        with_errors += "errors" in body
        problems = mismatches(document, documented["content"]["application/json"]["schema"], body)
        assert problems == [], (method, path, status, body, problems)
    assert seen == set(ERROR_STATUSES) and with_errors >= 2, (seen, with_errors)
