"""Shared test helpers: demo tree, actors, logging in over HTTP."""

from __future__ import annotations

import httpx

from agency.roles import Actor
from agency.sessions import log_in
from web.auth import CSRF_COOKIE
from web.demo import DEMO_PASSWORD, load_demo


async def demo_actors() -> dict[str, Actor]:
    """Load the demo and return an Actor for each demo login, by user name."""
    logins = await load_demo()
    actors = {}
    for username, _role, _agent in logins:
        _token, actor = await log_in(username, DEMO_PASSWORD, address=f"10.0.0.{len(actors) + 1}")
        actors[username] = actor
    return actors


async def csrf(client: httpx.AsyncClient) -> str:
    if CSRF_COOKIE not in client.cookies:
        await client.get("/login")
    return client.cookies[CSRF_COOKIE]


async def web_login(client: httpx.AsyncClient, username: str, password: str = DEMO_PASSWORD) -> httpx.Response:
    token = await csrf(client)
    return await client.post("/login", data={"username": username, "password": password, "csrf_token": token})


async def post_form(client: httpx.AsyncClient, url: str, data: dict | None = None, **kwargs) -> httpx.Response:
    return await client.post(url, data={**(data or {}), "csrf_token": await csrf(client)}, **kwargs)


async def api(client: httpx.AsyncClient, method: str, url: str, **kwargs) -> httpx.Response:
    """A JSON API call with the session cookie and the CSRF header."""
    headers = {"X-CSRF-Token": await csrf(client), **kwargs.pop("headers", {})}
    return await client.request(method, url, headers=headers, **kwargs)
