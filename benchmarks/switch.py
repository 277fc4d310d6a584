"""Switch API speed (SPEC §11): `authorize` latency and call-record rating throughput, through HTTP.

For each database (SQLite file, throwaway PostgreSQL cluster), a fresh database gets an owner with
stock, SUBSCRIBERS subscribers (activated e-cards of BALANCE_MINUTES each) and a switch key; then
the real server (`voipagency serve`, 1 worker on SQLite, 2 on PostgreSQL; SQLite in demo mode,
PostgreSQL in production mode) is started.

1. Calls: 1 (sequential), 8 and 64 concurrent clients, each a switch line carrying the calls of
   LINE_SUBSCRIBERS subscribers of its own in turn (new ones at each level: the usage rules count a
   subscriber's calls of the last hour, and a level should not pay for the calls of the one before),
   place calls for a bounded time: POST /api/switch/v1/authorize, then POST /api/switch/v1/cdr
   with that one call's record (a 30 s call, billed 60 s), as a switch does for every call. The
   latency of each kind of request is reported; the targets are authorize's p99 at 8 lines, and
   its sequential p50 beside the baselines measured before the server starts: one primary-key
   SELECT round trip with the bare driver, one durable commit of one row (an authorize commits its
   reservation), and one request to the bare app served the same way (the request floor:
   benchmarks/baselines.py).
2. Rating in batches: --rated-calls records of calls never authorized (durations 0 to 599 s over
   all the subscribers) are sent in batches of 1,000 by 2 clients; calls rated per second. The
   baseline, after the server stops: the same rows inserted bare, 1,000 a transaction from 2
   connections, into a copy of the call table (benchmarks/baselines.py).

PostgreSQL is durable (fsync, synchronous_commit and full_page_writes on); SQLite runs as the
product opens it (WAL; `synchronous` as read back, in database_settings).

Afterwards the database is checked: one rated call per call id, the charges in the ledger match
the calls' `charged`, no reservation left open, and the ledger verifies. Prints one JSON object;
nothing is asserted.

    .venv/bin/python -m benchmarks.switch [--databases sqlite,postgres] [--seconds 8] [--levels 1,8,64]
        [--rated-calls 50000] [--subscribers 512] [--pk-rounds 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator

from accounts import controls, switch
from accounts.tables import Call, CallReservation, Subscriber
from agency.sessions import log_in
from benchmarks.baselines import bare_batched_insert, commit_round_trip, http_round_trip, primary_key_round_trip
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
    serving_bare,
    summary,
    with_cpu,
)
from benchmarks.http_load import LeanClient, connect_one_by_one, timed_call
from cards.integrity import verify_everything
from cards.services import activate_cards, generate_batch
from money import ledger
from web.demo import DEMO_PASSWORD

SUBSCRIBERS = 512  # by default: the calls of part 1 use the first 438; the rated records spread over all
# A line carries the calls of several subscribers in turn, as a switch's lines do: the usage rules
# count a subscriber's calls of the last hour on every call, and one subscriber calling on one line
# back to back (sixty calls a second) would make that count, not the product, the figure.
LINE_SUBSCRIBERS = 6
BALANCE_MINUTES = 6000
CALL_SECONDS = 30
BATCH = 1000
TARGETS = {
    "authorize_p99_ms_max": {"8": 10},
    "authorize_sequential_p50_over_primary_key_round_trip_max": 5,
    "rated_calls_per_second_min": 2000,
    "rated_calls_per_second_min_issue_15": 10_000,
}


log = logger("switch")


async def build(subscribers: int = SUBSCRIBERS) -> tuple[list[str], str]:
    """Owner, subscribers and a switch key; returns the account numbers and the key."""
    owner = await stocked_owner(subscribers * BALANCE_MINUTES)
    _batch, pairs = await generate_batch(
        owner, batch_request(subscribers, "e-card", BALANCE_MINUTES), card_key=KEY, operation_password=OP
    )
    await activate_cards(owner, pairs[0][0], pairs[-1][0])
    _token, admin = await log_in("admin", DEMO_PASSWORD, address="benchmark")
    _row, key = await switch.create_key(admin, "benchmark")
    await call_controls(admin, owner)
    return [serial for serial, _secret in pairs], key


async def call_controls(admin, owner) -> None:
    """Every check of R-22a in the path, none of them refusing the benchmark's calls: barred
    prefixes of the operator and of the owner (none a prefix of 8613800138000), usage rules over
    everyone and over the owner's subtree with thresholds above what the benchmark reaches, and a
    cap on the owner's subtree above its lines (each line is a subscriber, whose cap is 1)."""
    for prefix in ("881", "882", "883", "8690", "8691", "8699", "1900", "1976"):
        await controls.add_bar(admin, {"prefix": prefix, "reason": "premium"})
    for prefix in ("447", "4470", "4475"):
        await controls.add_bar(owner, {"prefix": prefix, "reason": "policy"})
    for who in (admin, owner):
        await controls.set_rule(who, {"kind": controls.CALLS, "threshold": "100000"})
        await controls.set_rule(who, {"kind": controls.COUNTRIES, "threshold": "5"})
        await controls.set_rule(who, {"kind": controls.MINUTES, "threshold": "1000000"})
    await controls.set_agent_cap(admin, owner.agent_id, "1000")


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


async def place_calls(clients: list[LeanClient], accounts: Iterator[str], seconds: float) -> dict[str, object]:
    """Each client, a switch line, until the time is up: authorize a call, then report it, for
    LINE_SUBSCRIBERS subscribers of its own in turn (taken from `accounts`)."""
    pools = [[next(accounts) for _ in range(LINE_SUBSCRIBERS)] for _ in clients]
    statuses: dict[str, Counter] = {"authorize": Counter(), "cdr": Counter()}
    latencies: dict[str, list[float]] = {"authorize": [], "cdr": []}
    denied: Counter = Counter()
    samples: dict[str, str] = {}
    deadline = time.perf_counter() + seconds
    start = time.perf_counter()

    async def line(client: LeanClient, pool: list[str]) -> None:
        for account in itertools.cycle(pool):
            if time.perf_counter() >= deadline:
                break
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

    await asyncio.gather(*(line(client, pool) for client, pool in zip(clients, pools, strict=True)))
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


def rated_records(accounts: list[str], count: int) -> list[dict[str, object]]:
    """`count` records of calls never authorized, 0 to 599 s each, over all the accounts."""
    rng = random.Random(7)
    end = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=1)
    return [call_record(f"rated-{i}", rng.choice(accounts), rng.randrange(600), end) for i in range(count)]


async def call_rows(kind: str, records: list[dict[str, object]]) -> list[tuple]:
    """The records as rows of the call table (baselines.CALL_COLUMNS), rated simply (60 s blocks, no
    multiplier): the rows the baseline inserts bare."""
    owners = {
        row["account_number"]: (row["id"], row["agent"])
        for row in await Subscriber.select(Subscriber.id, Subscriber.agent, Subscriber.account_number)
    }
    stamp = (lambda at: at) if kind == "postgres" else str  # SQLite: the text Piccolo stores
    rated_at = stamp(dt.datetime.now(dt.UTC))
    rows = []
    for record in records:
        subscriber, agent = owners[record["account"]]
        start, answer, end = (dt.datetime.fromisoformat(record[k]) for k in ("start", "answer", "end"))
        duration = int((end - answer).total_seconds())
        billed = -(-duration // 60) * 60
        rows.append((record["call_id"], subscriber, agent, record["destination"], stamp(start),
                     stamp(answer) if duration else None, stamp(end), duration, billed, billed, 0, 100, False,
                     rated_at))  # fmt: skip
    return rows


async def rate_in_batches(url: str, key: str, records: list[dict[str, object]]) -> dict[str, object]:
    """The records in batches of BATCH, from 2 clients at once."""
    count = len(records)
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
        accounts, key = await build(max(args.subscribers, sum(args.levels) * LINE_SUBSCRIBERS))
        figures: dict[str, object] = {"setup_seconds": round(time.perf_counter() - start, 2)}
        log(f"{kind}: {len(accounts)} subscribers ready in {figures['setup_seconds']} s")
        figures["primary_key_round_trip"] = await primary_key_round_trip(db, args.pk_rounds)
        figures["commit_round_trip"] = await commit_round_trip(db, args.pk_rounds // 4)
        with serving_bare(workers(kind, args), log) as bare:
            figures["http_round_trip"] = await http_round_trip(bare.url, args.pk_rounds)
        records = rated_records(accounts, args.rated_calls)
        with serving(db, workers(kind, args), figures, log) as server:
            runs = []
            unused = iter(accounts)  # new subscribers at each level
            for level in args.levels:
                clients = [LeanClient(server.url, {"Authorization": f"Bearer {key}"}) for _ in range(level)]
                await connect_one_by_one(clients)
                log(f"{kind}: calls, {level} clients for {args.seconds} s")
                postmaster = postmaster_pid(db.pg_data_dir)
                before = cpu_snapshot(server.process.pid, postmaster)
                processes = cpu_by_process(server.process.pid)
                run = await place_calls(clients, unused, args.seconds)
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
            postmaster = postmaster_pid(db.pg_data_dir)
            before = cpu_snapshot(server.process.pid, postmaster)
            rating = figures["rating_in_batches"] = await rate_in_batches(server.url, key, records)
            rating["successes"] = rating["results"].get("rated", 0)
            with_cpu(rating, before, cpu_snapshot(server.process.pid, postmaster), "record")
            log(f"{kind}: {figures['rating_in_batches']}")
        log(f"{kind}: the same {len(records)} rows inserted bare, {BATCH} a transaction")
        figures["bare_batched_insert"] = await bare_batched_insert(db, await call_rows(kind, records), BATCH, 2)
        figures["ratios"] = ratios(figures)
        figures["database"] = await checks()
        return figures


def ratios(figures: dict) -> dict[str, object]:
    """authorize's sequential p50 over one primary-key round trip; rating over the bare insert."""
    def over(value: float | None, baseline: float | None, digits: int) -> float | None:
        return round(value / baseline, digits) if value and baseline else None

    sequential = next((run for run in figures["calls"] if run["clients"] == 1), {"authorize": {}})
    authorize_p50, http_p50 = sequential["authorize"].get("p50_ms"), figures["http_round_trip"]["p50_ms"]
    return {
        "authorize_sequential_p50_over_primary_key_round_trip": over(
            authorize_p50, figures["primary_key_round_trip"]["p50_ms"], 1
        ),
        # What the request floor leaves: authorize's own work, in primary-key round trips.
        "authorize_sequential_p50_beyond_http_floor_over_primary_key_round_trip": over(
            authorize_p50 - http_p50 if authorize_p50 and http_p50 else None,
            figures["primary_key_round_trip"]["p50_ms"],
            1,
        ),
        "rated_per_second_over_bare_insert": over(
            figures["rating_in_batches"]["rated_per_second"], figures["bare_batched_insert"]["rows_per_second"], 3
        ),
    }


async def run(kind: str, args) -> dict[str, object]:
    with databases(kind) as found:
        return await http_benchmark(found.new("switch_http"), args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--seconds", type=float, default=8.0, help="time per concurrency level")
    parser.add_argument("--levels", default="1,8,64", help="concurrent switch lines per run, at most 64")
    parser.add_argument("--rated-calls", type=int, default=50_000, help="records rated in batches")
    parser.add_argument("--subscribers", type=int, default=SUBSCRIBERS, help="subscribers the records spread over")
    parser.add_argument("--pk-rounds", type=int, default=2000, help="primary-key round trips of the baseline")
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
                "balance pays, up to the operator's longest call, 1 h) followed by its one-record CDR (30 s, "
                "billed 60 s), which releases it.",
                "The controls of R-22a are all in the path and refuse nothing (call_controls): 11 barred prefixes "
                "(operator and owner), the three usage rules over everyone and over the owner's subtree, a cap "
                "on the owner's subtree (1,000 calls at once) and the subscribers' cap (1).",
                "SQLite runs in demo mode with the benchmark's secrets; PostgreSQL in production mode on a "
                "throwaway, durable cluster (fsync, synchronous_commit, full_page_writes on: database_settings "
                "reads them back).",
                "Baselines, measured in the same run with the bare driver (benchmarks/baselines.py): one "
                "primary-key SELECT round trip, one at a time; the rated rows inserted in batches of 1,000 "
                "from 2 connections into a copy of the call table. ratios: the product's over the baseline's.",
            ],
            "settings": {
                "seconds": args.seconds,
                "levels": args.levels,
                "rated_calls": args.rated_calls,
                "subscribers": args.subscribers,
                "pk_rounds": args.pk_rounds,
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
