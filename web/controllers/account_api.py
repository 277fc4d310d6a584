"""JSON API v1 for the caller's own account: who am I, passwords, sessions and API tokens.
Authenticate with a session cookie (and the X-CSRF-Token header) or `Authorization: Bearer va_…`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody

from agency import sessions, users
from web.auth import AUTHENTICATED, access


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


ROUTES = [MeController]
