"""The subscriber portal's use cases (R-19): sessions, balance with days to expiry, history."""

from __future__ import annotations

from typing import Any

from accounts.tables import Subscriber, SubscriberSession
from agency.sessions import SessionPolicy, is_live, new_token, token_hash, touch
from core import sql
from core.clock import now
from core.db import transaction
from money import ledger
from money.ledger import JournalFilter

DEFAULT_POLICY = SessionPolicy()


async def open_session(subscriber_id: int, policy: SessionPolicy = DEFAULT_POLICY, replaces: str | None = None) -> str:
    """A new session (rotated at login: the caller's previous one is revoked)."""
    token = new_token()
    at = now()
    async with transaction():
        if replaces:
            await SubscriberSession.update({SubscriberSession.revoked_at: at}).where(
                SubscriberSession.token_hash == token_hash(replaces)
            )
        await SubscriberSession.insert(
            SubscriberSession(
                token_hash=token_hash(token),
                subscriber=subscriber_id,
                created_at=at,
                last_seen_at=at,
                expires_at=at + policy.absolute,
            )
        )
    return token


async def subscriber_for_session(token: str, policy: SessionPolicy = DEFAULT_POLICY) -> dict[str, Any] | None:
    if not token or len(token) > 100:
        return None
    at = now()
    row = await sql.fetch_one(
        "SELECT ss.id, ss.last_seen_at, ss.expires_at, ss.revoked_at, s.id AS subscriber_id, s.status, "
        "s.account_number, s.must_change_password FROM subscriber_session ss "
        "JOIN subscriber s ON s.id = ss.subscriber WHERE ss.token_hash = {}",
        token_hash(token),
    )
    if not is_live(row, policy, at) or row["status"] == "closed":
        return None
    await touch(SubscriberSession, row, at)
    return {
        "id": row["subscriber_id"],
        "account_number": row["account_number"],
        "status": row["status"],
        "must_change_password": row["must_change_password"],
        "session_id": row["id"],
    }


async def close_session(session_id: int) -> None:
    await SubscriberSession.update({SubscriberSession.revoked_at: now()}).where(SubscriberSession.id == session_id)


async def end_other_sessions(subscriber_id: int, keep: int | None) -> None:
    condition = (SubscriberSession.subscriber == subscriber_id) & SubscriberSession.revoked_at.is_null()
    if keep is not None:
        condition &= SubscriberSession.id != keep
    await SubscriberSession.update({SubscriberSession.revoked_at: now()}).where(condition)


async def overview(subscriber_id: int) -> dict[str, Any]:
    """Balance in seconds, status, expiry and days left, for the portal's home page."""
    row = await sql.fetch_one(
        "SELECT s.id, s.agent, s.account_number, s.status, s.expires_at, a.balance FROM subscriber s "
        "LEFT JOIN ledger_account a ON a.code = {} WHERE s.id = {}",
        ledger.subscriber_code(subscriber_id),
        subscriber_id,
    )
    days_left = None
    if row["expires_at"] is not None:
        seconds_left = int((row["expires_at"] - now()).total_seconds())
        days_left = max(0, -(-seconds_left // 86400))  # a part of a day counts as a day
    balance = row.pop("balance") or 0  # no account before the subscriber's first minutes
    return {**row, "balance_seconds": balance, "days_left": days_left}


async def history(subscriber_id: int, *, page: int = 1, per_page: int = 20) -> tuple[list[dict[str, Any]], int]:
    """Recharges and other changes of the balance, newest first."""
    row = await Subscriber.select(Subscriber.agent).where(Subscriber.id == subscriber_id).first()
    account = await ledger.subscriber_account(subscriber_id, row["agent"])
    return await ledger.entries_of(account, JournalFilter(), page=page, per_page=per_page)
