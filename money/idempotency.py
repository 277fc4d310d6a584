"""Idempotency keys for money and airtime operations (R-7).

The first result under a (user, key) is stored in the same database transaction as the
operation itself. A retry with the same key and the same parameters gets that result back and
changes nothing; the same key with other parameters is refused. Two concurrent requests with
one key cannot both act: the second one's insert hits the unique key (or, having waited for the
first one's rows, it finds the work done and refuses), its transaction rolls back, and it then
reads and returns the first one's result."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from agency.roles import Actor
from core.clock import now
from core.db import transaction
from core.errors import N_, Conflict, DomainError, ValidationFailed
from money.tables import IdempotencyRecord

MAX_KEY_LENGTH = 100
# The key of a call that is not a request (the CLI, scripts, the demo): none, and the operation
# runs once, in one transaction, like any other. Requests pass the key they carry, and a request
# without one is refused (clean_key).
NO_KEY: Any = object()


@dataclass(frozen=True)
class KeyOwner:
    """Whose keys these are when no staff user acts: a subscriber on the portal. Keys are scoped
    by their owner's `user_id`; a subscriber's are set apart from users'."""

    user_id: str

    @classmethod
    def subscriber(cls, subscriber_id: int) -> KeyOwner:
        return cls(f"subscriber-{subscriber_id}")


class IdempotencyKeyReused(Conflict):
    message = N_("This request was already made with other values. Reload the form and try again.")


def request_hash(operation: str, params: dict[str, Any]) -> str:
    canonical = json.dumps({"op": operation, "params": params}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def clean_key(key: object) -> str:
    if not isinstance(key, str) or not 8 <= len(key.strip()) <= MAX_KEY_LENGTH or "\x00" in key:
        raise ValidationFailed({"idempotency_key": N_("A request key of 8 to 100 characters is required.")})
    return key.strip()


async def _stored(scoped_key: str, wanted_hash: str) -> dict[str, Any] | None:
    row = (
        await IdempotencyRecord.select(IdempotencyRecord.request_hash, IdempotencyRecord.response)
        .output(load_json=True)
        .where(IdempotencyRecord.scoped_key == scoped_key)
        .first()
    )
    if row is None:
        return None
    if row["request_hash"] != wanted_hash:
        raise IdempotencyKeyReused()
    return row["response"]


async def run_once(
    actor: Actor | KeyOwner,
    key: object,
    operation: str,
    params: dict[str, Any],
    action: Callable[[], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    """Run `action` (which must not open its own transaction) at most once per key, inside one
    write transaction together with the record of its result; with NO_KEY, just in one
    transaction."""
    if key is NO_KEY:
        async with transaction():
            return await action()
    scoped_key = f"{actor.user_id}:{clean_key(key)}"
    wanted = request_hash(operation, params)
    try:
        async with transaction():
            previous = await _stored(scoped_key, wanted)
            if previous is not None:
                return previous
            result = await action()
            await IdempotencyRecord.insert(
                IdempotencyRecord(scoped_key=scoped_key, request_hash=wanted, response=result, created_at=now())
            )
            return result
    except DomainError:
        # A concurrent request with the same key may have won while this one waited for its rows
        # (on PostgreSQL, the row lock), and this one then found the work done: its answer is ours.
        if (previous := await _stored(scoped_key, wanted)) is not None:
            return previous
        raise
    except Exception as exc:
        if not _is_unique_violation(exc):
            raise
    # A concurrent request with the same key won the race and committed first.
    previous = await _stored(scoped_key, wanted)
    if previous is None:
        raise RuntimeError("idempotency record vanished")
    return previous


def _is_unique_violation(exc: Exception) -> bool:
    text = f"{type(exc).__name__} {exc}".lower()
    return "unique" in text and ("idempotency_record" in text or "scoped_key" in text)
