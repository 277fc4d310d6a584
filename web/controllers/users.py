"""Operator staff, and changes to one user (role, active, password reset)."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Response

from agency import agents, twofactor, users
from core.errors import Conflict, ValidationFailed
from web import flash
from web.auth import access
from web.controllers.forms import form_data, redirect, refusal
from web.rendering import render


@get("/staff", opt=access("manage_users"))
async def staff(request: Request) -> Response:
    rows = await users.list_users(request.user, staff=True)
    return render(request, "users/list.html", agent=None, users=rows, values={}, errors={})


@post("/staff", opt=access("manage_users"))
async def create_staff(request: Request) -> Response:
    data = await form_data(request)
    try:
        await users.create_user(request.user, None, data)
    except ValidationFailed as exc:
        rows = await users.list_users(request.user, staff=True)
        return refusal(request, "users/list.html", exc, agent=None, users=rows, values=data)
    flash.say(request, "user_created", username=data.get("username", "").strip())
    return redirect(request, "/staff")


def _back(user: dict) -> str:
    return f"/agents/{user['agent']}/users" if user["agent"] else "/staff"


async def _detail_context(request: Request, user: dict) -> dict:
    agent = await agents.get_agent(request.user, user["agent"]) if user["agent"] else None
    two_factor = await twofactor.is_enabled(user["id"])
    return {"user": user, "agent": agent, "errors": {}, "back": _back(user), "two_factor": two_factor}


@get("/users/{user_id:int}", opt=access("manage_users"))
async def user_detail(request: Request, user_id: FromPath[int]) -> Response:
    user = await users.get_user(request.user, user_id)
    return render(request, "users/detail.html", **await _detail_context(request, user))


@post("/users/{user_id:int}", opt=access("manage_users"))
async def update_user(request: Request, user_id: FromPath[int]) -> Response:
    user = await users.get_user(request.user, user_id)
    data = await form_data(request)
    changes: dict[str, object] = {k: data[k] for k in ("role", "display_name") if k in data}
    if "is_active" in data:
        changes["is_active"] = data["is_active"] == "1"
    try:
        await users.update_user(request.user, user_id, changes)
    except ValidationFailed as exc:
        return refusal(request, "users/detail.html", exc, **await _detail_context(request, user))
    flash.say(request, "user_saved", username=user["username"])
    return redirect(request, _back(user))


@post("/users/{user_id:int}/password", opt=access("manage_users"))
async def reset_password(request: Request, user_id: FromPath[int]) -> Response:
    user = await users.get_user(request.user, user_id)
    data = await form_data(request)
    try:
        await users.reset_password(request.user, user_id, data.get("password"))
    except ValidationFailed as exc:
        return refusal(request, "users/detail.html", exc, **await _detail_context(request, user))
    flash.say(request, "user_password_reset", username=user["username"])
    return redirect(request, _back(user))


@post("/users/{user_id:int}/two-factor/reset", opt=access("manage_users"))
async def reset_two_factor(request: Request, user_id: FromPath[int]) -> Response:
    user = await users.get_user(request.user, user_id)
    try:
        await users.reset_two_factor(request.user, user_id)
    except Conflict as exc:
        return refusal(request, "users/detail.html", exc, **await _detail_context(request, user))
    flash.say(request, "user_two_factor_reset", username=user["username"])
    return redirect(request, f"/users/{user_id}")


ROUTES = [staff, create_staff, user_detail, update_user, reset_password, reset_two_factor]
