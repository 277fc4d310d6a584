"""Exports of a batch (R-13, R-17). The first export after generation is the only time secrets
are shown: they are kept sealed until then (AES-GCM, key derived from the card key outside the
database), opened once, audited, and destroyed. Later exports carry serials and states only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agency import audit
from agency.roles import Actor
from cards.sealing import unseal
from cards.services import get_batch
from cards.tables import BatchSecrets, Card, CardBatch
from core.clock import now
from core.db import transaction


@dataclass
class BatchExport:
    batch: dict[str, Any]
    cards: list[dict[str, Any]]  # serial, status, expires_at, and "secret" on the first export only
    with_secrets: bool


async def export_batch(actor: Actor, batch_id: int, *, card_key: bytes, file_format: str) -> BatchExport:
    """The batch's cards for an export. The first call after generation opens the sealed secrets
    (and destroys them, in the same transaction, with an audit entry); later calls do not."""
    batch = await get_batch(actor, batch_id)
    async with transaction():
        secrets: dict[str, str] = {}
        parts = (
            await BatchSecrets.select(BatchSecrets.sealed)
            .where((BatchSecrets.batch == batch_id) & BatchSecrets.sealed.is_not_null())
            .order_by(BatchSecrets.part)
        )
        if parts and not actor.is_operator and actor.can("generate_cards"):
            for part in parts:
                secrets.update(unseal(card_key, batch_id, bytes(part["sealed"])))
            await BatchSecrets.update(
                {BatchSecrets.sealed: None, BatchSecrets.opened_at: now(), BatchSecrets.opened_by: actor.user_id}
            ).where(BatchSecrets.batch == batch_id)
            await CardBatch.update({CardBatch.secrets_exported_at: now()}).where(CardBatch.id == batch_id)
        await audit.record(
            actor,
            "cards.export_secrets" if secrets else "cards.export",
            target_type="card_batch",
            target_id=batch_id,
            after={"format": file_format, "with_secrets": bool(secrets)},
            scope_path=batch["agent_path"],
        )
        cards = (
            await Card.select(Card.serial, Card.status, Card.expires_at)
            .where(Card.batch == batch_id)
            .order_by(Card.serial)
        )
    for card in cards:
        if secrets:
            card["secret"] = secrets.get(card["serial"], "")
    return BatchExport(batch=batch, cards=cards, with_secrets=bool(secrets))
