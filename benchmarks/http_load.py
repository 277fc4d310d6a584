"""A lean HTTP/1.1 keep-alive client for load generation.

The benchmarks run the load generator on the same two cores as the server. httpx spends about
0.5-0.8 ms of CPU per request, which at several hundred requests a second takes a large share of
the machine away from the server being measured; this client speaks just enough HTTP/1.1 for JSON
requests on one kept-alive connection (Content-Length bodies, no redirects) at a few tens of
microseconds per request. Logins and set-up still use httpx.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import time
from urllib.parse import urlsplit


class LeanClient:
    """One connection; requests on it are sent one at a time (as a browser tab or phone would)."""

    def __init__(self, url: str, headers: dict[str, str] | None = None, timeout: float = 60.0) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.timeout = timeout
        fixed = {"Host": f"{self.host}:{self.port}", "Connection": "keep-alive", **(headers or {})}
        self._fixed = "".join(f"{name}: {value}\r\n" for name, value in fixed.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    @classmethod
    def like(cls, client, headers: dict[str, str] | None = None) -> LeanClient:
        """A lean client with an httpx client's base URL, cookies and extra headers."""
        cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
        extra = {name: value for name, value in client.headers.items() if name.lower().startswith("x-")}
        return cls(str(client.base_url), {"Cookie": cookie, **extra, **(headers or {})}, client.timeout.read or 60.0)

    async def request(self, method: str, path: str, json: object = None) -> tuple[int, bytes]:
        body = b"" if json is None else jsonlib.dumps(json).encode()
        head = f"{method} {path} HTTP/1.1\r\n{self._fixed}"
        if json is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        for attempt in (1, 2):  # a kept-alive connection the server closed is opened again, once
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            try:
                self._writer.write(head.encode() + b"\r\n" + body)
                return await asyncio.wait_for(self._response(), self.timeout)
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.aclose()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _response(self) -> tuple[int, bytes]:
        assert self._reader is not None
        head = await self._reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" not in headers:
            raise ValueError(f"response without Content-Length: {lines[0]}")
        body = await self._reader.readexactly(int(headers["content-length"]))
        if headers.get("connection", "").lower() == "close":
            await self.aclose()
        return status, body

    async def connect(self) -> None:
        """Open the connection now (one request to /healthz)."""
        status, _body = await self.request("GET", "/healthz")
        if status != 200:
            raise ConnectionError(f"/healthz answered {status}")

    async def aclose(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


async def timed_call(client: LeanClient, method: str, path: str, **kwargs) -> tuple[int | str, float, str]:
    """(status or exception name, seconds, start of the body when not 200)."""
    start = time.perf_counter()
    try:
        status, body = await client.request(method, path, **kwargs)
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
        return type(exc).__name__, time.perf_counter() - start, str(exc)[:200]
    elapsed = time.perf_counter() - start
    return status, elapsed, "" if status == 200 else body[:200].decode(errors="replace")


async def connect_one_by_one(clients: list[LeanClient]) -> None:
    """Open the clients' connections one after another, as clients arriving over time would, not
    all in the same millisecond: then the kernel hands them to whichever server process is free,
    and the processes get shares near even, rather than one taking a whole burst."""
    for client in clients:
        await client.connect()
