"""Running the server: one process, or several on one port.

With several, each worker listens on a socket of its own, bound with SO_REUSEPORT, and the kernel
spreads new connections over them by a hash of the addresses. uvicorn's own supervisor shares one
listening socket, and then whichever worker wakes first takes a whole burst of connections: with
kept-alive connections (a proxy's, a softswitch's), one worker stayed busy while the other idled.
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import time
from typing import Any

import uvicorn

APP = "web.app:create_app"
QUICK_EXIT_SECONDS = 5  # a worker that dies this soon after starting is not restarted


def serve(*, host: str, port: int, workers: int, **options: Any) -> int:
    """Serve until SIGTERM or SIGINT; returns the exit status."""
    if workers <= 1:
        uvicorn.run(APP, factory=True, host=host, port=port, **options)
        return 0
    context = multiprocessing.get_context("spawn")
    stopping = False

    def start() -> tuple[multiprocessing.process.BaseProcess, float]:
        process = context.Process(target=_worker, args=(host, port, options), daemon=False)
        process.start()
        return process, time.monotonic()

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for process, _started in running:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight, then exits

    running = [start() for _ in range(workers)]
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    while running:
        for entry in list(running):
            process, started = entry
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
                running.append(start())
    return status


def _worker(host: str, port: int, options: dict[str, Any]) -> None:
    family, kind, proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listener.bind(address)
    listener.listen(2048)
    config = uvicorn.Config(APP, factory=True, host=host, port=port, **options)
    uvicorn.Server(config).run(sockets=[listener])
