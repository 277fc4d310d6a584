"""Support pages: the queue sorted by what breaches next, a ticket with its conversation, and
the subscriber's own tickets in the portal."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Response
from markupsafe import Markup

from core.clock import now
from core.errors import ValidationFailed
from support import calendars, queues, reports, tickets
from web import flash, labels
from web.auth import SUBSCRIBER, access
from web.charts import Line, line_chart
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
from web.rendering import is_htmx, render


def time_left(seconds: int | None, working_time: bool = True) -> str:
    """ "1 h 20 min of working time left" or "overdue by …", in the user's language; a clock that
    counts wall-clock time says plain hours ("1 h 20 min left")."""
    if seconds is None:
        return ""
    hours, minutes = divmod(abs(seconds) // 60, 60)
    figures = {"h": number(hours), "m": minutes}
    if working_time:
        if seconds >= 0:
            return _("%(h)s h %(m)s min of working time left") % figures
        return _("overdue by %(h)s h %(m)s min of working time") % figures
    if seconds >= 0:
        return _("%(h)s h %(m)s min left") % figures
    return _("overdue by %(h)s h %(m)s min") % figures


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
        row["left"] = time_left(row["seconds_left"], row["counts_working_time"])
    unconfirmed = []
    if request.user.can("manage_calendar"):  # a warning only for those who can act on it; quiet for the rest
        unconfirmed = calendars.unconfirmed_years(await calendars.confirmed_years())
    return render(
        request,
        "support/queue.html",
        partial="support/_queue.html",
        rows=rows,
        total=total,
        count_cap=queues.COUNT_CAP,
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


@post("/support/tickets/{ticket_id:int}/forward", opt=access("answer_tickets"))
async def forward(request: Request, ticket_id: FromPath[int]) -> Response:
    """Operator support hands an operator-queue ticket down to the agent's queue."""
    return await _act(request, ticket_id, lambda d: tickets.forward(request.user, ticket_id), "ticket_forwarded")


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


def _minutes(seconds: int | None) -> str:
    return "" if seconds is None else str(seconds // 60)


def _counting(working: object) -> str:
    return "working" if working else "wall"


async def _targets_context(failed: str = "", data: dict | None = None) -> dict:
    """The targets page: every priority's and every queue's form with the stored values, and the
    form that was refused (`failed`) with what was typed in it."""
    policies = await tickets.list_policies()
    queue_rows = await tickets.list_queue_targets()
    values = {
        f"priority-{p['priority']}": {
            "first_response_minutes": _minutes(p["first_response_seconds"]),
            "resolution_minutes": _minutes(p["resolution_seconds"]),
            "at_risk_percent": str(p["at_risk_percent"]),
        }
        for p in policies
    }
    for q in queue_rows:
        values[f"queue-{q['queue']}"] = {
            "forward_minutes": _minutes(q["forward_seconds"]),
            "forward_counting": _counting(q["forward_in_working_time"]),
            "resolution_minutes": _minutes(q["resolution_seconds"]),
            "resolution_counting": _counting(q["resolution_in_working_time"]),
        }
    if failed in values and data is not None:
        values[failed] = {**values[failed], **{k: v[:20] for k, v in data.items() if k in values[failed]}}
    return {"policies": policies, "queue_targets": queue_rows, "values": values, "failed": failed, "errors": {}}


@get("/support/targets", opt=access("set_sla_targets"))
async def targets_page(request: Request) -> Response:
    return render(request, "support/targets.html", **await _targets_context())


async def _save_targets(request: Request, form: str, save) -> Response:
    """Save one form of the targets page; a refusal shows the page again with the message in that form."""
    data = await form_data(request)
    try:
        await save(data)
    except ValidationFailed as exc:
        return refusal(request, "support/targets.html", exc, **await _targets_context(form, data))
    flash.say(request, "sla_targets_saved")
    return redirect(request, f"/support/targets#{form}")


@post("/support/targets/priority/{priority:str}", opt=access("set_sla_targets"))
async def save_priority_targets(request: Request, priority: FromPath[str]) -> Response:
    """A priority's first-response and resolution targets (working minutes) and its at-risk share."""
    priority = priority[:16]

    async def save(data: dict) -> None:
        await tickets.save_policy(
            request.user,
            priority,
            data.get("first_response_minutes"),
            data.get("resolution_minutes"),
            data.get("at_risk_percent"),
        )

    return await _save_targets(request, f"priority-{priority}", save)


@post("/support/targets/queue/{queue:str}", opt=access("set_sla_targets"))
async def save_queue_targets(request: Request, queue: FromPath[str]) -> Response:
    """A queue's forwarding (operator queue) and resolution targets, each in working or wall-clock time."""
    queue = queue[:16]

    async def save(data: dict) -> None:
        await tickets.save_queue_targets(
            request.user,
            queue,
            forward_minutes=data.get("forward_minutes"),
            forward_in_working_time=data.get("forward_counting") == "working",
            resolution_minutes=data.get("resolution_minutes"),
            resolution_in_working_time=data.get("resolution_counting") == "working",
        )

    return await _save_targets(request, f"queue-{queue}", save)


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


# The report's clocks, in its columns' order (support.reports.CLOCKS).
CLOCKS = reports.CLOCKS


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _report_table(report: dict) -> tuple[list[str], list[list[object]]]:
    """The report's groups as a download's header and rows: per clock met, breached, open and
    compliance; the first response's median and p90 (in minutes)."""
    names = {clock: labels.label(clock, "sla_clock") for clock in CLOCKS}
    header = [_("Group"), _("Tickets")]
    for clock in CLOCKS:
        header += [f"{names[clock]}: {_(word)}" for word in ("Met", "Breached", "Open", "Compliance rate")]
        if clock == "first_response":
            header += [_("Median first response (min)"), _("p90 first response (min)")]
    rows = []
    for g in report["groups"]:
        row: list[object] = [labels.report_group(g["key"], report["dimension"]), g["tickets"]]
        for clock in CLOCKS:
            row += [g[f"{clock}_{part}"] for part in ("met", "breached", "open", "compliance_percent")]
            if clock == "first_response":
                row += [
                    None if g["median_first_response_seconds"] is None else g["median_first_response_seconds"] // 60,
                    None if g["p90_first_response_seconds"] is None else g["p90_first_response_seconds"] // 60,
                ]
        rows.append(row)
    return header, rows


async def _monthly(report: dict, start: dt.datetime, end: dt.datetime) -> list[dict]:
    """Compliance of each clock per month of a report by month (months without tickets too, with
    no figure)."""
    found = {g["key"]: g for g in report["groups"]}
    months = [label for label, _start in reports.periods("month", await calendars.current_calendar(), start, end)]
    return [
        {
            "month": month,
            "tickets": found.get(month, {}).get("tickets", 0),
            **{clock: found.get(month, {}).get(f"{clock}_compliance_percent") for clock in CLOCKS},
        }
        for month in months
    ]


def _compliance_chart(months: list[dict]) -> Markup:
    return line_chart(
        _("Compliance by month (percent)"),
        [m["month"] for m in months],
        [Line(labels.label(clock, "sla_clock"), [m[clock] for m in months]) for clock in CLOCKS],
        top=100,
    )


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
    if format in ("csv", "xlsx"):
        header, rows = _report_table(report)
        return table_response(f"sla-{report['dimension']}", format, header, rows)
    for breach in report["breaches"]:
        breach["by"] = time_left(-breach["breached_by_seconds"])
    filters = {"since": since[:10], "until": until[:10], "dimension": report["dimension"]}
    # The chart by month comes with the page when the report is by month; otherwise it is a second
    # report, which the page loads after it is shown (htmx), so the report is not kept waiting.
    months = await _monthly(report, start, end) if report["dimension"] == "month" else None
    return render(
        request,
        "support/report.html",
        report=report,
        dimensions=reports.DIMENSIONS,
        clocks=CLOCKS,
        months=months,
        chart=_compliance_chart(months) if months is not None else None,
        percent=_percent,
        filters=filters,
        download=lambda file_format: urlencode({**filters, "format": file_format}),
        months_query=urlencode({"since": filters["since"], "until": filters["until"]}),
    )


@get("/support/report/months", opt=access("view_tickets"))
async def report_months(request: Request, since: FromQuery[str] = "", until: FromQuery[str] = "") -> Response:
    """Compliance of each clock per month over the report's period: a chart and its figures (the
    part of the report page it loads after showing itself; a page of its own without htmx)."""
    if not is_htmx(request):  # the report page around it said so already
        unreadable_days(request, since, until)
    start, end = report_period(since, until)
    report = await reports.sla_report(request.user, since=start, until=end, dimension="month")
    months = await _monthly(report, start, end)
    return render(
        request,
        "support/report_months.html",
        partial="support/_report_months.html",
        clocks=CLOCKS,
        months=months,
        chart=_compliance_chart(months),
        percent=_percent,
        filters={"since": since[:10], "until": until[:10], "dimension": "month"},
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
    forward,
    take_next,
    report_page,
    report_months,
    calendar_page,
    save_calendar,
    targets_page,
    save_priority_targets,
    save_queue_targets,
    my_tickets,
    open_ticket,
    my_ticket,
    my_reply,
    my_attachment,
]
