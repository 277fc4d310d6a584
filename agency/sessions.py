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

from agency import audit, throttle, twofactor
from agency.agents import agent_may_operate, ancestors_operating, valid_id
from agency.roles import Actor
from agency.tables import ApiToken, PendingLogin, User, UserSession
from core import sql
from core.clock import now
from core.db import transaction
from core.errors import N_, LoginFailed, NotFound, ValidationFailed
from core.passwords import hash_off_loop, needs_rehash, verify_off_loop
from core.validation import Checker

TOUCH_EVERY = dt.timedelta(seconds=60)
PENDING_LOGIN = dt.timedelta(minutes=5)  # a right password waits this long for its second factor
API_TOKEN_DAYS = 90  # an API token's life, unless chosen otherwise at creation
API_TOKEN_MAX_DAYS = 365


@dataclass(frozen=True)
class SessionPolicy:
    idle: dt.timedelta = dt.timedelta(minutes=30)
    absolute: dt.timedelta = dt.timedelta(hours=12)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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


# What makes an Actor: the user and its agent, as _actor reads them. Fixed SQL, since every
# authenticated request and a flood of logins run it (Piccolo builds a join through foreign keys
# in about 2 ms of CPU, most of what a request to /healthz cost).
_ACTOR_COLUMNS = (
    'u.id, u.username, u.role, u.is_active, u.agent, a.path AS "agent.path", a.level AS "agent.level", '
    'a.status AS "agent.status", a.terminates_at AS "agent.terminates_at"'
)
_WITH_AGENT = "LEFT JOIN agent a ON a.id = u.agent"
_LOGIN_ROW = f"SELECT {_ACTOR_COLUMNS}, u.password_hash FROM app_user u {_WITH_AGENT} WHERE u.username = {{}}"
# A session's or API token's own columns (`held_id` is its id), then its user's.
_SESSION_ROW = (
    f"SELECT s.id AS held_id, s.last_seen_at, s.expires_at, s.revoked_at, {_ACTOR_COLUMNS} "
    f'FROM user_session s JOIN app_user u ON u.id = s."user" {_WITH_AGENT} WHERE s.token_hash = {{}}'
)
_TOKEN_ROW = (
    f"SELECT t.id AS held_id, t.last_used_at, t.expires_at, t.revoked_at, {_ACTOR_COLUMNS} "
    f'FROM api_token t JOIN app_user u ON u.id = t."user" {_WITH_AGENT} WHERE t.token_hash = {{}}'
)
_LOGIN_ROW_BY_ID = _LOGIN_ROW.replace("u.username = {}", "u.id = {}")


class LoginExpired(LoginFailed):
    message = N_("The login has expired: enter your user name and password again.")


class SecondFactorNeeded(Exception):
    """The password was right and the user logs in with a second factor: the login goes on with
    `complete_login` and `pending`, a token for the browser to hold for PENDING_LOGIN."""

    def __init__(self, pending: str) -> None:
        super().__init__("second factor needed")
        self.pending = pending


async def log_in(
    username: object,
    password: object,
    *,
    address: str,
    user_agent: str = "",
    policy: SessionPolicy = SessionPolicy(),
    replaces: str | None = None,
    device: str | None = None,
) -> tuple[str, Actor]:
    """Check the credentials and open a new session (a fresh id: the session is rotated at
    login, and `replaces`, the caller's previous session token, is revoked).
    Every refusal raises the same LoginFailed, whatever the reason. A user with two-factor login
    gets no session here unless `device` is the token of a browser remembered for them: the
    password opens a pending login instead (SecondFactorNeeded)."""
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
            ok = await verify_off_loop(row["password_hash"] if row else None, password, anonymous=True)
            ok = ok and row is not None and await _may_log_in(row)
        except Exception:
            await attempt.give_back()
            raise
    if not ok:
        await audit.record_refusal(
            None,
            "login.failed",
            counting=attempt and attempt.failed,
            target_type="user",
            target_id=row["id"] if row else "",
            scope_path=(row["agent.path"] or "") if row else "",
            username=username[:64],
            address=address,
            after={"locked": attempt is None},
        )
        raise LoginFailed()
    second_factor = await twofactor.is_enabled(row["id"])
    remembered = second_factor and await twofactor.device_remembered(row["id"], device)
    rehashed = await hash_off_loop(password, anonymous=True) if needs_rehash(row["password_hash"]) else None
    async with transaction():
        # The holder's own failures from this address are forgiven; other addresses' stay.
        await attempt.succeeded(attempt.keys[:1], forgive_cleared=True)
        if rehashed:
            await User.update({User.password_hash: rehashed}).where(User.id == row["id"])
        if second_factor and not remembered:
            pending = await _pending_login(row, address)
        else:
            return await _open_session(
                row,
                address=address,
                user_agent=user_agent,
                policy=policy,
                replaces=replaces,
                after={"second_factor": "remembered"} if remembered else None,
            )
    raise SecondFactorNeeded(pending)


async def _pending_login(row: dict[str, Any], address: str) -> str:
    """A login waiting for its second factor (inside the login's transaction)."""
    token = new_token()
    at = now()
    await PendingLogin.delete().where(PendingLogin.expires_at <= at)
    await PendingLogin.insert(
        PendingLogin(token_hash=token_hash(token), user=row["id"], created_at=at, expires_at=at + PENDING_LOGIN)
    )
    await audit.record(
        None,
        "login.second_factor_due",
        target_type="user",
        target_id=row["id"],
        scope_path=row["agent.path"] or "",
        username=row["username"],
        address=address,
    )
    return token


async def complete_login(
    pending: object,
    code: object,
    *,
    address: str,
    user_agent: str = "",
    policy: SessionPolicy = SessionPolicy(),
    replaces: str | None = None,
    remember: bool = False,
) -> tuple[str, Actor, str | None]:
    """The second step of a login with two-factor: a TOTP or recovery code for the pending login
    (counted and checked like a password, each code good once). Opens the session; with
    `remember`, also returns a token that lets this browser skip the step for 30 days."""
    if not isinstance(pending, str) or not pending or len(pending) > 100:
        raise LoginFailed()
    found = (
        await PendingLogin.select(PendingLogin.user)
        .where((PendingLogin.token_hash == token_hash(pending)) & (PendingLogin.expires_at > now()))
        .first()
    )
    row = await sql.fetch_one(_LOGIN_ROW_BY_ID, found["user"]) if found else None
    if row is None:
        raise LoginExpired()
    kind = await twofactor.verify(row["id"], code, address=address, username=row["username"])
    if kind is None:
        raise LoginFailed(twofactor.WRONG_CODE)
    async with transaction():
        used = (
            await PendingLogin.delete()
            .where((PendingLogin.token_hash == token_hash(pending)) & (PendingLogin.expires_at > now()))
            .returning(PendingLogin.id)
        )
        if not used:
            raise LoginExpired()
        if not await _may_log_in(row):
            raise LoginFailed()
        device = await twofactor.remember_device(row["id"]) if remember else None
        token, actor = await _open_session(
            row,
            address=address,
            user_agent=user_agent,
            policy=policy,
            replaces=replaces,
            after={"second_factor": kind, "remember_device": remember},
        )
    return token, actor, device


async def _open_session(
    row: dict[str, Any],
    *,
    address: str,
    user_agent: str,
    policy: SessionPolicy,
    replaces: str | None,
    after: dict[str, Any] | None,
) -> tuple[str, Actor]:
    """A new session for the user of `row` (inside the login's transaction)."""
    token = new_token()
    at = now()
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
    await audit.record(actor, "login", target_type="session", target_id=inserted[0]["id"], after=after)
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
    user = await sql.lookup(_SESSION_ROW, token_hash(token))
    session = user and {"id": user["held_id"], **{k: user[k] for k in ("last_seen_at", "expires_at", "revoked_at")}}
    if not is_live(session, policy, at):
        return None
    if not await _may_log_in(user):
        return None
    await touch(UserSession, session, at)
    return _actor(user, address, session["id"])


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


async def create_api_token(actor: Actor, name: object, days: object = API_TOKEN_DAYS) -> str:
    """A bearer token for the JSON API, acting as this user for `days` (1 to API_TOKEN_MAX_DAYS);
    shown once."""
    check = Checker({"name": name})
    check.text("name", max_len=64)  # refuses a NUL byte too, which PostgreSQL cannot store
    if isinstance(days, str) and days.strip().isascii() and days.strip().isdecimal() and len(days.strip()) < 6:
        days = int(days.strip())
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= API_TOKEN_MAX_DAYS:
        check.errors["days"] = N_("A whole number of days from 1 to %(max_days)s.")
    if check.errors:
        raise ValidationFailed(check.errors, max_days=API_TOKEN_MAX_DAYS)
    name = check.done()["name"]
    token = "va_" + new_token()
    at = now()
    expires_at = at + dt.timedelta(days=days)
    async with transaction():
        rows = await ApiToken.insert(
            ApiToken(token_hash=token_hash(token), user=actor.user_id, name=name, created_at=at, expires_at=expires_at)
        ).returning(ApiToken.id)
        await audit.record(
            actor,
            "api_token.create",
            target_type="api_token",
            target_id=rows[0]["id"],
            after={"name": name, "expires_at": expires_at.isoformat()},
        )
    return token


async def list_api_tokens(actor: Actor) -> list[dict[str, Any]]:
    """The actor's live tokens: not revoked, not expired."""
    return (
        await ApiToken.select(
            ApiToken.id, ApiToken.name, ApiToken.created_at, ApiToken.expires_at, ApiToken.last_used_at
        )
        .where((ApiToken.user == actor.user_id) & ApiToken.revoked_at.is_null() & (ApiToken.expires_at > now()))
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


async def revoke_api_tokens(user_id: int) -> int:
    """Revoke all of a user's live tokens (inside the caller's transaction, which audits): on a
    password change or reset, and when the user is disabled or enabled again."""
    revoked = (
        await ApiToken.update({ApiToken.revoked_at: now()})
        .where((ApiToken.user == user_id) & ApiToken.revoked_at.is_null())
        .returning(ApiToken.id)
    )
    return len(revoked)


async def actor_for_api_token(token: str, *, address: str) -> Actor | None:
    """The actor of a live token (not revoked, not expired, its user and agent may operate);
    its last use is recorded, at most once a minute."""
    if not token.startswith("va_") or len(token) > 100:
        return None
    at = now()
    user = await sql.lookup(_TOKEN_ROW, token_hash(token))
    if user is None or user["revoked_at"] is not None or user["expires_at"] is None or user["expires_at"] <= at:
        return None
    if not await _may_log_in(user):
        return None
    if user["last_used_at"] is None or at - user["last_used_at"] >= TOUCH_EVERY:
        await ApiToken.update({ApiToken.last_used_at: at}).where(ApiToken.id == user["held_id"])
    return _actor(user, address)
