"""Issue 11, point 12: schemathesis fuzzes every operation of /schema/openapi.json against a
real server, on SQLite and on PostgreSQL, as an operator admin, an agent owner and a switch
key. Any 5xx, or an answer that does not match its documented schema, fails the test. Bounded:
a few examples per operation and identity (VOIPAGENCY_FUZZ_EXAMPLES, default 4)."""

from __future__ import annotations

import os
import secrets
from collections import Counter

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from tests.web.live_server import LiveServer
from web.demo import DEMO_PASSWORD

EXAMPLES = int(os.environ.get("VOIPAGENCY_FUZZ_EXAMPLES", "4"))
# In CI the same examples every run, so that a red run points at the change that made it;
# elsewhere new ones each run, to find what those miss.
DERANDOMIZE = bool(os.environ.get("CI"))


def _bearer(base: str, username: str) -> str:
    """An API token of a demo user, made through the API."""
    with httpx.Client(base_url=base) as client:
        client.get("/login")
        csrf = client.cookies["vs_csrf"]
        client.post("/login", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": csrf})
        made = client.post(
            "/api/v1/me/tokens", json={"name": "fuzz"}, headers={"X-CSRF-Token": client.cookies.get("vs_csrf", csrf)}
        )
        assert made.status_code == 201, made.text
        return made.json()["token"]


def _switch_key(base: str, admin_token: str) -> str:
    made = httpx.post(
        base + "/api/v1/switch/keys", json={"name": "fuzz"}, headers={"Authorization": f"Bearer {admin_token}"}
    )
    assert made.status_code == 201, made.text
    return made.json()["key"]


def _runner(operation, base: str, headers: dict[str, str], statuses: Counter):
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        derandomize=DERANDOMIZE,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def run(case) -> None:
        response = case.call(base_url=base, headers=headers)
        statuses[response.status_code // 100] += 1
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    return run


def _fuzz(base: str) -> tuple[list[str], Counter]:
    admin = _bearer(base, "admin")
    identities = {
        "admin": admin,
        "agent owner": _bearer(base, "huaxin"),
        "switch": _switch_key(base, admin),
    }
    schema = schemathesis.openapi.from_url(base + "/schema/openapi.json")
    failures: list[str] = []
    statuses: Counter = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        for who, token in identities.items():
            try:
                _runner(operation, base, {"Authorization": f"Bearer {token}"}, statuses)()
            except Exception as failure:  # noqa: BLE001 - every kind of failure is a finding
                failures.append(f"{operation.label} as {who}: {str(failure)[:400]}")
    return failures, statuses


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_fuzzing_the_api_finds_no_server_error_and_no_answer_off_its_schema(kind, tmp_path, request):
    env = {"VOIPAGENCY_DB_PATH": str(tmp_path / "fuzz.sqlite3"), "VOIPAGENCY_DEMO": "1"}
    if kind == "postgres":
        cluster = request.getfixturevalue("postgres_cluster")
        env["DATABASE_URL"] = cluster.create_database(f"fuzz_{secrets.token_hex(4)}")
    with LiveServer(env) as server:
        failures, statuses = _fuzz(server.url)
        assert "Traceback" not in server.log_text()
    assert not failures, "\n".join(failures)
    # It reached the handlers: most answers are refusals of bad input, and some succeed.
    assert sum(statuses.values()) >= 500 and statuses[2] >= 20, statuses
