"""Every figure of SPEC §11 on both databases, in one command: the benchmarks run one after another
(each in a process of its own, on one durable PostgreSQL cluster they share, and SQLite files),
their JSON goes into one file, and the table of figures beside their baselines is printed in
Markdown (see benchmarks/table.py).

    .venv/bin/python -m benchmarks [--quick | --smoke] [--databases sqlite,postgres]
        [--only cards,switch,statistics,support] [--output benchmarks/results/latest.json] [--readme]
        [--jobs 1]

Sizes: full (the default) is SPEC §11's scale and takes an hour or more on 2 cores; --quick runs
every benchmark small, in a few minutes; --smoke at the smallest sizes, for CI (tests/integration/
test_benchmarks_smoke.py): the figures then mean nothing, the correctness checks everything.
The command fails (exit status 1) when a benchmark fails or a correctness check does not hold.
With --readme, the table is written into README.md between its markers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.common import (
    DURABLE_POSTGRES,
    SHARED_CLUSTER,
    SHARED_SQLITE_TEMPLATE,
    machine,
    postgres_template,
    sqlite_template,
)
from benchmarks.table import DEFAULT_OUTPUT, REPO, markdown, with_table, write_readme

BENCHMARKS = ("cards", "switch", "statistics", "support")

# Each benchmark's own options (see its --help) for each size; full is every benchmark's defaults.
SIZES: dict[str, dict[str, list[str]]] = {
    "full": {name: [] for name in BENCHMARKS},
    "quick": {
        "cards": ["--count", "20000", "--no-million", "--memory-count", "20000", "--seconds", "3",
                  "--cards", "8000", "--probe-cards", "20"],
        "switch": ["--seconds", "3", "--rated-calls", "5000", "--subscribers", "128", "--pk-rounds", "1000"],
        "statistics": ["--agents", "1000", "--subscribers", "20000", "--calls", "200000", "--days", "90",
                       "--seconds", "2", "--rounds", "3"],
        "support": ["--tickets", "10000", "--report-tickets", "100000", "--requests", "100", "--seconds", "3",
                    "--rounds", "5"],
    },
    # One server process on PostgreSQL too, one level of clients, no statistics wait, one memory
    # mode, the SLA report in-process only: just enough to run every part and its checks.
    "smoke": {
        "cards": ["--count", "1000", "--no-million", "--memory-count", "1000", "--memory-modes",
                  "write_batch_without_pairs", "--seconds", "0.5", "--levels", "8", "--cards", "200",
                  "--probe-cards", "4", "--in-process-cards", "30", "--postgres-workers", "1", "--no-pg-statistics"],
        "switch": ["--seconds", "0.5", "--levels", "1,8", "--rated-calls", "1000", "--subscribers", "8",
                   "--pk-rounds", "100", "--postgres-workers", "1"],
        "statistics": ["--agents", "60", "--subscribers", "600", "--calls", "3000", "--days", "14", "--seconds",
                       "0.5", "--rounds", "1", "--clients", "2", "--workers", "1"],
        "support": ["--tickets", "300", "--report-tickets", "2000", "--requests", "10", "--seconds", "0.5",
                    "--rounds", "1", "--clients", "2", "--workers", "1", "--report-timeout", "0"],
    },
}  # fmt: skip


def run_benchmark(name: str, databases: str, options: list[str], env: dict[str, str]) -> dict[str, object]:
    """One benchmark in a process of its own; its JSON report, or what went wrong. Its progress
    lines go to this process's standard error."""
    command = [sys.executable, "-m", f"benchmarks.{name}", "--databases", databases, *options]
    print(f"[benchmarks] {' '.join(command[1:])}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    seconds = round(time.perf_counter() - start, 1)
    if done.returncode != 0:
        return {"error": f"exit status {done.returncode}", "output": done.stdout[-2000:], "wall_seconds": seconds}
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        return {"error": f"no JSON report: {exc}", "output": done.stdout[-2000:], "wall_seconds": seconds}
    report["command_seconds"] = seconds
    return report


def run_all(names: list[str], kinds: list[str], sizes: dict, env: dict[str, str], jobs: int) -> dict[str, dict]:
    """Each benchmark's report. One at a time, a benchmark runs on every database in turn; side by
    side, each (benchmark, database) runs on its own, longest first, and the reports of a benchmark
    are merged."""
    if jobs == 1:
        return {name: run_benchmark(name, ",".join(kinds), sizes[name], env) for name in names}
    tasks = [(name, kind) for name in names for kind in kinds]  # BENCHMARKS is in order of length
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        running = {task: pool.submit(run_benchmark, task[0], task[1], sizes[task[0]], env) for task in tasks}
        parts = {task: future.result() for task, future in running.items()}
    results: dict[str, dict] = {}
    for (name, _kind), part in parts.items():
        if name not in results or "error" in part:
            results[name] = {**part, "results": {**results.get(name, {}).get("results", {})}}
        results[name]["results"].update(part.get("results", {}))
    return results


def settings_read_back(results: dict[str, dict], kind: str) -> dict | None:
    """The settings the first benchmark that ran on `kind` read back from its database."""
    for report in results.values():
        if kind in report.get("results", {}):
            return report["results"][kind].get("database_settings")
    return None


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="size", const="quick", help="every benchmark, small")
    size.add_argument("--smoke", action="store_const", dest="size", const="smoke", help="the smallest sizes (CI)")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="some of the benchmarks")
    parser.add_argument("--output", default=str(DEFAULT_OUTPUT), help="where the JSON goes")
    parser.add_argument("--readme", action="store_true", help="write the table into README.md between its markers")
    parser.add_argument(
        "--jobs",
        type=int,
        help="benchmarks run side by side (default 1: they would take cores from each other's figures; "
        "--smoke runs 2, its figures mean nothing)",
    )
    args = parser.parse_args()
    args.size = args.size or "full"
    args.jobs = max(1, args.jobs or (2 if args.size == "smoke" else 1))
    names = [name for name in args.only.split(",") if name]
    unknown = set(names) - set(BENCHMARKS)
    kinds = [kind for kind in args.databases.split(",") if kind]
    if unknown or not names or not kinds or set(kinds) - {"sqlite", "postgres"}:
        parser.error(f"--only takes some of {', '.join(BENCHMARKS)}; --databases some of sqlite,postgres")
    started = time.perf_counter()
    load_at_start = machine()["load_average_1m"]
    env = dict(os.environ)
    cluster = None
    with tempfile.TemporaryDirectory() as folder:
        if "sqlite" in kinds:  # one migrated SQLite file, copied for every database
            env[SHARED_SQLITE_TEMPLATE] = str(Path(folder) / "template.sqlite3")
            sqlite_template(Path(env[SHARED_SQLITE_TEMPLATE]))
        if "postgres" in kinds:  # one durable cluster for every benchmark (the first one makes its template)
            from tests.postgres_cluster import start_cluster

            cluster = start_cluster(DURABLE_POSTGRES)
            env[SHARED_CLUSTER] = json.dumps(dataclasses.asdict(cluster))
        try:
            if cluster is not None:
                postgres_template(cluster)
            results = run_all(names, kinds, SIZES[args.size], env, args.jobs)
        finally:
            if cluster is not None:
                cluster.stop()
    report = {
        "measured_at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {**machine(), "load_average_1m_at_start": load_at_start},
        "size": args.size,
        "jobs": args.jobs,
        "databases": kinds,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "database_settings": {kind: settings_read_back(results, kind) for kind in kinds},
        "benchmarks": results,
    }
    with_table(report)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    table = markdown(report)
    print(table, end="")
    print(f"[benchmarks] the JSON is in {output}", file=sys.stderr)
    if args.readme:
        write_readme(table)
    return 0 if report["checks_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
