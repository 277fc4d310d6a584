"""Uploaded files (remittance slips, ticket attachments): only PNG, JPEG or PDF, recognised by
their first bytes whatever their name claims, and at most 2 MB."""

from __future__ import annotations

from core.errors import N_, ValidationFailed

MAX_BYTES = 2 * 1024 * 1024
TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"%PDF-": "application/pdf"}


def checked_upload(field: str, name: str, content: bytes) -> tuple[str, str]:
    """(safe file name, media type) of an acceptable upload, else ValidationFailed on `field`."""
    if len(content) > MAX_BYTES:
        raise ValidationFailed({field: N_("The file may be at most 2 MB.")})
    for magic, media_type in TYPES.items():
        if content.startswith(magic):
            safe = "".join(c for c in name if c.isalnum() or c in "._-")[:120] or "file"
            return safe, media_type
    raise ValidationFailed({field: N_("The file must be a PNG, JPEG or PDF.")})
