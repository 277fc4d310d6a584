"""Password hashing with argon2id at OWASP's parameters (m=19 MiB, t=2, p=1).

A hash takes about 20 ms of CPU. The request paths hash and verify off the event loop
(`verify_off_loop`, `hash_off_loop`), in a small pool of threads (argon2-cffi releases the GIL while
it hashes): at most HASH_THREADS hashes run at once per process, the others wait their turn on a
semaphore without blocking anything else, and the hashing threads run at the lowest priority
(Linux SCHED_IDLE per thread), so that a flood of logins slows logins, not the other requests of
the process (a call's authorize) nor the database beside it.

A login's hash (`anonymous=True`: anyone may ask for it, without a session) also rests its slot
afterwards, before the next hash, for the hash's time times (1 - HASH_DUTY) / HASH_DUTY (three
times as long at the default), so that logins keep a slot busy at most HASH_DUTY of the time.
The checks of signed-in users (operation passwords, a current password) do not rest it, so a
script's operations are not slowed. Lowest priority alone did not protect the calls: measured on
two cores, a busy SCHED_IDLE thread (even a bare loop) cut a closed loop of calls by 30% and
doubled authorize's p99, since the processes of a call, waking in turn, then preempt a busy core
instead of finding a free one. So a login flood gets a bounded share of the CPU (HASH_THREADS x
HASH_DUTY of a core per process: about 12 logins a second per process at the default), and waits
in the queue beyond it. The synchronous functions stay for scripts and the CLI, and are what the
pool runs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.loop_local import per_loop

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verifying against this keeps the time of a login for an unknown user like a real one.
_DUMMY_HASH = _hasher.hash("not a real password")

# One thread per process by default: on two cores, the other stays free for the event loop.
HASH_THREADS = max(1, min(4, int(os.environ.get("VOIPAGENCY_HASH_THREADS", "1") or 1)))
# The share of the time a hashing slot may hash logins (0.05 to 1; 1: no rest).
HASH_DUTY = max(0.05, min(1.0, float(os.environ.get("VOIPAGENCY_HASH_DUTY", "0.25") or 0.25)))
HASH_NICENESS = 10  # where SCHED_IDLE is refused: added to the hashing threads' niceness
_pool: ThreadPoolExecutor | None = None
_slots = per_loop(lambda: asyncio.Semaphore(HASH_THREADS))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def _lower_priority() -> None:
    """In each hashing thread: the lowest priority for this thread only (a Linux thread has its own
    scheduling policy). SCHED_IDLE runs it only on CPU time nothing else wants, and the kernel
    counts a core running only such threads as free when it places a waking thread (the event
    loop, a database backend); where that is refused, a higher niceness; nothing where neither is
    possible."""
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # 0: the calling thread
        return
    with contextlib.suppress(AttributeError, OSError):
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + HASH_NICENESS)


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:  # made on first use, so a forked worker process makes its own threads
        _pool = ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="argon2", initializer=_lower_priority)
    return _pool


async def _off_loop(function: Any, *args: Any, anonymous: bool = False) -> Any:
    """`function` in a hashing slot. After an anonymous one the slot is given back only after its
    rest (HASH_DUTY), while this caller already has its answer."""
    loop, slots = asyncio.get_running_loop(), _slots()
    await slots.acquire()
    began = time.perf_counter()
    try:
        return await loop.run_in_executor(_executor(), function, *args)
    finally:
        if anonymous:
            loop.call_later((time.perf_counter() - began) * (1 - HASH_DUTY) / HASH_DUTY, slots.release)
        else:
            slots.release()


async def verify_off_loop(stored_hash: str | None, password: str, *, anonymous: bool = False) -> bool:
    """verify_password in the hashing pool (None: against the dummy hash, for unknown accounts);
    `anonymous`: a login's check, which rests the slot afterwards."""
    # Looked up at call time, so that a test can count the checks by replacing verify_password.
    return await _off_loop(lambda: verify_password(stored_hash, password), anonymous=anonymous)


async def hash_off_loop(password: str, *, anonymous: bool = False) -> str:
    return await _off_loop(hash_password, password, anonymous=anonymous)
