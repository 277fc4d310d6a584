"""The audit log page, filterable; the operator sees all, an agent owner its subtree."""

from __future__ import annotations

import datetime as dt

from litestar import Request, get
from litestar.params import FromQuery
from litestar.response import Response

from agency import audit
from web.auth import access
from web.rendering import render

PER_PAGE = 50


def parse_day(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(0), tzinfo=dt.timezone.utc) if value else None
    except ValueError:
        return None


def audit_filter(action: str, user: str, since: str, until: str) -> audit.AuditFilter:
    until_day = parse_day(until)
    return audit.AuditFilter(
        action=action[:64],
        username=user[:64],
        since=parse_day(since),
        until=until_day + dt.timedelta(days=1) if until_day else None,
    )


@get("/audit", opt=access("view_audit"))
async def audit_log(
    request: Request,
    action: FromQuery[str] = "",
    user: FromQuery[str] = "",
    since: FromQuery[str] = "",
    until: FromQuery[str] = "",
    page: FromQuery[int] = 1,
) -> Response:
    rows, total = await audit.list_entries(
        request.user, audit_filter(action, user, since, until), page=page, per_page=PER_PAGE
    )
    pages = max(1, -(-total // PER_PAGE))
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
