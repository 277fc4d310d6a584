"""JSON API v1 for the caller's own account: who am I, passwords, sessions, API tokens and
two-factor login. Authenticate with a session cookie (and the X-CSRF-Token header) or
`Authorization: Bearer va_…`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, JSONBody

from agency import sessions, twofactor, users
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
    days: int = sessions.API_TOKEN_DAYS  # how long the token lives: 1 to 365 days


@dataclass
class CodeIn:
    code: str  # the 6 digits of the authenticator app


@dataclass
class DisableTwoFactorIn:
    password: str
    code: str  # of the authenticator app, or a recovery code


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
    expires_at: dt.datetime
    last_used_at: dt.datetime | None  # to the minute; null when never used


class TwoFactorOut(msgspec.Struct):
    """The caller's two-factor login: on or not, and whether the role requires it."""

    enabled: bool
    enabled_at: dt.datetime | None
    required: bool
    recovery_codes_left: int
    remembered_devices: int
    setting_up: bool  # a secret was made (start) and waits for its first code (confirm)


class EnrolmentOut(msgspec.Struct):
    """A new secret for the authenticator app, as text and as an otpauth:// URI (for a QR code)."""

    secret: str
    uri: str


class RecoveryCodesOut(msgspec.Struct):
    """Two-factor login is on. Each recovery code logs in once; they are in this answer only."""

    recovery_codes: list[str]


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
        return NewTokenOut(token=await sessions.create_api_token(request.user, data.name, data.days))

    @delete("/tokens/{token_id:int}", status_code=204)
    async def revoke_token(self, request: Request, token_id: FromPath[int]) -> None:
        await sessions.revoke_api_token(request.user, token_id)


class TwoFactorController(Controller):
    """Open to a session that must still set up two-factor login (its role requires it)."""

    path = "/api/v1/me/two-factor"
    tags = ["me"]
    opt = access(AUTHENTICATED, before_two_factor=True)

    @get("/")
    async def status(self, request: Request) -> TwoFactorOut:
        status = await twofactor.status(request.user)
        fields = {k: v for k, v in status.items() if k != "enrolment"}
        return TwoFactorOut(**fields, setting_up=status["enrolment"] is not None)

    @post("/start", status_code=201)
    async def start(self, request: Request) -> EnrolmentOut:
        """A new secret, not in use until `confirm` gets one of its codes."""
        enrolment = await twofactor.start_enrolment(request.user)
        return EnrolmentOut(secret=enrolment.secret, uri=enrolment.uri)

    @post("/confirm", status_code=200)
    async def confirm(self, request: Request, data: JSONBody[CodeIn]) -> RecoveryCodesOut:
        return RecoveryCodesOut(recovery_codes=await twofactor.confirm_enrolment(request.user, data.code))

    @post("/disable", status_code=204)
    async def disable(self, request: Request, data: JSONBody[DisableTwoFactorIn]) -> None:
        await twofactor.disable(request.user, data.password, data.code)


ROUTES = [MeController, TwoFactorController]
