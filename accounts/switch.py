"""The switch API's use cases (R-20 to R-22): its keys, `authorize` and rating the calls.

`authorize` answers whether a subscriber may call a destination now, for how long at most, and
reserves the airtime of that longest call until the call's record arrives or the reservation
times out: two concurrent calls cannot spend the same balance, and closing the account (the one
way to move a balance away) is refused while a reservation is open. Both take the subscriber's
row lock first (PostgreSQL) or the write lock (SQLite), so they cannot interleave.
The statements here run for every call, so they are fixed SQL (core/sql.py).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import re
import secrets
import time
import zoneinfo
from dataclasses import dataclass
from typing import Any

from accounts import controls, review
from accounts.rating import REVIEW_OVER, Tariff, billed_seconds, charge, longest_call
from accounts.tables import Call, DestinationRate, SwitchKey
from agency import audit
from agency.agents import valid_id
from agency.hours import OutsideHours, parse_calling_hours, window_end
from agency.roles import Actor
from agency.sessions import token_hash
from core import sql, stored_text
from core.clock import now
from core.db import transaction
from core.errors import N_, Conflict, Forbidden, NotFound, ValidationFailed
from core.loop_local import per_loop
from core.units import SECONDS
from core.validation import Checker
from money import ledger
from money.ledger import transfer
from stats import daily

KEY_PREFIX = "sw_"
GRACE = dt.timedelta(seconds=120)  # a reservation outlives its longest call by this much
MAX_BATCH = 1000
CALL_CONSUMPTION = ("operator:call-consumption", SECONDS)  # airtime used by calls (SPEC R-6)
ACCOUNT = re.compile(r"[0-9]{1,20}")  # whole-string matches (fullmatch); ASCII digits only
DESTINATION = re.compile(r"\+?[0-9]{1,32}")
CALL_ID = re.compile(r"[\x21-\x7e]{1,64}")  # printable ASCII, as switches make them
# Call records with impossible times are refused, not rated: a start or end more than this
# ahead of our clock (a switch's clock may run a little fast, no more), ...
CLOCK_TOLERANCE = dt.timedelta(minutes=5)
# ... a start longer ago than this (rate_calls(max_age=...) sets another), or a call over a day.
MAX_RECORD_AGE = dt.timedelta(days=31)
MAX_CALL_LENGTH = dt.timedelta(days=1)
# Why a call is refused (R-20, R-22a); the switch gets these words.
UNKNOWN, CLOSED, SUSPENDED, EXPIRED, NO_BALANCE, OUTSIDE_HOURS, BARRED, CALL_LIMIT = (
    "unknown",
    "closed",
    "suspended",
    "expired",
    "no balance",
    "outside calling hours",
    "barred destination",
    "concurrent call limit",
)


# --- keys -----------------------------------------------------------------------------------------


def _may_manage(actor: Actor) -> None:
    if not actor.can("manage_switch"):
        raise Forbidden()


async def create_key(actor: Actor, name: object) -> tuple[dict[str, Any], str]:
    """A new key; the key itself is returned this once and never stored."""
    _may_manage(actor)
    check = Checker({"name": name})
    check.text("name", max_len=64)
    name = check.done()["name"]
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    async with transaction():
        rows = await SwitchKey.insert(
            SwitchKey(
                name=name,
                key_hash=token_hash(key),
                prefix=key[:10],
                created_by=actor.user_id,
                created_at=now(),
            )
        ).returning(SwitchKey.id)
        await audit.record(
            actor, "switch_key.create", target_type="switch_key", target_id=rows[0]["id"], after={"name": name}
        )
    return await get_key(actor, rows[0]["id"]), key


KEY_COLUMNS = (SwitchKey.id, SwitchKey.name, SwitchKey.prefix, SwitchKey.created_at, SwitchKey.revoked_at)


async def get_key(actor: Actor, key_id: int) -> dict[str, Any]:
    _may_manage(actor)
    row = await SwitchKey.select(*KEY_COLUMNS).where(SwitchKey.id == key_id).first() if valid_id(key_id) else None
    if row is None:
        raise NotFound()
    return row


async def list_keys(actor: Actor) -> list[dict[str, Any]]:
    _may_manage(actor)
    return await SwitchKey.select(*KEY_COLUMNS).order_by(SwitchKey.id, ascending=False)


async def revoke_key(actor: Actor, key_id: int) -> dict[str, Any]:
    await get_key(actor, key_id)
    async with transaction():
        revoked = (
            await SwitchKey.update({SwitchKey.revoked_at: now()})
            .where((SwitchKey.id == key_id) & SwitchKey.revoked_at.is_null())
            .returning(SwitchKey.id)
        )
        if revoked:
            _live_keys.clear()
            await audit.record(actor, "switch_key.revoke", target_type="switch_key", target_id=key_id)
    return await get_key(actor, key_id)


# The keys found live lately, by hash: every call asks with its key, and the answer changes only
# when a key is revoked. Revoking forgets the key in this process at once; other processes (the
# server's workers) stop accepting it within KEY_MEMORY.
KEY_MEMORY = 1.0  # seconds
_live_keys: dict[str, tuple[int, float]] = {}


async def key_for_token(token: str) -> int | None:
    """The id of a live switch key, or None."""
    if not token.startswith(KEY_PREFIX) or len(token) > 100:
        return None
    hashed = token_hash(token)
    known = _live_keys.get(hashed)
    if known is not None and time.monotonic() - known[1] < KEY_MEMORY:
        return known[0]
    row = await sql.lookup("SELECT id, revoked_at FROM switch_key WHERE key_hash = {}", hashed)
    if row is None or row["revoked_at"] is not None:
        _live_keys.pop(hashed, None)
        return None
    if len(_live_keys) >= 100:  # a handful of switches; never more than this remembered
        _live_keys.clear()
    _live_keys[hashed] = (row["id"], time.monotonic())
    return row["id"]


# --- destination rates ----------------------------------------------------------------------------

PREFIX = re.compile(r"[0-9]{1,20}")
RATE_LIMITS = {
    "multiplier": (1, 10_000, N_("A whole percentage from 1 to 10000.")),
    "first_block": (1, 3600, N_("Whole seconds from 1 to 3600.")),
    "increment": (1, 3600, N_("Whole seconds from 1 to 3600.")),
}
RATE_COLUMNS = (
    DestinationRate.prefix,
    DestinationRate.multiplier,
    DestinationRate.first_block,
    DestinationRate.increment,
    DestinationRate.note,
)


async def list_rates(actor: Actor) -> list[dict[str, Any]]:
    _may_manage(actor)
    return await DestinationRate.select(*RATE_COLUMNS).order_by(DestinationRate.prefix)


async def set_rate(actor: Actor, prefix: object, data: dict[str, Any]) -> dict[str, Any]:
    """Create or change the billing of destinations starting with `prefix` (R-21)."""
    _may_manage(actor)
    errors: dict[str, str] = {}
    if not isinstance(prefix, str) or not PREFIX.fullmatch(prefix):
        errors["prefix"] = N_("Digits only, at most 20.")
    values: dict[str, Any] = {}
    for field, (low, high, message) in RATE_LIMITS.items():
        value = data.get(field, getattr(Tariff(), field))
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 6:  # from a form
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors[field] = message
        values[field] = value
    note = data.get("note") or ""
    if not isinstance(note, str) or len(note) > 100 or "\x00" in note:
        errors["note"] = N_("Too long.")
    if errors:
        raise ValidationFailed(errors)
    async with transaction():
        before = await DestinationRate.select(*RATE_COLUMNS).where(DestinationRate.prefix == prefix).first()
        await sql.execute(  # one statement, so two admins saving the same prefix at once cannot collide
            "INSERT INTO destination_rate (prefix, multiplier, first_block, increment, note) "
            "VALUES ({}, {}, {}, {}, {}) ON CONFLICT (prefix) DO UPDATE SET multiplier = excluded.multiplier, "
            "first_block = excluded.first_block, increment = excluded.increment, note = excluded.note",
            prefix,
            values["multiplier"],
            values["first_block"],
            values["increment"],
            note,
        )
        await audit.record(
            actor,
            "switch_rate.set",
            target_type="destination_rate",
            target_id=prefix,
            before=before,
            after={**values, "note": note},
        )
    return await DestinationRate.select(*RATE_COLUMNS).where(DestinationRate.prefix == prefix).first()


async def delete_rate(actor: Actor, prefix: object) -> None:
    _may_manage(actor)
    async with transaction():
        gone = (
            await DestinationRate.delete()
            .where(DestinationRate.prefix == str(prefix)[:20])
            .returning(DestinationRate.prefix)
        )
        if not gone:
            raise NotFound()
        await audit.record(actor, "switch_rate.delete", target_type="destination_rate", target_id=str(prefix))


# --- calls of a subscriber ------------------------------------------------------------------------

CALL_COLUMNS = (
    Call.call_id,
    Call.destination,
    Call.started_at,
    Call.answered_at,
    Call.duration,
    Call.billed,
    Call.charged,
    Call.flagged,
)


async def calls_of(subscriber_id: int, *, limit: int = 10) -> list[dict[str, Any]]:
    """The subscriber's latest rated calls, newest first. The caller has checked who may see them
    (the subscriber itself in the portal; staff through the subtree-scoped get_subscriber)."""
    limit = max(1, min(limit, 200))
    return (
        await Call.select(*CALL_COLUMNS)
        .where(Call.subscriber == subscriber_id)
        .order_by(Call.started_at, ascending=False)
        .limit(limit)
    )


# --- authorize ------------------------------------------------------------------------------------


def _text(data: dict[str, Any], field: str, pattern: re.Pattern, errors: dict[str, str]) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not pattern.fullmatch(value.strip()):
        errors[field] = N_("The format is not valid.")
        return ""
    return value.strip()


def _prefixes(destination: str) -> list[str]:
    digits = destination.lstrip("+")
    return [digits[:n] for n in range(1, min(len(digits), 20) + 1)]


def _longest_prefix_rate(prefixes: list[str]) -> str:
    """SQL of the billing of the longest matching prefix (index lookups, no scan); no row: the default."""
    return (
        "SELECT multiplier, first_block, increment FROM destination_rate "
        f"WHERE prefix IN ({sql.marks(prefixes)}) ORDER BY LENGTH(prefix) DESC LIMIT 1"
    )


def _tariff_of(row: dict[str, Any]) -> Tariff:
    if row["multiplier"] is None:
        return Tariff()
    return Tariff(multiplier=row["multiplier"], first_block=row["first_block"], increment=row["increment"])


async def _tariff(destination: str) -> Tariff:
    """The longest matching prefix's billing, else the default."""
    prefixes = _prefixes(destination)
    row = await sql.fetch_one(_longest_prefix_rate(prefixes), *prefixes)
    return Tariff(**row) if row else Tariff()


def _locked(sql_text: str) -> str:
    """The statement taking the row lock of what it selects, where the database has row locks."""
    return sql_text + (" FOR UPDATE OF s" if sql.engine_type() == "postgres" else "")


async def purge_expired_reservations() -> int:
    """Reservations of calls whose records never came, once they can no longer be running."""
    async with transaction():
        gone = await sql.fetch("DELETE FROM call_reservation WHERE expires_at <= {} RETURNING id", now())
    return len(gone)


async def has_call_in_progress(subscriber_id: int) -> bool:
    """An open reservation: a call authorized whose record has not come and could still be running."""
    row = await sql.fetch_one(
        "SELECT id FROM call_reservation WHERE subscriber = {} AND expires_at > {} LIMIT 1",
        subscriber_id,
        now(),
    )
    return row is not None


def _subscriber_and_hours(also: str = "", joined: str = "") -> str:
    """SQL of the subscriber, and of its agent and every agent above it: one row per agent of that
    chain, walked up by primary key from the subscriber's agent, with each agent's calling hours
    (R-22) and cap on calls at once in its subtree (R-22a); with the columns `also` ("…, ") read
    beside, from what `joined` joins. Arguments: the account, those of `also` and `joined`, the
    account again."""
    return (
        "WITH RECURSIVE chain (id, parent, path, timezone, calling_hours, call_cap) AS ("
        "SELECT a.id, a.parent, a.path, a.timezone, a.calling_hours, a.call_cap FROM subscriber s0 "
        "JOIN agent a ON a.id = s0.agent WHERE s0.account_number = {} "
        "UNION ALL SELECT p.id, p.parent, p.path, p.timezone, p.calling_hours, p.call_cap FROM chain c "
        "JOIN agent p ON p.id = c.parent) "
        f"SELECT {also}s.id, s.status, s.expires_at, s.call_cap AS own_cap, c.id AS agent_id, c.path, "
        f"c.call_cap, c.timezone, c.calling_hours FROM subscriber s CROSS JOIN chain c {joined} "
        "WHERE s.account_number = {}"
    )


Fragment = tuple[str, list[Any]]  # SQL and its arguments


def _state_columns(
    call_id: str,
    destination: str,
    at: dt.datetime,
    prefixes: list[str],
    code: Fragment,
    subscriber: Fragment,
    path: Fragment,
) -> Fragment:
    """What authorize reads once the subscriber is locked: this call id's reservation, the balance,
    what open reservations hold and how many there are, the destination's bar, the usage rules'
    thresholds, the operator's settings, and the destination's billing (r, joined; NULLs: the
    default). `code`, `subscriber` and `path` are the SQL of the subscriber's ledger code, its id
    and its agent's path."""
    parts: list[str] = []
    args: list[Any] = []

    def read(text: str, *values: Any) -> None:
        parts.append(text)
        args.extend(values)

    read("(SELECT subscriber FROM call_reservation WHERE call_id = {}) AS earlier_subscriber", call_id)
    read("(SELECT max_seconds FROM call_reservation WHERE call_id = {}) AS earlier_seconds", call_id)
    read(f"(SELECT balance FROM ledger_account WHERE code = {code[0]}) AS balance", *code[1])
    read(
        f"(SELECT COALESCE(SUM(reserved), 0) FROM call_reservation WHERE subscriber = {subscriber[0]} "
        "AND expires_at > {}) AS held",
        *subscriber[1],
        at,
    )
    read(
        f"(SELECT COUNT(*) FROM call_reservation WHERE subscriber = {subscriber[0]} AND expires_at > {{}}) "
        "AS live_calls",
        *subscriber[1],
        at,
    )
    read(f"({controls.barred_sql(prefixes, path[0])}) AS barred", *prefixes, *path[1])
    read(f"({controls.rule_sql(controls.CALLS, path[0])}) AS calls_rule", *path[1])
    read(f"({controls.rule_sql(controls.COUNTRIES, path[0])}) AS countries_rule", *path[1])
    read(f"({controls.calls_in_hour_sql(subscriber[0])}) AS calls_in_hour", *subscriber[1], at - controls.HOUR)
    country = controls.country_pattern(destination)
    read(
        f"COALESCE(({controls.country_known_sql(subscriber[0])}), 0) AS known_country",
        *subscriber[1],
        at - controls.KNOWN_COUNTRIES,
        country,
        *subscriber[1],
        at,
        country,
    )
    read(
        f"COALESCE((SELECT max_call_seconds FROM switch_settings WHERE id = 1), {controls.MAX_CALL}) "
        "AS max_call_seconds"
    )
    read(
        f"COALESCE((SELECT subscriber_call_cap FROM switch_settings WHERE id = 1), {controls.CALL_CAP}) AS default_cap"
    )
    read("r.multiplier, r.first_block, r.increment")
    return ", ".join(parts), args


async def _subscriber_and_state(
    account: str, destination: str, call_id: str, at: dt.datetime
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The subscriber with its chain of agents (one row per agent of the chain, locked) and the
    state of the call. On PostgreSQL the state is read by a statement of its own, after the lock
    was granted, so that it sees what the transaction that held the lock committed; on SQLite the
    transaction holds the write lock already, and one statement reads everything."""
    prefixes = _prefixes(destination)
    rate = f"LEFT JOIN ({_longest_prefix_rate(prefixes)}) AS r ON TRUE"
    if sql.engine_type() == "postgres":
        chain = await sql.fetch(_locked(_subscriber_and_hours()), account, account)
        if not chain:
            return [], {}
        subscriber = chain[0]["id"]
        columns, args = _state_columns(
            call_id,
            destination,
            at,
            prefixes,
            code=("{}", [ledger.subscriber_code(subscriber)]),
            subscriber=("{}", [subscriber]),
            path=("{}", [_own_agent(chain)["path"]]),
        )
        state = await sql.fetch_one(f"SELECT {columns} FROM (SELECT 1 AS one) AS one {rate}", *args, *prefixes)
        return chain, state or {}
    columns, args = _state_columns(
        call_id,
        destination,
        at,
        prefixes,
        code=("{} || s.id", [ledger.subscriber_code("")]),  # the codes' prefix, before the id
        subscriber=("s.id", []),
        path=("(SELECT MAX(path) FROM chain)", []),  # a descendant's path sorts after its ancestors'
    )
    rows = await sql.fetch(_subscriber_and_hours(columns + ", ", rate), account, *args, *prefixes, account)
    return rows, rows[0] if rows else {}


def _own_agent(chain: list[dict[str, Any]]) -> dict[str, Any]:
    """The subscriber's agent: the chain's deepest."""
    return max(chain, key=lambda row: len(row["path"]))


def _capped(chain: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The agents of the chain with a cap on calls at once in their subtree, root first."""
    return sorted((row for row in chain if row["call_cap"] is not None), key=lambda row: len(row["path"]))


async def _rule_fired(chain: list[dict[str, Any]], state: dict[str, Any], destination: str, at: dt.datetime) -> bool:
    """Does this call take the subscriber over a usage rule counted at authorization (calls, new
    countries within an hour)? Then the subscriber is suspended, at once (R-22a)."""
    subscriber, agent = chain[0]["id"], _own_agent(chain)["agent_id"]
    counted: list[tuple[str, int, int]] = []  # (rule, observed, threshold)
    if state["calls_rule"] is not None:
        counted.append((controls.CALLS, state["calls_in_hour"] + state["live_calls"] + 1, state["calls_rule"]))
    if state["countries_rule"] is not None and not state["known_country"]:  # a known country adds none
        countries = await controls.new_countries_within_hour(subscriber, destination, at)
        counted.append((controls.COUNTRIES, countries, state["countries_rule"]))
    for kind, observed, threshold in counted:
        if observed > threshold:
            await controls.suspend_for_fraud(subscriber, agent, kind, observed, threshold)
            return True
    return False


def _window_closes(chain: list[dict[str, Any]], at: dt.datetime) -> dt.datetime | None:
    """When the effective calling window closes: the earliest end of the windows of the agent
    and of every agent above it, each in its own agent's time zone (None: no window anywhere).
    Raises OutsideHours when `at` lies outside any of them."""
    ends = [
        window_end(window, at, _zone(row["timezone"]))
        for row in chain
        if (window := _window(row["calling_hours"])) is not None
    ]
    return min((end for end in ends if end is not None), default=None)


def _denied(reason: str, call_id: str, detail: str = "") -> dict[str, Any]:
    """A refusal; `detail`, when there is one, says more (a bar's reason code, a rule's suspension)."""
    return {"call_id": call_id, "allow": False, "max_seconds": 0, "reason": reason} | (
        {"detail": detail} if detail else {}
    )


async def authorize(data: dict[str, Any]) -> dict[str, Any]:
    """R-20: {account, destination, call_id} -> {allow, max_seconds, reason, detail}. A retry with
    the same call id gets the same answer and reserves nothing more. The controls of R-22a apply:
    a barred destination is refused (detail: the bar's reason code), so is a call over the
    subscriber's or a subtree's cap on calls at once, and a call that takes the subscriber over a
    usage rule suspends it (detail: controls.FRAUD_SUSPECTED); `max_seconds` is at most the
    operator's longest call."""
    errors: dict[str, str] = {}
    account = _text(data, "account", ACCOUNT, errors)
    destination = _text(data, "destination", DESTINATION, errors)
    call_id = _text(data, "call_id", CALL_ID, errors)
    if errors:
        raise ValidationFailed(errors)
    at = now()
    async with transaction():
        chain, state = await _subscriber_and_state(account, destination, call_id, at)
        if not chain:
            return _denied(UNKNOWN, call_id)
        subscriber = chain[0]
        tariff = _tariff_of(state)
        if state["earlier_subscriber"] is not None:  # the switch asked again for the same call
            if state["earlier_subscriber"] != subscriber["id"]:
                raise ValidationFailed({"call_id": N_("This call id was used for another account.")})
            return _allowed(call_id, state["earlier_seconds"])
        if subscriber["status"] == "closed":
            return _denied(CLOSED, call_id)
        if subscriber["status"] != "active":
            return _denied(SUSPENDED, call_id)
        if subscriber["expires_at"] is not None and subscriber["expires_at"] <= at:
            return _denied(EXPIRED, call_id)
        if state["barred"] is not None:
            return _denied(BARRED, call_id, state["barred"])
        if state["live_calls"] >= (subscriber["own_cap"] or state["default_cap"]):
            return _denied(CALL_LIMIT, call_id)
        if await _rule_fired(chain, state, destination, at):
            return _denied(SUSPENDED, call_id, controls.FRAUD_SUSPECTED)
        try:
            closes = _window_closes(chain, at)
        except OutsideHours:
            return _denied(OUTSIDE_HOURS, call_id)
        seconds = min(longest_call((state["balance"] or 0) - int(state["held"]), tariff), state["max_call_seconds"])
        if seconds == 0:
            return _denied(NO_BALANCE, call_id)
        if closes is not None:  # hang up when the calling hours end
            seconds = min(seconds, int((closes - at).total_seconds()))
            if seconds <= 0:
                return _denied(OUTSIDE_HOURS, call_id)
        expires = at + dt.timedelta(seconds=seconds) + GRACE
        if not await controls.take_slots(_capped(chain), call_id, at, expires):  # a subtree's cap (R-22a)
            return _denied(CALL_LIMIT, call_id)
        held = await sql.fetch(
            "INSERT INTO call_reservation (call_id, subscriber, destination, max_seconds, reserved, created_at, "
            "expires_at) VALUES ({}, {}, {}, {}, {}, {}, {}) ON CONFLICT (call_id) DO NOTHING RETURNING id",
            call_id,
            subscriber["id"],
            destination,
            seconds,
            charge(billed_seconds(seconds, tariff), tariff),
            at,
            expires,
        )
        if not held:  # the same call id, for another account, at this very moment
            raise ValidationFailed({"call_id": N_("This call id was used for another account.")})
    return _allowed(call_id, seconds)


def _allowed(call_id: str, seconds: int) -> dict[str, Any]:
    return {"call_id": call_id, "allow": True, "max_seconds": seconds, "reason": ""}


@functools.lru_cache(maxsize=256)
def _window(calling_hours: str):
    try:
        return parse_calling_hours(calling_hours or "")
    except ValueError:  # validated when saved; an unreadable value restricts nothing
        return None


@functools.lru_cache(maxsize=256)
def _zone(name: str) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):  # validated when saved
        return zoneinfo.ZoneInfo("Asia/Shanghai")


# --- call records ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallRecord:
    call_id: str
    account: str
    destination: str
    started_at: dt.datetime
    answered_at: dt.datetime | None
    ended_at: dt.datetime

    @property
    def duration(self) -> int:
        if self.answered_at is None:
            return 0
        return max(0, int((self.ended_at - self.answered_at).total_seconds()))


def _moment(value: object) -> dt.datetime | None:
    """An ISO 8601 time with its offset, or seconds since the epoch."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and 0 < value < 10**11:
        return dt.datetime.fromtimestamp(value, dt.UTC)
    if isinstance(value, str) and len(value) <= 40:
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        return moment.astimezone(dt.UTC) if moment.tzinfo is not None else None
    return None


def parse_record(
    data: object, *, received_at: dt.datetime | None = None, max_age: dt.timedelta = MAX_RECORD_AGE
) -> CallRecord:
    """A call record's fields, checked; its times must be possible at `received_at` (now): the
    answer not before the start, the end not before either, neither start nor end more than
    CLOCK_TOLERANCE ahead, the start at most `max_age` ago, and at most a day from start to end.
    Each refusal names its field and why."""
    if not isinstance(data, dict):
        raise ValidationFailed({"record": N_("The format is not valid.")})
    errors: dict[str, str] = {}
    call_id = _text(data, "call_id", CALL_ID, errors)
    account = _text(data, "account", ACCOUNT, errors)
    destination = _text(data, "destination", DESTINATION, errors)
    moments = {}
    for field in ("start", "answer", "end"):
        if field == "answer" and data.get(field) in (None, ""):
            moments[field] = None
            continue
        moments[field] = _moment(data.get(field))
        if moments[field] is None:
            errors[field] = N_("A time with its offset, or seconds since 1970.")
    if not errors:
        errors = _impossible_times(moments, received_at or now(), max_age)
    if errors:
        raise ValidationFailed(errors)
    return CallRecord(call_id, account, destination, moments["start"], moments["answer"], moments["end"])


def _impossible_times(
    moments: dict[str, dt.datetime | None], received_at: dt.datetime, max_age: dt.timedelta
) -> dict[str, str]:
    start, answer, end = moments["start"], moments["answer"], moments["end"]
    assert start is not None and end is not None
    latest = received_at + CLOCK_TOLERANCE
    errors: dict[str, str] = {}
    if start > latest:
        errors["start"] = N_("The start is in the future.")
    elif start < received_at - max_age:
        errors["start"] = N_("The call is too old to be rated.")
    if answer is not None and answer < start:
        errors["answer"] = N_("The answer is before the start.")
    if end > latest:
        errors["end"] = N_("The end is in the future.")
    elif answer is not None and end < answer:
        errors["end"] = N_("The end is before the answer.")
    elif end < start:
        errors["end"] = N_("The end is before the start.")
    elif end - start > MAX_CALL_LENGTH:
        errors["end"] = N_("The call lasts more than a day.")
    return errors


async def rate_calls(records: list[object], *, max_age: dt.timedelta = MAX_RECORD_AGE) -> list[dict[str, Any]]:
    """R-21: rate a batch of call records in one transaction; one result per record, in order.
    A record already rated (same call id and details) is reported as such and changes nothing;
    the same call id with other details is refused. A record with impossible times (parse_record:
    out of order, ahead of the clock, started more than `max_age` ago, over a day) is `invalid`,
    with the field and the reason, and charges nothing."""
    if not isinstance(records, list) or not 1 <= len(records) <= MAX_BATCH:
        raise ValidationFailed({"calls": N_("Between 1 and 1000 records.")})
    results: list[dict[str, Any] | None] = [None] * len(records)
    parsed = []
    received_at = now()
    for index, raw in enumerate(records):
        try:
            parsed.append((index, parse_record(raw, received_at=received_at, max_age=max_age)))
        except ValidationFailed as invalid:
            call_id = raw.get("call_id") if isinstance(raw, dict) and isinstance(raw.get("call_id"), str) else ""
            results[index] = {"call_id": call_id[:64], "status": "invalid", "errors": invalid.errors}
    if not parsed:
        return results
    tariffs = {destination: await _tariff(destination) for destination in {r.destination for _i, r in parsed}}
    async with _rating_turn(), transaction():
        batch = _Batch(*await _batch_state([record for _index, record in parsed]))
        for index, record in parsed:
            results[index] = batch.rate(record, tariffs[record.destination])
        await batch.write()
    return results


# One rating transaction at a time in this process. Batches update the same rows (the operator's
# call-consumption account, the agents' daily figures), so they take turns at those rows anyway: on
# PostgreSQL at its row locks, each holding a connection and a backend meanwhile; on SQLite in the
# writers' queue, where a call's authorize then waits behind every batch queued ahead of it.
# Waiting here instead, they leave the CPU and the queue to authorize, which a call's setup waits
# for; records, which no call waits for, are rated a little later. (Kamailio's configuration in
# contrib/kamailio sends one batch at a time anyway.) The benchmarks' figures are in the README.
_rating_turn = per_loop(asyncio.Lock)


async def _batch_state(records: list[CallRecord]) -> tuple[dict[str, dict], dict[str, dict]]:
    """The batch's subscribers by account number (with their agent's path and their balance
    account) and the calls already rated under its call ids. The subscribers are locked first, in
    account order as in every batch (PostgreSQL; SQLite's transaction holds the write lock): two
    batches never wait for each other in a cycle, and a record sent twice at once is rated once
    (the other batch waits, then finds it rated)."""
    accounts = sorted({record.account for record in records})
    if sql.engine_type() == "postgres":
        await sql.fetch(
            f"SELECT s.id FROM subscriber s WHERE s.account_number IN ({sql.marks(accounts)}) "
            "ORDER BY s.account_number FOR UPDATE OF s",
            *accounts,
        )
    subscribers = await sql.fetch(
        "SELECT s.id, s.account_number, s.agent, g.path, a.id AS account_id, a.balance FROM subscriber s "
        "JOIN agent g ON g.id = s.agent "
        f"LEFT JOIN ledger_account a ON a.code = {{}} || s.id WHERE s.account_number IN ({sql.marks(accounts)})",
        ledger.subscriber_code(""),  # the codes' prefix, before the id
        *accounts,
    )
    call_ids = sorted({record.call_id for record in records})
    done = await sql.fetch(
        "SELECT c.call_id, c.destination, c.started_at, c.answered_at, c.ended_at, c.charged, s.account_number "
        f"FROM call c JOIN subscriber s ON s.id = c.subscriber WHERE c.call_id IN ({sql.marks(call_ids)})",
        *call_ids,
    )
    return {row["account_number"]: row for row in subscribers}, {row["call_id"]: row for row in done}


class _Batch:
    """The rating of one batch: each record is rated in memory, against balances that the batch's
    own charges have already reduced; then everything is written in a few statements."""

    def __init__(self, subscribers: dict[str, dict], done: dict[str, dict]) -> None:
        self.subscribers = subscribers
        self.done = done  # rated before, or earlier in this batch: call id -> details
        self.balances = {row["account_id"]: row["balance"] for row in subscribers.values() if row["account_id"]}
        self.charges: list[tuple[int, str, str, int]] = []  # (account, call id, destination, seconds)
        self.calls: list[tuple] = []
        self.flagged: list[tuple[int, int, str, str, int, int]] = []  # review items (review.flag_calls)

    def rate(self, record: CallRecord, tariff: Tariff) -> dict[str, Any]:
        done = self.done.get(record.call_id)
        if done is not None:
            details = (record.account, record.destination, record.started_at, record.answered_at, record.ended_at)
            same = details == (
                done["account_number"],
                done["destination"],
                done["started_at"],
                done["answered_at"],
                done["ended_at"],
            )
            return {
                "call_id": record.call_id,
                "status": "duplicate" if same else "conflict",
                "charged": done["charged"],
            }
        subscriber = self.subscribers.get(record.account)
        if subscriber is None:
            return {"call_id": record.call_id, "status": "unknown account", "charged": 0}
        billed = billed_seconds(record.duration, tariff)
        due = charge(billed, tariff)
        account = subscriber["account_id"]
        taken = min(due, self.balances[account]) if account else 0  # the reservation covered it, unless timed out
        if taken:
            self.balances[account] -= taken
            self.charges.append((account, record.call_id, record.destination, taken))
        self.calls.append(
            (
                record.call_id,
                subscriber["id"],
                subscriber["agent"],
                record.destination,
                record.started_at,
                record.answered_at,
                record.ended_at,
                record.duration,
                billed,
                taken,
                due - taken,
                tariff.multiplier,
                record.duration > REVIEW_OVER or taken < due,
            )
        )
        if taken < due:
            self.flagged.append(
                (subscriber["id"], subscriber["agent"], record.call_id, review.UNCOVERED, due - taken, 0)
            )
        elif record.duration > REVIEW_OVER:
            self.flagged.append(
                (subscriber["id"], subscriber["agent"], record.call_id, review.LONG_CALL, record.duration, REVIEW_OVER)
            )
        self.done[record.call_id] = {
            "account_number": record.account,
            "destination": record.destination,
            "started_at": record.started_at,
            "answered_at": record.answered_at,
            "ended_at": record.ended_at,
            "charged": taken,
        }
        # the day the call began
        daily.count(subscriber["agent"], record.started_at, path=subscriber["path"], calls=1, consumed_seconds=taken)
        return {"call_id": record.call_id, "status": "rated", "charged": taken, "billed_seconds": billed}

    async def write(self) -> None:
        if not self.calls:
            return
        if self.charges:
            consumption = await ledger.system_account(CALL_CONSUMPTION)
            await ledger.post_many(
                "call",
                "call",
                [
                    ledger.JournalItem(
                        transfer(account, consumption, SECONDS, taken),
                        stored_text.message(N_("Call to %(destination)s"), destination=destination),
                        call_id,
                    )
                    for account, call_id, destination, taken in self.charges
                ],
            )
        at = now()
        call_ids = [call[0] for call in self.calls]
        # The calls are over: their reservations go, so a subscriber's reservations are only the
        # calls that may still be running (authorize sums them on every call).
        await sql.execute(f"DELETE FROM call_reservation WHERE call_id IN ({sql.marks(call_ids)})", *call_ids)
        await controls.free_slots(call_ids)
        rows = ", ".join("({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})" for _ in self.calls)
        inserted = await sql.fetch(
            "INSERT INTO call (call_id, subscriber, agent, destination, started_at, answered_at, ended_at, duration, "
            f"billed, charged, uncollected, multiplier, flagged, rated_at) VALUES {rows} "
            "ON CONFLICT (call_id) DO NOTHING RETURNING id",
            *(value for call in self.calls for value in (*call, at)),
        )
        if len(inserted) < len(self.calls):  # a call id rated for another account at this very moment
            raise Conflict(N_("A call record with this call id is being rated; send the batch again."))
        await review.flag_calls(self.flagged)
        await controls.check_minutes(sorted({call[1] for call in self.calls}), at)
