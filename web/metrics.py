"""Prometheus metrics: every HTTP answer counted and timed by route, card generation jobs read
from the database at scrape time. Served at /metrics (web/controllers/health.py); the README's
"Monitoring" section lists the names.

Two cheap pieces, no exception-catching layer: `start_clock`, the outermost middleware, notes when
a routed request came in; `observe_response`, a before_send hook, sees every response the app
sends (error pages from the exception handlers and routing's 404/405 included), counts it when its
last body part leaves and times it when the clock was started. Routing's misses (no route, method
not allowed) never reach a middleware: they are counted, with route="unmatched", not timed.

Labels are bounded: `route` is the route's template (/api/v1/agents/{agent_id}, never the path
asked for), `method` one of the HTTP methods or "other", `status` the class (2xx…5xx).

Several workers (`voipagency serve --workers N`): each answers /metrics for all, so each writes its
samples to files in PROMETHEUS_MULTIPROC_DIR (prometheus-client's multiprocess mode), and a scrape
sums the files of every worker, those of workers that died and were replaced included (counters
never go backwards). `serve` makes a fresh directory before starting the workers
(`share_between_processes`), removed when it exits. A single process keeps its samples in memory.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from time import perf_counter
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from piccolo.query.functions.aggregate import Count
from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from cards.tables import CardJob

log = logging.getLogger("voipagency")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# prometheus-client picks where samples live (memory, or files) when it is imported: so does this.
MULTIPROCESS = bool(os.environ.get(MULTIPROC_ENV))
CONTENT_TYPE = "text/plain; version=0.0.4"  # Litestar adds the charset (utf-8)

STARTED = "metrics_started"  # scope key: perf_counter() when the request reached the middleware
STATUS = "metrics_status"  # scope key: the status of the response being sent
UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STATUS_CLASSES = ("0xx", "1xx", "2xx", "3xx", "4xx", "5xx")
# Seconds. The switch's authorize is held to a p99 of 10 ms: fine steps up to there.
BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_STATES = ("running", "done", "failed")

LABELS = ("route", "method", "status")
disable_created_metrics()  # no *_created series: Prometheus does not need them
REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "voipagency_http_requests",
    "HTTP requests answered, by route template, method and status class.",
    LABELS,
    registry=REGISTRY,
)
DURATION = Histogram(
    "voipagency_http_request_duration_seconds",
    "Time from a routed request reaching the app to the last part of its answer, by route template, "
    "method and status class.",
    LABELS,
    buckets=BUCKETS,
    registry=REGISTRY,
)
if not MULTIPROCESS:  # a worker's own memory and CPU would read as the whole server's: one process only
    ProcessCollector(registry=REGISTRY)
    PlatformCollector(registry=REGISTRY)
    GCCollector(registry=REGISTRY)

_series: dict[tuple[str, str, str], tuple[Any, Any]] = {}  # labels -> (counter, histogram or None)


def start_clock(app: ASGIApp) -> ASGIApp:
    """The outermost middleware: when the request reached the app (after routing)."""

    async def started(scope: Scope, receive: Receive, send: Send) -> None:
        scope[STARTED] = perf_counter()  # type: ignore[typeddict-unknown-key]
        await app(scope, receive, send)

    return started


async def observe_response(message: Message, scope: Scope) -> None:
    """A before_send hook: counts (and times) each response once, when its last body part leaves."""
    kind = message["type"]
    if kind == "http.response.start":
        scope[STATUS] = message["status"]  # type: ignore[typeddict-unknown-key]
        return
    if kind != "http.response.body" or message.get("more_body", False):
        return
    status = scope.pop(STATUS, None)  # type: ignore[misc]
    if status is None:
        return
    method = scope["method"]  # type: ignore[typeddict-item]
    key = (
        scope.get("path_template") or UNMATCHED,
        method if method in METHODS else "other",
        STATUS_CLASSES[status // 100] if 100 <= status < 600 else "0xx",
    )
    series = _series.get(key)
    if series is None:
        series = _series[key] = (REQUESTS.labels(*key), DURATION.labels(*key) if key[0] != UNMATCHED else None)
    series[0].inc()
    started = scope.get(STARTED)
    if started is not None and series[1] is not None:
        series[1].observe(perf_counter() - started)


async def card_job_families() -> list[Metric]:
    """Card generation jobs, as the database has them now. A batch is written in one
    transaction, so every card of a running job is still to be generated."""
    jobs = GaugeMetricFamily("voipagency_card_jobs", "Card generation jobs by state.", labels=["state"])
    pending = GaugeMetricFamily(
        "voipagency_card_job_cards_pending", "Cards that the running card generation jobs are still to write."
    )
    oldest = GaugeMetricFamily(
        "voipagency_card_job_oldest_running_seconds",
        "Age of the oldest running card generation job (0 when none runs); a job whose process died "
        "reads as running until someone looks at it.",
    )
    up = GaugeMetricFamily("voipagency_database_up", "1 when the database answered this scrape's queries, else 0.")
    try:
        counts = await CardJob.select(CardJob.status, Count()).group_by(CardJob.status)
        running = await CardJob.select(CardJob.size, CardJob.started_at).where(CardJob.status == "running")
    except Exception as exc:  # the HTTP metrics are worth most while the database is away
        log.warning("metrics: the database did not answer: %r", exc)
        up.add_metric([], 0)
        return [up]
    by_state = {row["status"]: row["count"] for row in counts}
    for state in JOB_STATES:
        jobs.add_metric([state], by_state.get(state, 0))
    pending.add_metric([], sum(row["size"] for row in running))
    now = datetime.now(timezone.utc)
    oldest.add_metric([], max((_age(now, row["started_at"]) for row in running), default=0.0))
    up.add_metric([], 1)
    return [jobs, pending, oldest, up]


def _age(now: datetime, started: datetime) -> float:
    if started.tzinfo is None:
        started = started.replace(tzinfo=timezone.utc)
    return max(0.0, (now - started).total_seconds())


class _Scrape:
    """What one scrape shows: the request metrics (all workers' in multiprocess mode) and the
    families read from the database for it."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        if MULTIPROCESS:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            yield from registry.collect()
        else:
            yield from REGISTRY.collect()
        yield from self.families


def exposition(families: list[Metric]) -> bytes:
    """The text format of everything, for a Prometheus scrape."""
    return generate_latest(_Scrape(families))  # type: ignore[arg-type]


def share_between_processes() -> str:
    """For a server of several processes, called before it starts them: a fresh, empty
    PROMETHEUS_MULTIPROC_DIR in the environment they inherit, removed (with the samples) when
    this process exits."""
    directory = tempfile.mkdtemp(prefix="voipagency-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory
