"""JSON API v1 for the caller's own account: who am I, passwords, sessions and API tokens.
Authenticate with a session cookie (and the X-CSRF-Token header) or `Authorization: Bearer va_…`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody

from agency import sessions, users
from web.auth import AUTHENTICATED, access
from web.controllers.answers import answers


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


class MeOut(msgspec.Struct):
    """The caller: its user, role and agent (null for operator staff)."""

    user_id: int
    username: str
    role: str
    agent_id: int | None
    is_operator: bool


class SessionOut(msgspec.Struct):
    """One of the caller's live login sessions."""

    id: int
    created_at: dt.datetime
    last_seen_at: dt.datetime
    address: str
    user_agent: str


class RevokedSessionsAnswer(msgspec.Struct):
    """How many of the caller's other sessions were ended."""

    revoked: int


class TokenOut(msgspec.Struct):
    """One of the caller's live API tokens (the token itself is never shown again)."""

    id: int
    name: str
    created_at: dt.datetime


class NewTokenOut(msgspec.Struct):
    """A new API token, `va_…`: sent in this answer only."""

    token: str


class MeController(Controller):
    path = "/api/v1/me"
    tags = ["me"]
    opt = access(AUTHENTICATED)

    @get("/")
    async def me(self, request: Request) -> MeOut:
        actor = request.user
        return MeOut(
            user_id=actor.user_id,
            username=actor.username,
            role=actor.role,
            agent_id=actor.agent_id,
            is_operator=actor.is_operator,
        )

    @post("/password", status_code=204)
    async def change_password(self, request: Request, data: JSONBody[OwnPasswordIn]) -> None:
        await users.change_own_password(request.user, data.current_password, data.new_password)

    @post("/operation-password", status_code=204)
    async def set_operation_password(self, request: Request, data: JSONBody[OperationPasswordIn]) -> None:
        await users.set_operation_password(request.user, data.login_password, data.operation_password)

    @get("/sessions")
    async def list_sessions(self, request: Request) -> list[SessionOut]:
        return answers(SessionOut, await sessions.list_sessions(request.user))

    @post("/sessions/revoke-others")
    async def revoke_other_sessions(self, request: Request) -> RevokedSessionsAnswer:
        return RevokedSessionsAnswer(revoked=await sessions.revoke_other_sessions(request.user))

    @get("/tokens")
    async def list_tokens(self, request: Request) -> list[TokenOut]:
        return answers(TokenOut, await sessions.list_api_tokens(request.user))

    @post("/tokens", status_code=201)
    async def create_token(self, request: Request, data: JSONBody[TokenIn]) -> NewTokenOut:
        """The token is in this answer only; it is stored hashed."""
        return NewTokenOut(token=await sessions.create_api_token(request.user, data.name))

    @delete("/tokens/{token_id:int}", status_code=204)
    async def revoke_token(self, request: Request, token_id: FromPath[int]) -> None:
        await sessions.revoke_api_token(request.user, token_id)


ROUTES = [MeController]
