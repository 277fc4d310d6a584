"""Probes and metrics: /healthz (the process answers), /readyz (the database answers and every
migration is applied), /metrics (Prometheus, behind VOIPAGENCY_METRICS_TOKEN). See the README's
"Monitoring" section."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import os

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.enums import MediaType
from litestar.exceptions import NotFoundException
from litestar.response import Response
from piccolo.apps.migrations.commands.base import BaseMigrationManager
from piccolo.apps.migrations.tables import Migration

from web import metrics
from web.auth import PUBLIC, access
from web.settings import Settings

log = logging.getLogger("voipagency")
READY_TIMEOUT_SECONDS = 3.0
NO_STORE = {"Cache-Control": "no-store"}


@get("/healthz", opt=access(PUBLIC), media_type="application/json")
async def health() -> dict[str, object]:
    """Liveness, and which worker process answered (used by the multi-worker test)."""
    return {"status": "ok", "pid": os.getpid()}


@functools.cache
def migrations_on_disk() -> dict[str, frozenset[str]]:
    """The migration ids of every app of the registry, as shipped with this code (read once:
    they do not change while the process runs)."""
    manager = BaseMigrationManager()
    found = {}
    for app_name in manager.get_sorted_app_names():
        folder = manager.get_app_config(app_name).resolved_migrations_folder_path
        found[app_name] = frozenset(manager.get_migration_modules(folder))
    return found


async def pending_migrations() -> dict[str, int]:
    """How many migrations of each app the database has not run (apps with none left out).
    Rows of migrations this code does not know (a newer release ran them) are no reason to
    stop serving: during a rolling upgrade the old workers still answer."""
    ran = {(row["app_name"], row["name"]) for row in await Migration.select(Migration.app_name, Migration.name)}
    pending = {app: sum((app, id_) not in ran for id_ in ids) for app, ids in migrations_on_disk().items()}
    return {app: count for app, count in pending.items() if count}


async def readiness() -> tuple[bool, dict[str, object]]:
    """(ready, the answer's body). No error text in the body: it may name hosts or users."""
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            try:
                pending = await pending_migrations()
            except Exception:
                if await Migration.table_exists():  # reachable, so the error was the query's own
                    raise
                return False, {"status": "unready", "reason": "migrations not applied"}
    except Exception as exc:  # TimeoutError, a refused connection, a missing SQLite directory…
        log.warning("readyz: the database did not answer: %r", exc)
        return False, {"status": "unready", "reason": "database unreachable"}
    if pending:
        return False, {"status": "unready", "reason": "migrations pending", "pending": pending}
    return True, {"status": "ready"}


@get("/readyz", opt=access(PUBLIC), include_in_schema=False)
async def ready() -> Response:
    """200 when the database answers and every migration is applied, else 503 and the reason."""
    is_ready, body = await readiness()
    return Response(body, status_code=200 if is_ready else 503, media_type=MediaType.JSON, headers=NO_STORE)


def token_matches(given: str, expected: str) -> bool:
    """In constant time, whatever the given token's length or content."""
    digest = hashlib.sha256
    return hmac.compare_digest(digest(given.encode("utf-8", "replace")).digest(), digest(expected.encode()).digest())


@get("/metrics", opt=access(PUBLIC), include_in_schema=False)
async def prometheus_metrics(request: Request, settings: NamedDependency[Settings]) -> Response:
    """The Prometheus text format, for `Authorization: Bearer <VOIPAGENCY_METRICS_TOKEN>`; not
    found when no token is configured. Public to the access guard: the token is checked here."""
    if not settings.metrics_token:
        raise NotFoundException()
    scheme, _space, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token_matches(given.strip(), settings.metrics_token):
        return Response(
            "/metrics needs the bearer token of VOIPAGENCY_METRICS_TOKEN\n",
            status_code=401,
            media_type=MediaType.TEXT,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"', **NO_STORE},
        )
    families = await metrics.card_job_families()
    return Response(metrics.exposition(families), media_type=metrics.CONTENT_TYPE, headers=NO_STORE)


ROUTES = [health, ready, prometheus_metrics]
