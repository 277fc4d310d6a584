"""Subscriber accounts (R-16, R-18): listing by subtree, suspend (停机保号), resume, close (销户),
and the subscriber's own login and password."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from accounts.status import move_status
from accounts.switch import has_call_in_progress
from accounts.tables import Subscriber
from agency import audit, throttle
from agency.agents import valid_id
from agency.roles import Actor
from agency.tree import in_subtree
from core import stored_text
from core.clock import now
from core.db import fetch_page, transaction
from core.errors import N_, Conflict, Forbidden, LoginFailed, NotFound, ValidationFailed
from core.passwords import hash_off_loop, hash_password, needs_rehash, verify_off_loop
from core.units import SECONDS
from core.validation import Checker
from money import ledger
from money.idempotency import NO_KEY, run_once
from money.ledger import transfer
from money.tables import LedgerAccount
from stats import daily

COLUMNS = (
    Subscriber.id,
    Subscriber.account_number,
    Subscriber.agent,
    Subscriber.status,
    Subscriber.expires_at,
    Subscriber.created_at,
    Subscriber.closed_at,
    Subscriber.must_change_password,
    Subscriber.call_cap,  # calls at once (accounts.controls); null: the operator's default
    Subscriber.agent.brand_name.as_alias("agent_name"),
    Subscriber.agent.path.as_alias("agent_path"),
)


def _scope(actor: Actor):
    return in_subtree(actor, Subscriber.agent.path)


async def _with_balance(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "balance_seconds": await ledger.subscriber_balance(row["id"])}


async def get_subscriber(actor: Actor, subscriber_id: int) -> dict[str, Any]:
    if not actor.can("view_cards") or not valid_id(subscriber_id):
        raise NotFound()
    query = Subscriber.select(*COLUMNS).where(Subscriber.id == subscriber_id)
    if (scope := _scope(actor)) is not None:
        query = query.where(scope)
    row = await query.first()
    if row is None:
        raise NotFound()
    return await _with_balance(row)


async def list_subscribers(
    actor: Actor, *, search: str = "", status: str = "", page: int = 1, per_page: int = 50
) -> tuple[list[dict[str, Any]], int]:
    if not actor.can("view_cards"):
        raise Forbidden()
    conditions = [_scope(actor)]
    search = search.replace(" ", "")  # numbers are often read out, or pasted, in groups
    if search:
        if not (search.isascii() and search.isdigit()):
            return [], 0
        # Any part of the number: its last digits are what a caller usually gives. Digits only,
        # so the pattern holds no wildcard of the user's.
        conditions.append(Subscriber.account_number.like(f"%{search}%"))
    if status:
        conditions.append(Subscriber.status == status)
    rows, total = await fetch_page(
        Subscriber.select(*COLUMNS), Subscriber.count(), conditions, Subscriber.id, page=page, per_page=per_page
    )
    return await _with_balances(rows), total


async def _with_balances(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The page's rows with their balances in seconds, in one query."""
    codes = {ledger.subscriber_code(row["id"]): row for row in rows}
    balances = {code: 0 for code in codes}
    if codes:
        found = await LedgerAccount.select(LedgerAccount.code, LedgerAccount.balance).where(
            LedgerAccount.code.is_in(list(codes))
        )
        balances.update({row["code"]: row["balance"] for row in found})
    return [{**row, "balance_seconds": balances[code]} for code, row in codes.items()]


def _reason(reason: object) -> str:
    check = Checker({"reason": reason})
    check.text("reason", max_len=200)
    return str(check.done()["reason"])


async def _change_status(
    actor: Actor, subscriber_id: int, reason: object, allowed_from: tuple[str, ...], new_status: str, action: str
) -> dict[str, Any]:
    if not actor.can("manage_subscribers"):
        raise Forbidden()
    why = _reason(reason)
    async with transaction():
        row = await get_subscriber(actor, subscriber_id)
        if not await move_status(subscriber_id, allowed_from, new_status):
            raise Conflict(N_("This cannot be done in the account's current status."))
        await audit.record(
            actor,
            action,
            target_type="subscriber",
            target_id=subscriber_id,
            scope_path=row["agent_path"],
            before={"status": row["status"]},
            after={"status": new_status, "reason": why},
        )
    return await get_subscriber(actor, subscriber_id)


async def suspend_subscriber(actor: Actor, subscriber_id: int, reason: object) -> dict[str, Any]:
    return await _change_status(actor, subscriber_id, reason, ("active",), "suspended", "subscriber.suspend")


async def resume_subscriber(actor: Actor, subscriber_id: int, reason: object) -> dict[str, Any]:
    return await _change_status(actor, subscriber_id, reason, ("suspended",), "active", "subscriber.resume")


async def close_subscriber(
    actor: Actor, subscriber_id: int, reason: object, *, operation_password: object, idempotency_key: object = NO_KEY
) -> dict[str, Any]:
    """销户: the unused balance goes back to the owning agent's stock in one transaction (R-18);
    refused while a call is in progress. Idempotent by `idempotency_key` (R-7): a retry gets
    the closed account again."""
    from agency.users import check_operation_password

    if not actor.can("manage_subscribers"):
        raise Forbidden()
    why = _reason(reason)
    await check_operation_password(actor, operation_password)

    async def close() -> dict[str, Any]:
        row = await get_subscriber(actor, subscriber_id)
        at = now()
        moved = (
            await Subscriber.update({Subscriber.status: "closed", Subscriber.closed_at: at, Subscriber.hold: None})
            .where((Subscriber.id == subscriber_id) & Subscriber.status.is_in(["active", "suspended"]))
            .returning(Subscriber.id)
        )
        if not moved:
            raise Conflict(N_("This cannot be done in the account's current status."))
        # Checked after the update took the row's lock: an `authorize` either finished before
        # (its reservation is seen here) or waits and then finds the account closed.
        if await has_call_in_progress(subscriber_id):
            raise Conflict(N_("A call is in progress on this account; close it when the call has ended."))
        balance_account = await ledger.subscriber_account(subscriber_id, row["agent"])
        remaining = await ledger.account_balance(balance_account)
        if remaining:
            stock = await ledger.agent_account(row["agent"], ledger.STOCK)
            await ledger.post(
                "account_close",
                transfer(balance_account, stock, SECONDS, remaining),
                memo=stored_text.message(N_("Account %(account)s closed"), account=row["account_number"]),
                user_id=actor.user_id,
                ref_type="subscriber",
                ref_id=subscriber_id,
                at=at,
            )
        daily.count(row["agent"], at, closed_accounts=1)
        await audit.record(
            actor,
            "subscriber.close",
            target_type="subscriber",
            target_id=subscriber_id,
            scope_path=row["agent_path"],
            before={"status": row["status"]},
            after={"status": "closed", "reason": why, "returned_seconds": remaining},
        )
        return {"subscriber_id": subscriber_id, "returned_seconds": remaining}

    params = {"subscriber": subscriber_id, "reason": why}
    closed = await run_once(actor, idempotency_key, "close_subscriber", params, close)
    return {**await get_subscriber(actor, subscriber_id), "returned_seconds": closed["returned_seconds"]}


async def preview_close(actor: Actor, subscriber_id: int, reason: object) -> dict[str, Any]:
    """What closing the account would do, changing nothing: the account, and the minutes that
    would go back to its agent's stock. Refused as closing itself would be (reason, status)."""
    if not actor.can("manage_subscribers"):
        raise Forbidden()
    why = _reason(reason)
    row = await get_subscriber(actor, subscriber_id)
    if row["status"] not in ("active", "suspended"):
        raise Conflict(N_("This cannot be done in the account's current status."))
    return {**row, "reason": why}


async def authenticate_subscriber(
    account_number: object,
    password: object,
    *,
    address: str,
    initial_secret_matches: Callable[[str, str], Awaitable[bool]],
) -> dict[str, Any]:
    """A subscriber's login: account number and password. Until it is replaced, the password is
    the initial secret of whatever opened the account, which `initial_secret_matches(number,
    secret)` checks (cards.services.authenticate_subscriber passes the e-card's keyed hash).
    Closed accounts cannot log in. Failures are limited per account and address like staff
    logins."""
    number = str(account_number or "")[:24]
    row = (
        await Subscriber.select(
            Subscriber.id, Subscriber.status, Subscriber.password_hash, Subscriber.must_change_password
        )
        .where(Subscriber.account_number == number)
        .first()
    )
    # Counted before the check (no burst gets more checks than the limit), per account and address
    # first and per account with a higher limit; nothing is checked while a key is locked.
    attempt = await throttle.claim(throttle.per_address(f"subscriber-login:{number}", address, "subscriber-addr"))
    ok = False
    if attempt is not None:
        try:
            if row is not None and isinstance(password, str) and len(password) <= 128:
                if row["password_hash"] is None:
                    ok = await initial_secret_matches(number, password)
                else:
                    ok = await verify_off_loop(row["password_hash"], password, anonymous=True)
            else:
                await verify_off_loop(None, "timing", anonymous=True)  # the same work for unknown accounts
            ok = ok and row["status"] != "closed"
        except Exception:
            await attempt.give_back()
            raise
    if not ok:
        await audit.record_refusal(
            None,
            "subscriber.login_failed",
            counting=attempt and attempt.failed,
            target_type="subscriber",
            target_id=number,
            username=number,
            address=address,
            after={"locked": attempt is None},
        )
        raise LoginFailed()
    await attempt.succeeded(attempt.keys[:1], forgive_cleared=True)
    if row["password_hash"] and needs_rehash(row["password_hash"]):
        rehashed = await hash_off_loop(password, anonymous=True)
        await Subscriber.update({Subscriber.password_hash: rehashed}).where(Subscriber.id == row["id"])
    return {"id": row["id"], "must_change_password": row["must_change_password"]}


async def change_subscriber_password(subscriber_id: int, new_password: object) -> None:
    """Sets the subscriber's own password (argon2id from now on); call after authentication."""
    check = Checker({"new_password": new_password})
    check.password("new_password", min_len=6)
    password = check.done()["new_password"]
    if str(password).isdigit() and len(set(str(password))) == 1:
        raise ValidationFailed({"new_password": N_("Choose a password that is harder to guess.")})
    async with transaction():
        await Subscriber.update(
            {Subscriber.password_hash: hash_password(password), Subscriber.must_change_password: False}
        ).where(Subscriber.id == subscriber_id)
        await audit.record(
            None,
            "subscriber.change_password",
            target_type="subscriber",
            target_id=subscriber_id,
            username=f"subscriber:{subscriber_id}",
        )


async def subscriber_balance(subscriber_id: int) -> int:
    if not await Subscriber.exists().where(Subscriber.id == subscriber_id):
        raise NotFound()
    return await ledger.subscriber_balance(subscriber_id)
