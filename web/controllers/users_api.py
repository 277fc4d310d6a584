"""JSON API v1 for users: operator staff, and one user of any agent in the caller's subtree."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, JSONBody

from agency import users
from web.auth import access
from web.controllers.answers import answer, answers, present


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


class UserOut(msgspec.Struct):
    """A user: operator staff (`agent` null) or a user of one agent."""

    id: int
    username: str
    display_name: str
    role: str
    agent: int | None
    is_active: bool
    created_at: dt.datetime
    # The agent's brand name and path: sent when listing an agent's users, and to an agent's users.
    agent_name: str | msgspec.UnsetType = msgspec.UNSET
    agent_path: str | msgspec.UnsetType = msgspec.UNSET


class UserApiController(Controller):
    path = "/api/v1"
    tags = ["users"]
    opt = access("manage_users")

    @get("/staff")
    async def list_staff(self, request: Request) -> list[UserOut]:
        return answers(UserOut, await users.list_users(request.user, staff=True))

    @post("/staff", status_code=201)
    async def create_staff(self, request: Request, data: JSONBody[UserIn]) -> UserOut:
        return answer(UserOut, await users.create_user(request.user, None, asdict(data)))

    @get("/users/{user_id:int}")
    async def get_user(self, request: Request, user_id: FromPath[int]) -> UserOut:
        return answer(UserOut, await users.get_user(request.user, user_id))

    @patch("/users/{user_id:int}")
    async def update_user(self, request: Request, user_id: FromPath[int], data: JSONBody[UserPatch]) -> UserOut:
        return answer(UserOut, await users.update_user(request.user, user_id, present(data)))

    @post("/users/{user_id:int}/password", status_code=204)
    async def reset_password(self, request: Request, user_id: FromPath[int], data: JSONBody[PasswordIn]) -> None:
        await users.reset_password(request.user, user_id, data.password)

    @post("/users/{user_id:int}/two-factor/reset", status_code=204)
    async def reset_two_factor(self, request: Request, user_id: FromPath[int]) -> None:
        """Turns the user's two-factor login off (a lost phone) and ends their sessions."""
        await users.reset_two_factor(request.user, user_id)


ROUTES = [UserApiController]
