"""JSON API v1 for the agent tree: list, create, change, suspend, resume and give notice; an
agent's users; the operator's bulk suspension of an agent's subscribers."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from accounts import bulk
from agency import agents, users
from money import onboarding
from web.auth import access
from web.controllers.answers import Page, answer, answers, page_of, present
from web.controllers.users_api import UserIn, UserOut
from web.settings import Settings


@dataclass
class AgentIn:
    brand_name: str
    contact_person: str
    phone: str
    address: str = ""
    timezone: str = "Asia/Shanghai"
    calling_hours: str = ""  # "08:00-19:30" in the agent's time zone; empty: any time
    hotline: str = ""  # the number its subscribers call for help, shown in their portal
    service_hours: str = ""  # when the hotline answers, free text ("Mon-Fri 09:00-18:00"), shown with it
    parent_id: int | None = None


@dataclass
class AgentPatch:
    """The fields to change. `timezone` and `calling_hours` are set by the agent's parent or the
    operator (R-22): the agent's own users are refused (403), and a window outside the windows
    above the agent is refused (400)."""

    brand_name: str | None = None
    contact_person: str | None = None
    phone: str | None = None
    address: str | None = None
    timezone: str | None = None
    calling_hours: str | None = None
    hotline: str | None = None
    service_hours: str | None = None


@dataclass
class NoticeIn:
    effective: dt.datetime | None = None
    operation_password: str | None = None  # needed when an agent gives its own notice


@dataclass
class BulkIn:
    reason: str


class BulkOut(msgspec.Struct):
    """A bulk step over an agent subtree's subscribers: how many were suspended (or resumed), and why."""

    agent_id: int
    count: int
    reason: str


class AgentOut(msgspec.Struct):
    """An agent of the tree; `path` lists the ids from the top ("/00000001/00000007/")."""

    id: int
    parent: int | None
    path: str
    level: int
    brand_name: str
    contact_person: str
    phone: str
    address: str
    timezone: str
    calling_hours: str
    hotline: str
    service_hours: str
    status: str
    notice_at: dt.datetime | None
    terminates_at: dt.datetime | None
    created_at: dt.datetime


class AgentApiController(Controller):
    path = "/api/v1/agents"
    tags = ["agents"]

    @get("/", opt=access("view_agents"))
    async def list_agents(
        self,
        request: Request,
        search: FromQuery[str] = "",
        under: FromQuery[int | None] = None,
        page: FromQuery[int] = 1,
        per_page: FromQuery[int] = 50,
    ) -> Page[AgentOut]:
        rows, total = await agents.list_agents(request.user, search=search, under=under, page=page, per_page=per_page)
        return page_of(AgentOut, rows, total, page)

    @post("/", opt=access("create_agent"), status_code=201)
    async def create_agent(
        self, request: Request, data: JSONBody[AgentIn], settings: NamedDependency[Settings]
    ) -> AgentOut:
        fields = asdict(data)
        parent_id = fields.pop("parent_id")
        return answer(
            AgentOut,
            await onboarding.create_agent(request.user, parent_id, fields, max_depth=settings.max_agent_depth),
        )

    @get("/{agent_id:int}", opt=access("view_agents"))
    async def get_agent(self, request: Request, agent_id: FromPath[int]) -> AgentOut:
        return answer(AgentOut, await agents.get_agent(request.user, agent_id))

    @patch("/{agent_id:int}", opt=access("edit_agent"))
    async def update_agent(self, request: Request, agent_id: FromPath[int], data: JSONBody[AgentPatch]) -> AgentOut:
        return answer(AgentOut, await agents.update_agent(request.user, agent_id, present(data)))

    @post("/{agent_id:int}/suspend", opt=access("change_agent_status"), status_code=200)
    async def suspend(self, request: Request, agent_id: FromPath[int]) -> AgentOut:
        return answer(AgentOut, await agents.suspend_agent(request.user, agent_id))

    @post("/{agent_id:int}/resume", opt=access("change_agent_status"), status_code=200)
    async def resume(self, request: Request, agent_id: FromPath[int]) -> AgentOut:
        return answer(AgentOut, await agents.resume_agent(request.user, agent_id))

    @post("/{agent_id:int}/notice", opt=access("change_agent_status"), status_code=200)
    async def notice(self, request: Request, agent_id: FromPath[int], data: JSONBody[NoticeIn]) -> AgentOut:
        """Termination notice from the parent or the operator; an agent's own owner gives its own
        with `operation_password`."""
        return answer(
            AgentOut,
            await agents.give_notice(
                request.user, agent_id, data.effective, operation_password=data.operation_password
            ),
        )

    @post("/{agent_id:int}/subscribers/suspend", opt=access("bulk_suspend_subscribers"), status_code=200)
    async def suspend_subscribers(self, request: Request, agent_id: FromPath[int], data: JSONBody[BulkIn]) -> BulkOut:
        """Suspend every active subscriber of the agent and its sub-agents (operator admins)."""
        return answer(BulkOut, await bulk.suspend_subscribers(request.user, agent_id, data.reason))

    @post("/{agent_id:int}/subscribers/resume", opt=access("bulk_suspend_subscribers"), status_code=200)
    async def resume_subscribers(self, request: Request, agent_id: FromPath[int], data: JSONBody[BulkIn]) -> BulkOut:
        """Resume the subscribers the agent's bulk suspensions suspended and nobody changed since."""
        return answer(BulkOut, await bulk.resume_subscribers(request.user, agent_id, data.reason))

    @get("/{agent_id:int}/users", opt=access("view_agents"))
    async def list_users(self, request: Request, agent_id: FromPath[int]) -> list[UserOut]:
        return answers(UserOut, await users.list_users(request.user, agent_id=agent_id))

    @post("/{agent_id:int}/users", opt=access("manage_users"), status_code=201)
    async def create_user(self, request: Request, agent_id: FromPath[int], data: JSONBody[UserIn]) -> UserOut:
        return answer(UserOut, await users.create_user(request.user, agent_id, asdict(data)))


ROUTES = [AgentApiController]
