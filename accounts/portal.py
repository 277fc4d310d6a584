"""The subscriber portal's use cases (R-19): sessions, the password, balance with days to expiry,
history."""

from __future__ import annotations

import datetime as dt
from typing import Any

from accounts.services import change_subscriber_password
from accounts.tables import Subscriber, SubscriberSession
from agency import audit, throttle
from agency.sessions import SessionPolicy, is_live, new_token, token_hash, touch
from core import sql
from core.clock import now, operator_zone, today
from core.db import transaction
from core.errors import N_, NotFound, ValidationFailed
from core.passwords import verify_off_loop
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
    row = await sql.lookup(
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


WRONG_CURRENT_PASSWORD = N_(
    "This is not your current password, or there were too many attempts: wait a while and try again."
)


async def change_password(subscriber_id: int, current_password: object, new_password: object, *, address: str) -> None:
    """The subscriber replaces its own password, giving the current one.

    The current password is checked as the portal login checks a password, by the same throttle
    (agency.throttle) under the same keys (the account from this address, the address, the
    account from anywhere): wrong guesses here and at the login page add up, and lock both for the
    same growing delays. The attempt is counted before the password is checked, nothing is
    checked while a key is locked (the right password is then refused too, with the same
    message), each failure is audited (`subscriber.change_password_failed`), and success gives
    the attempt back as a login's does.

    The one exception is the first change, from the initial password (the secret printed on the
    e-card; the account has no password hash yet). Its current password is not asked again: the
    session was opened by proving that very secret moments before, and until it is replaced the
    session can do nothing but choose a password (the portal's other pages redirect here); any
    other session would have to prove the secret first. Every later change needs the current
    password.

    Then the new password is checked and stored (accounts.services.change_subscriber_password);
    the caller ends the subscriber's other sessions."""
    row = await _secret_of(subscriber_id)
    if row["password_hash"] is not None:
        await _check_current_password(subscriber_id, row, current_password, address)
    await change_subscriber_password(subscriber_id, new_password)


async def _secret_of(subscriber_id: int) -> dict[str, Any]:
    """The subscriber's account number and portal password hash (null while on its initial one)."""
    row = (
        await Subscriber.select(Subscriber.account_number, Subscriber.password_hash)
        .where(Subscriber.id == subscriber_id)
        .first()
    )
    if row is None:
        raise NotFound()
    return row


async def check_current_password(subscriber_id: int, password: object, *, address: str, failed_action: str) -> None:
    """The subscriber's current portal password, checked as change_password checks it (the login's
    throttle, under the login's keys), for another change that needs it (accounts.sip); a refusal
    is audited as `failed_action`. An account still on its initial password has none to give."""
    row = await _secret_of(subscriber_id)
    if row["password_hash"] is None:
        raise ValidationFailed({"current_password": N_("Choose your portal password first.")})
    await _check_current_password(subscriber_id, row, password, address, failed_action)


async def _check_current_password(
    subscriber_id: int,
    row: dict[str, Any],
    password: object,
    address: str,
    failed_action: str = "subscriber.change_password_failed",
) -> None:
    """As accounts.services.authenticate_subscriber checks a login's password."""
    number = row["account_number"]
    attempt = await throttle.claim(throttle.per_address(f"subscriber-login:{number}", address, "subscriber-addr"))
    right = False
    if attempt is not None:
        try:
            right = (
                isinstance(password, str)
                and len(password) <= 128
                and await verify_off_loop(row["password_hash"], password)
            )
        except Exception:
            await attempt.give_back()
            raise
    if not right:
        await audit.record_refusal(
            None,
            failed_action,
            target_type="subscriber",
            target_id=subscriber_id,
            username=f"subscriber:{subscriber_id}",
            address=address,
            after={"locked": attempt is None},
        )
        raise ValidationFailed({"current_password": WRONG_CURRENT_PASSWORD})
    await attempt.succeeded(attempt.keys[:1], forgive_cleared=True)


# The agent a subscriber calls for help, as the portal shows it (`g` is the subscriber's agent):
# its brand, hotline and the hotline's service hours ("" where the agent set none).
AGENT_CONTACT = "g.brand_name AS agent_name, g.hotline AS agent_hotline, g.service_hours AS agent_service_hours"


async def agent_contact(subscriber_id: int) -> dict[str, Any]:
    """The subscriber's agent to call for help (AGENT_CONTACT), for the portal's ticket pages."""
    row = await sql.fetch_one(
        f"SELECT {AGENT_CONTACT} FROM subscriber s JOIN agent g ON g.id = s.agent WHERE s.id = {{}}",
        subscriber_id,
    )
    return row or {}


async def overview(subscriber_id: int) -> dict[str, Any]:
    """Balance in seconds, status, expiry and days left, and the agent to call for help (its
    brand, hotline and service hours: AGENT_CONTACT), for the portal's home page."""
    row = await sql.lookup(
        "SELECT s.id, s.agent, s.account_number, s.status, s.expires_at, a.balance, "
        f"{AGENT_CONTACT} FROM subscriber s "
        "JOIN agent g ON g.id = s.agent LEFT JOIN ledger_account a ON a.code = {} WHERE s.id = {}",
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


async def daily_usage(subscriber_id: int, days: int = 30) -> list[dict[str, Any]]:
    """The subscriber's calls and airtime used on each of the last `days` days of the operator's
    calendar (today included), oldest first, days without calls as zeros."""
    first = today() - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first, dt.time(), operator_zone())
    rows = await sql.fetch(
        f"SELECT {sql.local_day('started_at')} AS day, COUNT(*) AS calls, SUM(charged) AS used FROM call "
        f"WHERE subscriber = {{}} AND started_at >= {{}} GROUP BY {sql.local_day('started_at')}",
        subscriber_id,
        start,
    )
    by_day = {row["day"]: row for row in rows}
    return [
        {
            "day": day.isoformat(),
            "calls": int(by_day.get(day.isoformat(), {}).get("calls") or 0),
            "used_seconds": int(by_day.get(day.isoformat(), {}).get("used") or 0),
        }
        for day in (first + dt.timedelta(days=i) for i in range(days))
    ]
