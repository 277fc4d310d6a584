"""Card use cases (R-12 to R-16): generate a batch, activate (sell) cards, void, expire, redeem.
Each is one database transaction; minutes move through the ledger: the agent's stock →
escrow (generation) → a subscriber's balance (redemption or e-card activation), or back to
stock (void, expiry)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from accounts import services as subscribers
from accounts.services import get_subscriber
from accounts.tables import Subscriber
from agency import audit, throttle
from agency.agents import get_agent, valid_id
from agency.roles import Actor
from agency.tree import in_subtree, is_within
from agency.users import check_operation_password
from cards import codes
from cards.errors import RedemptionFailed
from cards.sealing import seal, store_sealed
from cards.tables import Card, CardBatch, SerialCounter
from core import sql, stored_text
from core.clock import now
from core.db import bulk_insert, fetch_page, transaction
from core.errors import N_, Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from core.units import SECONDS, parse_minutes
from core.validation import Checker
from money import ledger
from money.idempotency import NO_KEY, KeyOwner, run_once
from money.ledger import transfer
from stats import daily

KINDS = ("e-card", "recharge")
EXPIRY_RULES = ("none", "fixed_date", "days_after_activation", "days_after_creation")
MAX_BATCH = 1_000_000
SEAL_PART = 5000  # cards written, and secrets sealed, per step
DEFAULT_PREFIX = "86"


@dataclass(frozen=True)
class BatchSpec:
    kind: str
    count: int
    face_minutes: int
    expiry_rule: str
    expiry_date: dt.date | None
    expiry_days: int | None
    prefix: str
    notes: str


def parse_batch(data: dict[str, object]) -> BatchSpec:
    """Validate a batch request; every problem is reported at once."""
    errors: dict[str, str] = {}
    check = Checker(data)
    check.choice("kind", KINDS)
    check.choice("expiry_rule", EXPIRY_RULES)
    check.text("notes", max_len=200, required=False)
    check.text("prefix", max_len=6, required=False)
    clean = dict(check.clean)
    errors.update(check.errors)
    for field, maximum in (("count", MAX_BATCH), ("face_minutes", 100_000)):
        try:
            clean[field] = parse_minutes(field, data.get(field))
            if clean[field] > maximum:
                errors[field] = N_("The number is out of range.")
        except ValidationFailed as exc:
            errors.update(exc.errors)
    prefix = str(clean.get("prefix") or DEFAULT_PREFIX)
    if not (prefix.isascii() and prefix.isdigit() and 1 <= len(prefix) <= 6):
        errors["prefix"] = N_("1 to 6 digits.")
    rule, expiry_date, expiry_days = clean.get("expiry_rule"), None, None
    if rule == "fixed_date":
        try:
            expiry_date = dt.date.fromisoformat(str(data.get("expiry_date", "")))
            if expiry_date <= now().date():
                errors["expiry_date"] = N_("The date must be in the future.")
        except ValueError:
            errors["expiry_date"] = N_("The format is not valid.")
    elif rule in ("days_after_activation", "days_after_creation"):
        try:
            expiry_days = parse_minutes("expiry_days", data.get("expiry_days"))
            if expiry_days > 3650:
                errors["expiry_days"] = N_("The number is out of range.")
        except ValidationFailed:
            errors["expiry_days"] = N_("Enter a whole number of days.")
    if errors:
        raise ValidationFailed(errors)
    return BatchSpec(
        clean["kind"],
        clean["count"],
        clean["face_minutes"],
        rule,
        expiry_date,
        expiry_days,
        prefix,
        str(clean.get("notes") or ""),
    )


def _end_of_local_day(day: dt.date, zone: str) -> dt.datetime:
    local = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=ZoneInfo(zone))
    return local.astimezone(dt.timezone.utc)


def _expiry_at_creation(spec: BatchSpec, created: dt.datetime, zone: str) -> dt.datetime | None:
    if spec.expiry_rule == "fixed_date":
        return _end_of_local_day(spec.expiry_date, zone)
    if spec.expiry_rule == "days_after_creation":
        return created + dt.timedelta(days=spec.expiry_days)
    return None


def _expiry_at_activation(card: dict[str, Any], activated: dt.datetime) -> dt.datetime | None:
    """A card's expiry once sold: N days from now under that rule, else as set at creation."""
    if card["expiry_rule"] == "days_after_activation":
        return activated + dt.timedelta(days=card["expiry_days"])
    return card["expires_at"]


async def _allocate_numbers(prefix: str, count: int) -> int:
    """Take `count` sequence numbers for `prefix`; returns the first. Atomic under concurrency."""
    await SerialCounter.insert(SerialCounter(prefix=prefix, next_number=1)).on_conflict(action="DO NOTHING")
    rows = (
        await SerialCounter.update({SerialCounter.next_number: SerialCounter.next_number + count})
        .where(SerialCounter.prefix == prefix)
        .returning(SerialCounter.next_number)
    )
    first = rows[0]["next_number"] - count
    if first + count - 1 >= 10**codes.SEQUENCE_DIGITS:
        raise Conflict(N_("This serial prefix has no numbers left; choose another prefix."))
    return first


async def generate_batch(
    actor: Actor, data: dict[str, object], *, card_key: bytes, operation_password: object
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Generate a batch in ONE transaction: if anything fails (or the process dies), no card of
    it exists and nothing is reserved. The secrets are sealed for the batch's first export
    (cards/sealing.py); the (serial, secret) pairs are also returned to the caller."""
    spec, agent = await prepare_batch(actor, data, operation_password)
    return await write_batch(actor, spec, agent, card_key=card_key)


async def prepare_batch(
    actor: Actor, data: dict[str, object], operation_password: object
) -> tuple[BatchSpec, dict[str, Any]]:
    """Every check before a batch is written: permission, input, agent status, operation password."""
    if actor.is_operator or not actor.can("generate_cards"):
        raise Forbidden()
    spec = parse_batch(data)
    agent = await get_agent(actor, actor.agent_id)
    if agent["status"] != "active":
        raise Conflict(N_("Only an active agent can generate cards."))
    await check_operation_password(actor, operation_password)
    return spec, agent


async def write_batch(
    actor: Actor,
    spec: BatchSpec,
    agent: dict[str, Any],
    *,
    card_key: bytes,
    progress: Callable[[int, int], None] | None = None,
    return_pairs: bool = True,
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The one transaction of a checked batch. Cards are written and their secrets sealed a part
    at a time, so memory stays flat however large the batch; `progress(done, total)` is told
    after each part. The (serial, secret) pairs are returned only when `return_pairs`."""
    created = now()
    expires_at = _expiry_at_creation(spec, created, agent["timezone"])
    seconds = spec.count * spec.face_minutes * 60
    pairs: list[tuple[str, str]] = []
    async with transaction():
        first = await _allocate_numbers(spec.prefix, spec.count)
        stock = await ledger.agent_account(agent["id"], ledger.STOCK)
        escrow = await ledger.agent_account(agent["id"], ledger.ESCROW)
        rows = await CardBatch.insert(
            CardBatch(
                agent=agent["id"],
                kind=spec.kind,
                size=spec.count,
                face_minutes=spec.face_minutes,
                expiry_rule=spec.expiry_rule,
                expiry_date=spec.expiry_date,
                expiry_days=spec.expiry_days,
                prefix=spec.prefix,
                first_number=first,
                last_number=first + spec.count - 1,
                notes=spec.notes,
                status="ready",
                created_by=actor.user_id,
                created_at=created,
            )
        ).returning(CardBatch.id)
        batch_id = rows[0]["id"]
        try:
            txn_id = await ledger.post(
                "card_batch",
                transfer(stock, escrow, SECONDS, seconds),
                memo=stored_text.message(
                    N_("Batch %(batch)s: %(count)s cards of %(minutes)s minutes"),
                    batch=batch_id,
                    count=spec.count,
                    minutes=spec.face_minutes,
                ),
                user_id=actor.user_id,
                ref_type="card_batch",
                ref_id=batch_id,
                at=created,
            )
        except ledger.InsufficientBalance:
            raise Conflict(N_("Your stock does not cover this batch; nothing was changed.")) from None
        await CardBatch.update({CardBatch.txn: txn_id}).where(CardBatch.id == batch_id)
        daily.count(agent["id"], created, carded_seconds=seconds)

        for part, start in enumerate(range(first, first + spec.count, SEAL_PART)):
            numbers = range(start, min(start + SEAL_PART, first + spec.count))
            part_pairs = [
                (serial, codes.new_secret()) for serial in map(partial(codes.make_serial, spec.prefix), numbers)
            ]
            await bulk_insert(
                "card",
                ("batch", "agent", "serial", "secret_hash", "status", "expires_at"),
                (
                    (
                        batch_id,
                        agent["id"],
                        serial,
                        codes.secret_hash(card_key, serial, secret),
                        "generated",
                        expires_at,
                    )
                    for serial, secret in part_pairs
                ),
            )
            await store_sealed(batch_id, part, seal(card_key, batch_id, part_pairs))
            if return_pairs:
                pairs.extend(part_pairs)
            if progress is not None:
                progress(numbers.stop - first, spec.count)
        await audit.record(
            actor,
            "cards.generate",
            target_type="card_batch",
            target_id=batch_id,
            scope_path=agent["path"],
            after={
                "kind": spec.kind,
                "count": spec.count,
                "face_minutes": spec.face_minutes,
                "first": codes.make_serial(spec.prefix, first),
            },
        )
    return await get_batch(actor, batch_id), pairs


def _card_scope(actor: Actor):
    return in_subtree(actor, Card.agent.path)


def _batch_scope(actor: Actor):
    return in_subtree(actor, CardBatch.agent.path)


BATCH_COLUMNS = (
    CardBatch.id,
    CardBatch.agent,
    CardBatch.kind,
    CardBatch.size,
    CardBatch.face_minutes,
    CardBatch.expiry_rule,
    CardBatch.expiry_date,
    CardBatch.expiry_days,
    CardBatch.prefix,
    CardBatch.first_number,
    CardBatch.last_number,
    CardBatch.notes,
    CardBatch.status,
    CardBatch.created_at,
    CardBatch.secrets_exported_at,
    CardBatch.agent.brand_name.as_alias("agent_name"),
    CardBatch.agent.path.as_alias("agent_path"),
)


async def get_batch(actor: Actor, batch_id: int) -> dict[str, Any]:
    if not actor.can("view_cards") or not valid_id(batch_id):
        raise NotFound()
    query = CardBatch.select(*BATCH_COLUMNS).where(CardBatch.id == batch_id)
    if (scope := _batch_scope(actor)) is not None:
        query = query.where(scope)
    batch = await query.first()
    if batch is None:
        raise NotFound()
    batch["first_serial"] = codes.make_serial(batch["prefix"], batch["first_number"])
    batch["last_serial"] = codes.make_serial(batch["prefix"], batch["last_number"])
    counts = await Card.raw("SELECT status, COUNT(*) AS n FROM card WHERE batch = {} GROUP BY status", batch_id)
    batch["counts"] = {row["status"]: row["n"] for row in counts}
    batch["secrets_exported_by"] = None
    if batch["secrets_exported_at"] is not None:  # who took the secrets, by user name
        taker = await sql.fetch_one(
            "SELECT u.username FROM batch_secrets s JOIN app_user u ON u.id = s.opened_by "
            "WHERE s.batch = {} AND s.opened_by IS NOT NULL LIMIT 1",
            batch_id,
        )
        batch["secrets_exported_by"] = taker["username"] if taker else None
    return batch


async def list_batches(actor: Actor, *, page: int = 1, per_page: int = 50) -> tuple[list[dict[str, Any]], int]:
    if not actor.can("view_cards"):
        raise Forbidden()
    conditions = [_batch_scope(actor)]
    return await fetch_page(
        CardBatch.select(*BATCH_COLUMNS), CardBatch.count(), conditions, CardBatch.id, page=page, per_page=per_page
    )


CARD_COLUMNS = (
    Card.id,
    Card.batch,
    Card.serial,
    Card.status,
    Card.activated_at,
    Card.expires_at,
    Card.redeemed_at,
    Card.redeemed_by,
    Card.batch.kind.as_alias("kind"),
    Card.batch.face_minutes.as_alias("face_minutes"),
    Card.agent.brand_name.as_alias("agent_name"),
)


async def list_cards(
    actor: Actor, *, serial: str = "", status: str = "", batch_id: int | None = None, page: int = 1, per_page: int = 50
) -> tuple[list[dict[str, Any]], int]:
    """Cards of the actor's subtree, searchable by serial (prefix), state and batch. Never secrets."""
    if not actor.can("view_cards"):
        raise Forbidden()
    conditions = [_card_scope(actor)]
    serial = serial.strip()
    if serial:
        if not (serial.isascii() and serial.isdigit()):
            return [], 0
        conditions.append((Card.serial >= serial) & (Card.serial < serial + ":"))  # ':' sorts after '9'
    if status:
        conditions.append(Card.status == status)
    if batch_id is not None:
        conditions.append(Card.batch == batch_id)
    return await fetch_page(
        Card.select(*CARD_COLUMNS), Card.count(), conditions, Card.id, page=page, per_page=per_page, ascending=True
    )


def _parse_range(serial_from: object, serial_to: object | None) -> tuple[str, str]:
    first = str(serial_from or "").strip()
    last = str(serial_to or "").strip() or first
    if not codes.is_valid_serial(first):
        raise ValidationFailed({"serial_from": N_("Not a valid card serial.")})
    if not codes.is_valid_serial(last):
        raise ValidationFailed({"serial_to": N_("Not a valid card serial.")})
    if len(first) != len(last) or last < first:
        raise ValidationFailed({"serial_to": N_("The range must run from the lower serial to the higher one.")})
    return first, last


async def _cards_in_range(actor: Actor, first: str, last: str, statuses: tuple[str, ...]) -> list[dict[str, Any]]:
    """The actor's own agent's cards in the range and states (an agent sells only its own cards)."""
    return (
        await Card.select(
            Card.id,
            Card.serial,
            Card.batch,
            Card.agent,
            Card.status,
            Card.expires_at,
            Card.batch.kind.as_alias("kind"),
            Card.batch.face_minutes.as_alias("face_minutes"),
            Card.batch.expiry_rule.as_alias("expiry_rule"),
            Card.batch.expiry_days.as_alias("expiry_days"),
        )
        .where(
            (Card.agent == actor.agent_id)
            & (Card.serial >= first)
            & (Card.serial <= last)
            & Card.status.is_in(statuses)
        )
        .order_by(Card.serial)
    )


MAX_RANGE = 100_000
PREVIEW_ACCOUNTS = 20  # account numbers a preview names; the count says how many in all


async def preview_range(actor: Actor, serial_from: object, serial_to: object | None, action: str) -> dict[str, Any]:
    """What activating or voiding (`action`) this range would do, changing nothing: how many
    cards, how many minutes, of which batches, and, for e-cards, the accounts it would open. Refused
    as the action itself would be (bad range, or no card of the actor's in it)."""
    if actor.is_operator or not actor.can("sell_cards"):
        raise Forbidden()
    first, last = _parse_range(serial_from, serial_to)
    activating = action == "activate"
    cards = await _cards_in_range(actor, first, last, ("generated",) if activating else ("generated", "active"))
    if activating:
        at = now()
        cards = [c for c in cards if c["expires_at"] is None or c["expires_at"] > at]
    if not cards:
        refused = (
            N_("No card of yours in this range can be activated.")
            if activating
            else N_("No card of yours in this range can be voided.")
        )
        raise ValidationFailed({"serial_from": refused})
    if len(cards) > MAX_RANGE:
        raise ValidationFailed({"serial_to": N_("The range is too large.")})
    ecards = [c["serial"] for c in cards if c["kind"] == "e-card"]
    return {
        "serial_from": first,
        "serial_to": last,
        "cards": len(cards),
        "seconds": sum(c["face_minutes"] for c in cards) * 60,
        "batches": sorted({c["batch"] for c in cards}),
        "accounts": len(ecards) if activating else 0,
        "account_numbers": ecards[:PREVIEW_ACCOUNTS] if activating else [],
    }


async def activate_cards(
    actor: Actor, serial_from: object, serial_to: object | None = None, *, idempotency_key: object = NO_KEY
) -> dict[str, int]:
    """Sell cards, singly or by serial range (R-14). A recharge card becomes `active` (its expiry
    clock starts if its rule says so). An e-card opens a subscriber account with its minutes
    (R-16): the account number is the serial, the initial password is the card's secret.
    Idempotent by `idempotency_key` (R-7); each card changes state by a conditional update, so
    a card sold by a concurrent request is left alone."""
    if actor.is_operator or not actor.can("sell_cards"):
        raise Forbidden()
    first, last = _parse_range(serial_from, serial_to)

    async def activate() -> dict[str, int]:
        at = now()
        opened = activated = 0
        cards = await _cards_in_range(actor, first, last, ("generated",))
        if not cards:
            raise ValidationFailed({"serial_from": N_("No card of yours in this range can be activated.")})
        if len(cards) > MAX_RANGE:
            raise ValidationFailed({"serial_to": N_("The range is too large.")})
        for card in cards:
            if card["expires_at"] is not None and card["expires_at"] <= at:
                continue  # expired before it was sold: the expiry job returns its minutes
            if card["kind"] == "recharge":
                expires = _expiry_at_activation(card, at)
                sold = (
                    await Card.update({Card.status: "active", Card.activated_at: at, Card.expires_at: expires})
                    .where((Card.id == card["id"]) & (Card.status == "generated"))
                    .returning(Card.id)
                )
                activated += len(sold)
                if sold:
                    daily.count(card["agent"], at, activated_cards=1, activated_seconds=card["face_minutes"] * 60)
            elif await _open_account(card, at):
                opened += 1
        await audit.record(
            actor,
            "cards.activate",
            target_type="card_range",
            target_id=f"{first}-{last}",
            after={"activated": activated, "accounts_opened": opened},
        )
        return {"activated": activated, "accounts_opened": opened}

    params = {"serial_from": first, "serial_to": last}
    return await run_once(actor, idempotency_key, "activate_cards", params, activate)


async def _open_account(card: dict[str, Any], at: dt.datetime) -> int | None:
    """开户: the subscriber account of an e-card, funded from the card's escrow; None when the
    card was no longer unsold."""
    taken = (
        await Card.update({Card.status: "redeemed", Card.activated_at: at, Card.redeemed_at: at})
        .where((Card.id == card["id"]) & (Card.status == "generated"))
        .returning(Card.id)
    )
    if not taken:
        return None
    expires = _expiry_at_activation(card, at)
    rows = await Subscriber.insert(
        Subscriber(
            account_number=card["serial"],
            agent=card["agent"],
            status="active",
            must_change_password=True,
            expires_at=expires,
            created_at=at,
        )
    ).returning(Subscriber.id)
    subscriber_id = rows[0]["id"]
    memo = stored_text.message(N_("E-card %(serial)s"), serial=card["serial"])
    await _card_to_subscriber(card, subscriber_id, card["agent"], "account_open", memo, at)
    await Card.update({Card.redeemed_by: subscriber_id}).where(Card.id == card["id"])
    seconds = card["face_minutes"] * 60
    # An e-card is activated and redeemed at once, and opens the account.
    daily.count(
        card["agent"],
        at,
        activated_cards=1,
        activated_seconds=seconds,
        redeemed_cards=1,
        redeemed_seconds=seconds,
        opened_accounts=1,
    )
    return subscriber_id


async def _card_to_subscriber(
    card: dict[str, Any], subscriber_id: int, subscriber_agent: int, kind: str, memo: str, at: dt.datetime
) -> int:
    """Post a card's minutes from its agent's escrow to a subscriber's balance; returns the
    balance account's id."""
    seconds = card["face_minutes"] * 60
    escrow = await ledger.agent_account(card["agent"], ledger.ESCROW)
    balance = await ledger.subscriber_account(subscriber_id, subscriber_agent)
    await ledger.post(
        kind,
        transfer(escrow, balance, SECONDS, seconds),
        memo=memo,
        ref_type="card",
        ref_id=card["id"],
        at=at,
    )
    return balance


async def _return_to_stock(
    cards: list[dict[str, Any]], new_status: str, kind: str, user_id: int | None, at: dt.datetime
) -> int:
    """Void or expire unredeemed cards: state change and minutes back to the owner's stock."""
    by_agent: dict[int, int] = {}
    for card in cards:
        moved = (
            await Card.update({Card.status: new_status})
            .where((Card.id == card["id"]) & Card.status.is_in(["generated", "active"]))
            .returning(Card.id)
        )
        if moved:
            by_agent[card["agent"]] = by_agent.get(card["agent"], 0) + card["face_minutes"] * 60
    for agent_id, seconds in by_agent.items():
        escrow = await ledger.agent_account(agent_id, ledger.ESCROW)
        stock = await ledger.agent_account(agent_id, ledger.STOCK)
        await ledger.post(
            kind,
            transfer(escrow, stock, SECONDS, seconds),
            memo=stored_text.message(N_("%(minutes)s minutes back to stock"), minutes=seconds // 60),
            user_id=user_id,
            at=at,
        )
        daily.count(agent_id, at, returned_seconds=seconds)
    return sum(by_agent.values()) // 60


async def void_cards(
    actor: Actor,
    serial_from: object,
    serial_to: object | None = None,
    *,
    operation_password: object,
    idempotency_key: object = NO_KEY,
) -> dict[str, int]:
    """Void unredeemed cards of the actor's agent; their minutes go back to its stock (R-14).
    Idempotent by `idempotency_key` (R-7)."""
    if actor.is_operator or not actor.can("sell_cards"):
        raise Forbidden()
    first, last = _parse_range(serial_from, serial_to)
    await check_operation_password(actor, operation_password)

    async def void() -> dict[str, int]:
        cards = await _cards_in_range(actor, first, last, ("generated", "active"))
        if not cards:
            raise ValidationFailed({"serial_from": N_("No card of yours in this range can be voided.")})
        minutes = await _return_to_stock(cards, "void", "card_void", actor.user_id, now())
        await audit.record(
            actor,
            "cards.void",
            target_type="card_range",
            target_id=f"{first}-{last}",
            after={"cards": len(cards), "minutes": minutes},
        )
        return {"voided": len(cards), "minutes_returned": minutes}

    params = {"serial_from": first, "serial_to": last}
    return await run_once(actor, idempotency_key, "void_cards", params, void)


async def expire_due_cards(at: dt.datetime | None = None, limit: int = 10_000) -> int:
    """The expiry rule applied: unredeemed cards past their date become `expired` and return
    their minutes to their agent's stock. Idempotent; the server runs it every minute."""
    at = at or now()
    async with transaction():
        cards = (
            await Card.select(Card.id, Card.agent, Card.batch.face_minutes.as_alias("face_minutes"))
            .where(Card.status.is_in(["generated", "active"]) & (Card.expires_at <= at))
            .limit(limit)
        )
        if cards:
            await _return_to_stock(cards, "expired", "card_expiry", None, at)
    return len(cards)


async def redeem_card(
    serial: object,
    pin: object,
    *,
    subscriber_id: int,
    address: str,
    card_key: bytes,
    actor: Actor | None = None,
    idempotency_key: object = NO_KEY,
) -> dict[str, Any]:
    """Recharge (R-15): serial + PIN, exactly once under any concurrency; minutes move from the
    card's escrow to the subscriber's balance in one transaction. Only a subscriber of the
    issuing agent or of its descendants may redeem a card. Failures are limited per card, per
    subscriber and per client address with growing delays, audited, and all answered with the
    same RedemptionFailed. Idempotent by `idempotency_key` (R-7), whose owner is the agent's
    user acting (`actor`) or else the subscriber: a retry gets the first result."""
    if actor is not None:  # an agent recharging on a subscriber's behalf: only its own subtree's
        await get_subscriber(actor, subscriber_id)
    serial_text = "".join(str(serial or "").split())[:24]
    # The card's keys are counted before its PIN is checked, so that no burst gets more checks than
    # the limit: per address first, and per card (its serial is public) only with a higher limit,
    # so that guessing from one place does not lock the holder out. The address and the
    # subscriber refuse while locked and count failures. Nothing is checked while locked.
    card_keys = [throttle.fit(f"card:{serial_text}@{address}"), throttle.fit(f"card:{serial_text}")]
    reason = "locked"
    attempt = await throttle.claim(
        [
            throttle.Limit(card_keys[0]),
            throttle.Limit(card_keys[1], throttle.SECRET_FREE_FAILURES),
            throttle.Limit(throttle.fit(f"redeem-addr:{address}"), strict=False),
            throttle.Limit(f"subscriber:{subscriber_id}", strict=False),
        ]
    )
    if attempt is not None:
        cleared = []

        async def redeem() -> dict[str, Any]:
            result = await _redeem(serial_text, pin, subscriber_id, card_key)
            await attempt.succeeded(card_keys)  # a right PIN clears the card's failures, in the same commit
            cleared.append(True)
            await audit.record(
                actor,
                "cards.redeem",
                target_type="card",
                target_id=serial_text,
                scope_path=result["scope_path"],
                username=f"subscriber:{subscriber_id}",
                address=address,
                after={"minutes": result["minutes"], "subscriber": subscriber_id},
            )
            return {"serial": serial_text, "minutes": result["minutes"], "balance_seconds": result["balance"]}

        typed = "".join(pin.split())[:64] if isinstance(pin, str) else ""
        # The PIN takes part in the request as its keyed hash, never as itself.
        params = {"serial": serial_text, "pin": codes.secret_hash(card_key, serial_text, typed), "to": subscriber_id}
        try:
            done = await run_once(
                actor or KeyOwner.subscriber(subscriber_id), idempotency_key, "redeem_card", params, redeem
            )
        except _Refused as refused:
            reason = refused.reason
        except Exception:
            await attempt.give_back()
            raise
        else:
            if not cleared:  # a retry answered with the first result
                await attempt.succeeded(card_keys)
            return done
        if reason not in GUESSES:  # a right serial and PIN is no guess, even if the card is used up
            await attempt.give_back()
    await audit.record_refusal(
        actor,
        "cards.redeem_failed",
        counting=attempt.failed if attempt is not None and reason in GUESSES else None,
        target_type="card",
        target_id=serial_text,
        username=f"subscriber:{subscriber_id}",
        address=address,
        after={"reason": reason},
    )
    raise RedemptionFailed()


# Refusals that count toward the throttle: guesses, and a card tried outside its tree.
GUESSES = ("bad serial", "unknown serial", "wrong pin", "outside the card's tree")


class _Refused(DomainError):
    """Why a redemption failed, for the audit; redeem_card answers RedemptionFailed whatever it
    is. A domain refusal, so that run_once first looks for the result of a concurrent request
    with the same key (whose redemption made this one find the card used)."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


async def _redeem(serial: str, pin: object, subscriber_id: int, card_key: bytes) -> dict[str, Any]:
    if not codes.is_valid_serial(serial):
        raise _Refused("bad serial")
    # One statement reads the card, its agent's path, and the subscriber with its agent's path.
    card = await sql.fetch_one(
        "SELECT c.id, c.agent, c.status, c.secret_hash, c.expires_at, b.kind, b.face_minutes, a.path, "
        "s.agent AS subscriber_agent, s.status AS subscriber_status, sa.path AS subscriber_path "
        "FROM card c JOIN batch b ON b.id = c.batch JOIN agent a ON a.id = c.agent "
        "LEFT JOIN subscriber s ON s.id = {} LEFT JOIN agent sa ON sa.id = s.agent WHERE c.serial = {}",
        subscriber_id,
        serial,
    )
    if card is None:
        raise _Refused("unknown serial")
    if not codes.secret_matches(card_key, serial, pin, card["secret_hash"]):
        raise _Refused("wrong pin")
    if card["subscriber_agent"] is None or card["subscriber_status"] == "closed":
        raise _Refused("no such open account")
    if not is_within(card["subscriber_path"], card["path"]):
        raise _Refused("outside the card's tree")
    if card["kind"] != "recharge" or card["status"] != "active":
        raise _Refused(f"card {card['status']}")
    at = now()
    if card["expires_at"] is not None and card["expires_at"] <= at:
        raise _Refused("card expired")
    # The conditional update is what makes redemption exactly-once: of concurrent attempts, one
    # changes the row; the others find it no longer active and roll back.
    won = await sql.fetch(
        "UPDATE card SET status = 'redeemed', redeemed_at = {}, redeemed_by = {} "
        "WHERE id = {} AND status = 'active' RETURNING id",
        at,
        subscriber_id,
        card["id"],
    )
    if not won:
        raise _Refused("already redeemed")
    memo = stored_text.message(N_("Recharge card %(serial)s"), serial=serial)
    balance = await _card_to_subscriber(card, subscriber_id, card["subscriber_agent"], "recharge", memo, at)
    daily.count(card["agent"], at, path=card["path"], redeemed_cards=1, redeemed_seconds=card["face_minutes"] * 60)
    return {
        "minutes": card["face_minutes"],
        "balance": await ledger.account_balance(balance),
        "scope_path": card["path"],
    }


async def authenticate_subscriber(account_number: object, password: object, *, address: str, card_key: bytes):
    """A subscriber's login (accounts.services.authenticate_subscriber), where an account's
    first password is the secret of the e-card that opened it."""

    async def card_secret_matches(number: str, secret: str) -> bool:
        card = await Card.select(Card.secret_hash).where(Card.serial == number).first()
        return card is not None and codes.secret_matches(card_key, number, secret, card["secret_hash"])

    return await subscribers.authenticate_subscriber(
        account_number, password, address=address, initial_secret_matches=card_secret_matches
    )
