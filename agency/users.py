"""Users and roles; login and operation passwords (R-3, R-33)."""

from __future__ import annotations

from typing import Any

from agency import audit, throttle, twofactor
from agency.agents import get_agent, valid_id
from agency.roles import AGENT_ROLES, OPERATOR_ROLES, Actor
from agency.sessions import end_sessions, revoke_api_tokens
from agency.tables import User
from agency.tree import in_subtree
from core.clock import now
from core.db import transaction
from core.errors import N_, Conflict, Forbidden, NotFound, OperationPasswordRejected, ValidationFailed
from core.passwords import hash_password, verify_off_loop, verify_password
from core.validation import USERNAME, Checker

USER_COLUMNS = (User.id, User.username, User.display_name, User.role, User.agent, User.is_active, User.created_at)


def _scoped_users(actor: Actor):
    query = User.select(
        *USER_COLUMNS, User.agent.brand_name.as_alias("agent_name"), User.agent.path.as_alias("agent_path")
    )
    return query if actor.is_operator else query.where(in_subtree(actor, User.agent.path))


async def list_users(actor: Actor, *, agent_id: int | None = None, staff: bool = False) -> list[dict[str, Any]]:
    """Users of one agent (visible to the actor), or the operator's staff (operator only)."""
    if staff:
        if not actor.is_operator:
            raise Forbidden()
        return await User.select(*USER_COLUMNS).where(User.agent.is_null()).order_by(User.username)
    if agent_id is None:
        raise NotFound()
    await get_agent(actor, agent_id)
    return await _scoped_users(actor).where(User.agent == agent_id).order_by(User.username)


async def get_user(actor: Actor, user_id: int) -> dict[str, Any]:
    if not valid_id(user_id):
        raise NotFound()
    if actor.is_operator:
        row = await User.select(*USER_COLUMNS).where(User.id == user_id).first()
    else:
        row = await _scoped_users(actor).where(User.id == user_id).first()
    if row is None:
        raise NotFound()
    return row


def _check_manage(actor: Actor, agent: dict[str, Any] | None) -> None:
    """Operator admins manage staff and all agent users; an agent owner manages the users of
    its own agent and its descendants."""
    if not actor.can("manage_users"):
        raise Forbidden()
    if agent is None and not actor.is_operator:
        raise Forbidden()


async def create_user(actor: Actor, agent_id: int | None, data: dict[str, object]) -> dict[str, Any]:
    agent = await get_agent(actor, agent_id) if agent_id is not None else None
    _check_manage(actor, agent)
    check = Checker(data)
    check.text(
        "username",
        max_len=64,
        pattern=USERNAME,
        pattern_message=N_("3 to 64 letters, digits, dots, dashes or underscores."),
    )
    check.text("display_name", max_len=100, required=False)
    check.choice("role", AGENT_ROLES if agent else OPERATOR_ROLES)
    check.password("password")
    fields = check.done()
    async with transaction():
        if await User.exists().where(User.username == fields["username"]):
            raise ValidationFailed({"username": N_("This user name is taken.")})
        rows = await User.insert(
            User(
                username=fields["username"],
                display_name=fields.get("display_name", ""),
                role=fields["role"],
                agent=agent_id,
                password_hash=hash_password(fields["password"]),
                created_at=now(),
            )
        ).returning(User.id)
        user_id = rows[0]["id"]
        await audit.record(
            actor,
            "user.create",
            target_type="user",
            target_id=user_id,
            scope_path=agent["path"] if agent else "",
            after={"username": fields["username"], "role": fields["role"], "agent": agent_id},
        )
    return await get_user(actor, user_id)


async def _managed_user(actor: Actor, user_id: int) -> dict[str, Any]:
    user = await get_user(actor, user_id)
    agent = await get_agent(actor, user["agent"]) if user["agent"] is not None else None
    _check_manage(actor, agent)
    if user["id"] == actor.user_id:
        raise Conflict(N_("Use My account to change your own user."))
    user["scope_path"] = agent["path"] if agent else ""
    return user


async def update_user(actor: Actor, user_id: int, data: dict[str, object]) -> dict[str, Any]:
    """Change role, display name or active flag. A change of privilege ends the user's sessions;
    disabling or enabling them revokes their API tokens too."""
    user = await _managed_user(actor, user_id)
    check = Checker(data)
    if "role" in data:
        check.choice("role", AGENT_ROLES if user["agent"] is not None else OPERATOR_ROLES)
    if "display_name" in data:
        check.text("display_name", max_len=100, required=False)
    if "is_active" in data:
        if not isinstance(data["is_active"], bool):
            check.errors["is_active"] = N_("Choose one of the offered values.")
        else:
            check.clean["is_active"] = data["is_active"]
    fields = check.done()
    changes = {k: v for k, v in fields.items() if user[k] != v}
    if not changes:
        return await get_user(actor, user_id)
    async with transaction():
        await User.update(changes).where(User.id == user_id)
        if "role" in changes or changes.get("is_active") is False:
            await end_sessions(user_id)
        revoked = await revoke_api_tokens(user_id) if "is_active" in changes else 0
        await audit.record(
            actor,
            "user.update",
            target_type="user",
            target_id=user_id,
            scope_path=user["scope_path"],
            before={k: user[k] for k in changes},
            after={**changes, "api_tokens_revoked": revoked} if revoked else changes,
        )
    return await get_user(actor, user_id)


async def reset_password(actor: Actor, user_id: int, new_password: object) -> None:
    """A new password set by a manager: the user's sessions, API tokens and remembered browsers end."""
    user = await _managed_user(actor, user_id)
    check = Checker({"password": new_password})
    check.password("password")
    password = check.done()["password"]
    async with transaction():
        await User.update({User.password_hash: hash_password(password)}).where(User.id == user_id)
        await end_sessions(user_id)
        revoked = await revoke_api_tokens(user_id)
        forgotten = await twofactor.forget_devices(user_id)
        await audit.record(
            actor,
            "user.reset_password",
            target_type="user",
            target_id=user_id,
            scope_path=user["scope_path"],
            after={"api_tokens_revoked": revoked, "devices_forgotten": forgotten},
        )


async def reset_two_factor(actor: Actor, user_id: int) -> None:
    """A manager turns another user's two-factor login off (a lost phone): their codes and
    remembered browsers go and their sessions end; they set it up again at their next login
    (which their role may require)."""
    user = await _managed_user(actor, user_id)
    async with transaction():
        if not await twofactor.remove(user_id):
            raise Conflict(N_("Two-factor login is not on."))
        await end_sessions(user_id)
        await audit.record(
            actor, "user.reset_two_factor", target_type="user", target_id=user_id, scope_path=user["scope_path"]
        )


async def _own_hashes(actor: Actor) -> dict[str, Any]:
    return await User.select(User.password_hash, User.operation_password_hash).where(User.id == actor.user_id).first()


async def change_own_password(actor: Actor, current: object, new: object) -> None:
    """Needs the current password; ends the user's other sessions, revokes their API tokens and
    forgets their remembered browsers."""
    check = Checker({"new_password": new})
    check.password("new_password")
    fields = check.done()
    row = await _own_hashes(actor)
    if not isinstance(current, str) or not verify_password(row["password_hash"], current):
        raise ValidationFailed({"current_password": N_("The current password is wrong.")})
    if fields["new_password"] == actor.username:
        raise ValidationFailed({"new_password": N_("The password may not be your user name.")})
    async with transaction():
        await User.update({User.password_hash: hash_password(fields["new_password"])}).where(User.id == actor.user_id)
        await end_sessions(actor.user_id, keep=actor.session_id)
        revoked = await revoke_api_tokens(actor.user_id)
        forgotten = await twofactor.forget_devices(actor.user_id)
        await audit.record(
            actor,
            "user.change_password",
            target_type="user",
            target_id=actor.user_id,
            after={"api_tokens_revoked": revoked, "devices_forgotten": forgotten},
        )


async def set_operation_password(actor: Actor, login_password: object, new: object) -> None:
    """The operation password (R-3) is set separately from the login password and must differ
    from it; setting or changing it needs the login password."""
    check = Checker({"operation_password": new})
    check.password("operation_password", min_len=6)
    fields = check.done()
    row = await _own_hashes(actor)
    if not isinstance(login_password, str) or not verify_password(row["password_hash"], login_password):
        raise ValidationFailed({"login_password": N_("The current password is wrong.")})
    if fields["operation_password"] == login_password:
        raise ValidationFailed(
            {"operation_password": N_("The operation password must differ from the login password.")}
        )
    async with transaction():
        await User.update({User.operation_password_hash: hash_password(fields["operation_password"])}).where(
            User.id == actor.user_id
        )
        await audit.record(actor, "user.set_operation_password", target_type="user", target_id=actor.user_id)


async def has_operation_password(actor: Actor) -> bool:
    return (await _own_hashes(actor))["operation_password_hash"] is not None


class OperationPasswordNotSet(OperationPasswordRejected):
    """Said to the user themself, who may know it: there is no password to guess here."""

    message = N_("You have not set an operation password yet. Set it under My account, then try again.")


async def check_operation_password(actor: Actor, operation_password: object) -> None:
    """The one guard every sensitive operation calls first (R-3). Failures are counted and
    audited; repeated failures lock the check for a growing time. A user without an operation
    password is told so (OperationPasswordNotSet), which counts as no failure."""
    key = f"op:{actor.user_id}"
    # Counted before the check: a burst gets no more checks than the limit (none while locked).
    attempt = await throttle.claim([throttle.Limit(key)])
    if attempt is None:
        raise OperationPasswordRejected()
    try:
        row = await _own_hashes(actor)
        if row["operation_password_hash"] is None:
            raise OperationPasswordNotSet()  # given back below: not a failure
        ok = isinstance(operation_password, str) and await verify_off_loop(
            row["operation_password_hash"], operation_password
        )
    except Exception:
        await attempt.give_back()
        raise
    if ok:
        await attempt.succeeded([key])
        return
    async with transaction():
        await audit.record(actor, "user.operation_password_failed", target_type="user", target_id=actor.user_id)
    raise OperationPasswordRejected()
