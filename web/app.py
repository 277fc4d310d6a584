"""The composition root: settings, database, middleware, routes, templates, error handlers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import html
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from litestar import Litestar, Request, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig
from litestar.types import Message, Scope
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
    route_guard,
)
from web.controllers import (
    account,
    account_api,
    agents,
    agents_api,
    audit,
    audit_api,
    calls,
    calls_api,
    cards,
    cards_api,
    dashboard,
    health,
    money,
    money_api,
    portal,
    portal_api,
    session,
    stats,
    stats_api,
    subscribers,
    subscribers_api,
    support,
    support_api,
    switch,
    switch_api,
    users,
    users_api,
)
from web.errors import EXCEPTION_HANDLERS, describe_api_errors
from web.metrics import observe_response, start_clock
from web.rendering import add_header_balances, build_environment
from web.settings import Settings

log = logging.getLogger("voipagency")
STATIC_DIR = Path(__file__).parent / "static"
SCHEDULER_PERIOD_SECONDS = 60


# Content-Security-Policy of every response: scripts, styles, fonts and fetches from this origin
# only. No inline script, event handler or style attribute (web/static/app.js does what they did),
# no eval (htmx's allowEval is off in base.html's htmx-config), no framing.
CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",  # Pico CSS draws its checkboxes and chevrons with data: SVGs
        "font-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
HSTS = "max-age=31536000; includeSubDomains"
# Swagger UI, vendored from the npm package swagger-ui-dist (licence files beside it), so that the
# API docs load without the internet, under the same strict policy as every page.
SWAGGER_UI = "/static/vendor/swagger-ui-dist-5.35.0"


class SwaggerPage(SwaggerRenderPlugin):
    """Litestar's Swagger UI page (/schema, /schema/swagger), served from this site: no CDN and no
    inline script. web/static/app.js starts Swagger UI on #swagger-ui with the document named in
    its data-openapi attribute."""

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(str(openapi_schema["info"]["title"]))
        return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="{SWAGGER_UI}/swagger-ui.css">
  <script src="{SWAGGER_UI}/swagger-ui-bundle.js" defer></script>
  <script src="/static/app.js" defer></script>
</head>
<body><main id="swagger-ui" data-openapi="/schema/openapi.json"></main></body>
</html>""".encode()


def security_headers(settings: Settings) -> Callable[[Message, Scope], Awaitable[None]]:
    """A before_send hook: the security headers on every response of the app, error pages, static
    files and Litestar's own 404s included (a header a handler set itself is kept)."""
    fixed = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
    ]
    if not settings.demo:  # demo mode serves plain HTTP on a laptop; production is behind HTTPS
        fixed.append((b"strict-transport-security", HSTS.encode()))

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = list(message.get("headers", []))
        present = {name.lower() for name, _value in headers}
        for name, value in [(b"content-security-policy", CSP.encode()), *fixed]:
            if name not in present:
                headers.append((name, value))
        message["headers"] = headers

    return add_headers


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


def web_routes() -> list:
    """Everything the product serves on its web port: pages, the JSON API, the switch API, probes."""
    return [
        *health.ROUTES,
        *session.ROUTES,
        *dashboard.ROUTES,
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
        *stats.ROUTES,
        *stats_api.ROUTES,
        *support.ROUTES,
        *support_api.ROUTES,
        *switch.ROUTES,
        *switch_api.ROUTES,
        *calls.ROUTES,
        *calls_api.ROUTES,
        create_static_files_router(
            path="/static", directories=[STATIC_DIR], opt=access(PUBLIC), include_in_schema=False
        ),
    ]


def create_switch_app(settings: Settings | None = None, engine: Engine | None = None) -> Litestar:
    """The switch API alone (and the probes), for the processes of `serve --switch-port`
    (web/serving.py), which therefore never wait behind a page, a report or a login flood."""
    return create_app(
        settings, engine, route_handlers=[*health.ROUTES, switch_api.SwitchApiController], scheduled=False
    )


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    *,
    route_handlers: list | None = None,
    scheduled: bool = True,
) -> Litestar:
    """The app: by default everything of web_routes(), and the scheduled transitions (`scheduled`).
    `engine` is for tests that bring their own (and manage its pool)."""
    settings = settings or Settings.from_env()
    own_engine = engine is None
    engine = engine or engine_from_url(settings.database_url, settings.sqlite_path, settings.sqlite_synchronous)
    bind_engine(engine)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if own_engine and is_postgres(engine):
            await engine.start_connection_pool(min_size=1, max_size=10, reset=keep_session)
        task = asyncio.create_task(_scheduled_transitions()) if scheduled else None
        # What exists now (the app, routes, templates) lives as long as the process: keep it out of
        # the collector's full passes, which otherwise scan it again and again under load.
        gc.freeze()
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
            if own_engine:
                await engine.close_connection_pool()

    app = Litestar(
        route_handlers=route_handlers or web_routes(),
        dependencies={"settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False)},
        guards=[route_guard],
        middleware=[
            start_clock,  # outermost: the request metrics' clock (web/metrics.py)
            LanguageMiddleware(),
            AllowedHostsMiddleware(settings),
            AuthMiddleware(settings),
            CsrfMiddleware(settings),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        state=State({"settings": settings}),  # for web/flash.py's cookie (its key, its Secure flag)
        after_request=add_header_balances,  # the wallet and stock in the header of agents' pages
        template_config=TemplateConfig(engine=JinjaTemplateEngine.from_environment(build_environment())),
        openapi_config=OpenAPIConfig(
            title="voipagency API",
            version="1",
            path="/schema",
            render_plugins=[SwaggerPage()],
            openapi_router=Router(path="/schema", route_handlers=[], opt=access(PUBLIC)),
        ),
        lifespan=[lifespan],
        before_send=[security_headers(settings), observe_response],
        request_max_body_size=2 * 1024 * 1024,
    )
    describe_api_errors(app)
    return app
