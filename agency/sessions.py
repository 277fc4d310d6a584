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
from core.clock import now
from core.db import transaction
from core.errors import N_, LoginFailed, NotFound, ValidationFailed
from core.passwords import hash_password, needs_rehash, verify_password

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
    keys = [f"user:{username.lower()}", f"addr:{address}"]
    row = await User.select(*_actor_columns(User), User.password_hash).where(User.username == username).first()
    locked = await throttle.is_locked(keys)
    # Always verify (against a dummy hash for unknown users) so timing does not tell who exists.
    ok = verify_password(row["password_hash"] if row else None, password)
    if locked or not ok or row is None or not await _may_log_in(row):
        async with transaction():
            await throttle.register_failure(keys)
            await audit.record(
                None,
                "login.failed",
                target_type="user",
                target_id=row["id"] if row else "",
                scope_path=(row["agent.path"] or "") if row else "",
                username=username[:64],
                address=address,
                after={"locked": locked},
            )
        raise LoginFailed()
    token = new_token()
    at = now()
    async with transaction():
        await throttle.clear(keys)
        if needs_rehash(row["password_hash"]):
            await User.update({User.password_hash: hash_password(password)}).where(User.id == row["id"])
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
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 64:
        raise ValidationFailed({"name": N_("This field is required.") if not name else N_("Too long.")})
    token = "va_" + new_token()
    async with transaction():
        rows = await ApiToken.insert(
            ApiToken(token_hash=token_hash(token), user=actor.user_id, name=name.strip(), created_at=now())
        ).returning(ApiToken.id)
        await audit.record(
            actor, "api_token.create", target_type="api_token", target_id=rows[0]["id"], after={"name": name.strip()}
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
