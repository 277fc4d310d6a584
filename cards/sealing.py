"""Sealing a new batch's secrets until their one export (AES-GCM under a key derived from the card
key, which lives outside the database; bound to the batch id so a sealed blob cannot be replayed
for another batch)."""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cards.tables import BatchSecrets
from core.clock import now


def _sealing_key(card_key: bytes) -> bytes:
    return hmac.new(card_key, b"voipagency batch secrets v1", hashlib.sha256).digest()


def seal(card_key: bytes, batch_id: int, pairs: list[tuple[str, str]]) -> bytes:
    """serial,secret lines, encrypted and bound to the batch id."""
    plain = "\n".join(f"{serial},{secret}" for serial, secret in pairs).encode()
    nonce = os.urandom(12)
    return nonce + AESGCM(_sealing_key(card_key)).encrypt(nonce, plain, str(batch_id).encode())


def unseal(card_key: bytes, batch_id: int, sealed: bytes) -> dict[str, str]:
    plain = AESGCM(_sealing_key(card_key)).decrypt(sealed[:12], sealed[12:], str(batch_id).encode())
    return dict(line.split(",", 1) for line in plain.decode().splitlines() if line)


async def store_sealed(batch_id: int, part: int, sealed: bytes) -> None:
    await BatchSecrets.insert(BatchSecrets(batch=batch_id, part=part, sealed=sealed, created_at=now()))
