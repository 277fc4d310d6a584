"""Exports of a batch (R-13, R-17). The secrets are shown once: they are kept sealed after
generation (AES-GCM, key derived from the card key outside the database), and the first export
with secrets, asked for with the operation password (R-3) by an owner of the batch's agent,
opens them, destroys them and is audited, all in one transaction. An export to a file on disk
(`voipagency cards generate --out`) is made in two halves instead: open_secrets reads them and
changes nothing, and mark_secrets_exported destroys them once the file is durably written, so a
crash in between loses nothing. Every other export carries serials and states only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agency import audit
from agency.roles import Actor
from agency.users import check_operation_password
from cards.sealing import unseal
from cards.services import get_batch
from cards.tables import BatchSecrets, Card, CardBatch
from core.clock import now
from core.db import transaction
from core.errors import N_, Conflict, Forbidden


class SecretsAlreadyTaken(Conflict):
    message = N_(
        "The secrets of this batch were already exported; they are shown only once. Exports now carry "
        "serials and states only."
    )


class NotYoursToTake(Forbidden):
    message = N_("Only an owner of the agent that made the batch can export its secrets.")


@dataclass
class BatchExport:
    batch: dict[str, Any]
    cards: list[dict[str, Any]]  # serial, status, expires_at, and "secret" in the export with secrets
    with_secrets: bool


def may_take_secrets(actor: Actor, batch: dict[str, Any]) -> bool:
    """Only an owner of the agent that made the batch takes its secrets (not an ancestor's)."""
    return not actor.is_operator and actor.can("generate_cards") and batch["agent"] == actor.agent_id


async def _cards_of(batch_id: int) -> list[dict[str, Any]]:
    return (
        await Card.select(Card.serial, Card.status, Card.expires_at).where(Card.batch == batch_id).order_by(Card.serial)
    )


async def export_serials(actor: Actor, batch_id: int, *, file_format: str) -> BatchExport:
    """The batch's cards without secrets, whoever may see the batch; audited."""
    batch = await get_batch(actor, batch_id)
    async with transaction():
        await audit.record(
            actor,
            "cards.export",
            target_type="card_batch",
            target_id=batch_id,
            after={"format": file_format, "with_secrets": False},
            scope_path=batch["agent_path"],
        )
        cards = await _cards_of(batch_id)
    return BatchExport(batch=batch, cards=cards, with_secrets=False)


async def export_secrets(
    actor: Actor, batch_id: int, *, card_key: bytes, file_format: str, operation_password: object
) -> BatchExport:
    """The one export with the secrets: needs the operation password (R-3); opens the sealed
    secrets, destroys them and records who took them, in one transaction. Refused once taken.
    For a response that is sent at once; a file that must be safely on disk before the secrets
    are destroyed uses open_secrets, then mark_secrets_exported."""
    batch = await _batch_to_take(actor, batch_id, operation_password)
    return await _take_secrets(actor, batch, card_key=card_key, file_format=file_format)


async def _take_secrets(actor: Actor, batch: dict[str, Any], *, card_key: bytes, file_format: str) -> BatchExport:
    batch_id = batch["id"]
    at = now()
    async with transaction():
        # The conditional update lets one export take them, however many ask at once.
        if not await _claim(batch_id, at):
            raise SecretsAlreadyTaken()
        secrets = await _unsealed(card_key, batch_id)
        if secrets is None:
            raise SecretsAlreadyTaken()
        await _destroy_and_record(actor, batch, at, file_format=file_format, count=len(secrets))
        cards = await _cards_of(batch_id)
    return _with_secrets(batch, cards, secrets, exported_at=at, by=actor.username)


async def open_secrets(actor: Actor, batch_id: int, *, card_key: bytes, operation_password: object) -> BatchExport:
    """The secrets of a batch not yet exported, read and unsealed but left sealed in the database
    (nothing is written): the first half of an export to a file. The caller writes the file
    durably, then calls mark_secrets_exported; a crash in between leaves the secrets sealed, so
    the export can be made again. Same checks as export_secrets."""
    batch = await _batch_to_take(actor, batch_id, operation_password)
    if batch["secrets_exported_at"] is not None:
        raise SecretsAlreadyTaken()
    secrets = await _unsealed(card_key, batch["id"])
    if secrets is None:
        raise SecretsAlreadyTaken()
    cards = await _cards_of(batch["id"])
    return _with_secrets(batch, cards, secrets, exported_at=None, by=None)


async def mark_secrets_exported(actor: Actor, export: BatchExport, *, file_format: str) -> BatchExport:
    """The second half: the secrets that open_secrets returned are now safely in a file. Records
    who took them and destroys the sealed copy, in one transaction of its own. Refused
    (SecretsAlreadyTaken) when another export took them in between; that other export is then the
    one, and the caller must discard its file."""
    batch = export.batch
    if not export.with_secrets or not may_take_secrets(actor, batch):
        raise NotYoursToTake()
    at = now()
    async with transaction():
        if not await _claim(batch["id"], at):
            raise SecretsAlreadyTaken()
        await _destroy_and_record(actor, batch, at, file_format=file_format, count=len(export.cards))
    return BatchExport(
        batch={**batch, "secrets_exported_at": at, "secrets_exported_by": actor.username},
        cards=export.cards,
        with_secrets=True,
    )


async def _batch_to_take(actor: Actor, batch_id: int, operation_password: object) -> dict[str, Any]:
    batch = await get_batch(actor, batch_id)
    if not may_take_secrets(actor, batch):
        raise NotYoursToTake()
    await check_operation_password(actor, operation_password)
    return batch


async def _claim(batch_id: int, at) -> bool:
    """Marks the batch's secrets taken, unless they were: inside the caller's transaction."""
    claimed = (
        await CardBatch.update({CardBatch.secrets_exported_at: at})
        .where((CardBatch.id == batch_id) & CardBatch.secrets_exported_at.is_null())
        .returning(CardBatch.id)
    )
    return bool(claimed)


async def _unsealed(card_key: bytes, batch_id: int) -> dict[str, str] | None:
    """serial -> secret, or None when nothing is sealed any more."""
    parts = (
        await BatchSecrets.select(BatchSecrets.sealed)
        .where((BatchSecrets.batch == batch_id) & BatchSecrets.sealed.is_not_null())
        .order_by(BatchSecrets.part)
    )
    if not parts:
        return None
    secrets: dict[str, str] = {}
    for part in parts:
        secrets.update(unseal(card_key, batch_id, bytes(part["sealed"])))
    return secrets


async def _destroy_and_record(actor: Actor, batch: dict[str, Any], at, *, file_format: str, count: int) -> None:
    """Empties the sealed parts and audits the export, inside the caller's transaction (after
    _claim, which only one export passes)."""
    destroyed = (
        await BatchSecrets.update(
            {BatchSecrets.sealed: None, BatchSecrets.opened_at: at, BatchSecrets.opened_by: actor.user_id}
        )
        .where((BatchSecrets.batch == batch["id"]) & BatchSecrets.sealed.is_not_null())
        .returning(BatchSecrets.id)
    )
    if not destroyed:
        raise SecretsAlreadyTaken()  # rolls the claim back
    await audit.record(
        actor,
        "cards.export_secrets",
        target_type="card_batch",
        target_id=batch["id"],
        after={"format": file_format, "with_secrets": True, "cards": count},
        scope_path=batch["agent_path"],
    )


def _with_secrets(
    batch: dict[str, Any], cards: list[dict[str, Any]], secrets: dict[str, str], *, exported_at, by
) -> BatchExport:
    for card in cards:
        card["secret"] = secrets.get(card["serial"], "")
    if exported_at is not None:
        batch = {**batch, "secrets_exported_at": exported_at, "secrets_exported_by": by}
    return BatchExport(batch=batch, cards=cards, with_secrets=True)


async def export_batch(actor: Actor, batch_id: int, *, card_key: bytes, file_format: str) -> BatchExport:
    """The secrets while they are still sealed and the actor may take them (taken at once, without
    the operation password: the caller checked it), else serials only. Older path, no longer used
    by `voipagency cards generate`, which takes them only once its file is on disk
    (open_secrets, then mark_secrets_exported). Requests use export_secrets or export_serials."""
    batch = await get_batch(actor, batch_id)
    if may_take_secrets(actor, batch) and batch["secrets_exported_at"] is None:
        try:
            return await _take_secrets(actor, batch, card_key=card_key, file_format=file_format)
        except SecretsAlreadyTaken:
            pass
    return await export_serials(actor, batch_id, file_format=file_format)
