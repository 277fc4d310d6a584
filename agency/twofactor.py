"""Two-factor login (issue 11.10): TOTP codes (RFC 6238, the authenticator apps' 30 s, 6 digits),
one-time recovery codes, and browsers remembered for 30 days.

The TOTP secret is kept as it is (a code cannot be checked against a hash of it); recovery codes
and remembered browsers' tokens only as SHA-256 (they are random, 50 and 256 bits). A code is
checked like a password: the attempt is claimed on the throttle first (agency.throttle.claim), and
a time step once used is refused after (`TwoFactor.last_step`, raised by one conditional UPDATE),
so the same code never opens two logins. Operator admins and finance staff must use it."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import pyotp

from agency import audit, throttle
from agency.roles import Actor
from agency.tables import RecoveryCode, RememberedDevice, TwoFactor, User
from core.clock import now
from core.db import transaction
from core.errors import N_, Conflict, ValidationFailed
from core.passwords import verify_off_loop

ISSUER = "voipagency"
REQUIRED_ROLES = ("admin", "finance")  # operator staff with these roles must use a second factor
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper
RECOVERY_LENGTH = 10  # about 50 bits each
DEVICE_DAYS = 30
WRONG_CODE = N_("The code is wrong or was already used, or too many attempts: try again later.")


@dataclass(frozen=True)
class Enrolment:
    """A secret being set up: for the authenticator app, as text and as an otpauth:// URI."""

    secret: str
    uri: str


def required(actor: Actor) -> bool:
    """Whether this user's role must log in with a second factor."""
    return actor.is_operator and actor.role in REQUIRED_ROLES


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _normal(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())


def _enrolment(secret: str, username: str) -> Enrolment:
    return Enrolment(secret, pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER))


async def is_enabled(user_id: int) -> bool:
    return await TwoFactor.exists().where((TwoFactor.user == user_id) & TwoFactor.enabled_at.is_not_null())


async def status(actor: Actor) -> dict[str, Any]:
    """Whether two-factor login is on (since when), the recovery codes left, the remembered
    browsers, whether this user must use it, and the set-up in progress (or None)."""
    row = await TwoFactor.select(TwoFactor.secret, TwoFactor.enabled_at).where(TwoFactor.user == actor.user_id).first()
    enabled = row is not None and row["enabled_at"] is not None
    return {
        "enabled": enabled,
        "enabled_at": row["enabled_at"] if enabled else None,
        "required": required(actor),
        "recovery_codes_left": await RecoveryCode.count().where(
            (RecoveryCode.user == actor.user_id) & RecoveryCode.used_at.is_null()
        )
        if enabled
        else 0,
        "remembered_devices": await RememberedDevice.count().where(
            (RememberedDevice.user == actor.user_id) & (RememberedDevice.expires_at > now())
        ),
        "enrolment": _enrolment(row["secret"], actor.username) if row and not enabled else None,
    }


async def start_enrolment(actor: Actor) -> Enrolment:
    """A new secret for this user, not in use until confirmed with a code (`confirm_enrolment`);
    it replaces a set-up in progress."""
    secret = pyotp.random_base32()
    async with transaction():
        row = await TwoFactor.select(TwoFactor.enabled_at).where(TwoFactor.user == actor.user_id).first()
        if row and row["enabled_at"] is not None:
            raise Conflict(N_("Two-factor login is already on."))
        if row:
            await TwoFactor.update(
                {TwoFactor.secret: secret, TwoFactor.created_at: now(), TwoFactor.last_step: 0}
            ).where(TwoFactor.user == actor.user_id)
        else:
            await TwoFactor.insert(TwoFactor(user=actor.user_id, secret=secret, created_at=now()))
        await audit.record(actor, "two_factor.start", target_type="user", target_id=actor.user_id)
    return _enrolment(secret, actor.username)


async def confirm_enrolment(actor: Actor, code: object) -> list[str]:
    """Turns two-factor login on once a code of the new secret is right; returns the recovery
    codes, to be shown once (only their hashes are kept)."""
    pending = await TwoFactor.exists().where((TwoFactor.user == actor.user_id) & TwoFactor.enabled_at.is_null())
    if not pending:
        raise Conflict(N_("Start the set-up of two-factor login first."))
    if await verify(actor.user_id, code, address=actor.address, actor=actor, enabled=False) is None:
        raise ValidationFailed({"code": WRONG_CODE})
    codes = new_recovery_codes()
    async with transaction():
        turned_on = (
            await TwoFactor.update({TwoFactor.enabled_at: now()})
            .where((TwoFactor.user == actor.user_id) & TwoFactor.enabled_at.is_null())
            .returning(TwoFactor.id)
        )
        if not turned_on:
            raise Conflict(N_("Two-factor login is already on."))
        await RecoveryCode.delete().where(RecoveryCode.user == actor.user_id)
        await RecoveryCode.insert(*(RecoveryCode(user=actor.user_id, code_hash=_digest(_normal(c))) for c in codes))
        await audit.record(
            actor,
            "two_factor.enable",
            target_type="user",
            target_id=actor.user_id,
            after={"recovery_codes": len(codes)},
        )
    return codes


def new_recovery_codes() -> list[str]:
    """RECOVERY_CODES random codes, shown as "abcde-fghjk" (dashes and case do not matter)."""
    codes = ["".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH)) for _ in range(RECOVERY_CODES)]
    return [f"{c[:5]}-{c[5:]}" for c in codes]


async def disable(actor: Actor, password: object, code: object) -> None:
    """Turns the actor's own two-factor login off: needs the login password and a code."""
    row = await User.select(User.password_hash).where(User.id == actor.user_id).first()
    if (
        not isinstance(password, str)
        or len(password) > 128
        or not await verify_off_loop(row["password_hash"], password)
    ):
        raise ValidationFailed({"password": N_("The current password is wrong.")})
    if not await is_enabled(actor.user_id):
        raise Conflict(N_("Two-factor login is not on."))
    if await verify(actor.user_id, code, address=actor.address, actor=actor) is None:
        raise ValidationFailed({"code": WRONG_CODE})
    async with transaction():
        await remove(actor.user_id)
        await audit.record(actor, "two_factor.disable", target_type="user", target_id=actor.user_id)


async def remove(user_id: int) -> bool:
    """Drops a user's second factor, recovery codes and remembered browsers (inside the caller's
    transaction, which audits); whether it was on."""
    was_on = await is_enabled(user_id)
    await TwoFactor.delete().where(TwoFactor.user == user_id)
    await RecoveryCode.delete().where(RecoveryCode.user == user_id)
    await forget_devices(user_id)
    return was_on


async def verify(
    user_id: int,
    code: object,
    *,
    address: str,
    actor: Actor | None = None,
    username: str = "",
    enabled: bool = True,
) -> str | None:
    """The kind of `code` ("totp" or "recovery") when it is a right, unused code of the user's
    second factor (`enabled`: the one in use; else the one being set up, TOTP only), and uses it
    up; None otherwise. Counted like a password, before the check; a failure is audited."""
    if not isinstance(code, str) or not _normal(code) or len(code) > 40:
        return None
    attempt = await throttle.claim(throttle.per_address(f"2fa:{user_id}", address, "addr"))
    kind = None
    if attempt is not None:
        try:
            kind = await _use_code(user_id, _normal(code), enabled)
        except Exception:
            await attempt.give_back()
            raise
        if kind:
            await attempt.succeeded(attempt.keys[:1], forgive_cleared=True)
            return kind
    async with transaction():
        if attempt is not None:
            await attempt.failed()
        await audit.record(
            actor,
            "two_factor.failed",
            target_type="user",
            target_id=user_id,
            username=username,
            address=address,
            after={"locked": attempt is None},
        )
    return None


async def _use_code(user_id: int, code: str, enabled: bool) -> str | None:
    row = (
        await TwoFactor.select(TwoFactor.secret, TwoFactor.last_step, TwoFactor.enabled_at)
        .where(TwoFactor.user == user_id)
        .first()
    )
    if row is None or (row["enabled_at"] is not None) != enabled:
        return None
    if code.isdigit() and len(code) == 6:
        step = matching_step(row["secret"], code, now())
        if step is None or step <= row["last_step"]:
            return None
        async with transaction():  # one winner, however many present the same code at once
            used = (
                await TwoFactor.update({TwoFactor.last_step: step})
                .where((TwoFactor.user == user_id) & (TwoFactor.last_step < step))
                .returning(TwoFactor.id)
            )
        return "totp" if used else None
    if enabled and len(code) == RECOVERY_LENGTH:
        async with transaction():
            used = (
                await RecoveryCode.update({RecoveryCode.used_at: now()})
                .where(
                    (RecoveryCode.user == user_id)
                    & (RecoveryCode.code_hash == _digest(code))
                    & RecoveryCode.used_at.is_null()
                )
                .returning(RecoveryCode.id)
            )
        return "recovery" if used else None
    return None


def matching_step(secret: str, code: str, at: dt.datetime) -> int | None:
    """Pure: the time step (of the current one and its two neighbours, for clocks a little off)
    whose code `code` is, or None."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(at)
    for step in (current, current - 1, current + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


async def remember_device(user_id: int) -> str:
    """A token for the browser's cookie that skips the second factor for DEVICE_DAYS (inside
    the login's transaction)."""
    token = secrets.token_urlsafe(32)
    at = now()
    await RememberedDevice.delete().where((RememberedDevice.user == user_id) & (RememberedDevice.expires_at <= at))
    await RememberedDevice.insert(
        RememberedDevice(
            token_hash=_digest(token), user=user_id, created_at=at, expires_at=at + dt.timedelta(days=DEVICE_DAYS)
        )
    )
    return token


async def device_remembered(user_id: int, token: object) -> bool:
    if not isinstance(token, str) or not token or len(token) > 100:
        return False
    return await RememberedDevice.exists().where(
        (RememberedDevice.user == user_id)
        & (RememberedDevice.token_hash == _digest(token))
        & (RememberedDevice.expires_at > now())
    )


async def forget_devices(user_id: int) -> int:
    """Every remembered browser of the user asks for the second factor again (inside the
    caller's transaction): on a password change or reset, and when two-factor login is reset."""
    gone = await RememberedDevice.delete().where(RememberedDevice.user == user_id).returning(RememberedDevice.id)
    return len(gone)
