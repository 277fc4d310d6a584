"""R-12: a batch is all or nothing. A real server process killed while it writes a 200,000-card
batch leaves no card of it and no reservation, on SQLite and on PostgreSQL; the job then reads
as interrupted."""

from __future__ import annotations

import re
import secrets
import time

import httpx
import pyotp
import pytest

from tests.web.live_server import LiveServer, run_cli
from web.demo import DEMO_OPERATION_PASSWORD as OP
from web.demo import DEMO_PASSWORD

SIZE = 200_000


def login(client: httpx.Client, username: str) -> None:
    client.get("/login")
    response = client.post(
        "/login", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": client.cookies["vs_csrf"]}
    )
    assert response.status_code == 303, response.text


def api(client: httpx.Client, method: str, url: str, **kwargs) -> httpx.Response:
    return client.request(method, url, headers={"X-CSRF-Token": client.cookies["vs_csrf"]}, **kwargs)


def set_up_two_factor(client: httpx.Client) -> None:
    """Finance must set up two-factor login before anything else outside demo mode (issue 11.10)."""
    secret = api(client, "POST", "/api/v1/me/two-factor/start").json()["secret"]
    confirmed = api(client, "POST", "/api/v1/me/two-factor/confirm", json={"code": pyotp.TOTP(secret).now()})
    assert confirmed.status_code == 200, confirmed.text


def stock_up(base: str) -> None:
    """huaxin remits, finance confirms, huaxin buys 200,000 minutes: all through HTTP."""
    with httpx.Client(base_url=base, timeout=30) as agent, httpx.Client(base_url=base, timeout=30) as finance:
        login(agent, "huaxin")
        remittance = api(
            agent,
            "POST",
            "/api/v1/remittances",
            json={"amount": "20000", "bank_reference": "JOB-TEST", "remitted_on": "2026-11-20"},
        )
        assert remittance.status_code == 201, remittance.text
        login(finance, "finance")
        set_up_two_factor(finance)
        confirmed = api(
            finance,
            "POST",
            f"/api/v1/remittances/{remittance.json()['id']}/confirm",
            json={"operation_password": OP, "idempotency_key": secrets.token_hex(8)},
        )
        assert confirmed.status_code == 200, confirmed.text
        bought = api(
            agent,
            "POST",
            "/api/v1/bundles",
            json={"minutes": SIZE, "operation_password": OP, "idempotency_key": secrets.token_hex(8)},
        )
        assert bought.status_code == 201, bought.text


def balances(base: str) -> dict:
    with httpx.Client(base_url=base, timeout=30) as agent:
        login(agent, "huaxin")
        summary = agent.get("/api/v1/agents/1/balances").json()
        cards = agent.get("/api/v1/cards").json()["total"]
        batches = agent.get("/api/v1/card-batches").json()["total"]
    return {"stock": summary["stock"], "escrow": summary["escrow"], "cards": cards, "batches": batches}


@pytest.fixture(params=["sqlite", "postgres"])
def server_env(request, tmp_path):
    if request.param == "sqlite":
        return {"VOIPAGENCY_DB_PATH": str(tmp_path / "jobs.sqlite3")}
    cluster = request.getfixturevalue("postgres_cluster")
    env = {
        "DATABASE_URL": cluster.create_database(f"jobs_{secrets.token_hex(4)}"),
        "VOIPAGENCY_DEMO": "0",
        "VOIPAGENCY_SECRET_KEY": secrets.token_urlsafe(48),
        "VOIPAGENCY_CARD_SECRET_KEY": secrets.token_urlsafe(48),
        "VOIPAGENCY_ALLOWED_HOSTS": "127.0.0.1",
        "VOIPAGENCY_SECURE_COOKIES": "0",
    }
    run_cli("demo", env=env)
    return env


def test_killed_during_generation_leaves_nothing(server_env):
    server = LiveServer(server_env).start()
    try:
        base = server.url
        stock_up(base)
        before = balances(base)
        assert before == {"stock": SIZE * 60, "escrow": 0, "cards": 0, "batches": 0}
        with httpx.Client(base_url=base, timeout=30) as agent:
            login(agent, "huaxin")
            started = agent.post(
                "/cards/batches",
                data={
                    "kind": "recharge",
                    "count": str(SIZE),
                    "face_minutes": "1",
                    "expiry_rule": "none",
                    "operation_password": OP,
                    "idempotency_key": secrets.token_hex(8),
                    "csrf_token": agent.cookies["vs_csrf"],
                },
            )
            assert started.status_code == 303 and "/cards/jobs/" in started.headers["location"]
            job_url = started.headers["location"]
            deadline = time.monotonic() + 60
            written = 0
            while time.monotonic() < deadline:
                page = agent.get(job_url, headers={"HX-Request": "true"}).text
                match = re.search(r'id="job-progress" value="(\d+)"', page)
                written = int(match.group(1)) if match else 0
                assert 'data-status="running"' in page, "the batch finished before the kill; make it larger"
                if written > 0:
                    break
                time.sleep(0.02)
            assert 0 < written < SIZE, written
        server.kill()  # SIGKILL, mid-batch
        server = LiveServer(server_env).start()
        assert balances(server.url) == before  # no card, no batch, nothing held in escrow, stock intact
        with httpx.Client(base_url=server.url, timeout=30) as agent:
            login(agent, "huaxin")
            assert 'data-status="failed"' in agent.get(job_url).text
        verify = run_cli("ledger", "verify", env=server_env)
        assert "OK" in verify.stdout
    finally:
        server.stop()
