"""JSON API v1 for tickets and SLA reports, with the same services and scoping as the pages."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from litestar import Controller, Request, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody

from support import queues, reports, tickets
from web.auth import access
from web.controllers.paging import json_page
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
class AssignIn:
    user_id: int | None = None


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
    ) -> dict[str, Any]:
        """Open tickets by due time; `assignee` is "me", "none" or a user id."""
        rows, total = await queues.list_queue(
            request.user,
            queue=queue[:16],
            status=status[:16],
            priority=priority[:16],
            agent_id=agent_id,
            assignee=assignee[:10],
            page=page,
        )
        return json_page(rows, total, page)

    @post("/subscribers/{subscriber_id:int}/tickets", opt=access("view_tickets"), status_code=201)
    async def open_for_subscriber(
        self, request: Request, subscriber_id: FromPath[int], data: JSONBody[TicketIn]
    ) -> dict[str, Any]:
        """An agent's user opens a ticket on a subscriber's behalf."""
        return await tickets.open_ticket(asdict(data), subscriber_id=subscriber_id, actor=request.user)

    @get("/tickets/{ticket_id:int}", opt=access("view_tickets"))
    async def ticket(self, request: Request, ticket_id: FromPath[int]) -> dict[str, Any]:
        ticket = await tickets.get_ticket(request.user, ticket_id)
        return {
            **ticket,
            "clocks": tickets.clock_states(ticket),
            "messages": await tickets.messages(ticket_id, include_internal=True),
        }

    @post("/tickets/{ticket_id:int}/messages", opt=access("answer_tickets"), status_code=201)
    async def message(self, request: Request, ticket_id: FromPath[int], data: JSONBody[MessageIn]) -> dict:
        return await tickets.add_staff_message(request.user, ticket_id, data.body, public=data.public)

    @post("/tickets/{ticket_id:int}/status", opt=access("answer_tickets"), status_code=200)
    async def status(self, request: Request, ticket_id: FromPath[int], data: JSONBody[StatusIn]) -> dict:
        return await tickets.set_status(request.user, ticket_id, data.status)

    @post("/tickets/{ticket_id:int}/escalate", opt=access("answer_tickets"), status_code=200)
    async def escalate(self, request: Request, ticket_id: FromPath[int]) -> dict[str, Any]:
        return await tickets.escalate(request.user, ticket_id)

    @post("/tickets/{ticket_id:int}/assign", opt=access("answer_tickets"), status_code=200)
    async def assign(self, request: Request, ticket_id: FromPath[int], data: JSONBody[AssignIn]) -> dict:
        return await tickets.assign(request.user, ticket_id, data.user_id)

    @post("/tickets/take-next", opt=access("answer_tickets"), status_code=200)
    async def take_next(self, request: Request) -> dict[str, Any]:
        return {"ticket": await tickets.take_next(request.user)}

    @get("/support/policies", opt=access("view_tickets"))
    async def policies(self) -> list[dict[str, Any]]:
        return await tickets.list_policies()

    @put("/support/policies/{priority:str}", opt=access("manage_calendar"))
    async def save_policy(self, request: Request, priority: FromPath[str], data: JSONBody[PolicyIn]) -> dict:
        """Targets in working minutes for new tickets of this priority (operator admins)."""
        return await tickets.save_policy(
            request.user, priority, data.first_response_minutes, data.resolution_minutes, data.at_risk_percent
        )

    @get("/support/report", opt=access("view_tickets"))
    async def report(
        self,
        request: Request,
        since: FromQuery[str] = "",
        until: FromQuery[str] = "",
        dimension: FromQuery[str] = "week",
    ) -> dict[str, Any]:
        start, end = report_period(since, until)
        return await reports.sla_report(request.user, since=start, until=end, dimension=dimension[:8])


ROUTES = [SupportApiController]
