"""Support pages: the queue sorted by what breaches next, a ticket with its conversation, and
the subscriber's own tickets in the portal."""

from __future__ import annotations

import datetime as dt

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Response

from core.clock import now
from core.errors import ValidationFailed
from support import calendars, queues, reports, tickets
from web import flash, labels
from web.auth import SUBSCRIBER, access
from web.controllers.forms import (
    form_action,
    form_data,
    period,
    query_id,
    redirect,
    refusal,
    unreadable_days,
    uploaded_file,
)
from web.controllers.paging import PER_PAGE, page_count
from web.exports import table_response
from web.formatting import number
from web.i18n import gettext as _
from web.rendering import render


def time_left(seconds: int | None) -> str:
    """ "1 h 20 min of working time left" or "overdue by …", in the user's language."""
    if seconds is None:
        return ""
    hours, minutes = divmod(abs(seconds) // 60, 60)
    if seconds >= 0:
        return _("%(h)s h %(m)s min of working time left") % {"h": hours, "m": minutes}
    return _("overdue by %(h)s h %(m)s min of working time") % {"h": hours, "m": minutes}


@get("/support", opt=access("view_tickets"))
async def queue_page(
    request: Request,
    queue: FromQuery[str] = "",
    status: FromQuery[str] = "",
    priority: FromQuery[str] = "",
    agent: FromQuery[str] = "",
    assignee: FromQuery[str] = "",
    page: FromQuery[int] = 1,
) -> Response:
    agent_id = query_id(agent)
    rows, total = await queues.list_queue(
        request.user,
        queue=queue,
        status=status,
        priority=priority,
        agent_id=agent_id,
        assignee=assignee,
        page=page,
        per_page=PER_PAGE,
    )
    for row in rows:
        row["left"] = time_left(row["seconds_left"])
    unconfirmed = []
    if request.user.can("manage_calendar"):  # a warning only for those who can act on it; quiet for the rest
        unconfirmed = calendars.unconfirmed_years(await calendars.confirmed_years())
    return render(
        request,
        "support/queue.html",
        partial="support/_queue.html",
        rows=rows,
        total=total,
        page=page,
        pages=page_count(total),
        unconfirmed=unconfirmed,
        filters={
            "queue": queue[:16],
            "status": status[:16],
            "priority": priority[:16],
            "agent": agent[:9],
            "assignee": assignee[:10],
        },
        priorities=tickets.PRIORITIES,
    )


async def _ticket_context(request: Request, ticket_id: int) -> dict:
    view = await tickets.staff_view(request.user, ticket_id)
    return {**view, "error": None, "values": {}}


@get("/support/tickets/{ticket_id:int}", opt=access("view_tickets"))
async def ticket_page(request: Request, ticket_id: FromPath[int]) -> Response:
    return render(request, "support/ticket.html", **await _ticket_context(request, ticket_id))


async def _typed_ticket_context(request: Request, ticket_id: int, data: dict) -> dict:
    """The ticket again after a refusal, with the message that was typed."""
    return {**await _ticket_context(request, ticket_id), "values": {"body": data.get("body", "")}}


async def _act(request: Request, ticket_id: int, action, message: str) -> Response:
    """Run `action` on the ticket, then back to it, saying `message` (web/flash.py)."""

    def done(_result: object) -> Response:
        flash.say(request, message)
        return redirect(request, f"/support/tickets/{ticket_id}")

    return await form_action(
        request,
        action,
        done=done,
        page="support/ticket.html",
        context=lambda data: _typed_ticket_context(request, ticket_id, data),
    )


@post("/support/tickets/{ticket_id:int}/messages", opt=access("answer_tickets"))
async def add_message(request: Request, ticket_id: FromPath[int]) -> Response:
    upload = await uploaded_file(request, "attachment")
    return await _act(
        request,
        ticket_id,
        lambda d: tickets.add_staff_message(
            request.user, ticket_id, d.get("body"), public=d.get("visibility") != "internal", upload=upload
        ),
        "ticket_answered",
    )


def _file_response(name: str, media_type: str, content: bytes) -> Response:
    return Response(
        content,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "X-Content-Type-Options": "nosniff"},
    )


@get("/support/tickets/{ticket_id:int}/attachments/{attachment_id:int}", opt=access("view_tickets"))
async def staff_attachment(request: Request, ticket_id: FromPath[int], attachment_id: FromPath[int]) -> Response:
    await tickets.get_ticket(request.user, ticket_id)
    return _file_response(*await tickets.attachment_file(ticket_id, attachment_id, include_internal=True))


@post("/support/tickets/{ticket_id:int}/status", opt=access("answer_tickets"))
async def change_status(request: Request, ticket_id: FromPath[int]) -> Response:
    return await _act(
        request,
        ticket_id,
        lambda d: tickets.set_status(request.user, ticket_id, str(d.get("status", ""))),
        "ticket_status_changed",
    )


@post("/support/tickets/{ticket_id:int}/escalate", opt=access("answer_tickets"))
async def escalate(request: Request, ticket_id: FromPath[int]) -> Response:
    return await _act(request, ticket_id, lambda d: tickets.escalate(request.user, ticket_id), "ticket_escalated")


def _calendar_form(stored: dict) -> dict[str, str]:
    def pairs(windows: list) -> str:
        return ", ".join(f"{a}-{b}" for a, b in windows)

    return {
        "tz": stored["tz"],
        **{f"day_{day}": pairs(stored["weekly"].get(str(day), [])) for day in range(7)},
        "closed_dates": "\n".join(stored["closed_dates"]),
        "extra_workdays": "\n".join(f"{day} {pairs(windows)}" for day, windows in stored["extra_workdays"].items()),
        "closures": "\n".join(f"{a} {b}" for a, b in stored["closures"]),
    }


@get("/support/calendar", opt=access("manage_calendar"))
async def calendar_page(request: Request) -> Response:
    stored = await calendars.stored_calendar()
    return render(
        request,
        "support/calendar.html",
        values=_calendar_form(stored),
        errors={},
        message=None,
        unconfirmed=calendars.unconfirmed_years(stored.get("confirmed_years")),
    )


@post("/support/calendar", opt=access("manage_calendar"))
async def save_calendar(request: Request) -> Response:
    data = await form_data(request)
    year = data.get("confirm_year", "")
    try:
        moved = await calendars.save_calendar(
            request.user, data, confirm_year=int(year) if year.isdigit() and len(year) == 4 else None
        )
    except ValidationFailed as exc:
        return refusal(
            request,
            "support/calendar.html",
            exc,
            values=data,
            message=None,
            unconfirmed=calendars.unconfirmed_years(await calendars.confirmed_years()),
        )
    stored = await calendars.stored_calendar()
    return render(
        request,
        "support/calendar.html",
        values=_calendar_form(stored),
        errors={},
        message=_("Saved. %(n)s open tickets got new due times.") % {"n": number(moved)},
        unconfirmed=calendars.unconfirmed_years(stored.get("confirmed_years")),
    )


@post("/support/take-next", opt=access("answer_tickets"))
async def take_next(request: Request) -> Response:
    ticket = await tickets.take_next(request.user)
    if ticket is None:
        flash.say(request, "no_ticket_waiting")
        return redirect(request, "/support")
    flash.say(request, "ticket_taken", id=ticket["id"])
    return redirect(request, f"/support/tickets/{ticket['id']}")


def report_period(since: str, until: str) -> tuple[dt.datetime, dt.datetime]:
    """The report's period: the given days, or the last 8 weeks."""
    start, end = period(since, until)
    end = end or now()
    return start or end - dt.timedelta(weeks=8), end


@get("/support/report", opt=access("view_tickets"))
async def report_page(
    request: Request,
    since: FromQuery[str] = "",
    until: FromQuery[str] = "",
    dimension: FromQuery[str] = "week",
    format: FromQuery[str] = "",
) -> Response:
    unreadable_days(request, since, until)
    start, end = report_period(since, until)
    report = await reports.sla_report(request.user, since=start, until=end, dimension=dimension[:8])
    if format == "csv":
        header = [
            _("Group"),
            _("Met"),
            _("Breached"),
            _("Open"),
            _("Compliance rate"),
            _("Median first response (min)"),
            _("p90 first response (min)"),
        ]
        rows = [
            [
                labels.report_group(g["key"], report["dimension"]),
                g["met"],
                g["breached"],
                g["open"],
                g["compliance_percent"],
                (g["median_first_response_seconds"] or 0) // 60,
                (g["p90_first_response_seconds"] or 0) // 60,
            ]
            for g in report["groups"]
        ]
        return table_response(f"sla-{report['dimension']}", "csv", header, rows)
    for breach in report["breaches"]:
        breach["by"] = time_left(-breach["breached_by_seconds"])
    return render(
        request,
        "support/report.html",
        report=report,
        dimensions=reports.DIMENSIONS,
        filters={"since": since[:10], "until": until[:10], "dimension": report["dimension"]},
    )


async def _agent_contact(subscriber_id: int) -> dict:
    """The agent the subscriber calls for help (brand, hotline, service hours), shown on every
    portal ticket page as on the portal's home (accounts.portal.AGENT_CONTACT)."""
    from accounts.portal import agent_contact  # kept beside the portal handlers it serves

    return await agent_contact(subscriber_id)


@get("/portal/tickets", opt=access(SUBSCRIBER))
async def my_tickets(request: Request) -> Response:
    me = request.scope["subscriber"]
    return render(
        request,
        "portal/tickets.html",
        tickets=await tickets.subscriber_tickets(me["id"]),
        errors={},
        values={},
        categories=tickets.CATEGORIES,
        contact=await _agent_contact(me["id"]),
    )


@post("/portal/tickets", opt=access(SUBSCRIBER))
async def open_ticket(request: Request) -> Response:
    me = request.scope["subscriber"]
    data = await form_data(request)
    try:
        ticket = await tickets.open_ticket(data, subscriber_id=me["id"])
    except ValidationFailed as exc:
        return refusal(
            request,
            "portal/tickets.html",
            exc,
            values=data,
            tickets=await tickets.subscriber_tickets(me["id"]),
            categories=tickets.CATEGORIES,
            contact=await _agent_contact(me["id"]),
        )
    flash.say(request, "ticket_opened", id=ticket["id"])
    return redirect(request, f"/portal/tickets/{ticket['id']}")


@get("/portal/tickets/{ticket_id:int}", opt=access(SUBSCRIBER))
async def my_ticket(request: Request, ticket_id: FromPath[int]) -> Response:
    me = request.scope["subscriber"]
    ticket = await tickets.subscriber_ticket(me["id"], ticket_id)
    return render(
        request,
        "portal/ticket.html",
        ticket=ticket,
        messages=await tickets.messages(ticket_id, include_internal=False),
        files=await tickets.attachments(ticket_id, include_internal=False),
        contact=await _agent_contact(me["id"]),
    )


@post("/portal/tickets/{ticket_id:int}/messages", opt=access(SUBSCRIBER))
async def my_reply(request: Request, ticket_id: FromPath[int]) -> Response:
    me = request.scope["subscriber"]
    data = await form_data(request)
    await tickets.add_subscriber_message(
        me["id"], ticket_id, data.get("body"), upload=await uploaded_file(request, "attachment")
    )
    flash.say(request, "ticket_answered")
    return redirect(request, f"/portal/tickets/{ticket_id}")


@get("/portal/tickets/{ticket_id:int}/attachments/{attachment_id:int}", opt=access(SUBSCRIBER))
async def my_attachment(request: Request, ticket_id: FromPath[int], attachment_id: FromPath[int]) -> Response:
    await tickets.subscriber_ticket(request.scope["subscriber"]["id"], ticket_id)
    return _file_response(*await tickets.attachment_file(ticket_id, attachment_id, include_internal=False))


ROUTES = [
    queue_page,
    ticket_page,
    add_message,
    staff_attachment,
    change_status,
    escalate,
    take_next,
    report_page,
    calendar_page,
    save_calendar,
    my_tickets,
    open_ticket,
    my_ticket,
    my_reply,
    my_attachment,
]
