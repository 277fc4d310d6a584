"""The operator's switch page: switch API keys (shown once) and destination rates."""

from __future__ import annotations

from litestar import Request, get, post
from litestar.params import FromPath
from litestar.response import Response

from accounts import switch
from core.errors import ValidationFailed
from web import flash
from web.auth import access
from web.controllers.forms import form_data, redirect, refusal
from web.rendering import render

PAGE = "switch.html"


async def _context(request: Request) -> dict:
    return {
        "keys": await switch.list_keys(request.user),
        "rates": await switch.list_rates(request.user),
        "new_key": None,
        "values": {},
        "errors": {},
    }


@get("/switch", opt=access("manage_switch"))
async def switch_page(request: Request) -> Response:
    return render(request, PAGE, **await _context(request))


@post("/switch/keys", opt=access("manage_switch"))
async def create_key(request: Request) -> Response:
    data = await form_data(request)
    try:
        _row, key = await switch.create_key(request.user, data.get("name"))
    except ValidationFailed as exc:
        context = await _context(request)
        return refusal(request, PAGE, exc, **{**context, "values": data})
    return render(request, PAGE, **{**await _context(request), "new_key": key})


@post("/switch/keys/{key_id:int}/revoke", opt=access("manage_switch"))
async def revoke_key(request: Request, key_id: FromPath[int]) -> Response:
    await switch.revoke_key(request.user, key_id)
    flash.say(request, "switch_key_revoked")
    return redirect(request, "/switch")


@post("/switch/rates", opt=access("manage_switch"))
async def set_rate(request: Request) -> Response:
    data = await form_data(request)
    try:
        rate = await switch.set_rate(request.user, data.get("prefix", ""), data)
    except ValidationFailed as exc:
        context = await _context(request)
        return refusal(request, PAGE, exc, **{**context, "values": data})
    flash.say(request, "switch_rate_saved", prefix=rate["prefix"])
    return redirect(request, "/switch")


@post("/switch/rates/{prefix:str}/delete", opt=access("manage_switch"))
async def delete_rate(request: Request, prefix: FromPath[str]) -> Response:
    await switch.delete_rate(request.user, prefix)
    flash.say(request, "switch_rate_deleted", prefix=prefix)
    return redirect(request, "/switch")


ROUTES = [switch_page, create_key, revoke_key, set_rate, delete_rate]
