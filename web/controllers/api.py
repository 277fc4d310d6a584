"""JSON API v1: the same operations as the pages, with the same services and scoping.
Authenticate with a session cookie (and the X-CSRF-Token header) or `Authorization: Bearer va_…`."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from agency import agents, audit, sessions, users
from money import onboarding
from web.auth import AUTHENTICATED, access
from web.controllers.audit import audit_filter
from web.controllers.paging import json_page
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


@dataclass
class UserIn:
    username: str
    role: str
    password: str
    display_name: str = ""


@dataclass
class UserPatch:
    role: str | None = None
    display_name: str | None = None
    is_active: bool | None = None


@dataclass
class PasswordIn:
    password: str


@dataclass
class OwnPasswordIn:
    current_password: str
    new_password: str


@dataclass
class OperationPasswordIn:
    login_password: str
    operation_password: str


@dataclass
class TokenIn:
    name: str


def _present(data: Any) -> dict[str, Any]:
    return {k: v for k, v in asdict(data).items() if v is not None}


class MeController(Controller):
    path = "/api/v1/me"
    tags = ["me"]
    opt = access(AUTHENTICATED)

    @get("/")
    async def me(self, request: Request) -> dict[str, Any]:
        actor = request.user
        return {
            "user_id": actor.user_id,
            "username": actor.username,
            "role": actor.role,
            "agent_id": actor.agent_id,
            "is_operator": actor.is_operator,
        }

    @post("/password", status_code=204)
    async def change_password(self, request: Request, data: JSONBody[OwnPasswordIn]) -> None:
        await users.change_own_password(request.user, data.current_password, data.new_password)

    @post("/operation-password", status_code=204)
    async def set_operation_password(self, request: Request, data: JSONBody[OperationPasswordIn]) -> None:
        await users.set_operation_password(request.user, data.login_password, data.operation_password)

    @get("/sessions")
    async def list_sessions(self, request: Request) -> list[dict[str, Any]]:
        return await sessions.list_sessions(request.user)

    @post("/sessions/revoke-others")
    async def revoke_other_sessions(self, request: Request) -> dict[str, int]:
        return {"revoked": await sessions.revoke_other_sessions(request.user)}

    @get("/tokens")
    async def list_tokens(self, request: Request) -> list[dict[str, Any]]:
        return await sessions.list_api_tokens(request.user)

    @post("/tokens", status_code=201)
    async def create_token(self, request: Request, data: JSONBody[TokenIn]) -> dict[str, str]:
        """The token is in this answer only; it is stored hashed."""
        return {"token": await sessions.create_api_token(request.user, data.name)}

    @delete("/tokens/{token_id:int}", status_code=204)
    async def revoke_token(self, request: Request, token_id: FromPath[int]) -> None:
        await sessions.revoke_api_token(request.user, token_id)


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
        return await agents.update_agent(request.user, agent_id, _present(data))

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


class UserApiController(Controller):
    path = "/api/v1"
    tags = ["users"]
    opt = access("manage_users")

    @get("/staff")
    async def list_staff(self, request: Request) -> list[dict[str, Any]]:
        return await users.list_users(request.user, staff=True)

    @post("/staff", status_code=201)
    async def create_staff(self, request: Request, data: JSONBody[UserIn]) -> dict[str, Any]:
        return await users.create_user(request.user, None, asdict(data))

    @get("/users/{user_id:int}")
    async def get_user(self, request: Request, user_id: FromPath[int]) -> dict[str, Any]:
        return await users.get_user(request.user, user_id)

    @patch("/users/{user_id:int}")
    async def update_user(self, request: Request, user_id: FromPath[int], data: JSONBody[UserPatch]) -> dict[str, Any]:
        return await users.update_user(request.user, user_id, _present(data))

    @post("/users/{user_id:int}/password", status_code=204)
    async def reset_password(self, request: Request, user_id: FromPath[int], data: JSONBody[PasswordIn]) -> None:
        await users.reset_password(request.user, user_id, data.password)


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


ROUTES = [MeController, AgentApiController, UserApiController, AuditApiController]
