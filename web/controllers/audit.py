"""The audit log page, filterable; the operator sees all, an agent owner its subtree."""

from __future__ import annotations

from litestar import Request, get
from litestar.params import FromQuery
from litestar.response import Response

from agency import audit
from web.auth import access
from web.controllers.forms import period, unreadable_days
from web.controllers.paging import PER_PAGE, page_count
from web.rendering import render


def audit_filter(action: str, user: str, since: str, until: str) -> audit.AuditFilter:
    since_at, until_at = period(since, until)
    return audit.AuditFilter(action=action[:64], username=user[:64], since=since_at, until=until_at)


@get("/audit", opt=access("view_audit"))
async def audit_log(
    request: Request,
    action: FromQuery[str] = "",
    user: FromQuery[str] = "",
    since: FromQuery[str] = "",
    until: FromQuery[str] = "",
    page: FromQuery[int] = 1,
) -> Response:
    unreadable_days(request, since, until)
    rows, total = await audit.list_entries(
        request.user, audit_filter(action, user, since, until), page=page, per_page=PER_PAGE
    )
    pages = page_count(total)
    return render(
        request,
        "audit.html",
        partial="_audit_rows.html",
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        filters={"action": action[:64], "user": user[:64], "since": since[:10], "until": until[:10]},
    )


ROUTES = [audit_log]
