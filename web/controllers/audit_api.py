"""JSON API v1 for the audit log, filtered as on the page and scoped to the caller's subtree."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromQuery

from agency import audit
from web.auth import access
from web.controllers.audit import audit_filter
from web.controllers.paging import json_page


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
    ) -> dict[str, Any]:
        rows, total = await audit.list_entries(request.user, audit_filter(action, user, since, until), page=page)
        return json_page(rows, total, page)


ROUTES = [AuditApiController]
