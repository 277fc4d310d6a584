"""The table of SPEC §11's figures from the JSON of `python -m benchmarks`: each figure beside its
baseline measured in the same run, the ratio, the target and whether it is met; and the
correctness checks every run must pass (no double redemption, ledger and statistics verified...).

    .venv/bin/python -m benchmarks.table [benchmarks/results/latest.json] [--readme]

prints the Markdown table of a saved run and, with --readme, writes it into README.md between
the markers README_START and README_END.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
README_START, README_END = "<!-- bench:start -->", "<!-- bench:end -->"
DEFAULT_OUTPUT = REPO / "benchmarks" / "results" / "latest.json"


@dataclass
class Row:
    figure: str
    database: str
    value: str
    baseline: str = "—"
    ratio: str = "—"
    target: str = "—"
    met: bool | None = None  # None: no target, or not measurable at this size


@dataclass
class Check:
    benchmark: str
    database: str
    name: str
    ok: bool
    detail: str = ""


def number(value: float | None, digits: int = 0, unit: str = "") -> str:
    if value is None:
        return "—"
    text = f"{value:,.{digits}f}"
    return f"{text} {unit}".strip()


def ratio(value: float | None, baseline: float | None, digits: int = 2) -> tuple[float | None, str]:
    if not value or not baseline:
        return None, "—"
    found = value / baseline
    return found, f"{found:.{digits}f}×"


def both(*conditions: bool | None) -> bool | None:
    """Met when every condition that could be measured is; None when none could."""
    known = [c for c in conditions if c is not None]
    return all(known) if known else None


def p99(run: dict) -> float | None:
    return (run.get("latency_ms_of_200") or {}).get("p99_ms")


# --- the figures ----------------------------------------------------------------------------------


def cards_rows(kind: str, figures: dict, settings: dict) -> Iterator[Row]:
    if generation := figures.get("generation"):
        count = generation["cards"]
        seconds = generation["generate_batch_seconds"]
        raw = (generation["raw_insert_into_empty_table_seconds"] + generation["raw_insert_after_batch_seconds"]) / 2
        found, text = ratio(seconds, raw)
        limit = 3.0 * count / 100_000  # 3 s for 100,000 (SPEC), in proportion at other sizes
        yield Row(
            f"Generate {count:,} cards",
            kind,
            number(seconds, 2, "s"),
            f"raw insert {number(raw, 2, 's')}",
            text,
            f"≤ {limit:g} s (3 s per 100,000); ≤ 1.5× raw" if count != 100_000 else "≤ 3 s; ≤ 1.5× raw",
            both(seconds <= limit, found <= 1.5 if found else None),
        )
    if memory := figures.get("generation_memory"):
        runs = memory.get("write_batch_without_pairs")
        if isinstance(runs, dict) and runs:
            counts = sorted(runs, key=int)
            small, large = runs[counts[0]], runs[counts[-1]]
            growth = large.get("growth_during_generation_kib")
            if len(counts) > 1:
                found, text = ratio(growth, small.get("growth_during_generation_kib"))
                yield Row(
                    f"Generate {int(counts[-1]):,} cards: memory growth (background job)",
                    kind,
                    number((growth or 0) / 1024, 1, "MiB"),
                    f"{int(counts[0]):,} cards: {number(small.get('growth_during_generation_kib', 0) / 1024, 1)} MiB",
                    text,
                    "constant memory (≤ 1.5×)",
                    found <= 1.5 if found else None,
                )
            else:
                yield Row(
                    f"Generate {int(counts[0]):,} cards: memory growth (background job)",
                    kind,
                    number((growth or 0) / 1024, 1, "MiB"),
                    target="1,000,000 in constant memory (not run at this size)",
                )
    http = figures.get("http")
    if not http:
        return
    for run, bare in zip(http["redemptions"], http["bare_transaction"], strict=True):
        found, text = ratio(run["per_second"], bare["per_second"])
        yield Row(
            f"Redemptions per second, {run['clients']} clients (HTTP)",
            kind,
            number(run["per_second"], 0, "/s"),
            f"bare transaction {number(bare['per_second'], 0, '/s')}",
            text,
            "≥ 500/s; ≥ 0.40× bare",
            both(run["per_second"] >= 500, found >= 0.4 if found else None),
        )
    doubles = http["database"]["double_redemptions"] + http["double_redemption_probe"][
        "cards_won_more_than_once_over_http"
    ]
    yield Row("Double redemptions", kind, str(doubles), target="0", met=doubles == 0)
    for run, bare in zip(http["balance_checks"], http["bare_json_endpoint"], strict=True):
        found, text = ratio(run["per_second"], bare["per_second"])
        yield Row(
            f"Balance checks per second, {run['clients']} clients (HTTP)",
            kind,
            number(run["per_second"], 0, "/s"),
            f"bare JSON endpoint {number(bare['per_second'], 0, '/s')}",
            text,
            "≥ 0.30× bare",
            found >= 0.3 if found else None,
        )
    limits = {8: 10, 64: 50}
    for run in http["balance_checks"]:
        limit = limits.get(run["clients"])
        yield Row(
            f"Balance check p99, {run['clients']} clients",
            kind,
            number(p99(run), 1, "ms"),
            target=f"≤ {limit} ms" if limit else "—",
            met=p99(run) <= limit if limit and p99(run) is not None else None,
        )


def switch_rows(kind: str, figures: dict, settings: dict) -> Iterator[Row]:
    calls = {run["clients"]: run for run in figures.get("calls", [])}
    for lines in sorted(calls):
        if lines == 1:
            continue
        value = calls[lines]["authorize"].get("p99_ms")
        yield Row(
            f"`authorize` p99, {lines} lines",
            kind,
            number(value, 1, "ms"),
            target="≤ 10 ms" if lines == 8 else "—",
            met=value <= 10 if lines == 8 and value is not None else None,
        )
    if 1 in calls:
        value = calls[1]["authorize"].get("p50_ms")
        round_trip = figures["primary_key_round_trip"]["p50_ms"]
        found, text = ratio(value, round_trip, 1)
        yield Row(
            "`authorize` sequential p50",
            kind,
            number(value, 2, "ms"),
            f"primary-key SELECT {number(round_trip, 3, 'ms')}",
            text,
            "≤ 5× round trip",
            found <= 5 if found else None,
        )
        if floor := figures.get("http_round_trip", {}).get("p50_ms"):
            yield Row(
                "`authorize` sequential p50 beyond the request floor",
                kind,
                number(value - floor, 2, "ms") if value else "—",
                f"bare app's request {number(floor, 3, 'ms')}; primary-key SELECT {number(round_trip, 3, 'ms')}; "
                f"one-row commit {number(figures.get('commit_round_trip', {}).get('p50_ms'), 3, 'ms')}",
                ratio(value - floor, round_trip, 1)[1] if value else "—",
                "— (what bounds the row above)",
                None,
            )
    if rating := figures.get("rating_in_batches"):
        bare = figures["bare_batched_insert"]["rows_per_second"]
        found, text = ratio(rating["rated_per_second"], bare)
        yield Row(
            f"CDR rating per second, {rating['records']:,} records in batches of 1,000",
            kind,
            number(rating["rated_per_second"], 0, "/s"),
            f"bare batched INSERT {number(bare, 0, '/s')}",
            text,
            "≥ 10,000/s (SPEC: 2,000)",
            rating["rated_per_second"] >= 10_000,
        )


def statistics_rows(kind: str, figures: dict, settings: dict) -> Iterator[Row]:
    shape = f"{settings['agents']:,} agents, {settings['subscribers']:,} subscribers, {settings['calls']:,} calls"
    case = figures.get("http", {}).get("page_agent_1_subtree_by_day", {})
    for key, clients in (("sequential", 1), ("concurrent", settings.get("clients"))):
        if key not in case:
            continue
        value = p99(case[key])
        yield Row(
            f"Agent statistics page p99 ({shape}), {clients} client{'s' if clients != 1 else ''}",
            kind,
            number(value, 1, "ms"),
            target="≤ 300 ms" if clients == 1 else "—",
            met=value <= 300 if clients == 1 and value is not None else None,
        )


def support_rows(kind: str, figures: dict, settings: dict) -> Iterator[Row]:
    if report := figures.get("report"):
        seconds = report["sla_report_in_process"]["seconds"]
        fetch = report["raw_driver_fetch"]["seconds"]
        found, text = ratio(seconds, fetch, 1)
        yield Row(
            f"SLA report over a year of {report['tickets']:,} tickets",
            kind,
            number(seconds, 2, "s"),
            f"bare fetch of its rows {number(fetch, 2, 's')}",
            text,
            "≤ 2 s",
            seconds <= 2,
        )
    if queue := figures.get("queue"):
        run = queue["http_get_support"]["support"]["concurrent"]
        value = p99(run)
        yield Row(
            f"Support queue p99, {run['clients']} clients, {queue['tickets']:,} open tickets",
            kind,
            number(value, 1, "ms"),
            target="≤ 50 ms",
            met=value <= 50 if value is not None and run["clients"] == 8 else None,
        )


ROWS: dict[str, Callable[[str, dict, dict], Iterator[Row]]] = {
    "cards": cards_rows,
    "switch": switch_rows,
    "statistics": statistics_rows,
    "support": support_rows,
}
NOT_MEASURED = [
    ("Close a settlement period for 10,000 agents", "≤ 60 s"),
    ("One statement PDF", "≤ 1 s"),
]


# --- the correctness checks -----------------------------------------------------------------------


def no_server_errors(runs: list[dict]) -> tuple[bool, str]:
    """No 5xx answer and no broken connection in any run."""
    bad = {}
    for run in runs:
        for status, count in (run.get("errors_by_status") or run.get("statuses") or {}).items():
            if not str(status).isdigit() or str(status).startswith("5"):
                bad[str(status)] = bad.get(str(status), 0) + count
    return not bad, json.dumps(bad) if bad else ""


def cards_checks(figures: dict) -> Iterator[tuple[str, bool, str]]:
    if generation := figures.get("generation"):
        yield "generation: every card made", generation["generated_cards_in_batch"] == generation["cards"], ""
    for mode, runs in (figures.get("generation_memory") or {}).items():
        if isinstance(runs, dict) and mode in ("generate_batch", "write_batch_without_pairs"):
            for count, run in runs.items():
                yield f"memory {mode} {count}: every card made", run.get("cards_in_batch") == int(count), str(
                    run.get("output", "")
                )[-300:]
    if http := figures.get("http"):
        db = http["database"]
        yield "no card redeemed twice (database)", db["double_redemptions"] == 0, str(db["double_redemption_samples"])
        probe = http["double_redemption_probe"]["cards_won_more_than_once_over_http"]
        yield "no card won twice over HTTP (probe)", probe == 0, ""
        ok, detail = no_server_errors([http["double_redemption_probe"]])
        yield "no server error in the probe (8 clients, one card)", ok, detail
        yield "ledger verifies", db["ledger_ok"], str(db["ledger_breach_samples"])
        yield (
            "one recharge per acknowledged redemption",
            db["recharge_transactions"] == db["redemptions_expected"] == db["recharge_cards_redeemed"],
            f"{db['recharge_transactions']} recharges, {db['redemptions_expected']} acknowledged, "
            f"{db['recharge_cards_redeemed']} cards redeemed",
        )
        runs = http["redemptions"] + http["balance_checks"]
        # Every request redeems a card never sent before, or reads a balance: anything but 200 is wrong.
        yield (
            "every redemption and balance check answered 200",
            all(run["successes"] > 0 and not run["errors_by_status"] for run in runs),
            json.dumps([run["errors_by_status"] for run in runs]) + json.dumps([run["error_samples"] for run in runs]),
        )
        ok, detail = no_server_errors(http["bare_json_endpoint"])
        yield "no server error from the bare app", ok, detail
        yield "no traceback in the server's log", http["server_log"]["tracebacks"] == 0, str(http["server_log"])
        yield (
            "bare transactions consistent",
            all(run["check"]["consistent"] for run in http["bare_transaction"]),
            "",
        )


def switch_checks(figures: dict) -> Iterator[tuple[str, bool, str]]:
    db = figures["database"]
    yield "one rated call per call id", db["calls_rated"] == db["distinct_call_ids"], ""
    charges = db["charged_seconds_in_calls"] == db["call_consumption_in_ledger"]
    yield "charges in the ledger match the calls", charges, ""
    yield "no reservation left open", db["reservations_left_open"] == 0, ""
    yield "ledger verifies", db["ledger_ok"], ""
    rating = figures["rating_in_batches"]
    yield "every record rated", rating["results"].get("rated") == rating["records"], str(rating["results"])
    answered = [{**run["authorize"]["statuses"], **run["cdr_one_record"]["statuses"]} for run in figures["calls"]]
    yield (
        "every call authorized and its record rated (200, none denied)",
        all(run["successes"] > 0 and not run["denied"] for run in figures["calls"])
        and all(set(statuses) == {"200"} for statuses in answered),
        json.dumps(answered) + json.dumps([run["error_samples"] for run in figures["calls"]]),
    )
    yield "no traceback in the server's log", figures["server_log"]["tracebacks"] == 0, str(figures["server_log"])
    yield "bare insert consistent", figures["bare_batched_insert"]["check"]["consistent"], ""


def statistics_checks(figures: dict) -> Iterator[tuple[str, bool, str]]:
    verify = figures["verify"]
    if isinstance(verify, dict):
        yield "statistics verify (recomputed from the calls)", verify.get("ok") is True, str(verify)[:300]
    for name, case in figures["http"].items():
        if "sequential" in case:
            yield f"{name}: answered under load", case["sequential"]["successes"] > 0, ""
        if "check" in case:
            yield f"{name}: totals as generated", case["check"]["equal"], json.dumps(case["check"])[:300]
        elif case.get("page") != "not built yet":
            yield f"{name}: answered 200", "status" not in case, str(case.get("body", ""))[:300]
    yield "no traceback in the server's log", figures["server_log"]["tracebacks"] == 0, str(figures["server_log"])


def support_checks(figures: dict) -> Iterator[tuple[str, bool, str]]:
    if queue := figures.get("queue"):
        from support.queues import COUNT_CAP

        listed, expected = queue["list_queue_in_process"]["support"]["total"], min(queue["tickets"], COUNT_CAP + 1)
        yield "queue counts every open ticket (beyond 1,000: more)", listed == expected, f"{listed} of {expected}"
        for user, found in queue["http_get_support"].items():
            yield f"GET /support as {user}: 200", found["page_check"]["status"] == 200, ""
            ok = all(not run["errors_by_status"] and run["successes"] > 0 for run in (found["sequential"],
                                                                                      found["concurrent"]))
            yield f"GET /support as {user} under load: every answer 200", ok, ""
        yield "no traceback in the queue server's log", queue["server_log"]["tracebacks"] == 0, ""
    if report := figures.get("report"):
        loaded, result = report["as_loaded"], report["sla_report_in_process"]["result"]
        yield "due times as support.sla.targets computes them", loaded["due_time_mismatches"] == 0, ""
        yield "report counts every ticket", result["tickets"] == report["tickets"], ""
        yield "report's met count as loaded", result["met"] == loaded["met"], f"{result['met']} vs {loaded['met']}"
        yield "bare fetch reads every ticket", report["raw_driver_fetch"]["rows"] == report["tickets"], ""
        if http := report.get("http_get_report"):
            yield "GET /support/report: 200", http.get("status") == 200, str(http)[:300]
        if "server_log" in report:
            yield "no traceback in the report server's log", report["server_log"]["tracebacks"] == 0, ""


CHECKS: dict[str, Callable[[dict], Iterator[tuple[str, bool, str]]]] = {
    "cards": cards_checks,
    "switch": switch_checks,
    "statistics": statistics_checks,
    "support": support_checks,
}


# --- putting it together --------------------------------------------------------------------------


def build(report: dict) -> tuple[list[Row], list[Check]]:
    """The table's rows and the checks of a whole run (`python -m benchmarks`'s JSON)."""
    rows: list[Row] = []
    checks: list[Check] = []
    for name, outcome in report["benchmarks"].items():
        for kind in report["databases"]:
            if "error" in outcome:
                checks.append(Check(name, kind, "the benchmark ran", False, str(outcome["error"])[:500]))
                continue
            figures = outcome["results"].get(kind)
            if figures is None:
                checks.append(Check(name, kind, "the benchmark ran", False, "no results for this database"))
                continue
            try:
                rows.extend(ROWS[name](kind, figures, outcome.get("settings", {})))
                checks.extend(Check(name, kind, *found) for found in CHECKS[name](figures))
            except (KeyError, TypeError, IndexError, ValueError) as exc:  # a report missing a part
                checks.append(Check(name, kind, "its figures could be read", False, f"{type(exc).__name__}: {exc}"))
    for figure, target in NOT_MEASURED:
        rows.append(Row(figure, "both", "no benchmark: settlement is not built yet", target=target))
    order = {name: i for i, name in enumerate(report["databases"])}
    rows.sort(key=lambda row: (row_order(row.figure), order.get(row.database, 99)))
    return rows, checks


def row_order(figure: str) -> int:
    """Rows in the order of SPEC §11, a figure's databases side by side."""
    starts = ("Generate", "Redemptions", "Double", "Balance checks", "Balance check", "`authorize`", "CDR",
              "Agent statistics", "SLA", "Support queue", "Close", "One statement")  # fmt: skip
    for i, start in enumerate(starts):
        if figure.startswith(start):
            return i
    return 99


def markdown(report: dict) -> str:
    rows = [Row(**row) for row in report["table"]]
    machine = report["machine"]
    settings = report.get("database_settings", {})
    lines = [
        f"Measured {report['measured_at']} on {machine['cpu_model']}, {machine['cores']} cores, with "
        f"`python -m benchmarks{(' --' + report['size']) if report['size'] != 'full' else ''}` "
        f"({report['size']} size, {report['wall_seconds']:,.0f} s"
        f"{', ' + str(report['jobs']) + ' benchmarks side by side' if report.get('jobs', 1) > 1 else ''}; load average "
        f"{machine.get('load_average_1m_at_start')} at the start, {machine.get('load_average_1m')} at the end).",
        "",
    ]
    if pg := settings.get("postgres"):
        lines.append(
            f"- PostgreSQL {pg.get('server_version', '?').split()[0]}: fsync={pg.get('fsync')}, "
            f"synchronous_commit={pg.get('synchronous_commit')}, full_page_writes={pg.get('full_page_writes')}."
        )
    if lite := settings.get("sqlite"):
        lines.append(
            f"- SQLite {lite.get('sqlite_version')}: journal_mode={lite.get('journal_mode')}, "
            f"synchronous={lite.get('synchronous')}."
        )
    failed = [c for c in report["checks"] if not c["ok"]]
    lines.append(
        f"- Correctness checks: {len(report['checks']) - len(failed)} of {len(report['checks'])} hold"
        + ("." if not failed else ": failed " + "; ".join(f"{c['benchmark']}/{c['database']}: {c['name']}"
                                                           for c in failed) + ".")  # fmt: skip
    )
    lines += ["", "| Figure | Database | Value | Baseline | Ratio | Target | Met? |", "|---|---|---|---|---|---|---|"]
    marks = {True: "yes", False: "**no**", None: "—"}
    for row in rows:
        lines.append(
            f"| {row.figure} | {row.database} | {row.value} | {row.baseline} | {row.ratio} | {row.target} "
            f"| {marks[row.met]} |"
        )
    return "\n".join(lines) + "\n"


def with_table(report: dict) -> dict:
    rows, checks = build(report)
    report["table"] = [asdict(row) for row in rows]
    report["checks"] = [asdict(check) for check in checks]
    report["checks_ok"] = all(check.ok for check in checks)
    return report


def write_readme(table: str, readme: Path = README) -> None:
    """Replace what stands between the markers in the README by `table`."""
    text = readme.read_text()
    pattern = re.compile(re.escape(README_START) + r".*?" + re.escape(README_END), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"{readme}: the markers {README_START} and {README_END} are missing")
    readme.write_text(pattern.sub(lambda _m: f"{README_START}\n{table}{README_END}", text, count=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", nargs="?", default=str(DEFAULT_OUTPUT), help="a JSON file of `python -m benchmarks`")
    parser.add_argument("--readme", action="store_true", help="write the table into README.md between the markers")
    args = parser.parse_args()
    report = with_table(json.loads(Path(args.report).read_text()))
    table = markdown(report)
    print(table, end="")
    if args.readme:
        write_readme(table)


if __name__ == "__main__":
    main()
