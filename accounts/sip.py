"""SIP credentials of subscribers (issue 16): what a softswitch (Kamailio) needs to check the
digest of a subscriber's phone, and how the subscriber and staff set them.

The digest username is the subscriber's account number; the switch gets HA1 =
md5("{account}:{realm}:{SIP password}") in lowercase hex (RFC 2617 / RFC 8760's MD5), never
the password. Only the HA1 is stored, with the realm it was computed for: when the configured
realm changes, an HA1 made for the old one is not handed out (the subscriber sets the password
again), rather than handed out wrong. The SIP password is not the portal password: a phone keeps
it in its settings, where a portal password must never be.

The subscriber sets its own (giving its current portal password, checked by the login's
throttle); staff who manage the subscriber reset it to a random one, shown to them once. Both
are audited, without the password or the HA1."""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Any

from accounts import portal
from accounts.services import get_subscriber
from agency import audit
from agency.roles import Actor
from core import sql
from core.db import transaction
from core.errors import N_, Conflict, Forbidden, NotFound, ValidationFailed

DEFAULT_REALM = "voipagency"
# A realm the settings accept (VOIPAGENCY_SIP_REALM): a host name's characters, nothing a SIP
# header would have to quote or escape.
REALM = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,62}[A-Za-z0-9])?")
ACCOUNT = re.compile(r"[0-9]{1,20}")  # as the switch API's accounts (accounts.switch.ACCOUNT)
PASSWORD = re.compile(r"[\x21-\x7e]{8,64}")  # printable ASCII without spaces: a phone's keypad and menus
PASSWORD_RULE = N_("Use 8 to 64 printable ASCII characters (letters, digits, punctuation), without spaces.")
# A reset's password: 16 letters and digits without the look-alikes (0 O 1 l I), about 92 bits,
# to be typed into a phone's menu from the page.
GENERATED_ALPHABET = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
GENERATED_LENGTH = 16
SET_ACTION = "subscriber.set_sip_password"
SET_FAILED_ACTION = "subscriber.set_sip_password_failed"
RESET_ACTION = "subscriber.reset_sip_password"


def ha1(account: str, realm: str, password: str) -> str:
    """The digest's HA1: md5("account:realm:password"), lowercase hex."""
    return hashlib.md5(f"{account}:{realm}:{password}".encode(), usedforsecurity=False).hexdigest()


def generate_password() -> str:
    return "".join(secrets.choice(GENERATED_ALPHABET) for _ in range(GENERATED_LENGTH))


def check_password(password: object, field: str = "sip_password") -> str:
    """A chosen SIP password (PASSWORD), else ValidationFailed on `field`."""
    if not isinstance(password, str) or not PASSWORD.fullmatch(password):
        raise ValidationFailed({field: PASSWORD_RULE})
    return password


async def _store(subscriber_id: int, account: str, realm: str, password: str) -> bool:
    """Overwrites the subscriber's HA1 (the last write wins); False when the account is closed."""
    changed = await sql.fetch(
        "UPDATE subscriber SET sip_ha1 = {}, sip_realm = {} WHERE id = {} AND status <> 'closed' RETURNING id",
        ha1(account, realm, password),
        realm,
        subscriber_id,
    )
    return bool(changed)


async def _subscriber(subscriber_id: int) -> dict[str, Any]:
    row = await sql.fetch_one(
        "SELECT s.account_number, s.status, s.sip_ha1, s.sip_realm, a.path AS agent_path "
        "FROM subscriber s JOIN agent a ON a.id = s.agent WHERE s.id = {}",
        subscriber_id,
    )
    if row is None:
        raise NotFound()
    return row


def state(row: dict[str, Any], realm: str) -> dict[str, Any]:
    """What a subscriber's phone needs to know, and whether a SIP password is set for `realm`
    (`stale`: one was set, for another realm; it no longer works)."""
    return {
        "username": row["account_number"],
        "realm": realm,
        "is_set": row["sip_ha1"] is not None and row["sip_realm"] == realm,
        "stale": row["sip_ha1"] is not None and row["sip_realm"] != realm,
    }


async def sip_state(subscriber_id: int, realm: str) -> dict[str, Any]:
    """The subscriber's SIP username, the realm, and whether its password is set (state)."""
    return state(await _subscriber(subscriber_id), realm)


async def set_sip_password(
    subscriber_id: int, current_password: object, sip_password: object, *, realm: str, address: str
) -> dict[str, Any]:
    """The subscriber chooses its SIP password, giving its current portal password (checked as a
    change of the portal password checks it: the login's throttle and keys). A plain overwrite."""
    password = check_password(sip_password)
    row = await _subscriber(subscriber_id)
    await portal.check_current_password(
        subscriber_id, current_password, address=address, failed_action=SET_FAILED_ACTION
    )
    async with transaction():
        if not await _store(subscriber_id, row["account_number"], realm, password):
            raise Conflict(N_("This cannot be done in the account's current status."))
        await audit.record(
            None,
            SET_ACTION,
            target_type="subscriber",
            target_id=subscriber_id,
            scope_path=row["agent_path"],
            username=f"subscriber:{subscriber_id}",
            address=address,
            after={"realm": realm},
        )
    return await sip_state(subscriber_id, realm)


async def reset_sip_password(actor: Actor, subscriber_id: int, *, realm: str) -> dict[str, Any]:
    """Staff who manage the subscriber give it a new random SIP password, returned this once
    (`password`) beside the account's SIP state; it is stored only as its HA1."""
    if not actor.can("manage_subscribers"):
        raise Forbidden()
    row = await get_subscriber(actor, subscriber_id)  # its subtree's, else NotFound
    password = generate_password()
    async with transaction():
        if not await _store(subscriber_id, row["account_number"], realm, password):
            raise Conflict(N_("This cannot be done in the account's current status."))
        await audit.record(
            actor,
            RESET_ACTION,
            target_type="subscriber",
            target_id=subscriber_id,
            scope_path=row["agent_path"],
            after={"realm": realm},
        )
    return {
        **await sip_state(subscriber_id, realm),
        "subscriber_id": subscriber_id,
        "account_number": row["account_number"],
        "password": password,
    }


def check_account(account: object) -> str:
    """An account number as the switch sends it (digits, 1 to 20), else ValidationFailed."""
    if not isinstance(account, str) or not ACCOUNT.fullmatch(account):
        raise ValidationFailed({"account": N_("The format is not valid.")})
    return account


async def credentials_for_switch(account: object, realm: str) -> dict[str, str]:
    """The digest credentials of an account for the switch, asked for on every INVITE: one fixed
    statement by the account number's unique index. NotFound when the account is unknown or
    closed, has no SIP password, or has one made for another realm. Suspended and expired
    accounts get theirs (authorize refuses their calls, with the reason)."""
    number = check_account(account)
    row = await sql.fetch_one(
        "SELECT sip_ha1, sip_realm FROM subscriber WHERE account_number = {} AND status <> 'closed'",
        number,
    )
    if row is None or row["sip_ha1"] is None or row["sip_realm"] != realm:
        raise NotFound()
    return {"account": number, "realm": realm, "ha1": row["sip_ha1"]}
