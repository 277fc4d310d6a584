"""JSON API v1 for tickets and SLA reports, with the same services and scoping as the pages."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody

from support import queues, reports, tickets
from web import labels
from web.auth import access
from web.controllers.answers import Page, answer, answers, page_of
from web.controllers.forms import refuse_unreadable_days
from web.controllers.support import report_period


@dataclass
class TicketIn:
    subject: str
    body: str
    priority: str = "normal"
    category: str = "other"


@dataclass
class MessageIn:
    body: str
    public: bool = True


@dataclass
class StatusIn:
    status: str


@dataclass
class PolicyIn:
    first_response_minutes: int = 240
    resolution_minutes: int | None = None
    at_risk_percent: int = 75


@dataclass
class QueueTargetsIn:
    """A queue's targets in minutes (null: no such deadline), each counted in working time (true)
    or wall-clock time (false). Only the operator's queue forwards."""

    forward_minutes: int | None = None
    forward_in_working_time: bool = False
    resolution_minutes: int | None = None
    resolution_in_working_time: bool = False


@dataclass
class AssignIn:
    user_id: int | None = None


class QueueTicketOut(msgspec.Struct):
    """A ticket in a queue, with the state of its most urgent running clock (`running_clock`:
    first_response, forward or resolution; null once resolved), its due time, and the seconds
    left on it, counted as that clock counts, in working or wall-clock time (negative: overdue;
    null once the clock is met)."""

    id: int
    subject: str
    priority: str
    category: str
    status: str
    queue: str
    agent: int
    subscriber: int | None
    assignee: int | None
    reported_at: dt.datetime
    first_response_due_at: dt.datetime
    first_response_warn_at: dt.datetime
    first_responded_at: dt.datetime | None
    forward_due_at: dt.datetime | None
    forwarded_at: dt.datetime | None
    forward_in_working_time: bool
    resolution_due_at: dt.datetime | None
    resolution_in_working_time: bool
    resolved_at: dt.datetime | None
    pending_since: dt.datetime | None
    agent_name: str
    account_number: str | None
    state: str
    running_clock: str | None
    due_at: dt.datetime | None
    seconds_left: int | None


class TicketOut(msgspec.Struct):
    """A ticket: who it is for, where it is queued, its state and its SLA due times."""

    id: int
    subscriber: int | None
    agent: int
    queue: str
    category: str
    priority: str
    subject: str
    status: str
    assignee: int | None
    reported_at: dt.datetime
    first_response_due_at: dt.datetime
    first_response_warn_at: dt.datetime
    first_responded_at: dt.datetime | None
    first_responder: int | None
    forward_due_at: dt.datetime | None
    forwarded_at: dt.datetime | None
    forward_in_working_time: bool
    resolution_due_at: dt.datetime | None
    resolution_in_working_time: bool
    pending_since: dt.datetime | None
    resolved_at: dt.datetime | None
    created_by: int | None
    agent_path: str


class ClocksOut(msgspec.Struct):
    """The state of a ticket's SLA clocks: met, on_track, at_risk, breached or paused (forward and
    resolution: null where the ticket has no such clock)."""

    first_response: str
    forward: str | None
    resolution: str | None


class MessageOut(msgspec.Struct):
    """A message of a ticket: from the subscriber, staff or the system; not public: an internal note."""

    id: int
    ticket: int
    author_kind: str
    author_id: int | None
    public: bool
    body: str
    created_at: dt.datetime


class TicketDetailOut(TicketOut):
    """One ticket with its clocks' states and all its messages, internal notes included."""

    clocks: ClocksOut
    messages: list[MessageOut]


class TakenAnswer(msgspec.Struct):
    """The ticket now assigned to the caller, or null when no ticket was waiting."""

    ticket: TicketOut | None


class PolicyOut(msgspec.Struct):
    """The SLA targets of a priority, in business seconds (resolution: null for none)."""

    priority: str
    first_response_seconds: int
    resolution_seconds: int | None
    at_risk_percent: int


class QueueTargetsOut(msgspec.Struct):
    """A queue's forwarding and resolution targets in seconds (null: none), each counted in working
    time (true) or wall-clock time (false)."""

    queue: str
    forward_seconds: int | None
    forward_in_working_time: bool
    resolution_seconds: int | None
    resolution_in_working_time: bool


class ReportGroupOut(msgspec.Struct):
    """One group of the report (`key`: a period, queue, priority, staff member's or agent's name):
    its tickets; per clock (first_response, forward, resolution) met, breached, still open and the
    compliance; `met`, `breached`, `open` and `compliance_percent` are the first response's, as
    ever; the first response's median and p90 in business seconds."""

    key: str
    tickets: int
    met: int
    breached: int
    open: int
    compliance_percent: float | None
    median_first_response_seconds: int | None
    p90_first_response_seconds: int | None
    first_response_met: int
    first_response_breached: int
    first_response_open: int
    first_response_compliance_percent: float | None
    forward_met: int
    forward_breached: int
    forward_open: int
    forward_compliance_percent: float | None
    resolution_met: int
    resolution_breached: int
    resolution_open: int
    resolution_compliance_percent: float | None


class BreachOut(msgspec.Struct):
    """A ticket whose first response came late, or has not come and is overdue, by business seconds."""

    id: int
    subject: str
    agent_name: str
    due_at: dt.datetime
    breached_by_seconds: int


class SlaReportOut(msgspec.Struct):
    """Compliance of the tickets reported in [since, until), grouped by `dimension`: first response
    (`compliance_percent`), forwarding and resolution; the worst first-response breaches (at most
    500; `breach_count` counts them all)."""

    dimension: str
    since: dt.datetime
    until: dt.datetime
    groups: list[ReportGroupOut]
    breaches: list[BreachOut]
    breach_count: int
    tickets: int
    compliance_percent: float | None
    forward_compliance_percent: float | None
    resolution_compliance_percent: float | None


class SupportApiController(Controller):
    path = "/api/v1"
    tags = ["support"]

    @get("/tickets", opt=access("view_tickets"))
    async def queue(
        self,
        request: Request,
        queue: FromQuery[str] = "",
        status: FromQuery[str] = "",
        priority: FromQuery[str] = "",
        agent_id: FromQuery[int | None] = None,
        assignee: FromQuery[str] = "",
        page: FromQuery[int] = 1,
    ) -> Page[QueueTicketOut]:
        """Open tickets by due time; `assignee` is "me", "none" or a user id."""
        rows, total = await queues.list_queue(
            request.user,
            queue=queue,
            status=status,
            priority=priority,
            agent_id=agent_id,
            assignee=assignee,
            page=page,
        )
        return page_of(QueueTicketOut, rows, total, page)

    @post("/subscribers/{subscriber_id:int}/tickets", opt=access("view_tickets"), status_code=201)
    async def open_for_subscriber(
        self, request: Request, subscriber_id: FromPath[int], data: JSONBody[TicketIn]
    ) -> TicketOut:
        """An agent's user opens a ticket on a subscriber's behalf."""
        return answer(
            TicketOut, await tickets.open_ticket(asdict(data), subscriber_id=subscriber_id, actor=request.user)
        )

    @get("/tickets/{ticket_id:int}", opt=access("view_tickets"))
    async def ticket(self, request: Request, ticket_id: FromPath[int]) -> TicketDetailOut:
        view = await tickets.staff_view(request.user, ticket_id)
        # The system's messages in English, as they always were (the pages show them in the reader's language).
        messages = [
            {**m, "body": labels.stored(m["body"], "en")} if m["author_kind"] == "system" else m
            for m in view["messages"]
        ]
        return answer(TicketDetailOut, {**view["ticket"], "clocks": view["clocks"], "messages": messages})

    @post("/tickets/{ticket_id:int}/messages", opt=access("answer_tickets"), status_code=201)
    async def message(self, request: Request, ticket_id: FromPath[int], data: JSONBody[MessageIn]) -> TicketOut:
        return answer(
            TicketOut, await tickets.add_staff_message(request.user, ticket_id, data.body, public=data.public)
        )

    @post("/tickets/{ticket_id:int}/status", opt=access("answer_tickets"), status_code=200)
    async def status(self, request: Request, ticket_id: FromPath[int], data: JSONBody[StatusIn]) -> TicketOut:
        return answer(TicketOut, await tickets.set_status(request.user, ticket_id, data.status))

    @post("/tickets/{ticket_id:int}/escalate", opt=access("answer_tickets"), status_code=200)
    async def escalate(self, request: Request, ticket_id: FromPath[int]) -> TicketOut:
        return answer(TicketOut, await tickets.escalate(request.user, ticket_id))

    @post("/tickets/{ticket_id:int}/forward", opt=access("answer_tickets"), status_code=200)
    async def forward(self, request: Request, ticket_id: FromPath[int]) -> TicketOut:
        """Operator support hands an operator-queue ticket down to the agent's queue (stops its
        forwarding clock); 409 when it is not in the operator's queue or no longer open."""
        return answer(TicketOut, await tickets.forward(request.user, ticket_id))

    @post("/tickets/{ticket_id:int}/assign", opt=access("answer_tickets"), status_code=200)
    async def assign(self, request: Request, ticket_id: FromPath[int], data: JSONBody[AssignIn]) -> TicketOut:
        return answer(TicketOut, await tickets.assign(request.user, ticket_id, data.user_id))

    @post("/tickets/take-next", opt=access("answer_tickets"), status_code=200)
    async def take_next(self, request: Request) -> TakenAnswer:
        return answer(TakenAnswer, {"ticket": await tickets.take_next(request.user)})

    @get("/support/policies", opt=access("view_tickets"))
    async def policies(self) -> list[PolicyOut]:
        return answers(PolicyOut, await tickets.list_policies())

    @put("/support/policies/{priority:str}", opt=access("set_sla_targets"))
    async def save_policy(self, request: Request, priority: FromPath[str], data: JSONBody[PolicyIn]) -> PolicyOut:
        """Targets in working minutes for new tickets of this priority (operator admins and support)."""
        saved = await tickets.save_policy(
            request.user,
            priority[:16],
            data.first_response_minutes,
            data.resolution_minutes,
            data.at_risk_percent,
        )
        return answer(PolicyOut, saved)

    @get("/support/queue-targets", opt=access("view_tickets"))
    async def queue_targets(self) -> list[QueueTargetsOut]:
        return answers(QueueTargetsOut, await tickets.list_queue_targets())

    @put("/support/queue-targets/{queue:str}", opt=access("set_sla_targets"))
    async def save_queue_targets(
        self, request: Request, queue: FromPath[str], data: JSONBody[QueueTargetsIn]
    ) -> QueueTargetsOut:
        """A queue's targets for new tickets (operator admins and support)."""
        saved = await tickets.save_queue_targets(
            request.user,
            queue[:16],
            forward_minutes=data.forward_minutes,
            forward_in_working_time=data.forward_in_working_time,
            resolution_minutes=data.resolution_minutes,
            resolution_in_working_time=data.resolution_in_working_time,
        )
        return answer(QueueTargetsOut, saved)

    @get("/support/report", opt=access("view_tickets"))
    async def report(
        self,
        request: Request,
        since: FromQuery[str] = "",
        until: FromQuery[str] = "",
        dimension: FromQuery[str] = "week",
    ) -> SlaReportOut:
        refuse_unreadable_days(since=since, until=until)
        start, end = report_period(since, until)
        return answer(
            SlaReportOut, await reports.sla_report(request.user, since=start, until=end, dimension=dimension[:8])
        )


ROUTES = [SupportApiController]
