"""Login, server-side sessions and API tokens (R-33).

A token is 32 random bytes (256 bits) handed to the client; the database keeps only its
SHA-256, so a copy of the database does not let anyone in. Sessions live in the database, so
every worker on every host shares them and they survive a restart."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from agency import audit, throttle
from agency.agents import agent_may_operate, ancestors_operating, valid_id
from agency.roles import Actor
from agency.tables import ApiToken, User, UserSession
from core import sql
from core.clock import now
from core.db import transaction
from core.errors import LoginFailed, NotFound
from core.passwords import hash_off_loop, needs_rehash, verify_off_loop
from core.validation import Checker

TOUCH_EVERY = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class SessionPolicy:
    idle: dt.timedelta = dt.timedelta(minutes=30)
    absolute: dt.timedelta = dt.timedelta(hours=12)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _actor_columns(user) -> list:
    """What makes an Actor, read from `User` itself or through a foreign key to it."""
    agent = user.agent
    return [
        user.id,
        user.username,
        user.role,
        user.is_active,
        user.agent,
        agent.path,
        agent.level,
        agent.status,
        agent.terminates_at,
    ]


def _actor(row: dict[str, Any], address: str, session_id: int | None = None) -> Actor:
    return Actor(
        user_id=row["id"],
        username=row["username"],
        role=row["role"],
        agent_id=row["agent"],
        agent_path=row["agent.path"] or "",
        agent_level=row["agent.level"] or 0,
        address=address,
        session_id=session_id,
    )


async def _may_log_in(row: dict[str, Any]) -> bool:
    """An active user of the operator, or of an agent that may operate under agents that all
    operate: a suspended or terminated agent stops the users of its whole subtree (R-2)."""
    if not row["is_active"]:
        return False
    if row["agent"] is None:
        return True
    agent = {"status": row["agent.status"], "terminates_at": row["agent.terminates_at"]}
    return agent_may_operate(agent) and await ancestors_operating(row["agent.path"])


# The user and its agent as _actor_columns reads them, and the password hash: fixed SQL, since a
# flood of logins runs it hundreds of times a second (Piccolo's join costs ~0.7 ms of CPU).
_LOGIN_ROW = (
    'SELECT u.id, u.username, u.role, u.is_active, u.agent, a.path AS "agent.path", a.level AS "agent.level", '
    'a.status AS "agent.status", a.terminates_at AS "agent.terminates_at", u.password_hash '
    "FROM app_user u LEFT JOIN agent a ON a.id = u.agent WHERE u.username = {}"
)


async def log_in(
    username: object,
    password: object,
    *,
    address: str,
    user_agent: str = "",
    policy: SessionPolicy = SessionPolicy(),
    replaces: str | None = None,
) -> tuple[str, Actor]:
    """Check the credentials and open a new session (a fresh id: the session is rotated at
    login, and `replaces`, the caller's previous session token, is revoked).
    Every refusal raises the same LoginFailed, whatever the reason."""
    if (
        not isinstance(username, str)
        or not isinstance(password, str)
        or not username
        or len(username) > 64
        or len(password) > 128
    ):
        raise LoginFailed()
    name = username.lower()
    row = await sql.fetch_one(_LOGIN_ROW, username)
    # The attempt is counted before the password is checked, so that no burst gets more checks
    # than the limit; while a key is locked the password is not checked at all, for known and
    # unknown names alike (the same answer, in the same time).
    attempt = await throttle.claim(throttle.per_address(f"user:{name}", address, "addr"))
    ok = False
    if attempt is not None:
        try:
            # Always verify (against a dummy hash for unknown users) so timing does not tell who exists.
            ok = await verify_off_loop(row["password_hash"] if row else None, password)
            ok = ok and row is not None and await _may_log_in(row)
        except Exception:
            await attempt.give_back()
            raise
    if not ok:
        async with transaction():
            if attempt is not None:
                await attempt.failed()
            await audit.record(
                None,
                "login.failed",
                target_type="user",
                target_id=row["id"] if row else "",
                scope_path=(row["agent.path"] or "") if row else "",
                username=username[:64],
                address=address,
                after={"locked": attempt is None},
            )
        raise LoginFailed()
    token = new_token()
    at = now()
    rehashed = await hash_off_loop(password) if needs_rehash(row["password_hash"]) else None
    async with transaction():
        # The holder's own failures from this address are forgiven; other addresses' stay.
        await attempt.succeeded(attempt.keys[:1], forgive_cleared=True)
        if rehashed:
            await User.update({User.password_hash: rehashed}).where(User.id == row["id"])
        if replaces:
            await UserSession.update({UserSession.revoked_at: at}).where(UserSession.token_hash == token_hash(replaces))
        inserted = await UserSession.insert(
            UserSession(
                token_hash=token_hash(token),
                user=row["id"],
                created_at=at,
                last_seen_at=at,
                expires_at=at + policy.absolute,
                address=address[:64],
                user_agent=user_agent[:200],
            )
        ).returning(UserSession.id)
        actor = _actor(row, address, inserted[0]["id"])
        await audit.record(actor, "login", target_type="session", target_id=inserted[0]["id"])
    return token, actor


def is_live(row: dict[str, Any] | None, policy: SessionPolicy, at: dt.datetime) -> bool:
    """A session row (staff or subscriber) that is known, not revoked, not idle too long and not
    past its absolute end."""
    return (
        row is not None
        and row["revoked_at"] is None
        and row["expires_at"] > at
        and row["last_seen_at"] + policy.idle > at
    )


async def touch(session_table, row: dict[str, Any], at: dt.datetime) -> None:
    """Record activity for the idle timeout, at most once a minute (not a write per request)."""
    if at - row["last_seen_at"] >= TOUCH_EVERY:
        await session_table.update({session_table.last_seen_at: at}).where(session_table.id == row["id"])


async def actor_for_session(token: str, *, address: str, policy: SessionPolicy = SessionPolicy()) -> Actor | None:
    """The actor of a live session, or None when it is unknown, revoked, idle too long, past
    its absolute end, or its user or agent may no longer operate."""
    if not token or len(token) > 100:
        return None
    at = now()
    row = (
        await UserSession.select(
            UserSession.id,
            UserSession.last_seen_at,
            UserSession.expires_at,
            UserSession.revoked_at,
            *_actor_columns(UserSession.user),
        )
        .where(UserSession.token_hash == token_hash(token))
        .first()
    )
    if not is_live(row, policy, at):
        return None
    user = {k.removeprefix("user."): v for k, v in row.items() if k.startswith("user.")}
    if not await _may_log_in(user):
        return None
    await touch(UserSession, row, at)
    return _actor(user, address, row["id"])


async def log_out(actor: Actor) -> None:
    async with transaction():
        await UserSession.update({UserSession.revoked_at: now()}).where(UserSession.id == actor.session_id)
        await audit.record(actor, "logout", target_type="session", target_id=actor.session_id or "")


async def list_sessions(actor: Actor) -> list[dict[str, Any]]:
    at = now()
    return (
        await UserSession.select(
            UserSession.id,
            UserSession.created_at,
            UserSession.last_seen_at,
            UserSession.address,
            UserSession.user_agent,
        )
        .where((UserSession.user == actor.user_id) & UserSession.revoked_at.is_null() & (UserSession.expires_at > at))
        .order_by(UserSession.created_at, ascending=False)
    )


async def end_sessions(user_id: int, *, keep: int | None = None) -> int:
    """Revoke a user's live sessions, all but `keep`; call inside the caller's transaction."""
    condition = (UserSession.user == user_id) & UserSession.revoked_at.is_null()
    if keep is not None:
        condition &= UserSession.id != keep
    count = await UserSession.count().where(condition)
    await UserSession.update({UserSession.revoked_at: now()}).where(condition)
    return count


async def revoke_other_sessions(actor: Actor) -> int:
    async with transaction():
        count = await end_sessions(actor.user_id, keep=actor.session_id)
        await audit.record(
            actor, "session.revoke_others", target_type="user", target_id=actor.user_id, after={"revoked": count}
        )
    return count


async def create_api_token(actor: Actor, name: object) -> str:
    """A bearer token for the JSON API, acting as this user; shown once."""
    check = Checker({"name": name})
    check.text("name", max_len=64)  # refuses a NUL byte too, which PostgreSQL cannot store
    name = check.done()["name"]
    token = "va_" + new_token()
    async with transaction():
        rows = await ApiToken.insert(
            ApiToken(token_hash=token_hash(token), user=actor.user_id, name=name, created_at=now())
        ).returning(ApiToken.id)
        await audit.record(
            actor, "api_token.create", target_type="api_token", target_id=rows[0]["id"], after={"name": name}
        )
    return token


async def list_api_tokens(actor: Actor) -> list[dict[str, Any]]:
    return (
        await ApiToken.select(ApiToken.id, ApiToken.name, ApiToken.created_at)
        .where((ApiToken.user == actor.user_id) & ApiToken.revoked_at.is_null())
        .order_by(ApiToken.id)
    )


async def revoke_api_token(actor: Actor, token_id: int) -> None:
    if not valid_id(token_id):
        raise NotFound()
    async with transaction():
        condition = (ApiToken.id == token_id) & (ApiToken.user == actor.user_id) & ApiToken.revoked_at.is_null()
        if not await ApiToken.exists().where(condition):
            raise NotFound()
        await ApiToken.update({ApiToken.revoked_at: now()}).where(condition)
        await audit.record(actor, "api_token.revoke", target_type="api_token", target_id=token_id)


async def actor_for_api_token(token: str, *, address: str) -> Actor | None:
    if not token.startswith("va_") or len(token) > 100:
        return None
    row = (
        await ApiToken.select(
            ApiToken.revoked_at,
            *_actor_columns(ApiToken.user),
        )
        .where(ApiToken.token_hash == token_hash(token))
        .first()
    )
    if row is None or row["revoked_at"] is not None:
        return None
    user = {k.removeprefix("user."): v for k, v in row.items() if k.startswith("user.")}
    return _actor(user, address) if await _may_log_in(user) else None
