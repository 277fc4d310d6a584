"""Running the server: one process, or several, on one port or two.

With several, each worker listens on a socket of its own, bound with SO_REUSEPORT, and the kernel
spreads new connections over them by a hash of the addresses. uvicorn's own supervisor shares one
listening socket, and then whichever worker wakes first takes a whole burst of connections: with
kept-alive connections (a proxy's, a softswitch's), one worker stayed busy while the other idled.

With a switch port, the switch API (authorize, call records) is also served by processes of its
own on that port, which serve nothing else: a flood of the web login or a heavy report then waits
on the web workers' event loops, never in front of a call's authorization.
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import time
from dataclasses import dataclass
from typing import Any

import uvicorn

from web.metrics import share_between_processes

APP = "web.app:create_app"
SWITCH_APP = "web.app:create_switch_app"
QUICK_EXIT_SECONDS = 5  # a worker that dies this soon after starting is not restarted


@dataclass(frozen=True)
class Listener:
    """`workers` processes serving the app made by `app` (a factory's import path) on `port`."""

    app: str
    port: int
    workers: int


def serve(*, host: str, port: int, workers: int, switch_port: int | None = None, **options: Any) -> int:
    """Serve until SIGTERM or SIGINT; returns the exit status."""
    listeners = [Listener(APP, port, max(1, workers))]
    if switch_port:
        listeners.append(Listener(SWITCH_APP, switch_port, max(1, workers)))
    if len(listeners) == 1 and workers <= 1:
        uvicorn.run(APP, factory=True, host=host, port=port, **options)
        return 0
    share_between_processes()  # so that any worker's /metrics sums the samples of all (web/metrics.py)
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start(listener: Listener) -> tuple[multiprocessing.process.BaseProcess, Listener, float]:
        process = context.Process(target=_worker, args=(host, listener, options), daemon=False)
        process.start()
        return process, listener, time.monotonic()

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for process, _listener, _started in running:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight, then exits

    running = [start(listener) for listener in listeners for _ in range(listener.workers)]
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    while running:
        for entry in list(running):
            process, listener, started = entry
            process.join(timeout=0.2)
            if process.exitcode is None:
                continue
            running.remove(entry)
            if stopping:
                continue
            if time.monotonic() - started < QUICK_EXIT_SECONDS:  # it cannot start: stop them all
                status = process.exitcode or 1
                stop(signal.SIGTERM, None)
            else:  # it died while serving: put another in its place
                running.append(start(listener))
    return status


def _worker(host: str, listener: Listener, options: dict[str, Any]) -> None:
    family, kind, proto, _name, address = socket.getaddrinfo(host, listener.port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(2048)
    config = uvicorn.Config(listener.app, factory=True, host=host, port=listener.port, **options)
    uvicorn.Server(config).run(sockets=[sock])
