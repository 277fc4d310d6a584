"""JSON API v1 for the agent tree: list, create, change, suspend, resume and give notice; an
agent's users."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from litestar import Controller, Request, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from agency import agents, users
from money import onboarding
from web.auth import access
from web.controllers.answers import present
from web.controllers.paging import json_page
from web.controllers.users_api import UserIn
from web.settings import Settings


@dataclass
class AgentIn:
    brand_name: str
    contact_person: str
    phone: str
    address: str = ""
    timezone: str = "Asia/Shanghai"
    calling_hours: str = ""  # "08:00-19:30" in the agent's time zone; empty: any time
    parent_id: int | None = None


@dataclass
class AgentPatch:
    brand_name: str | None = None
    contact_person: str | None = None
    phone: str | None = None
    address: str | None = None
    timezone: str | None = None
    calling_hours: str | None = None


@dataclass
class NoticeIn:
    effective: dt.datetime | None = None


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
    ) -> dict[str, Any]:
        rows, total = await agents.list_agents(request.user, search=search, under=under, page=page, per_page=per_page)
        return json_page(rows, total, page)

    @post("/", opt=access("create_agent"), status_code=201)
    async def create_agent(
        self, request: Request, data: JSONBody[AgentIn], settings: NamedDependency[Settings]
    ) -> dict[str, Any]:
        fields = asdict(data)
        parent_id = fields.pop("parent_id")
        return await onboarding.create_agent(request.user, parent_id, fields, max_depth=settings.max_agent_depth)

    @get("/{agent_id:int}", opt=access("view_agents"))
    async def get_agent(self, request: Request, agent_id: FromPath[int]) -> dict[str, Any]:
        return await agents.get_agent(request.user, agent_id)

    @patch("/{agent_id:int}", opt=access("edit_agent"))
    async def update_agent(
        self, request: Request, agent_id: FromPath[int], data: JSONBody[AgentPatch]
    ) -> dict[str, Any]:
        return await agents.update_agent(request.user, agent_id, present(data))

    @post("/{agent_id:int}/suspend", opt=access("change_agent_status"), status_code=200)
    async def suspend(self, request: Request, agent_id: FromPath[int]) -> dict[str, Any]:
        return await agents.suspend_agent(request.user, agent_id)

    @post("/{agent_id:int}/resume", opt=access("change_agent_status"), status_code=200)
    async def resume(self, request: Request, agent_id: FromPath[int]) -> dict[str, Any]:
        return await agents.resume_agent(request.user, agent_id)

    @post("/{agent_id:int}/notice", opt=access("change_agent_status"), status_code=200)
    async def notice(self, request: Request, agent_id: FromPath[int], data: JSONBody[NoticeIn]) -> dict[str, Any]:
        return await agents.give_notice(request.user, agent_id, data.effective)

    @get("/{agent_id:int}/users", opt=access("view_agents"))
    async def list_users(self, request: Request, agent_id: FromPath[int]) -> list[dict[str, Any]]:
        return await users.list_users(request.user, agent_id=agent_id)

    @post("/{agent_id:int}/users", opt=access("manage_users"), status_code=201)
    async def create_user(self, request: Request, agent_id: FromPath[int], data: JSONBody[UserIn]) -> dict[str, Any]:
        return await users.create_user(request.user, agent_id, asdict(data))


ROUTES = [AgentApiController]
