"""JSON API v1 for the audit log, filtered as on the page and scoped to the caller's subtree."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from litestar import Controller, Request, get
from litestar.params import FromQuery

from agency import audit
from web.auth import access
from web.controllers.answers import Page, page_of
from web.controllers.audit import audit_filter
from web.controllers.forms import refuse_unreadable_days


class AuditEntryOut(msgspec.Struct):
    """One audit record: who (user, role, agent, address) did what to which target, before and after."""

    id: int
    at: dt.datetime
    user_id: int | None
    username: str
    role: str
    actor_agent_id: int | None
    address: str
    action: str
    target_type: str
    target_id: str
    scope_path: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditApiController(Controller):
    path = "/api/v1/audit"
    tags = ["audit"]

    @get("/", opt=access("view_audit"))
    async def list_entries(
        self,
        request: Request,
        action: FromQuery[str] = "",
        user: FromQuery[str] = "",
        since: FromQuery[str] = "",
        until: FromQuery[str] = "",
        page: FromQuery[int] = 1,
    ) -> Page[AuditEntryOut]:
        refuse_unreadable_days(since=since, until=until)
        rows, total = await audit.list_entries(request.user, audit_filter(action, user, since, until), page=page)
        return page_of(AuditEntryOut, rows, total, page)


ROUTES = [AuditApiController]
