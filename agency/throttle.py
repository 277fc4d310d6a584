"""Growing delays after repeated failures (logins, PINs, operation passwords), per key.

Five failures within 15 minutes lock a key for 30 s, each further failure doubles the lock, up to
one hour; a key may allow more free failures (`Limit.free`).

A secret's keys are claimed *before* the secret is checked (`claim`): one statement per key
(INSERT … ON CONFLICT DO UPDATE … WHERE not locked … RETURNING) counts the attempt as a failure
and, when that reaches the limit, sets the lock in the same statement. So of any burst, however
concurrent, at most `free` attempts get past such a key until its lock expires, and the others
are refused without their secret being checked. When the secret turns out right, or the refusal
was no guess, the attempt is given back (`Attempt.succeeded`, `Attempt.give_back`).

A secret is locked per client address first and only slowed globally: a login's keys are the
account from this address (FREE_FAILURES) and the account from anywhere (SECRET_FREE_FAILURES),
claimed in that order, the first refusal stopping: guesses from one address lock that address out
of the account, not its holder elsewhere, while guesses spread over many addresses still stop at
the global limit.

The guesser's own keys (its address, a recharging subscriber) limit how many secrets it may try
(`Limit(strict=False)`): they refuse while locked, and count failures once they are known (an
atomic upsert as well). They are not claimed ahead, so that many right attempts at once from one
address (a shop, a carrier's NAT) or by one subscriber are never refused for being in flight; a
burst from there is still bounded per secret by the strict keys."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import random
import re
import time
from dataclasses import dataclass

from core import sql
from core.clock import now
from core.db import transaction

WINDOW = dt.timedelta(minutes=15)
FREE_FAILURES = 5
SECRET_FREE_FAILURES = 20  # an account's or a card's, over all addresses
FIRST_DELAY = dt.timedelta(seconds=30)
MAX_DELAY = dt.timedelta(hours=1)
MAX_DOUBLINGS = 7  # 30 s * 2**7 already passes the cap
KEY_LENGTH = 120  # LoginThrottle.key
SETTLING = dt.timedelta(seconds=3)  # a claimed attempt is checked and settled within this
MAX_WAIT = 6.0  # seconds an attempt may wait for settling locks
FIRST_PAUSE, MAX_PAUSE = 0.01, 0.2  # seconds between looks at a settling lock
LOCKED_ANSWER_DELAY = 1.0  # seconds before a locked key's refusal is answered


def lock_delay(failures: int, free: int = FREE_FAILURES) -> dt.timedelta | None:
    """Pure: the lock after `failures` failures in the window, or None."""
    if failures < free:
        return None
    return min(FIRST_DELAY * 2 ** min(failures - free, MAX_DOUBLINGS), MAX_DELAY)


@dataclass(frozen=True)
class Limit:
    """A key and its free failures. Strict keys (a secret's) are claimed before the check; the
    others (a guesser's) only refuse while locked and count failures afterwards."""

    key: str
    free: int = FREE_FAILURES
    strict: bool = True


def fit(key: str) -> str:
    """A key within the column's length (a long address is shortened with its digest)."""
    if len(key) <= KEY_LENGTH:
        return key
    return key[: KEY_LENGTH - 33] + "#" + hashlib.sha256(key.encode()).hexdigest()[:32]


def per_address(secret: str, address: str, address_key: str) -> list[Limit]:
    """A login's keys: the account from this address, the account from anywhere (a higher
    limit), and this address whatever account it tries."""
    return [
        Limit(fit(f"{secret}@{address}")),
        Limit(fit(secret), SECRET_FREE_FAILURES),
        Limit(fit(f"{address_key}:{address}"), strict=False),
    ]


# --- the statements -------------------------------------------------------------------------------
# Parameters are numbered, some used several times: `$n` on PostgreSQL, `?n` on SQLite.
# $1 key, $2 now, $3 start of the window, $4 free failures, $5.. the lock for 0.. doublings.

_UNLOCKED = "(login_throttle.locked_until IS NULL OR login_throttle.locked_until <= $2)"
_FRESH = f"login_throttle.window_start < $3 AND {_UNLOCKED}"
_NEW = f"(CASE WHEN {_FRESH} THEN 1 ELSE login_throttle.failures + 1 END)"
_LOCKS = " ".join(f"WHEN {i} THEN ${5 + i}{{ts}}" for i in range(MAX_DOUBLINGS))
_COUNT = (
    "INSERT INTO login_throttle (key, failures, window_start, locked_until) "
    "VALUES ($1, 1, $2, CASE WHEN 1 >= $4 THEN $5{ts} ELSE NULL END) "
    "ON CONFLICT (key) DO UPDATE SET "
    f"failures = {_NEW}, "
    f"window_start = CASE WHEN {_FRESH} THEN $2 ELSE login_throttle.window_start END, "
    f"locked_until = CASE WHEN {_NEW} < $4 THEN NULL "
    f"ELSE CASE {_NEW} - $4 {_LOCKS} ELSE ${5 + MAX_DOUBLINGS}{{ts}} END END "
)
# Count a failure (a guesser's key, once the failure is known).
_RECORD = _COUNT + "RETURNING failures"
# Give back $2 failures; the lock goes when the count falls below the limit $3, or when this
# attempt's own claim ($4 failures) set it: nobody could claim after that.
_GIVE_BACK = (
    "UPDATE login_throttle SET failures = CASE WHEN failures > $2 THEN failures - $2 ELSE 0 END, "
    "locked_until = CASE WHEN failures - $2 < $3 OR CAST($4 AS INTEGER) >= $3 THEN NULL ELSE locked_until END "
    "WHERE key = $1"
)
_compiled: dict[tuple[str, str], str] = {}


def _claim_text(strict: int, watched: int) -> str:
    """Count an attempt ahead on `strict` keys at once, unless the key is locked (then its row does
    not come back) or one of `watched` keys is (then none does). $1 now, $2 start of the window,
    $3.. the lock for 0.. doublings, then each strict key and its free failures, then the watched keys."""
    first = 4 + MAX_DOUBLINGS
    pairs = [(f"${first + 2 * i}", f"${first + 2 * i + 1}") for i in range(strict)]
    free = "CAST(CASE login_throttle.key " + " ".join(f"WHEN {k} THEN {f}" for k, f in pairs) + " END AS INTEGER)"
    unlocked = "(login_throttle.locked_until IS NULL OR login_throttle.locked_until <= $1)"
    fresh = f"login_throttle.window_start < $2 AND {unlocked}"
    new = f"(CASE WHEN {fresh} THEN 1 ELSE login_throttle.failures + 1 END)"
    locks = " ".join(f"WHEN {i} THEN ${3 + i}{{ts}}" for i in range(MAX_DOUBLINGS))
    marks = ", ".join(f"${first + 2 * strict + i}" for i in range(watched))
    guard = (
        f"NOT EXISTS (SELECT 1 FROM login_throttle w WHERE w.key IN ({marks}) AND w.locked_until > $1{{ts}})"
        if watched
        else "1 = 1"
    )
    return (
        "INSERT INTO login_throttle (key, failures, window_start, locked_until) "
        "SELECT v.column1, 1, $1{ts}, CASE WHEN 1 >= v.column2 THEN $3{ts} ELSE NULL END "
        "FROM (VALUES " + ", ".join(f"({k}, CAST({f} AS INTEGER))" for k, f in pairs) + f") AS v WHERE {guard} "
        "ON CONFLICT (key) DO UPDATE SET "
        f"failures = {new}, "
        f"window_start = CASE WHEN {fresh} THEN $1{{ts}} ELSE login_throttle.window_start END, "
        f"locked_until = CASE WHEN {new} < {free} THEN NULL "
        f"ELSE CASE {new} - {free} {locks} ELSE ${3 + MAX_DOUBLINGS}{{ts}} END END "
        f"WHERE {unlocked} RETURNING key, failures"
    )


def _statement(text: str) -> str:
    kind = sql.engine_type()
    if (text, kind) not in _compiled:
        if kind == "postgres":  # a CASE of bare parameters would be text
            _compiled[(text, kind)] = text.replace("{ts}", "::timestamptz")
        else:
            _compiled[(text, kind)] = re.sub(r"\$(\d+)", r"?\1", text.replace("{ts}", ""))
    return _compiled[(text, kind)]


async def _count(statement: str, limit: Limit, at: dt.datetime) -> int | None:
    locks = [at + lock_delay(limit.free + i, limit.free) for i in range(MAX_DOUBLINGS + 1)]
    row = await sql.fetch_one(_statement(statement), limit.key, at, at - WINDOW, limit.free, *locks)
    return None if row is None else row["failures"]


async def _give_back(limit: Limit, amount: int, claimed: int) -> None:
    await sql.execute(_statement(_GIVE_BACK), limit.key, amount, limit.free, claimed)


def _writing():
    """SQLite: one write transaction, queued like every writer (or the caller's). PostgreSQL:
    each statement on its own (or in the caller's transaction), holding no row lock for long."""
    if sql.engine_type() == "sqlite":
        return transaction()
    return _Nothing()


class _Nothing:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc) -> None:
        return None


class Attempt:
    """An attempt that got past every key: the strict ones count it as a failure until it is given back."""

    def __init__(self, claimed: list[tuple[Limit, int]], watched: list[Limit]) -> None:
        self.claimed = claimed  # strict keys, with the count this attempt's claim made
        self.watched = watched  # the guesser's keys

    @property
    def keys(self) -> list[str]:
        return [limit.key for limit, _failures in self.claimed]

    async def failed(self) -> None:
        """The secret was wrong: the strict keys keep their count; the guesser's keys count it now.
        Call inside the transaction that records the failure."""
        at = now()
        async with _writing():
            for limit in self.watched:
                await _count(_RECORD, limit, at)

    async def give_back(self) -> None:
        """No guess after all (a right secret refused for another reason, or an error)."""
        async with _writing():
            for limit, failures in self.claimed:
                await _give_back(limit, 1, failures)

    async def succeeded(self, clear: list[str], *, forgive_cleared: bool = False) -> None:
        """The secret was right: the keys `clear` are removed and the other strict keys get this
        attempt back. With `forgive_cleared` (one key to clear: the account from this address),
        every key gets back what that one counted, the holder's own typos from there."""
        if isinstance(clear, str):  # a key is a string too: `in` would match its parts
            raise TypeError("clear takes a list of keys")
        async with _writing():
            # Key by key in the order the claim took their row locks (PostgreSQL), so that this
            # never waits for a concurrent claim that waits for it: a deadlock.
            typos = 1
            for limit, failures in self.claimed:
                if limit.key in clear:
                    removed = await sql.fetch("DELETE FROM login_throttle WHERE key = {} RETURNING failures", limit.key)
                    if forgive_cleared and removed:  # forgiving: one key to clear, claimed first
                        typos = max(1, removed[0]["failures"])
                else:
                    await _give_back(limit, typos, failures)
            claimed = {limit.key for limit, _failures in self.claimed}
            for key in clear:
                if key not in claimed:
                    await sql.execute("DELETE FROM login_throttle WHERE key = {}", key)
            if typos > 1:  # the guesser's keys never counted this attempt itself
                for limit in self.watched:
                    await _give_back(limit, typos - 1, 0)


async def claim(limits: list[Limit]) -> Attempt | None:
    """Before a secret is checked: None, after LOCKED_ANSWER_DELAY, when any key is locked (then
    nothing is counted, and the secret must not be checked); else the attempt, counted on every
    strict key.

    A strict key's lock may still be settling: the claims that reached its limit may be right
    secrets being checked, which give their count back when they succeed (many right attempts at
    once, an API client's concurrent operations). So an attempt that meets a lock set less than
    SETTLING ago waits for it, a little longer each time (at most MAX_WAIT in all), and is refused
    only once the lock stays: at most `free` secrets are checked at a time, never more."""
    deadline = time.monotonic() + MAX_WAIT
    pause = FIRST_PAUSE
    # SQLite: a read first (no round trip), so that a locked key is refused without queueing for
    # the one writer. PostgreSQL: the claim at once, one round trip, and a read only when refused.
    look_first = sql.engine_type() == "sqlite"
    while True:
        at = now()
        state = await _lock_state(limits, at) if look_first else "open"
        if state == "open":
            attempt = await _claim_all(limits, at)
            if attempt is not None:
                return attempt
            state = await _lock_state(limits, now())  # why: a lock that stays, or one still settling
        look_first = True
        if state == "locked" or time.monotonic() + pause > deadline:
            # Answered late, at no cost but a sleeping coroutine: a guesser that waits for each
            # answer (most scripts do) then sends one guess a second per connection instead of
            # hundreds, and its refusals stop taking the CPU and the writer from everyone else.
            await asyncio.sleep(LOCKED_ANSWER_DELAY)
            return None
        await asyncio.sleep(pause * random.uniform(0.5, 1.5))
        pause = min(pause * 2, MAX_PAUSE)


async def _lock_state(limits: list[Limit], at: dt.datetime) -> str:
    """ "open", "settling" (a strict key's lock set within SETTLING), or "locked". A read: a
    locked key is refused without queueing for a write (on SQLite, the one writer)."""
    by_key = {limit.key: limit for limit in limits}
    keys = list(by_key)
    rows = await sql.fetch(
        f"SELECT key, failures, locked_until FROM login_throttle WHERE key IN ({sql.marks(keys)}) "
        "AND locked_until > {}",
        *keys,
        at,
    )
    state = "open"
    for row in rows:
        limit = by_key[row["key"]]
        if not limit.strict:
            return "locked"
        lock = lock_delay(max(row["failures"], limit.free), limit.free)
        if row["locked_until"] - lock <= at - SETTLING:
            return "locked"
        state = "settling"
    return state


async def _claim_all(limits: list[Limit], at: dt.datetime) -> Attempt | None:
    strict = [limit for limit in limits if limit.strict]
    watched = [limit for limit in limits if not limit.strict]
    if not strict:
        return Attempt([], watched)
    locks = [at + lock_delay(FREE_FAILURES + i, FREE_FAILURES) for i in range(MAX_DOUBLINGS + 1)]
    args = [at, at - WINDOW, *locks]
    for limit in strict:
        args += [limit.key, limit.free]
    args += [limit.key for limit in watched]
    async with _writing():
        rows = await sql.fetch(_statement(_claim_text(len(strict), len(watched))), *args)
        counted = {row["key"]: row["failures"] for row in rows}
        claimed = [(limit, counted[limit.key]) for limit in strict if limit.key in counted]
        if len(claimed) < len(strict):  # a key was locked: the others get the attempt back
            for limit, failures in claimed:
                await _give_back(limit, 1, failures)
            return None
    return Attempt(claimed, watched)
