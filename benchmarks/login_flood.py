"""Login flood (SPEC §11, R-33): `authorize` latency while the staff login is flooded with wrong
passwords, through HTTP.

For each database (SQLite file, throwaway PostgreSQL cluster), a fresh database gets the switch
benchmark's data (an owner with stock, subscribers on activated e-cards, a switch key; see
benchmarks/switch.py); then the real server (`voipagency serve`, 1 worker on SQLite, 2 on
PostgreSQL, trusting X-Forwarded-For from the load generator so that each flooding client can
come from addresses of its own) is started. In each scenario, CLIENTS switch lines place calls
(POST /api/switch/v1/authorize, then the call's one-record CDR) for a bounded time, as
benchmarks/switch.py does, while FLOODERS clients post wrong passwords to POST /login (form and
CSRF token, as a browser does) as fast as they are answered:

- `quiet`: no flood, for comparison;
- `spray`: every login a name never seen, from an address never seen, so that no throttle key ever
  locks and every attempt costs a password hash (against the dummy hash of unknown names): the
  worst case for the CPU;
- `one_account`: every flooding client guesses one real account's password from an address of
  its own; the account locks per address at 5 failures and globally at 20, and from then on the
  flood is answered without hashing.

The target is authorize's p99 at 8 lines during the flood. Afterwards the audit log tells how many
failed logins were checked (`"locked": false`) and how many were refused unchecked. Prints one JSON
object; nothing is asserted.

    .venv/bin/python -m benchmarks.login_flood [--databases sqlite,postgres] [--seconds 8]
        [--clients 8] [--flooders 20] [--scenarios quiet,spray,one_account]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import Counter
from urllib.parse import urlencode

import httpx

from agency.tables import AuditEntry
from benchmarks.cards import add_worker_options, cores_by_process, cpu_by_process, settle, workers
from benchmarks.common import (
    Database,
    closed_loop,
    cpu_snapshot,
    databases,
    logger,
    postmaster_pid,
    print_report,
    run_on_each,
    serving,
    with_cpu,
)
from benchmarks.http_load import LeanClient, connect_one_by_one
from benchmarks.switch import LINE_SUBSCRIBERS, SUBSCRIBERS, build, place_calls
from core import passwords
from tests.postgres_cluster import free_port
from web.auth import CSRF_COOKIE

TARGETS = {"authorize_p99_ms_max_during_flood": {"8": 10}}
HASH_SETTINGS = ("VOIPAGENCY_HASH_THREADS", "VOIPAGENCY_HASH_DUTY")  # passed on to the server
FLOODED_ACCOUNT = "pearl"  # a demo user of the second level
WARM_UP_SECONDS = 1.0  # the flood runs alone first, so that the calls meet it at full strength

log = logger("login_flood")


class FormClient(LeanClient):
    """A lean client that posts forms (the login page's), with headers of each request's own."""

    async def post_form(self, path: str, fields: dict[str, str], headers: dict[str, str]) -> tuple[int, bytes]:
        body = urlencode(fields).encode()
        extra = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        head = (
            f"POST {path} HTTP/1.1\r\n{self._fixed}{extra}"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        for attempt in (1, 2):  # a kept-alive connection the server closed is opened again, once
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            try:
                self._writer.write(head.encode() + body)
                return await asyncio.wait_for(self._response(), self.timeout)
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.aclose()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


async def flooders(url: str, count: int) -> list[tuple[FormClient, str]]:
    """`count` login clients, each with the CSRF cookie of a visit to the login page and its token."""
    found = []
    for _ in range(count):
        async with httpx.AsyncClient(base_url=url, timeout=60) as browser:
            await browser.get("/login")
            found.append((FormClient.like(browser), browser.cookies[CSRF_COOKIE]))
    return found


def flood_request(clients: list[tuple[FormClient, str]], scenario: str):
    sent = Counter()

    async def request(i: int) -> tuple[int | str, float, str]:
        client, token = clients[i]
        n = sent[i]
        sent[i] += 1
        if scenario == "spray":  # a new name from a new address every time
            username, address = f"flood{i}x{n}", f"10.{i}.{n // 250 % 250}.{n % 250}"
        else:  # one account, each client from an address of its own
            username, address = FLOODED_ACCOUNT, f"10.{i}.0.1"
        fields = {"username": username, "password": f"wrong-{i}-{n}", "csrf_token": token}
        start = time.perf_counter()
        try:
            status, body = await client.post_form("/login", fields, {"X-Forwarded-For": address})
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
            return type(exc).__name__, time.perf_counter() - start, str(exc)[:200]
        return status, time.perf_counter() - start, "" if status == 401 else body[:200].decode(errors="replace")

    return request


async def until_serving(url: str, timeout: float = 30) -> None:
    """Wait until `url` answers its health check (the switch port's processes start on their own)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=url, timeout=2) as client:
        while True:
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.2)


async def failed_logins() -> Counter:
    """login.failed entries of the audit log, by whether the password was checked."""
    rows = await AuditEntry.select(AuditEntry.after).where(AuditEntry.action == "login.failed").output(load_json=True)
    return Counter("refused_unchecked" if (r["after"] or {}).get("locked") else "checked" for r in rows)


async def scenario_run(
    server, switch_url: str, db: Database, key: str, accounts: list[str], scenario: str, args
) -> dict:
    lines = [LeanClient(switch_url, {"Authorization": f"Bearer {key}"}) for _ in range(args.clients)]
    await connect_one_by_one(lines)
    flood = await flooders(server.url, args.flooders) if scenario != "quiet" else []
    for client, _token in flood:
        await client.connect()
    audit_before = await failed_logins()
    flooding = None
    if flood:
        flooding = asyncio.ensure_future(
            closed_loop(flood_request(flood, scenario), len(flood), WARM_UP_SECONDS + args.seconds + 0.5, 10**9, ok=401)
        )
        await asyncio.sleep(WARM_UP_SECONDS)
    log(f"{db.kind}: {scenario}: {args.clients} lines for {args.seconds} s, {len(flood)} flooding the login")
    postmaster = postmaster_pid(db.pg_data_dir)
    before = cpu_snapshot(server.process.pid, postmaster)
    processes = cpu_by_process(server.process.pid)
    calls = await place_calls(lines, iter(accounts), args.seconds)
    with_cpu(calls, before, cpu_snapshot(server.process.pid, postmaster), "call")
    calls["server_cores_busy_by_process"] = cores_by_process(
        processes, cpu_by_process(server.process.pid), calls["seconds"]
    )
    result: dict[str, object] = {"authorize_p99_ms": calls["authorize"]["p99_ms"], "calls": calls}
    if flooding is not None:
        flood_figures = await flooding
        audit_after = await failed_logins()
        flood_figures["failed_logins_in_audit"] = {k: audit_after[k] - audit_before[k] for k in audit_after}
        result["flood"] = flood_figures
    for client in lines + [client for client, _token in flood]:
        await client.aclose()
    log(f"{db.kind}: {scenario}: authorize {calls['authorize']}")
    return result


async def run(kind: str, args) -> dict[str, object]:
    with databases(kind) as found:
        db = found.new("login_flood")
        async with db.opened():
            start = time.perf_counter()
            accounts, key = await build(max(SUBSCRIBERS, len(args.scenarios) * args.clients * LINE_SUBSCRIBERS))
            figures: dict[str, object] = {"setup_seconds": round(time.perf_counter() - start, 2)}
            extra_args: tuple[str, ...] = ("--proxy-headers", "--forwarded-allow-ips", "127.0.0.1")
            switch_port = None if args.shared_port else free_port()
            if switch_port:
                extra_args += ("--switch-port", str(switch_port))
            hashing = {name: os.environ[name] for name in HASH_SETTINGS if name in os.environ}
            with serving(db, workers(kind, args), figures, log, extra_args=extra_args, env=hashing) as server:
                switch_url = f"http://127.0.0.1:{switch_port}" if switch_port else server.url
                await until_serving(switch_url)
                scenarios = {}
                for number, scenario in enumerate(args.scenarios):
                    # Subscribers of its own: the usage rules count a subscriber's calls of the last
                    # hour, and a scenario should not pay for the calls of the one before.
                    each = args.clients * LINE_SUBSCRIBERS
                    own = accounts[number * each : (number + 1) * each]
                    scenarios[scenario] = await scenario_run(server, switch_url, db, key, own, scenario, args)
                    await settle(db.dsn)
                figures["scenarios"] = scenarios
            return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--seconds", type=float, default=8.0, help="time of the calls in each scenario")
    parser.add_argument("--clients", type=int, default=8, help="switch lines placing calls (at most 64)")
    parser.add_argument("--flooders", type=int, default=20, help="clients flooding the login")
    parser.add_argument("--scenarios", default="quiet,spray,one_account")
    parser.add_argument(
        "--shared-port", action="store_true", help="the switch calls the web port too (no --switch-port)"
    )
    add_worker_options(parser)
    args = parser.parse_args()
    args.clients = min(64, args.clients)
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(args.scenarios) - {"quiet", "spray", "one_account"}
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    started = time.perf_counter()
    results = run_on_each(args.databases, lambda kind: run(kind, args))
    print_report(
        {
            "benchmark": "login_flood",
            "targets": TARGETS,
            "notes": [
                "Server: `voipagency serve` on loopback with --sqlite-workers / --postgres-workers processes, "
                "trusting X-Forwarded-For from 127.0.0.1; the load generator runs on the same cores. Unless "
                "--shared-port, the calls go to --switch-port, served by as many processes of its own.",
                "Passwords are hashed and verified off the event loop, in VOIPAGENCY_HASH_THREADS threads per "
                "server process (default 1), each resting after a login's hash so as to hash logins at most "
                "VOIPAGENCY_HASH_DUTY of the time (default 0.25; both passed on from this process's "
                "environment); a locked key is refused without hashing.",
                "A flood answer is a 401 (the login page again); its latency and rate are the flood's.",
                "SQLite runs in demo mode with the benchmark's secrets; PostgreSQL in production mode on a "
                "throwaway, durable cluster (fsync on: see database_settings).",
            ],
            "settings": {
                "seconds": args.seconds,
                "clients": args.clients,
                "flooders": args.flooders,
                "scenarios": args.scenarios,
                "switch_port": not args.shared_port,
                "sqlite_workers": args.sqlite_workers,
                "postgres_workers": args.postgres_workers,
                "hash_threads": passwords.HASH_THREADS,
                "hash_duty": passwords.HASH_DUTY,
                "cpus": os.cpu_count(),
            },
            "wall_seconds": round(time.perf_counter() - started, 1),
            "results": results,
        }
    )


if __name__ == "__main__":
    main()
