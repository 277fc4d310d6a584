"""Issue acceptance: a session created by one worker is valid in another worker and after a
restart; logging out revokes it. The real `voipagency serve --workers 2`, PostgreSQL, production mode."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import defaultdict

import httpx

from tests.postgres_cluster import free_port
from tests.web.live_server import LiveServer, run_cli
from web.auth import CSRF_COOKIE, SESSION_COOKIE

USERNAME, PASSWORD = "boss", "workers-test-password"
MAX_CONNECTIONS = 400  # fresh connections tried before giving up on reaching both workers


def probe(url: str, session: str) -> tuple[int, httpx.Response]:
    """One fresh TCP connection, hence one worker: that worker's pid and its /api/v1/me answer."""
    with httpx.Client(base_url=url, cookies={SESSION_COOKIE: session}, timeout=10) as client:
        pid = client.get("/healthz").json()["pid"]
        return pid, client.get("/api/v1/me")  # same keep-alive connection, same worker


def statuses_by_worker(url: str, session: str) -> dict[int, list[int]]:
    """/api/v1/me statuses per worker pid, on fresh connections until both workers answered a few times."""
    seen: dict[int, list[int]] = defaultdict(list)
    for _ in range(MAX_CONNECTIONS):
        pid, response = probe(url, session)
        seen[pid].append(response.status_code)
        if response.status_code == 200:
            assert response.json()["username"] == USERNAME
        if len(seen) >= 2 and min(len(s) for s in seen.values()) >= 3:
            break
    return dict(seen)


def log_in(url: str) -> tuple[int, str]:
    """Log in through the HTML form on one connection; the worker pid and the session cookie."""
    with httpx.Client(base_url=url, timeout=10) as client:
        pid = client.get("/healthz").json()["pid"]
        client.get("/login")
        response = client.post(
            "/login", data={"username": USERNAME, "password": PASSWORD, "csrf_token": client.cookies[CSRF_COOKIE]}
        )
        assert response.status_code == 303, response.text
        return pid, response.cookies[SESSION_COOKIE]


def log_out(url: str, session: str) -> None:
    with httpx.Client(base_url=url, cookies={SESSION_COOKIE: session}, timeout=10) as client:
        client.get("/login")
        response = client.post("/logout", data={"csrf_token": client.cookies[CSRF_COOKIE]})
        assert response.status_code == 303, response.text


# The flags of the `web` service in docker-compose.yml (host, port and worker count aside).
COMPOSE_WEB_FLAGS = ("--no-migrate", "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1")


def test_session_shared_by_workers_survives_restart_and_logout_revokes_it(postgres_cluster):
    """Logged in on one worker, valid on both; still valid after a restart; after logout, 401 on both."""
    dsn = postgres_cluster.create_database(f"workers_{secrets.token_hex(4)}")
    port = free_port()
    env = {
        "DATABASE_URL": dsn,
        "VOIPAGENCY_DEMO": "0",
        "VOIPAGENCY_SECRET_KEY": secrets.token_urlsafe(48),
        "VOIPAGENCY_CARD_SECRET_KEY": secrets.token_urlsafe(48),
        "VOIPAGENCY_ALLOWED_HOSTS": "127.0.0.1",
        "VOIPAGENCY_SECURE_COOKIES": "0",
    }
    run_cli("migrate", env=env)
    # Not admin or finance, who must set up two-factor login first outside demo mode (issue 11.10).
    run_cli("create-user", USERNAME, "--role", "support", "--password-stdin", env=env, input=PASSWORD + "\n")

    with LiveServer(env, workers=2, port=port, extra_args=COMPOSE_WEB_FLAGS) as server:
        login_pid, session = log_in(server.url)
        seen = statuses_by_worker(server.url, session)
        assert len(seen) == 2, f"only one worker answered in {MAX_CONNECTIONS} connections: {seen}"
        assert login_pid in seen
        assert all(set(statuses) == {200} for statuses in seen.values()), seen

    with LiveServer(env, workers=2, port=port, extra_args=COMPOSE_WEB_FLAGS) as server:
        seen = statuses_by_worker(server.url, session)
        assert login_pid not in seen  # really new worker processes
        assert len(seen) == 2 and all(set(statuses) == {200} for statuses in seen.values()), seen

        log_out(server.url, session)
        seen = statuses_by_worker(server.url, session)
        assert len(seen) == 2 and all(set(statuses) == {401} for statuses in seen.values()), seen


def test_compose_runs_migrate_once_then_the_tested_web_command():
    """docker-compose.yml: PostgreSQL with a healthcheck, a one-shot migrate, and the web command tested above."""
    import pathlib

    import yaml

    compose = yaml.safe_load((pathlib.Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())
    services = compose["services"]
    assert "healthcheck" in services["postgres"]
    assert services["migrate"]["command"] == ["voipagency", "migrate"]
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    web = services["web"]["command"]
    assert web[:2] == ["voipagency", "serve"] and int(web[web.index("--workers") + 1]) >= 2
    assert all(flag in web for flag in COMPOSE_WEB_FLAGS if not flag[0].isdigit())
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "DATABASE_URL" in services["web"]["environment"]


def pids_answering(url: str, tries: int = MAX_CONNECTIONS) -> set[int]:
    """The worker pids that answer /healthz on fresh connections, until two have answered."""
    pids: set[int] = set()
    for _ in range(tries):
        pids.add(httpx.get(url + "/healthz", timeout=10).json()["pid"])
        if len(pids) >= 2:
            break
    return pids


def test_workers_listen_on_sockets_of_their_own_and_a_dead_one_is_replaced(tmp_path):
    """Each worker has its own SO_REUSEPORT socket, so connections reach both; a worker killed
    while serving (as the OOM killer would) is replaced, and the server keeps answering."""
    import os
    import signal
    import time

    with LiveServer({"VOIPAGENCY_DB_PATH": str(tmp_path / "workers.sqlite3")}, workers=2) as server:
        first = pids_answering(server.url)
        assert len(first) == 2, first
        time.sleep(5.5)  # past the start-up window in which a dying worker stops the server instead
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        now_answering: set[int] = set()
        while time.monotonic() < deadline:
            try:
                now_answering = pids_answering(server.url, tries=50)
            except httpx.HTTPError:
                now_answering = set()
            if len(now_answering) == 2 and victim not in now_answering:
                break
            time.sleep(0.5)
        assert len(now_answering) == 2 and victim not in now_answering, now_answering
        assert server.process.poll() is None  # the supervisor itself is still running


def test_the_switch_port_serves_the_switch_api_alone(tmp_path):
    """`serve --switch-port`: the switch API on processes of its own, so that no page, report or
    login flood of the web port queues in front of an authorization; the web port is unchanged."""
    from concurrent.futures import ThreadPoolExecutor

    from accounts import switch
    from agency.roles import Actor
    from core.db import bind_engine, engine_from_url

    path = str(tmp_path / "switch-port.sqlite3")

    async def new_key() -> str:
        engine = engine_from_url(None, path)
        bind_engine(engine)
        _row, key = await switch.create_key(Actor(user_id=1, username="admin", role="admin"), "switch-port test")
        await engine.close_connection_pool()
        return key

    switch_port = free_port()
    with LiveServer({"VOIPAGENCY_DB_PATH": path}, extra_args=("--switch-port", str(switch_port))) as server:
        with ThreadPoolExecutor(1) as thread:  # a loop of its own: the browser tests may hold this thread's
            key = thread.submit(asyncio.run, new_key()).result()
        with httpx.Client(base_url=f"http://127.0.0.1:{switch_port}", timeout=10) as client:
            for _ in range(100):  # its processes start on their own
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            call = {"account": "0000000000", "destination": "8613800138000", "call_id": "switch-port-1"}
            assert client.post("/api/switch/v1/authorize", json=call).status_code == 401
            answered = client.post("/api/switch/v1/authorize", json=call, headers={"Authorization": f"Bearer {key}"})
            assert answered.status_code == 200 and answered.json()["allow"] is False, answered.text
            for page in ("/login", "/api/v1/me", "/portal/login"):
                assert client.get(page).status_code == 404, page
        with httpx.Client(base_url=server.url, timeout=10) as web:
            assert web.get("/login").status_code == 200
            call["call_id"] = "web-port-1"
            answered = web.post("/api/switch/v1/authorize", json=call, headers={"Authorization": f"Bearer {key}"})
            assert answered.status_code == 200
