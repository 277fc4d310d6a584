"""Growing delays after repeated failures (logins, operation passwords), per key.

Five failures within 15 minutes lock the key for 30 s, each further failure doubles the
lock, up to one hour. Success clears the key."""

from __future__ import annotations

import datetime as dt

from agency.tables import LoginThrottle
from core import sql
from core.clock import now

WINDOW = dt.timedelta(minutes=15)
FREE_FAILURES = 5
FIRST_DELAY = dt.timedelta(seconds=30)
MAX_DELAY = dt.timedelta(hours=1)


def lock_delay(failures: int) -> dt.timedelta | None:
    """Pure: the lock after `failures` failures in the window, or None."""
    if failures < FREE_FAILURES:
        return None
    doublings = min(failures - FREE_FAILURES, 20)  # 30 s * 2**7 already passes the cap
    return min(FIRST_DELAY * 2**doublings, MAX_DELAY)


async def is_locked(keys: list[str]) -> bool:
    return (await status(keys))[0]


async def status(keys: list[str]) -> tuple[bool, set[str]]:
    """Whether any key is locked now, and which keys have failures on record."""
    at = now()
    rows = await sql.fetch(f"SELECT key, locked_until FROM login_throttle WHERE key IN ({sql.marks(keys)})", *keys)
    return any(r["locked_until"] is not None and r["locked_until"] > at for r in rows), {r["key"] for r in rows}


async def register_failure(keys: list[str]) -> None:
    """Call inside a write transaction."""
    at = now()
    for key in keys:
        row = await LoginThrottle.select().where(LoginThrottle.key == key).first()
        if row is None:
            await LoginThrottle.insert(LoginThrottle(key=key, failures=1, window_start=at))
            continue
        failures = 1 if at - row["window_start"] > WINDOW and not _locked(row, at) else row["failures"] + 1
        window_start = at if failures == 1 else row["window_start"]
        delay = lock_delay(failures)
        await LoginThrottle.update(
            {
                LoginThrottle.failures: failures,
                LoginThrottle.window_start: window_start,
                LoginThrottle.locked_until: at + delay if delay else None,
            }
        ).where(LoginThrottle.id == row["id"])


def _locked(row: dict, at: dt.datetime) -> bool:
    return row["locked_until"] is not None and row["locked_until"] > at


async def clear(keys: list[str]) -> None:
    await LoginThrottle.delete().where(LoginThrottle.key.is_in(keys))
