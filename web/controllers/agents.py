"""Agent tree pages: the tree with search and paging, an agent's detail, create, edit, status."""

from __future__ import annotations

import datetime as dt
import uuid

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Response

from agency import agents, users
from core.errors import N_, ValidationFailed
from money import onboarding
from web.auth import access
from web.controllers.forms import form_data, parse_day, redirect, refusal, to_int
from web.controllers.paging import PER_PAGE, page_count
from web.rendering import render
from web.settings import Settings


@get("/agents", opt=access("view_agents"), name="agents")
async def agent_tree(request: Request, q: FromQuery[str] = "", page: FromQuery[int] = 1) -> Response:
    rows, total = await agents.list_agents(request.user, search=q, page=page, per_page=PER_PAGE)
    pages = page_count(total)
    return render(
        request,
        "agents/tree.html",
        partial="agents/_rows.html",
        rows=rows,
        total=total,
        q=q[:100],
        page=max(1, min(page, pages)),
        pages=pages,
    )


@get("/agents/new", opt=access("create_agent"))
async def new_agent(request: Request, parent: FromQuery[int | None] = None) -> Response:
    parent_agent = await agents.get_agent(request.user, parent) if parent else None
    return render(request, "agents/form.html", agent=None, parent=parent_agent, values={}, errors={})


@post("/agents", opt=access("create_agent"))
async def create_agent(request: Request, settings: NamedDependency[Settings]) -> Response:
    data = await form_data(request)
    parent_id = to_int(data.get("parent"))
    if data.get("parent") and parent_id is None:
        raise ValidationFailed({"parent": N_("Not found, or not yours to see.")})
    if parent_id is None and not request.user.is_operator:
        parent_id = request.user.agent_id  # an agent's users create under their own agent by default
    parent = await agents.get_agent(request.user, parent_id) if parent_id else None
    try:
        agent = await onboarding.create_agent(request.user, parent_id, data, max_depth=settings.max_agent_depth)
    except ValidationFailed as exc:
        return refusal(request, "agents/form.html", exc, agent=None, parent=parent, values=data)
    return redirect(request, f"/agents/{agent['id']}")


@get("/agents/{agent_id:int}", opt=access("view_agents"))
async def agent_detail(request: Request, agent_id: FromPath[int], settings: NamedDependency[Settings]) -> Response:
    agent = await agents.get_agent(request.user, agent_id)
    children, child_count = await agents.list_agents(request.user, under=agent_id, per_page=20)
    return render(
        request,
        "agents/detail.html",
        agent=agent,
        ancestors=await agents.ancestors(request.user, agent),
        children=children,
        child_count=child_count,
        can_have_children=agent["level"] < settings.max_agent_depth,
        earliest_termination=agents.earliest_termination(dt.datetime.now(dt.timezone.utc)),
        idempotency_key=uuid.uuid4().hex,
    )


@get("/agents/{agent_id:int}/edit", opt=access("edit_agent"))
async def edit_agent(request: Request, agent_id: FromPath[int]) -> Response:
    agent = await agents.get_agent(request.user, agent_id)
    return render(request, "agents/form.html", agent=agent, parent=None, values=agent, errors={})


@post("/agents/{agent_id:int}/edit", opt=access("edit_agent"))
async def update_agent(request: Request, agent_id: FromPath[int]) -> Response:
    agent = await agents.get_agent(request.user, agent_id)
    data = await form_data(request)
    try:
        await agents.update_agent(request.user, agent_id, data)
    except ValidationFailed as exc:
        return refusal(request, "agents/form.html", exc, agent=agent, parent=None, values=data)
    return redirect(request, f"/agents/{agent_id}")


@post("/agents/{agent_id:int}/suspend", opt=access("change_agent_status"))
async def suspend_agent(request: Request, agent_id: FromPath[int]) -> Response:
    await agents.suspend_agent(request.user, agent_id)
    return redirect(request, f"/agents/{agent_id}")


@post("/agents/{agent_id:int}/resume", opt=access("change_agent_status"))
async def resume_agent(request: Request, agent_id: FromPath[int]) -> Response:
    await agents.resume_agent(request.user, agent_id)
    return redirect(request, f"/agents/{agent_id}")


@post("/agents/{agent_id:int}/notice", opt=access("change_agent_status"))
async def give_notice(request: Request, agent_id: FromPath[int]) -> Response:
    typed = str((await form_data(request)).get("effective") or "")
    effective = parse_day(typed)  # midnight UTC; none typed: the earliest date allowed
    if typed and effective is None:
        raise ValidationFailed({"effective": N_("The format is not valid.")})
    await agents.give_notice(request.user, agent_id, effective)
    return redirect(request, f"/agents/{agent_id}")


@get("/agents/{agent_id:int}/users", opt=access("view_agents"))
async def agent_users(request: Request, agent_id: FromPath[int]) -> Response:
    agent = await agents.get_agent(request.user, agent_id)
    rows = await users.list_users(request.user, agent_id=agent_id)
    return render(request, "users/list.html", agent=agent, users=rows, values={}, errors={})


@post("/agents/{agent_id:int}/users", opt=access("manage_users"))
async def create_agent_user(request: Request, agent_id: FromPath[int]) -> Response:
    agent = await agents.get_agent(request.user, agent_id)
    data = await form_data(request)
    try:
        await users.create_user(request.user, agent_id, data)
    except ValidationFailed as exc:
        rows = await users.list_users(request.user, agent_id=agent_id)
        return refusal(request, "users/list.html", exc, agent=agent, users=rows, values=data)
    return redirect(request, f"/agents/{agent_id}/users")


ROUTES = [
    agent_tree,
    new_agent,
    create_agent,
    agent_detail,
    edit_agent,
    update_agent,
    suspend_agent,
    resume_agent,
    give_notice,
    agent_users,
    create_agent_user,
]
