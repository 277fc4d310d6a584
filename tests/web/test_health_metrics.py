"""Issue 11, point 13: /healthz (the process answers), /readyz (the database answers, every
migration is applied), /metrics (Prometheus, behind VOIPAGENCY_METRICS_TOKEN): requests counted
and timed by route template, card jobs read from the database, one view over several workers."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from datetime import timedelta

import httpx
import pytest
from piccolo.apps.migrations.tables import Migration
from piccolo.engine.postgres import PostgresEngine
from prometheus_client.parser import text_string_to_metric_families

from cards.tables import CardJob
from core.clock import now
from core.db import bind_engine, engine_from_url
from tests.helpers import api, demo_actors, web_login
from tests.money import fund, key
from tests.postgres_cluster import free_port
from tests.web.live_server import LiveServer
from web.controllers.health import token_matches
from web.demo import DEMO_OPERATION_PASSWORD as OP
from web.settings import Settings, SettingsError

TOKEN = "metrics-" + "k" * 32
BEARER = {"Authorization": f"Bearer {TOKEN}"}
REQUESTS = "voipagency_http_requests_total"
DURATION_COUNT = "voipagency_http_request_duration_seconds_count"

Samples = dict[tuple[str, frozenset], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def client_of(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1")


@pytest.fixture
async def metrics_app(db, settings):
    from web.app import create_app

    return create_app(dataclasses.replace(settings, metrics_token=TOKEN), engine=db["engine"])


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics", headers=BEARER)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert response.headers["cache-control"] == "no-store"
    return parse(response.text)


# /healthz and /readyz


async def test_healthz_answers_with_the_worker_pid(client):
    import os

    response = await client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok", "pid": os.getpid()}


async def test_readyz_is_ready_on_a_migrated_database(client):
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready"} and response.headers["cache-control"] == "no-store"


async def test_readyz_is_unready_while_a_migration_is_not_applied(db, client):
    row = await Migration.select().where(Migration.app_name == "cards").order_by(Migration.name).first()
    await Migration.delete().where(Migration.id == row["id"])
    try:
        response = await client.get("/readyz")
        assert response.status_code == 503, response.text
        assert response.json() == {"status": "unready", "reason": "migrations pending", "pending": {"cards": 1}}
    finally:
        await Migration.insert(Migration(name=row["name"], app_name=row["app_name"], ran_on=row["ran_on"]))
    assert (await client.get("/readyz")).status_code == 200


async def test_readyz_is_unready_on_a_database_never_migrated(db, settings, tmp_path):
    from web.app import create_app

    if db["kind"] == "postgres":
        empty = PostgresEngine(config={"dsn": db["cluster"].create_database(f"empty_{secrets.token_hex(4)}")})
    else:
        empty = engine_from_url(None, str(tmp_path / "empty.sqlite3"))
    try:
        async with client_of(create_app(settings, engine=empty)) as client:
            response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json() == {"status": "unready", "reason": "migrations not applied"}
    finally:
        bind_engine(db["engine"])


@pytest.mark.filterwarnings("ignore:.*Unable to connect to database")  # Piccolo's, on PostgreSQL
async def test_readyz_is_unready_when_the_database_is_unreachable_and_healthz_still_answers(db, settings, tmp_path):
    from web.app import create_app

    if db["kind"] == "postgres":
        where = f"postgresql://nobody:pw-not-to-show@127.0.0.1:{free_port()}/nothing"
        gone = PostgresEngine(config={"dsn": where})
    else:
        where = str(tmp_path / "no-such-directory" / "gone.sqlite3")
        gone = engine_from_url(None, where)
    try:
        async with client_of(create_app(settings, engine=gone)) as client:
            ready = await client.get("/readyz")
            alive = await client.get("/healthz")
        assert ready.status_code == 503
        assert ready.json() == {"status": "unready", "reason": "database unreachable"}
        assert "pw-not-to-show" not in ready.text and "no-such-directory" not in ready.text
        assert alive.status_code == 200
    finally:
        bind_engine(db["engine"])


async def test_readyz_is_unready_when_the_database_does_not_answer_in_time(db, client, monkeypatch):
    from web.controllers import health

    async def stuck() -> dict[str, int]:
        await asyncio.sleep(60)
        return {}

    monkeypatch.setattr(health, "READY_TIMEOUT_SECONDS", 0.05)
    monkeypatch.setattr(health, "pending_migrations", stuck)
    response = await client.get("/readyz")
    assert response.status_code == 503 and response.json()["reason"] == "database unreachable"


# /metrics: the token


async def test_metrics_are_not_found_without_a_configured_token(client):
    response = await client.get("/metrics")
    assert response.status_code == 404
    assert (await client.get("/metrics", headers=BEARER)).status_code == 404


async def test_metrics_need_the_token(metrics_app):
    async with client_of(metrics_app) as client:
        for headers in (
            {},
            {"Authorization": "Bearer"},
            {"Authorization": "Bearer wrong"},
            {"Authorization": f"Bearer {TOKEN}x"},
            {"Authorization": f"Bearer {TOKEN[:-1]}"},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": "Bearer \u221e".encode()},  # not ASCII: Litestar reads it as latin-1
        ):
            response = await client.get("/metrics", headers=headers)
            assert response.status_code == 401, (headers, response.status_code)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert "voipagency_" not in response.text
        assert (await client.get("/metrics", headers={"Authorization": f"bearer  {TOKEN}"})).status_code == 200
        assert (await client.get("/metrics", headers=BEARER)).status_code == 200


def test_token_comparison_and_settings(tmp_path):
    assert token_matches(TOKEN, TOKEN) and not token_matches(TOKEN[:-1], TOKEN) and not token_matches("", TOKEN)
    assert not token_matches("\udcff", TOKEN)  # not even encodable: no exception, no match
    env = {"VOIPAGENCY_DB_PATH": str(tmp_path / "unused.sqlite3"), "VOIPAGENCY_DEMO": "1"}
    assert Settings.from_env(env).metrics_token == ""
    assert Settings.from_env({**env, "VOIPAGENCY_METRICS_TOKEN": TOKEN}).metrics_token == TOKEN
    for weak in ("short", "with a space in it, long enough", "ünïcödé" * 4):
        with pytest.raises(SettingsError):
            Settings.from_env({**env, "VOIPAGENCY_METRICS_TOKEN": weak})


# /metrics: what it counts


async def test_requests_are_counted_and_timed_by_route_template(metrics_app):
    async with client_of(metrics_app) as client:
        before = await scrape(client)
        for _ in range(3):
            assert (await client.get("/api/v1/agents/48213")).status_code == 401
        assert (await client.get("/agents/48214")).status_code in (302, 303)
        assert (await client.get("/no/such/page/48215")).status_code == 404
        assert (await client.put("/healthz")).status_code == 405
        assert (await client.post("/api/switch/v1/authorize", json={})).status_code == 401
        assert (await client.post("/api/switch/v1/cdr", json={})).status_code == 401
        assert (await client.get("/readyz")).status_code == 200
        response = await client.get("/metrics", headers=BEARER)
        after = parse(response.text)

    def rose(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    agent = {"route": "/api/v1/agents/{agent_id}", "method": "GET", "status": "4xx"}
    assert rose(REQUESTS, **agent) == 3 and rose(DURATION_COUNT, **agent) == 3
    page = {"route": "/agents/{agent_id}", "method": "GET", "status": "3xx"}
    assert rose(REQUESTS, **page) == 1
    assert rose(REQUESTS, route="unmatched", method="GET", status="4xx") == 1
    assert rose(REQUESTS, route="unmatched", method="PUT", status="4xx") == 1  # routing's 405
    for route in ("/api/switch/v1/authorize", "/api/switch/v1/cdr"):  # the switch's latency, by route
        assert rose(DURATION_COUNT, route=route, method="POST", status="4xx") == 1
    assert rose(REQUESTS, route="/readyz", method="GET", status="2xx") == 1
    assert rose(REQUESTS, route="/metrics", method="GET", status="2xx") == 1  # the scrape before this one
    # Route labels are templates, never the paths asked for: the ids are nowhere.
    label_values = {v for _name, labels in after for _label, v in labels}
    assert not [v for v in label_values if any(number in v for number in ("48213", "48214", "48215"))]
    routes = {dict(labels)["route"] for _name, labels in after if "route" in dict(labels)}
    assert all(route == "unmatched" or route.startswith("/") for route in routes), routes
    bucket = {"route": "/api/v1/agents/{agent_id}", "method": "GET", "status": "4xx", "le": "+Inf"}
    assert value(after, "voipagency_http_request_duration_seconds_bucket", **bucket) >= 3


async def test_job_gauges_reflect_card_jobs(metrics_app, settings):
    actors = await demo_actors()
    owner = actors["huaxin"]
    await fund(owner.agent_id, 10**9)
    from money.bundles import buy_bundle

    await buy_bundle(owner, 20_000, operation_password=OP, idempotency_key=key())
    async with client_of(metrics_app) as client:
        before = await scrape(client)
        assert value(before, "voipagency_database_up") == 1
        assert value(before, "voipagency_card_jobs", state="done") == 0
        assert value(before, "voipagency_card_job_cards_pending") == 0
        await web_login(client, "huaxin")
        body = {"kind": "recharge", "count": 20_000, "face_minutes": 1, "expiry_rule": "none"}
        started = await api(
            client, "POST", "/api/v1/card-batches", json={**body, "operation_password": OP, "idempotency_key": key()}
        )
        assert started.status_code in (201, 202), started.text
        for _ in range(1200):  # the job writes its batch in one transaction, in the background
            if not await CardJob.exists().where(CardJob.status == "running"):
                break
            await asyncio.sleep(0.05)
        done = await scrape(client)
        assert value(done, "voipagency_card_jobs", state="done") == 1
        assert value(done, "voipagency_card_jobs", state="running") == 0
        assert value(done, "voipagency_card_job_cards_pending") == 0
        # A job still writing (its process elsewhere): its cards are pending, its age shows.
        await CardJob.insert(
            CardJob(agent=owner.agent_id, requested_by=owner.user_id, size=30_000, status="running",
                    host="elsewhere", pid=1, started_at=now() - timedelta(minutes=10))
        )
        running = await scrape(client)
        assert value(running, "voipagency_card_jobs", state="running") == 1
        assert value(running, "voipagency_card_job_cards_pending") == 30_000
        assert 590 < value(running, "voipagency_card_job_oldest_running_seconds") < 3600


async def test_metrics_still_answer_when_the_database_is_away(db, settings, tmp_path):
    from web.app import create_app

    gone = engine_from_url(None, str(tmp_path / "no-such-directory" / "gone.sqlite3"))
    try:
        async with client_of(create_app(dataclasses.replace(settings, metrics_token=TOKEN), engine=gone)) as client:
            samples = await scrape(client)
        assert value(samples, "voipagency_database_up") == 0
        assert value(samples, REQUESTS, route="/metrics", method="GET", status="2xx") >= 0
    finally:
        bind_engine(db["engine"])


# Several workers


def test_every_worker_answers_for_all_workers(tmp_path):
    """`serve --workers 2`: whichever worker a scrape reaches, it counts the requests of both
    (prometheus-client's multiprocess mode), never only its own."""
    env = {"VOIPAGENCY_DB_PATH": str(tmp_path / "workers.sqlite3"), "VOIPAGENCY_METRICS_TOKEN": TOKEN}
    healthz = {"route": "/healthz", "method": "GET", "status": "2xx"}

    def fresh_scrape(url: str) -> Samples:  # a new connection: any worker
        response = httpx.get(url + "/metrics", headers=BEARER, timeout=10)
        assert response.status_code == 200, response.text
        return parse(response.text)

    with LiveServer(env, workers=2) as server:
        before = value(fresh_scrape(server.url), REQUESTS, **healthz)
        pids: list[int] = []
        while len(set(pids)) < 2 or len(pids) < 20:
            assert len(pids) < 400, "the requests never reached both workers"
            pids.append(httpx.get(server.url + "/healthz", timeout=10).json()["pid"])
        for _ in range(8):
            assert value(fresh_scrape(server.url), REQUESTS, **healthz) - before == len(pids)
