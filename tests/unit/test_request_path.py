"""What the request path does cheaply must still do what it did: Jinja's reading of dict rows,
and the hashing threads' priority and rest."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest

from core import passwords
from web.rendering import build_environment


def test_a_dict_row_reads_as_jinja_reads_it():
    env = build_environment()
    row = {"state": "met", "items": "a key named like a dict method"}
    template = env.from_string(
        "{{ row.state }}|{{ row.items is callable }}|{{ row['items'] }}|{{ row.missing is defined }}|{{ row.missing }}"
    )
    # A key wins over nothing, dict's own methods win over keys (Jinja's order), a missing key is
    # undefined and renders empty.
    assert template.render(row=row) == "met|True|a key named like a dict method|False|"


@pytest.mark.skipif(sys.platform != "linux", reason="SCHED_IDLE is Linux's")
def test_passwords_are_hashed_by_a_thread_at_the_lowest_priority():
    async def policy_of_the_hashing_thread() -> int:
        return await passwords._off_loop(lambda: os.sched_getscheduler(0))

    assert asyncio.run(policy_of_the_hashing_thread()) == os.SCHED_IDLE
    assert os.sched_getscheduler(0) != os.SCHED_IDLE  # the caller's own thread is left as it was


def test_a_hashing_slot_rests_after_a_login_while_its_caller_has_the_answer(monkeypatch):
    monkeypatch.setattr(passwords, "HASH_THREADS", 1)
    monkeypatch.setattr(passwords, "HASH_DUTY", 0.25)  # rests three times as long as it hashed

    async def hash_then_wait() -> None:
        slots = passwords._slots()
        began = time.perf_counter()
        hashed = await passwords._off_loop(lambda: time.sleep(0.05) or "answer", anonymous=True)  # a 50 ms login
        assert hashed == "answer"
        took = time.perf_counter() - began
        assert slots.locked()  # the caller has its answer; the next hash must wait
        await asyncio.sleep(0.1)
        assert slots.locked()  # still resting: at least 150 ms
        await asyncio.sleep(3 * took)
        assert not slots.locked()
        # A signed-in user's check (an operation password) gives the slot back at once.
        await passwords._off_loop(time.sleep, 0.05)
        assert not slots.locked()

    asyncio.run(hash_then_wait())
