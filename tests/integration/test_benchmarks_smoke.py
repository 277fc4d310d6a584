"""The benchmarks cannot rot: `python -m benchmarks --smoke` runs every benchmark of SPEC §11 at
the smallest sizes, on SQLite and on a durable PostgreSQL cluster. Nothing about speed is
asserted; every benchmark must run, and every correctness check must hold: no card redeemed
twice, the ledger verifies, the statistics verify, every call record rated once..."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import BENCHMARKS
from benchmarks.table import README, README_END, README_START, write_readme
from tests.conftest import DATABASES, missing_dependency
from tests.postgres_cluster import find_bin_dir

REPO = Path(__file__).resolve().parents[2]


# About 2 minutes on an idle 2-core machine; the limits leave room for a machine busy with other work.
@pytest.mark.timeout(600)
def test_every_benchmark_runs_and_its_checks_hold(tmp_path):
    if "postgres" in DATABASES and find_bin_dir() is None:
        missing_dependency("PostgreSQL server binaries (initdb, pg_ctl) not found; install Debian's postgresql")
    output = tmp_path / "smoke.json"
    command = [sys.executable, "-m", "benchmarks", "--smoke", "--databases", ",".join(DATABASES), "--output", output]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=580)
    assert output.exists(), f"no report written:\n{done.stderr[-3000:]}"
    report = json.loads(output.read_text())

    for name in BENCHMARKS:  # each ran, on each database
        outcome = report["benchmarks"][name]
        assert "error" not in outcome, f"{name}: {outcome.get('error')}\n{outcome.get('output')}\n{done.stderr[-3000:]}"
        assert set(outcome["results"]) == set(DATABASES), name
    failed = [check for check in report["checks"] if not check["ok"]]
    assert not failed, json.dumps(failed, indent=2)
    assert done.returncode == 0, done.stderr[-3000:]
    names = {(check["benchmark"], check["database"], check["name"]) for check in report["checks"]}
    for kind in DATABASES:  # the checks that matter most were made, not skipped
        assert ("cards", kind, "no card redeemed twice (database)") in names
        assert ("cards", kind, "ledger verifies") in names
        assert ("switch", kind, "ledger verifies") in names
        assert ("statistics", kind, "statistics verify (recomputed from the calls)") in names

    # The settings each database ran with, read back from it: PostgreSQL durable, SQLite in WAL.
    settings = report["database_settings"]
    if "postgres" in DATABASES:
        postgres = settings["postgres"]
        assert (postgres["fsync"], postgres["synchronous_commit"], postgres["full_page_writes"]) == ("on", "on", "on")
    if "sqlite" in DATABASES:
        assert settings["sqlite"]["journal_mode"] == "wal"
        assert settings["sqlite"]["synchronous"] in ("OFF", "NORMAL", "FULL", "EXTRA")

    # The table: a row with a baseline and a ratio for each figure that has one, on each database.
    rows = {(row["figure"].split(",")[0], row["database"]): row for row in report["table"]}
    for kind in DATABASES:
        for figure in ("Redemptions per second", "Balance checks per second", "`authorize` sequential p50",
                       "CDR rating per second"):  # fmt: skip
            assert rows[(figure, kind)]["ratio"].endswith("×"), (figure, kind, rows.get((figure, kind)))
    assert "| Figure | Database | Value | Baseline | Ratio | Target | Met? |" in done.stdout


def test_the_table_goes_between_the_readme_markers(tmp_path):
    assert README_START in README.read_text() and README_END in README.read_text()
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n## Speed\n\n{README_START}\nold table\n{README_END}\n\n## Next\n")
    write_readme("| new | table |\n", readme)
    assert readme.read_text() == f"# Title\n\n## Speed\n\n{README_START}\n| new | table |\n{README_END}\n\n## Next\n"
