"""Flow control and fraud controls of calls (R-22a): what the operator and the agents set, and the
checks `authorize` and rating run against it.

- The operator's settings: the longest call `authorize` grants, and how many calls at once a
  subscriber may have unless its own cap says otherwise.
- Caps on calls at once: per subscriber (its agent's staff set it) and per agent subtree (the
  agent's parent, or the operator, sets it: an agent cannot lift its own).
- Barred destination prefixes, operator-wide or for an agent's subtree, each with a reason code.
- Usage rules: more than a threshold of calls, answered minutes or new countries within an hour
  suspends the subscriber at once ("fraud suspected") and opens a review item (accounts.review).

Scopes are agent paths: "" is everyone (the operator's), an agent's path its whole subtree; a
subscriber is subject to every scope its agent's path starts with.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import phonenumbers

from accounts.status import move_status
from accounts.tables import UsageRule
from agency import agents, audit
from agency.roles import Actor
from agency.tree import is_within, subtree_bounds
from core import sql
from core.clock import now
from core.db import transaction
from core.errors import N_, Forbidden, NotFound, ValidationFailed
from core.units import parse_whole

BAR_REASONS = {
    "premium": N_("Premium-rate numbers"),
    "satellite": N_("Satellite and high-cost networks"),
    "fraud": N_("Known fraud destinations"),
    "policy": N_("Not offered"),
}
CALLS, MINUTES, COUNTRIES = "calls_per_hour", "minutes_per_hour", "countries_per_hour"
RULE_KINDS = {
    CALLS: N_("More than this many calls within an hour"),
    MINUTES: N_("More than this many answered minutes within an hour"),
    COUNTRIES: N_("More than this many countries not called in the 30 days before, within an hour"),
}
FRAUD_SUSPECTED = "fraud_suspected"  # the reason recorded when a rule suspends a subscriber
MAX_CALL, CALL_CAP = 3600, 1  # the settings' defaults (the migration writes them)
HOUR = dt.timedelta(hours=1)
KNOWN_COUNTRIES = dt.timedelta(days=30)
MAX_CAP = 1000
MAX_CALL_SECONDS = 86_400
MAX_THRESHOLD = 1_000_000
PREFIX = re.compile(r"[0-9]{1,20}")


def _whole(errors: dict[str, str], field: str, value: object, minimum: int, maximum: int) -> int:
    """A whole number in [minimum, maximum]; otherwise the field's message goes into `errors`."""
    try:
        return parse_whole(
            field,
            value,
            minimum=minimum,
            maximum=maximum,
            message=N_("Enter a whole number."),
            range_message=N_("The number is out of range."),
        )
    except ValidationFailed as invalid:
        errors.update(invalid.errors)
        return 0


def _may_manage(actor: Actor) -> None:
    if not actor.can("manage_call_controls"):
        raise Forbidden()


def in_scope(path_sql: str) -> str:
    """SQL: the row's `scope` covers the agent path `path_sql` (a column or a placeholder)."""
    return f"substr({path_sql}, 1, length(scope)) = scope"


def country_of(destination: str) -> str:
    """The destination's E.164 country calling code ("86"), or its first three digits when it
    starts with none (a national number: the same "country" for every call of that kind)."""
    digits = destination.lstrip("+")
    for length in (1, 2, 3):
        if int(digits[:length] or 0) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return digits[:length]
    return digits[:3]


# --- the operator's settings ------------------------------------------------------------------------


async def get_settings() -> dict[str, Any]:
    row = await sql.fetch_one("SELECT max_call_seconds, subscriber_call_cap FROM switch_settings WHERE id = 1")
    return row or {"max_call_seconds": MAX_CALL, "subscriber_call_cap": CALL_CAP}


async def save_settings(actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    _may_manage(actor)
    if not actor.is_operator:
        raise Forbidden()
    errors: dict[str, str] = {}
    values = {
        "max_call_seconds": _whole(errors, "max_call_seconds", data.get("max_call_seconds"), 60, MAX_CALL_SECONDS),
        "subscriber_call_cap": _whole(errors, "subscriber_call_cap", data.get("subscriber_call_cap"), 1, MAX_CAP),
    }
    if errors:
        raise ValidationFailed(errors)
    async with transaction():
        before = await get_settings()
        await sql.execute(
            "INSERT INTO switch_settings (id, max_call_seconds, subscriber_call_cap, updated_by, updated_at) "
            "VALUES (1, {}, {}, {}, {}) ON CONFLICT (id) DO UPDATE SET max_call_seconds = excluded.max_call_seconds, "
            "subscriber_call_cap = excluded.subscriber_call_cap, updated_by = excluded.updated_by, "
            "updated_at = excluded.updated_at",
            values["max_call_seconds"],
            values["subscriber_call_cap"],
            actor.user_id,
            now(),
        )
        await audit.record(
            actor, "call_settings.save", target_type="switch_settings", target_id=1, before=before, after=values
        )
    return values


# --- caps ------------------------------------------------------------------------------------------------


def _cap(value: object, errors: dict[str, str]) -> int | None:
    """A cap from a form or JSON: empty or null clears it."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return _whole(errors, "call_cap", value, 1, MAX_CAP)


async def set_agent_cap(actor: Actor, agent_id: int, value: object) -> dict[str, Any]:
    """The cap on calls at once in an agent's subtree, set by its parent's staff or the operator."""
    agent = await agents.get_managed(actor, agent_id, "manage_call_controls", allow_own=False)
    errors: dict[str, str] = {}
    cap = _cap(value, errors)
    if errors:
        raise ValidationFailed(errors)
    async with transaction():
        await sql.execute("UPDATE agent SET call_cap = {} WHERE id = {}", cap, agent["id"])
        await make_slots(agent["id"], cap)
        await audit.record(
            actor,
            "agent.call_cap",
            target_type="agent",
            target_id=agent["id"],
            scope_path=agent["path"],
            before={"call_cap": agent.get("call_cap")},
            after={"call_cap": cap},
        )
    return {"agent": agent["id"], "call_cap": cap}


async def set_subscriber_cap(actor: Actor, subscriber_id: int, value: object) -> dict[str, Any]:
    """How many calls at once the subscriber may have; empty: the operator's default."""
    row = None
    if actor.can("manage_subscribers") and agents.valid_id(subscriber_id):
        row = await sql.fetch_one(
            "SELECT s.id, s.call_cap, a.path FROM subscriber s JOIN agent a ON a.id = s.agent WHERE s.id = {}",
            subscriber_id,
        )
    if row is None or not is_within(row["path"], actor.scope_path):
        raise NotFound()
    errors: dict[str, str] = {}
    cap = _cap(value, errors)
    if errors:
        raise ValidationFailed(errors)
    async with transaction():
        await sql.execute("UPDATE subscriber SET call_cap = {} WHERE id = {}", cap, row["id"])
        await audit.record(
            actor,
            "subscriber.call_cap",
            target_type="subscriber",
            target_id=row["id"],
            scope_path=row["path"],
            before={"call_cap": row["call_cap"]},
            after={"call_cap": cap},
        )
    return {"subscriber": row["id"], "call_cap": cap}


# --- barred prefixes and usage rules ----------------------------------------------------------------


async def _scope_for(actor: Actor, agent_id: object) -> str:
    """Where a bar or rule applies: the operator's staff choose everyone (no agent) or an agent's
    subtree; an agent's staff set them for their own subtree."""
    _may_manage(actor)
    if not actor.is_operator:
        return actor.agent_path
    if agent_id in (None, ""):
        return ""
    if isinstance(agent_id, str) and agent_id.isascii() and agent_id.isdigit() and len(agent_id) <= 10:
        agent_id = int(agent_id)
    if not agents.valid_id(agent_id):
        raise ValidationFailed({"agent": N_("Choose an agent.")})
    return (await agents.get_agent(actor, agent_id))["path"]


def _visible(actor: Actor) -> tuple[str, list[Any]]:
    """SQL condition and arguments: the bars or rules an actor sees: those that apply to its
    subtree (set above it or by it) and those of the agents below it."""
    if actor.is_operator:
        return "1 = 1", []
    return f"({in_scope('{}')} OR scope >= {{}} AND scope < {{}})", [
        actor.agent_path,
        *subtree_bounds(actor.agent_path),
    ]


def _owned(actor: Actor, scope: str) -> bool:
    """May this actor change a bar or rule of that scope: its own subtree's or below."""
    return scope.startswith(actor.scope_path)


async def _listed(
    actor: Actor, table: str, columns: str, order: str, only_id: int | None = None
) -> list[dict[str, Any]]:
    """The bars or rules the actor sees (_visible), with the agent each applies to and whether the
    actor may change it (`editable`); `only_id`: that one alone."""
    _may_view(actor)
    where, args = _visible(actor)
    if only_id is not None:
        where, args = f"({where}) AND x.id = {{}}", [*args, only_id]
    rows = await sql.fetch(
        f"SELECT x.id, x.scope, {columns}, x.created_at, a.id AS agent_id, a.brand_name "
        f"FROM {table} x LEFT JOIN agent a ON a.path = x.scope WHERE {where} ORDER BY {order}",
        *args,
    )
    return [{**row, "editable": _owned(actor, row["scope"])} for row in rows]


async def _removable(actor: Actor, table: str, columns: str, item_id: int) -> dict[str, Any]:
    """One bar or rule as its removal would find it: NotFound when the actor does not see it,
    Forbidden when it may not change it (a bar of an agent above it)."""
    rows = await _listed(actor, table, columns, "x.id", only_id=item_id)
    if not rows:
        raise NotFound()
    if not rows[0]["editable"]:
        raise Forbidden()
    return rows[0]


BAR_COLUMNS = "x.prefix, x.reason, x.note"
RULE_COLUMNS = "x.kind, x.threshold"


async def list_bars(actor: Actor) -> list[dict[str, Any]]:
    return await _listed(actor, "barred_prefix", BAR_COLUMNS, "x.prefix, x.scope")


async def removable_bar(actor: Actor, bar_id: int) -> dict[str, Any]:
    """The bar, for the confirmation of its removal."""
    return await _removable(actor, "barred_prefix", BAR_COLUMNS, bar_id)


async def add_bar(actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    scope = await _scope_for(actor, data.get("agent"))
    errors: dict[str, str] = {}
    prefix = data.get("prefix")
    prefix = prefix.strip() if isinstance(prefix, str) else ""
    if not PREFIX.fullmatch(prefix):
        errors["prefix"] = N_("Digits only, at most 20.")
    reason = data.get("reason")
    if reason not in BAR_REASONS:
        errors["reason"] = N_("Choose a reason.")
    note = data.get("note") or ""
    if not isinstance(note, str) or len(note) > 100 or any(ord(ch) < 32 for ch in note):
        errors["note"] = N_("One line of text, at most 100 characters.")
    if errors:
        raise ValidationFailed(errors)
    async with transaction():
        rows = await sql.fetch(
            "INSERT INTO barred_prefix (scope, prefix, reason, note, created_by, created_at) "
            "VALUES ({}, {}, {}, {}, {}, {}) ON CONFLICT (scope, prefix) DO NOTHING RETURNING id",
            scope,
            prefix,
            reason,
            note,
            actor.user_id,
            now(),
        )
        if not rows:
            raise ValidationFailed({"prefix": N_("This prefix is barred here already.")})
        await audit.record(
            actor,
            "barred_prefix.add",
            target_type="barred_prefix",
            target_id=rows[0]["id"],
            scope_path=scope,
            after={"prefix": prefix, "reason": reason, "note": note},
        )
    return {"id": rows[0]["id"], "scope": scope, "prefix": prefix, "reason": reason, "note": note}


async def _delete_owned(actor: Actor, table: str, item_id: int, action: str) -> None:
    _may_manage(actor)
    if not agents.valid_id(item_id):
        raise NotFound()
    where, args = _visible(actor)
    async with transaction():
        row = await sql.fetch_one(f"SELECT * FROM {table} WHERE id = {{}} AND {where}", item_id, *args)
        if row is None:
            raise NotFound()
        if not _owned(actor, row["scope"]):
            raise Forbidden()
        if not await sql.fetch(f"DELETE FROM {table} WHERE id = {{}} RETURNING id", item_id):
            raise NotFound()  # removed by someone else meanwhile: audited once, by them
        row.pop("created_at", None)
        await audit.record(actor, action, target_type=table, target_id=item_id, scope_path=row["scope"], before=row)


async def remove_bar(actor: Actor, bar_id: int) -> None:
    await _delete_owned(actor, "barred_prefix", bar_id, "barred_prefix.remove")


async def list_rules(actor: Actor) -> list[dict[str, Any]]:
    return await _listed(actor, "usage_rule", RULE_COLUMNS, "x.scope, x.kind")


async def removable_rule(actor: Actor, rule_id: int) -> dict[str, Any]:
    """The rule, for the confirmation of its removal."""
    return await _removable(actor, "usage_rule", RULE_COLUMNS, rule_id)


async def set_rule(actor: Actor, data: dict[str, Any]) -> dict[str, Any]:
    """Create a rule, or change the threshold of the scope's rule of that kind."""
    scope = await _scope_for(actor, data.get("agent"))
    errors: dict[str, str] = {}
    kind = data.get("kind")
    if kind not in RULE_KINDS:
        errors["kind"] = N_("Choose a rule.")
    threshold = _whole(errors, "threshold", data.get("threshold"), 0, MAX_THRESHOLD)
    if errors:
        raise ValidationFailed(errors)
    async with transaction():
        before = (
            await UsageRule.select(UsageRule.threshold)
            .where((UsageRule.scope == scope) & (UsageRule.kind == kind))
            .first()
        )
        await sql.execute(
            "INSERT INTO usage_rule (scope, kind, threshold, created_by, created_at) VALUES ({}, {}, {}, {}, {}) "
            "ON CONFLICT (scope, kind) DO UPDATE SET threshold = excluded.threshold",
            scope,
            kind,
            threshold,
            actor.user_id,
            now(),
        )
        await audit.record(
            actor,
            "usage_rule.set",
            target_type="usage_rule",
            target_id=kind,
            scope_path=scope,
            before=before,
            after={"threshold": threshold},
        )
    return {"scope": scope, "kind": kind, "threshold": threshold}


async def remove_rule(actor: Actor, rule_id: int) -> None:
    await _delete_owned(actor, "usage_rule", rule_id, "usage_rule.remove")


def _may_view(actor: Actor) -> None:
    if not (actor.can("manage_call_controls") or actor.can("review_calls")):
        raise Forbidden()


# --- the checks of authorize and rating ---------------------------------------------------------------


def barred_sql(prefixes: list[str], path_sql: str) -> str:
    """SQL of the reason code of the longest barred prefix of a destination for a subscriber whose
    agent's path is `path_sql`; arguments: the prefixes, then what `path_sql` needs."""
    return (
        f"SELECT reason FROM barred_prefix WHERE prefix IN ({sql.marks(prefixes)}) AND {in_scope(path_sql)} "
        "ORDER BY length(prefix) DESC LIMIT 1"
    )


def rule_sql(kind: str, path_sql: str) -> str:
    """SQL of the strictest threshold of a kind of rule over an agent path (NULL: no such rule)."""
    assert kind in RULE_KINDS
    return f"SELECT MIN(threshold) FROM usage_rule WHERE kind = '{kind}' AND {in_scope(path_sql)}"


def calls_in_hour_sql(subscriber_sql: str) -> str:
    """SQL of the subscriber's rated calls that started after the argument (an hour ago); with
    its open reservations (calls authorized, not yet rated), the calls of the last hour."""
    return f"SELECT COUNT(*) FROM call WHERE subscriber = {subscriber_sql} AND started_at > {{}}"


def country_known_sql(subscriber_sql: str) -> str:
    """SQL: 1 when the subscriber called a destination matching the LIKE pattern (a country's
    code and %) since the first argument (30 days ago) or has such a call open (reserved past the
    second), else NULL. Such a call adds no new country: the countries rule need not count."""
    matches = "ltrim(destination, '+') LIKE {}"
    return (
        f"SELECT 1 FROM call WHERE subscriber = {subscriber_sql} AND started_at > {{}} AND {matches} "
        f"UNION ALL SELECT 1 FROM call_reservation WHERE subscriber = {subscriber_sql} AND expires_at > {{}} "
        f"AND {matches} LIMIT 1"
    )


def country_pattern(destination: str) -> str:
    return country_of(destination) + "%"


async def new_countries_within_hour(subscriber_id: int, destination: str, at: dt.datetime) -> int:
    """How many countries the calls of the last hour (this one included) went to that no call of
    the 30 days before went to."""
    recent = await sql.fetch(
        "SELECT DISTINCT destination FROM call WHERE subscriber = {} AND started_at > {} "
        "UNION SELECT destination FROM call_reservation WHERE subscriber = {} AND expires_at > {}",
        subscriber_id,
        at - HOUR,
        subscriber_id,
        at,
    )
    countries = {country_of(destination)} | {country_of(row["destination"]) for row in recent}
    before = await sql.fetch(
        "SELECT DISTINCT destination FROM call WHERE subscriber = {} AND started_at > {} AND started_at <= {}",
        subscriber_id,
        at - KNOWN_COUNTRIES,
        at - HOUR,
    )
    return len(countries - {country_of(row["destination"]) for row in before})


async def make_slots(agent_id: int, cap: int | None) -> None:
    """Give a capped agent its `cap` call slots (numbered 0 to cap - 1) and drop the free ones
    beyond (a lowered cap, or none): a slot still held by a call stays until the call ends, and
    only slots below the cap are ever taken."""
    if cap:  # one statement: two admins setting the cap at once cannot insert a slot twice
        rows = ", ".join("({}, {})" for _ in range(cap))
        await sql.execute(
            f"INSERT INTO call_slot (agent, slot) VALUES {rows} ON CONFLICT (agent, slot) DO NOTHING",
            *(value for slot in range(cap) for value in (agent_id, slot)),
        )
    await sql.execute(
        "DELETE FROM call_slot WHERE agent = {} AND slot >= {} AND (call_id IS NULL OR expires_at <= {})",
        agent_id,
        cap or 0,
        now(),
    )


async def take_slots(capped: list[dict[str, Any]], call_id: str, at: dt.datetime, until: dt.datetime) -> bool:
    """Take a free call slot for `call_id` in each capped agent's subtree (`capped`: rows with
    agent_id and call_cap, root first) until `until`; False, with none taken, when one of them has
    no free slot. Free: never taken, freed by its call's record, or held past its expiry. On
    PostgreSQL a slot another authorization is taking is skipped, not waited for."""
    skip_locked = " FOR UPDATE SKIP LOCKED" if sql.engine_type() == "postgres" else ""
    for row in capped:
        taken = await sql.fetch(
            "UPDATE call_slot SET call_id = {}, expires_at = {} WHERE id = (SELECT id FROM call_slot "
            "WHERE agent = {} AND slot < {} AND (call_id IS NULL OR expires_at <= {}) ORDER BY slot LIMIT 1"
            f"{skip_locked}) RETURNING id",
            call_id,
            until,
            row["agent_id"],
            row["call_cap"],
            at,
        )
        if not taken:
            await free_slots([call_id])
            return False
    return True


async def free_slots(call_ids: list[str]) -> None:
    """The slots of these calls are free again (their records came, or the call was refused)."""
    await sql.execute(
        f"UPDATE call_slot SET call_id = NULL, expires_at = NULL WHERE call_id IN ({sql.marks(call_ids)})", *call_ids
    )


async def suspend_for_fraud(subscriber_id: int, agent_id: int, kind: str, observed: int, threshold: int) -> bool:
    """Suspend an active subscriber because a usage rule fired, with a review item and an audit
    entry; inside the caller's transaction, which holds the subscriber's lock. False when it was
    not active (nothing done: a suspension happens once)."""
    if not await move_status(subscriber_id, ("active",), "suspended"):
        return False
    at = now()
    await sql.execute(
        "INSERT INTO call_review (subscriber, agent, kind, observed, threshold, suspended, created_at, status) "
        "VALUES ({}, {}, {}, {}, {}, {}, {}, 'open')",
        subscriber_id,
        agent_id,
        kind,
        observed,
        threshold,
        True,
        at,
    )
    await audit.record(
        None,
        "subscriber.suspend",
        target_type="subscriber",
        target_id=subscriber_id,
        before={"status": "active"},
        after={
            "status": "suspended",
            "reason": FRAUD_SUSPECTED,
            "rule": kind,
            "observed": observed,
            "threshold": threshold,
        },
    )
    return True


async def check_minutes(subscriber_ids: list[int], at: dt.datetime) -> None:
    """After rating, inside its transaction (which holds the subscribers' locks): suspend each
    active subscriber whose calls that started within the last hour were answered for more
    minutes than the strictest minutes rule over it allows."""
    if not subscriber_ids:
        return
    # One statement: without any minutes rule it stops at the EXISTS, which the databases
    # evaluate once, before reading a call.
    rows = await sql.fetch(
        f"SELECT s.id, s.agent, SUM(c.duration) AS seconds, ({rule_sql(MINUTES, 'a.path')}) AS threshold "
        "FROM subscriber s JOIN agent a ON a.id = s.agent JOIN call c ON c.subscriber = s.id AND c.started_at > {} "
        f"WHERE EXISTS (SELECT 1 FROM usage_rule WHERE kind = '{MINUTES}') "
        f"AND s.id IN ({sql.marks(subscriber_ids)}) AND s.status = 'active' GROUP BY s.id, s.agent, a.path",
        at - HOUR,
        *subscriber_ids,
    )
    for row in rows:
        minutes = int(row["seconds"]) // 60
        if row["threshold"] is not None and minutes > row["threshold"]:
            await suspend_for_fraud(row["id"], row["agent"], MINUTES, minutes, row["threshold"])
