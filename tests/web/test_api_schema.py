"""Every JSON API answer is typed, so /schema documents its fields."""

from __future__ import annotations

import typing

from litestar.handlers import HTTPRouteHandler

UNTYPED = (dict, typing.Any, object)


def _untyped(annotation) -> bool:
    """A dict, Any or object answer, or a list or union of them, says nothing of its fields."""
    if annotation in UNTYPED:
        return True
    origin = typing.get_origin(annotation)
    if origin is dict:
        return True
    if origin in (list, typing.Union, getattr(__import__("types"), "UnionType", None)):
        return any(_untyped(arg) for arg in typing.get_args(annotation) if arg is not type(None))
    return False


def _api_handlers(app):
    for route in app.routes:
        if not route.path.startswith("/api/"):
            continue
        for handler in getattr(route, "route_handlers", []):
            if isinstance(handler, HTTPRouteHandler):
                yield route.path, handler


def test_no_api_handler_answers_an_untyped_dict(app):
    untyped = [
        f"{sorted(handler.http_methods)} {path}"
        for path, handler in _api_handlers(app)
        if _untyped(handler.parsed_fn_signature.return_type.annotation)
    ]
    assert not untyped, f"answers without a declared type: {untyped}"


def _properties(doc: dict, schema: dict | None) -> dict:
    """The fields a response schema names, following $ref, arrays and `Page` items."""
    if not schema:
        return {}
    if "$ref" in schema:
        return _properties(doc, doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]])
    if schema.get("type") == "array":
        return _properties(doc, schema.get("items"))
    for option in schema.get("oneOf", []) + schema.get("anyOf", []):
        if found := _properties(doc, option):
            return found
    return schema.get("properties", {})


async def test_every_api_operation_documents_the_fields_it_answers(client):
    doc = (await client.get("/schema/openapi.json")).json()
    documented, undocumented = 0, []
    for path, operations in doc["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            code = min(c for c in operation["responses"] if c.startswith("2"))
            if code == "204":
                continue
            content = operation["responses"][code].get("content", {})
            if content and "application/json" not in content:
                continue  # a file (CSV, XLSX, PDF), not a JSON answer
            schema = content.get("application/json", {}).get("schema")
            properties = _properties(doc, schema)
            if properties and all(_properties(doc, field) or field.get("type") or "$ref" in field or
                                  "oneOf" in field or "anyOf" in field for field in properties.values()):
                documented += 1
            else:
                undocumented.append(f"{method.upper()} {path}")
    assert not undocumented, f"answers without documented fields: {undocumented}"
    assert documented >= 60, documented
