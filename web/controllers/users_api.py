"""JSON API v1 for users: operator staff, and one user of any agent in the caller's subtree."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, JSONBody

from agency import users
from web.auth import access
from web.controllers.answers import present


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
        return await users.update_user(request.user, user_id, present(data))

    @post("/users/{user_id:int}/password", status_code=204)
    async def reset_password(self, request: Request, user_id: FromPath[int], data: JSONBody[PasswordIn]) -> None:
        await users.reset_password(request.user, user_id, data.password)


ROUTES = [UserApiController]
