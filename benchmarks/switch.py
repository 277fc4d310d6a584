"""Switch API speed (SPEC §11): `authorize` latency and call-record rating throughput, through HTTP.

For each database (SQLite file, throwaway PostgreSQL cluster), a fresh database gets an owner with
stock, SUBSCRIBERS subscribers (activated e-cards of BALANCE_MINUTES each) and a switch key; then
the real server (`voipagency serve`, 1 worker on SQLite, 2 on PostgreSQL; SQLite in demo mode,
PostgreSQL in production mode) is started.

1. Calls: 8 and 64 concurrent clients, each a switch line with a subscriber of its own, place calls
   for a bounded time: POST /api/switch/v1/authorize, then POST /api/switch/v1/cdr with that one
   call's record (a 30 s call, billed 60 s), as a switch does for every call. The latency of each
   kind of request is reported; the target is authorize's p99.
2. Rating in batches: RATED_CALLS records of calls never authorized (durations 0 to 599 s over all
   the subscribers) are sent in batches of 1,000 by 2 clients; calls rated per second.

Afterwards the database is checked: one rated call per call id, the charges in the ledger match
the calls' `charged`, no reservation left open, and the ledger verifies. Prints one JSON object;
nothing is asserted.

    .venv/bin/python -m benchmarks.switch [--databases sqlite,postgres] [--seconds 8] [--levels 8,64]
        [--rated-calls 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import time
import uuid
from collections import Counter

from accounts import switch
from accounts.tables import Call, CallReservation
from agency.sessions import log_in
from benchmarks.cards import (
    KEY,
    OP,
    add_worker_options,
    batch_request,
    cores_by_process,
    cpu_by_process,
    settle,
    stocked_owner,
    workers,
)
from benchmarks.common import (
    Database,
    cpu_snapshot,
    databases,
    logger,
    postmaster_pid,
    print_report,
    run_on_each,
    serving,
    summary,
    with_cpu,
)
from benchmarks.http_load import LeanClient, connect_one_by_one, timed_call
from cards.integrity import verify_everything
from cards.services import activate_cards, generate_batch
from money import ledger
from web.demo import DEMO_PASSWORD

SUBSCRIBERS = 512  # the calls of part 1 use the first 64; the rated records spread over all
BALANCE_MINUTES = 6000
CALL_SECONDS = 30
BATCH = 1000
TARGETS = {"authorize_p99_ms_max": {"8": 10}, "rated_calls_per_second_min": 2000}


log = logger("switch")


async def build() -> tuple[list[str], str]:
    """Owner, subscribers and a switch key; returns the account numbers and the key."""
    owner = await stocked_owner(SUBSCRIBERS * BALANCE_MINUTES)
    _batch, pairs = await generate_batch(
        owner, batch_request(SUBSCRIBERS, "e-card", BALANCE_MINUTES), card_key=KEY, operation_password=OP
    )
    await activate_cards(owner, pairs[0][0], pairs[-1][0])
    _token, admin = await log_in("admin", DEMO_PASSWORD, address="benchmark")
    _row, key = await switch.create_key(admin, "benchmark")
    return [serial for serial, _secret in pairs], key


def call_record(call_id: str, account: str, seconds: int, end: dt.datetime) -> dict[str, object]:
    answer = end - dt.timedelta(seconds=seconds)
    return {
        "call_id": call_id,
        "account": account,
        "destination": "8613800138000",
        "start": (answer - dt.timedelta(seconds=5)).isoformat(),
        "answer": answer.isoformat(),
        "end": end.isoformat(),
    }


async def place_calls(clients: list[LeanClient], accounts: list[str], seconds: float) -> dict[str, object]:
    """Each client: authorize a call, then report it, until the time is up."""
    statuses: dict[str, Counter] = {"authorize": Counter(), "cdr": Counter()}
    latencies: dict[str, list[float]] = {"authorize": [], "cdr": []}
    denied: Counter = Counter()
    samples: dict[str, str] = {}
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()

    async def line(client: LeanClient, account: str) -> None:
        while time.perf_counter() < deadline:
            call_id = uuid.uuid4().hex
            asked = {"account": account, "destination": "8613800138000", "call_id": call_id}
            began = time.perf_counter()
            status, body = await client.request("POST", "/api/switch/v1/authorize", json=asked)
            elapsed = time.perf_counter() - began
            statuses["authorize"][status] += 1
            if status != 200:
                samples.setdefault(f"authorize {status}", body[:200].decode(errors="replace"))
                continue
            latencies["authorize"].append(elapsed)
            answer = json.loads(body)
            if not answer["allow"]:
                denied[answer["reason"]] += 1
                continue
            record = call_record(call_id, account, CALL_SECONDS, dt.datetime.now(dt.UTC).replace(microsecond=0))
            status, elapsed, text = await timed_call(client, "POST", "/api/switch/v1/cdr", json={"calls": [record]})
            statuses["cdr"][status] += 1
            if status == 200:
                latencies["cdr"].append(elapsed)
            else:
                samples.setdefault(f"cdr {status}", text)

    await asyncio.gather(*(line(client, account) for client, account in zip(clients, accounts, strict=True)))
    wall = time.perf_counter() - start
    return {
        "clients": len(clients),
        "seconds": round(wall, 2),
        "calls_per_second": round(statuses["cdr"][200] / wall, 1),
        "authorize": {"statuses": dict(statuses["authorize"]), **summary(latencies["authorize"])},
        "cdr_one_record": {"statuses": dict(statuses["cdr"]), **summary(latencies["cdr"])},
        "denied": dict(denied),
        "error_samples": samples,
        "successes": statuses["cdr"][200],
    }


async def rate_in_batches(url: str, key: str, accounts: list[str], count: int) -> dict[str, object]:
    """`count` records of unauthorized calls in batches of BATCH, from 2 clients at once."""
    rng = random.Random(7)
    end = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=1)
    records = [call_record(f"rated-{i}", rng.choice(accounts), rng.randrange(600), end) for i in range(count)]
    batches = [records[i : i + BATCH] for i in range(0, count, BATCH)]
    statuses: Counter = Counter()
    results: Counter = Counter()
    latencies: list[float] = []

    async def sender(client: LeanClient) -> None:
        while batches:
            batch = batches.pop()
            began = time.perf_counter()
            status, body = await client.request("POST", "/api/switch/v1/cdr", json={"calls": batch})
            statuses[status] += 1
            if status == 200:
                latencies.append(time.perf_counter() - began)
                results.update(r["status"] for r in json.loads(body)["results"])

    clients = [LeanClient(url, {"Authorization": f"Bearer {key}"}, timeout=300) for _ in range(2)]
    start = time.perf_counter()
    await asyncio.gather(*(sender(client) for client in clients))
    wall = time.perf_counter() - start
    for client in clients:
        await client.aclose()
    return {
        "records": count,
        "batch": BATCH,
        "seconds": round(wall, 2),
        "statuses": {str(k): v for k, v in statuses.items()},
        "results": dict(results),
        "rated_per_second": round(results["rated"] / wall, 1),
        "batch_latency_ms": summary(latencies),
    }


async def checks() -> dict[str, object]:
    calls = await Call.count()
    distinct = (await Call.raw("SELECT COUNT(DISTINCT call_id) AS n FROM call"))[0]["n"]
    charged = (await Call.raw("SELECT COALESCE(SUM(charged), 0) AS n FROM call"))[0]["n"]
    consumption = await ledger.system_balance(switch.CALL_CONSUMPTION)
    open_reservations = await CallReservation.count()
    report = await verify_everything()
    return {
        "calls_rated": calls,
        "distinct_call_ids": distinct,
        "charged_seconds_in_calls": int(charged),
        "call_consumption_in_ledger": consumption,
        "reservations_left_open": open_reservations,
        "ledger_ok": report.ok,
        "ledger_breaches": len(report.breaches),
    }


async def http_benchmark(db: Database, args) -> dict[str, object]:
    kind = db.kind
    async with db.opened():
        start = time.perf_counter()
        accounts, key = await build()
        figures: dict[str, object] = {"setup_seconds": round(time.perf_counter() - start, 2)}
        log(f"{kind}: {len(accounts)} subscribers ready in {figures['setup_seconds']} s")
        with serving(db, workers(kind, args), figures, log) as server:
            runs = []
            for level in args.levels:
                clients = [LeanClient(server.url, {"Authorization": f"Bearer {key}"}) for _ in range(level)]
                await connect_one_by_one(clients)
                log(f"{kind}: calls, {level} clients for {args.seconds} s")
                postmaster = postmaster_pid(db.pg_data_dir)
                before = cpu_snapshot(server.process.pid, postmaster)
                processes = cpu_by_process(server.process.pid)
                run = await place_calls(clients, accounts[:level], args.seconds)
                with_cpu(run, before, cpu_snapshot(server.process.pid, postmaster), "call")
                run["server_cores_busy_by_process"] = cores_by_process(
                    processes, cpu_by_process(server.process.pid), run["seconds"]
                )
                log(f"{kind}: {run['successes']} calls, authorize {run['authorize']}")
                for client in clients:
                    await client.aclose()
                runs.append(run)
            figures["calls"] = runs
            await settle(db.dsn)
            log(f"{kind}: rating {args.rated_calls} records in batches of {BATCH}")
            figures["rating_in_batches"] = await rate_in_batches(server.url, key, accounts, args.rated_calls)
            log(f"{kind}: {figures['rating_in_batches']}")
        figures["database"] = await checks()
        return figures


async def run(kind: str, args) -> dict[str, object]:
    with databases(kind) as found:
        return await http_benchmark(found.new("switch_http"), args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--seconds", type=float, default=8.0, help="time per concurrency level")
    parser.add_argument("--levels", default="8,64", help="concurrent switch lines per run, at most 64")
    parser.add_argument("--rated-calls", type=int, default=50_000, help="records rated in batches")
    add_worker_options(parser)
    args = parser.parse_args()
    args.levels = [min(64, int(level)) for level in args.levels.split(",")]
    started = time.perf_counter()
    results = run_on_each(args.databases, lambda kind: run(kind, args))
    print_report(
        {
            "benchmark": "switch",
            "targets": TARGETS,
            "notes": [
                "Server: `voipagency serve` on loopback with --sqlite-workers / --postgres-workers processes "
                "(settings); the load generator "
                "(benchmarks/http_load.py, one kept-alive connection per switch line) runs on the same 2 cores.",
                "Every call of part 1 is an authorize (which reserves the airtime of the longest call the "
                "balance pays, up to 4 h) followed by its one-record CDR (30 s, billed 60 s), which releases it.",
                "SQLite runs in demo mode with the benchmark's secrets; PostgreSQL in production mode on a "
                "throwaway cluster (fsync=off).",
            ],
            "settings": {
                "seconds": args.seconds,
                "levels": args.levels,
                "rated_calls": args.rated_calls,
                "subscribers": SUBSCRIBERS,
                "sqlite_workers": args.sqlite_workers,
                "postgres_workers": args.postgres_workers,
                "cpus": os.cpu_count(),
            },
            "wall_seconds": round(time.perf_counter() - started, 1),
            "results": results,
        },
    )


if __name__ == "__main__":
    main()
