"""The composition root: settings, database, middleware, routes, templates, error handlers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from litestar import Litestar, Router
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig
from piccolo.engine.base import Engine

from accounts.switch import purge_expired_reservations
from cards.services import expire_due_cards
from core.db import bind_engine, engine_from_url, is_postgres, keep_session
from money.onboarding import apply_due_terminations
from web.auth import (
    PUBLIC,
    AllowedHostsMiddleware,
    AuthMiddleware,
    CsrfMiddleware,
    LanguageMiddleware,
    access,
    access_guard,
)
from web.controllers import (
    account,
    account_api,
    agents,
    agents_api,
    audit,
    audit_api,
    cards,
    cards_api,
    money,
    money_api,
    portal,
    portal_api,
    session,
    subscribers,
    subscribers_api,
    support,
    support_api,
    switch,
    switch_api,
    users,
    users_api,
)
from web.errors import EXCEPTION_HANDLERS
from web.rendering import build_environment
from web.settings import Settings

log = logging.getLogger("voipagency")
STATIC_DIR = Path(__file__).parent / "static"
SCHEDULER_PERIOD_SECONDS = 60


async def _scheduled_transitions() -> None:
    """Applies due agent terminations and card expiries, and drops timed-out call reservations;
    every worker may run it, all are idempotent."""
    while True:
        try:
            await apply_due_terminations()
            await expire_due_cards()
            await purge_expired_reservations()
        except Exception:  # keep the loop alive; the next round retries
            log.exception("scheduled transitions failed")
        await asyncio.sleep(SCHEDULER_PERIOD_SECONDS)


def create_app(settings: Settings | None = None, engine: Engine | None = None) -> Litestar:
    """The app. `engine` is for tests that bring their own (and manage its pool)."""
    settings = settings or Settings.from_env()
    own_engine = engine is None
    engine = engine or engine_from_url(settings.database_url, settings.sqlite_path)
    bind_engine(engine)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if own_engine and is_postgres(engine):
            await engine.start_connection_pool(min_size=1, max_size=10, reset=keep_session)
        task = asyncio.create_task(_scheduled_transitions())
        # What exists now (the app, routes, templates) lives as long as the process: keep it out of
        # the collector's full passes, which otherwise scan it again and again under load.
        gc.freeze()
        try:
            yield
        finally:
            task.cancel()
            if own_engine:
                await engine.close_connection_pool()

    return Litestar(
        route_handlers=[
            *session.ROUTES,
            *account.ROUTES,
            *account_api.ROUTES,
            *agents.ROUTES,
            *agents_api.ROUTES,
            *users.ROUTES,
            *users_api.ROUTES,
            *audit.ROUTES,
            *audit_api.ROUTES,
            *money.ROUTES,
            *money_api.ROUTES,
            *cards.ROUTES,
            *cards_api.ROUTES,
            *subscribers.ROUTES,
            *subscribers_api.ROUTES,
            *portal.ROUTES,
            *portal_api.ROUTES,
            *support.ROUTES,
            *support_api.ROUTES,
            *switch.ROUTES,
            *switch_api.ROUTES,
            create_static_files_router(
                path="/static", directories=[STATIC_DIR], opt=access(PUBLIC), include_in_schema=False
            ),
        ],
        dependencies={"settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False)},
        guards=[access_guard],
        middleware=[
            LanguageMiddleware(),
            AllowedHostsMiddleware(settings),
            AuthMiddleware(settings),
            CsrfMiddleware(settings),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        template_config=TemplateConfig(engine=JinjaTemplateEngine.from_environment(build_environment())),
        openapi_config=OpenAPIConfig(
            title="voipagency API",
            version="1",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
            openapi_router=Router(path="/schema", route_handlers=[], opt=access(PUBLIC)),
        ),
        lifespan=[lifespan],
        request_max_body_size=2 * 1024 * 1024,
    )
