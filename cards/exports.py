"""Exports of a batch (R-13, R-17). The secrets are shown once: they are kept sealed after
generation (AES-GCM, key derived from the card key outside the database), and the first export
with secrets, asked for with the operation password (R-3) by an owner of the batch's agent,
opens them, destroys them and is audited, all in one transaction. Every other export carries
serials and states only."""

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
    secrets, destroys them and records who took them, in one transaction. Refused once taken."""
    batch = await get_batch(actor, batch_id)
    if not may_take_secrets(actor, batch):
        raise NotYoursToTake()
    await check_operation_password(actor, operation_password)
    return await _take_secrets(actor, batch, card_key=card_key, file_format=file_format)


async def _take_secrets(actor: Actor, batch: dict[str, Any], *, card_key: bytes, file_format: str) -> BatchExport:
    batch_id = batch["id"]
    at = now()
    async with transaction():
        # The conditional update lets one export take them, however many ask at once.
        claimed = (
            await CardBatch.update({CardBatch.secrets_exported_at: at})
            .where((CardBatch.id == batch_id) & CardBatch.secrets_exported_at.is_null())
            .returning(CardBatch.id)
        )
        parts = (
            await BatchSecrets.select(BatchSecrets.sealed)
            .where((BatchSecrets.batch == batch_id) & BatchSecrets.sealed.is_not_null())
            .order_by(BatchSecrets.part)
        )
        if not claimed or not parts:
            raise SecretsAlreadyTaken()
        secrets: dict[str, str] = {}
        for part in parts:
            secrets.update(unseal(card_key, batch_id, bytes(part["sealed"])))
        await BatchSecrets.update(
            {BatchSecrets.sealed: None, BatchSecrets.opened_at: at, BatchSecrets.opened_by: actor.user_id}
        ).where(BatchSecrets.batch == batch_id)
        await audit.record(
            actor,
            "cards.export_secrets",
            target_type="card_batch",
            target_id=batch_id,
            after={"format": file_format, "with_secrets": True, "cards": len(secrets)},
            scope_path=batch["agent_path"],
        )
        cards = await _cards_of(batch_id)
    for card in cards:
        card["secret"] = secrets.get(card["serial"], "")
    batch = {**batch, "secrets_exported_at": at, "secrets_exported_by": actor.username}
    return BatchExport(batch=batch, cards=cards, with_secrets=True)


async def export_batch(actor: Actor, batch_id: int, *, card_key: bytes, file_format: str) -> BatchExport:
    """For `voipagency cards generate`, which writes the one export with the secrets right after
    it generated the batch and checked the operation password: the secrets while they are still
    sealed and the actor may take them, else serials only. Requests use export_secrets (with the
    operation password) or export_serials."""
    batch = await get_batch(actor, batch_id)
    if may_take_secrets(actor, batch) and batch["secrets_exported_at"] is None:
        try:
            return await _take_secrets(actor, batch, card_key=card_key, file_format=file_format)
        except SecretsAlreadyTaken:
            pass
    return await export_serials(actor, batch_id, file_format=file_format)
