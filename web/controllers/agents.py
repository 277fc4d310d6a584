"""Agent tree pages: the tree with search and paging, an agent's detail, create, edit, status,
and the operator's bulk suspension of an agent's subscribers."""

from __future__ import annotations

import datetime as dt
import uuid

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Response

from accounts import bulk, controls
from agency import agents, users
from core.errors import N_, ValidationFailed
from money import onboarding
from web import flash
from web.auth import access
from web.controllers.forms import form_action, form_data, parse_day, redirect, refusal, to_int
from web.controllers.paging import PER_PAGE, page_count
from web.formatting import datetime_local
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
    flash.say(request, "agent_created", name=agent["brand_name"])
    return redirect(request, f"/agents/{agent['id']}")


async def _detail_context(request: Request, agent_id: int, settings: Settings) -> dict:
    actor = request.user
    agent = await agents.get_agent(actor, agent_id)
    children, child_count = await agents.list_agents(actor, under=agent_id, per_page=20)
    return {
        "agent": agent,
        "ancestors": await agents.ancestors(actor, agent),
        "bounding_windows": await agents.bounding_windows(agent),
        "children": children,
        "child_count": child_count,
        "can_have_children": agent["level"] < settings.max_agent_depth,
        "earliest_termination": agents.earliest_termination(dt.datetime.now(dt.timezone.utc)),
        "own_agent": not actor.is_operator and agent["id"] == actor.agent_id,
        "bulk_suspensions": (
            await bulk.suspensions_in_force(actor, agent_id) if actor.can("bulk_suspend_subscribers") else []
        ),
        "idempotency_key": uuid.uuid4().hex,
        "errors": {},
        "error": None,
    }


@get("/agents/{agent_id:int}", opt=access("view_agents"))
async def agent_detail(request: Request, agent_id: FromPath[int], settings: NamedDependency[Settings]) -> Response:
    return render(request, "agents/detail.html", **await _detail_context(request, agent_id, settings))


async def _form_context(request: Request, agent: dict) -> dict:
    """The edit form: an agent's own users are shown its calling hours and time zone, not offered
    them (R-22: its parent or the operator sets them)."""
    own = not request.user.is_operator and agent["id"] == request.user.agent_id
    return {
        "agent": agent,
        "parent": None,
        "hours_editable": not own,
        "bounding_windows": await agents.bounding_windows(agent),
    }


@get("/agents/{agent_id:int}/edit", opt=access("edit_agent"))
async def edit_agent(request: Request, agent_id: FromPath[int]) -> Response:
    agent = await agents.get_agent(request.user, agent_id)
    return render(request, "agents/form.html", **await _form_context(request, agent), values=agent, errors={})


@post("/agents/{agent_id:int}/edit", opt=access("edit_agent"))
async def update_agent(request: Request, agent_id: FromPath[int]) -> Response:
    agent = await agents.get_agent(request.user, agent_id)
    return await form_action(
        request,
        lambda data: agents.update_agent(request.user, agent_id, data),
        done=lambda _: _said(request, f"/agents/{agent_id}", "agent_saved"),
        page="agents/form.html",
        context=lambda data: _form_values(request, agent, data),
    )


async def _form_values(request: Request, agent: dict, data: dict) -> dict:
    return {**await _form_context(request, agent), "values": {**agent, **data}}


@post("/agents/{agent_id:int}/suspend", opt=access("change_agent_status"))
async def suspend_agent(request: Request, agent_id: FromPath[int]) -> Response:
    await agents.suspend_agent(request.user, agent_id)
    return _said(request, f"/agents/{agent_id}", "agent_suspended")


@post("/agents/{agent_id:int}/resume", opt=access("change_agent_status"))
async def resume_agent(request: Request, agent_id: FromPath[int]) -> Response:
    await agents.resume_agent(request.user, agent_id)
    return _said(request, f"/agents/{agent_id}", "agent_resumed")


async def _notice(request: Request, agent_id: int, data: dict) -> dict:
    typed = str(data.get("effective") or "")
    effective = parse_day(typed)  # midnight UTC; none typed: the earliest date allowed
    if typed and effective is None:
        raise ValidationFailed({"effective": N_("The format is not valid.")})
    return await agents.give_notice(
        request.user, agent_id, effective, operation_password=data.get("operation_password")
    )


async def _kept_notice(request: Request, agent_id: int, settings: Settings, data: dict) -> dict:
    """The agent's page after a refused notice, keeping the day typed."""
    return {**await _detail_context(request, agent_id, settings), "values": {"effective": data.get("effective", "")}}


@post("/agents/{agent_id:int}/notice", opt=access("change_agent_status"))
async def give_notice(request: Request, agent_id: FromPath[int], settings: NamedDependency[Settings]) -> Response:
    """Notice from the parent or the operator, or the agent's own, with its owner's operation password."""
    await agents.get_agent(request.user, agent_id)
    return await form_action(
        request,
        lambda data: _notice(request, agent_id, data),
        done=lambda result: _said(request, f"/agents/{agent_id}", "agent_notice_given", day=_day(result)),
        page="agents/detail.html",
        context=lambda data: _kept_notice(request, agent_id, settings, data),
    )


async def _bulk_step(request: Request, agent_id: int, step: str, settings: Settings) -> Response:
    """Suspend (or resume) all of an agent subtree's subscribers: first a confirmation with the
    count and the reason, which changes nothing; then, confirmed, the step itself."""
    agent = await agents.get_agent(request.user, agent_id)

    async def action(data: dict) -> dict:
        reason = bulk.checked_reason(data.get("reason"))
        if data.get("confirm") != "1":
            counts = await bulk.preview(request.user, agent_id)
            return {"confirm": True, "reason": reason, "count": counts["to_" + step]}
        run = bulk.suspend_subscribers if step == "suspend" else bulk.resume_subscribers
        return await run(request.user, agent_id, reason)

    def done(result: dict) -> Response:
        if result.get("confirm"):
            return render(request, "agents/bulk_confirm.html", agent=agent, step=step, **result)
        said = "subscribers_suspended" if step == "suspend" else "subscribers_resumed"
        return _said(request, f"/agents/{agent_id}", said, count=result["count"])

    return await form_action(
        request,
        action,
        done=done,
        page="agents/detail.html",
        context=lambda _: _detail_context(request, agent_id, settings),
    )


@post("/agents/{agent_id:int}/subscribers/suspend", opt=access("bulk_suspend_subscribers"))
async def suspend_subscribers(
    request: Request, agent_id: FromPath[int], settings: NamedDependency[Settings]
) -> Response:
    return await _bulk_step(request, agent_id, "suspend", settings)


@post("/agents/{agent_id:int}/subscribers/resume", opt=access("bulk_suspend_subscribers"))
async def resume_subscribers(
    request: Request, agent_id: FromPath[int], settings: NamedDependency[Settings]
) -> Response:
    return await _bulk_step(request, agent_id, "resume", settings)


@post("/agents/{agent_id:int}/call-cap", opt=access("manage_call_controls"))
async def set_call_cap(request: Request, agent_id: FromPath[int], settings: NamedDependency[Settings]) -> Response:
    """How many calls may run at once in the agent's whole subtree (R-22a), set by its parent's
    owner or the operator; empty lifts the cap."""
    await agents.get_agent(request.user, agent_id)
    return await form_action(
        request,
        lambda data: controls.set_agent_cap(request.user, agent_id, data.get("call_cap")),
        done=lambda _: _said(request, f"/agents/{agent_id}", "call_cap_saved"),
        page="agents/detail.html",
        context=lambda data: _kept_cap(request, agent_id, settings, data),
    )


async def _kept_cap(request: Request, agent_id: int, settings: Settings, data: dict) -> dict:
    """The agent's page after a refused cap, keeping the figure typed."""
    return {**await _detail_context(request, agent_id, settings), "values": {"call_cap": data.get("call_cap", "")}}


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
    flash.say(request, "user_created", username=data.get("username", "").strip())
    return redirect(request, f"/agents/{agent_id}/users")


def _said(request: Request, url: str, message: str, **params: object) -> Response:
    """Back to `url`, saying what was done (web/flash.py)."""
    flash.say(request, message, **params)
    return redirect(request, url)


def _day(agent: dict) -> str:
    """The day an agent's notice takes effect, as the page shows days."""
    effective = agent.get("terminates_at")
    return datetime_local(effective)[:10] if isinstance(effective, dt.datetime) else "—"


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
    suspend_subscribers,
    resume_subscribers,
    set_call_cap,
    agent_users,
    create_agent_user,
]
