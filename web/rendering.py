"""Jinja environment with gettext, and page rendering: full page or, for htmx, the partial."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request
from litestar.response import Template

from agency.roles import ROLE_LABELS
from money.ledger import STOCK, WALLET, wallet_and_stock
from web import flash, i18n, labels
from web.formatting import airtime, datetime_local, minutes, money, number, yuan

TEMPLATE_DIR = Path(__file__).parent / "templates"


class _Environment(Environment):
    def getattr(self, obj: Any, attribute: str) -> Any:
        """`row.name` on a plain dict (most pages' rows): Jinja tries the attribute first, and for a
        dict that raises and catches an AttributeError on every access; read the key directly, as
        Jinja would after that, unless the name is one of dict's own (`items`, `get`, ...)."""
        if type(obj) is dict and not hasattr(dict, attribute):
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)


def build_environment() -> Environment:
    env = _Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # templates change only with a new release: no file check on every render
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(languages=i18n.LANGUAGES, role_labels=ROLE_LABELS, current_language=i18n.current_language)
    env.filters.update(dt=datetime_local, money=money, yuan=yuan, airtime=airtime, minutes=minutes, number=number)
    # Codes and stored text in the reader's words (web/labels.py): {{ t.status|label("ticket_status") }}.
    env.filters.update(label=labels.label, stored=labels.stored)
    env.globals.update(
        expiry=labels.expiry,
        audit_changes=labels.changes,
        audit_who=labels.who,
        audit_target=labels.audit_target,
        report_group=labels.report_group,
        audit_actions=labels.audit_actions,
        label_tables=labels.LABELS,
    )
    return env


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-history-restore-request") != "true"


def render(
    request: Request, template: str, *, status_code: int = 200, partial: str | None = None, **context: Any
) -> Template:
    """The full page, or only `partial` when htmx asks for a fragment."""
    name = partial if partial and is_htmx(request) else template
    # What the last action did (web/flash.py): an htmx fragment carries it out of band.
    shown, flash_cookies = flash.take(request)
    if shown is not None and name == partial:
        context, name = {**context, "flash_fragment": partial}, "_flash.html"
    return Template(
        template_name=name,
        cookies=flash_cookies,
        context={
            "flash": shown,
            "actor": request.scope.get("user"),
            "portal_user": request.scope.get("subscriber"),
            "csrf_token": request.scope.get("csrf_token", ""),
            # Where the language switch comes back to: the page with its query (filters, period).
            "request_path": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            **context,
        },
        status_code=status_code,
    )


def shows_balances(actor: Any) -> bool:
    """Whether the header shows the actor's wallet and stock: agent users who may see money."""
    return actor is not None and actor.agent_id is not None and actor.can("view_money")


async def add_header_balances(response: Any) -> Any:
    """An after_request hook (web/app.py): the wallet and stock of the header (base.html), put in
    the context of a full page only (a fragment's template name starts with "_"), for agent users
    only, in one query. `render` is synchronous, so the query is made here, once the handler has
    chosen its page (and after any change it made to the balances)."""
    if isinstance(response, Template) and isinstance(response.context, dict):
        actor = response.context.get("actor")
        fragment = Path(str(response.template_name)).name.startswith("_")
        if shows_balances(actor) and not fragment:
            found = await wallet_and_stock(actor.agent_id)
            response.context["header_balances"] = {"wallet": found[WALLET], "stock": found[STOCK]}
    return response
