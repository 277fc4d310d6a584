"""What the JSON API modules share about bodies and answers."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any


def present(data: Any) -> dict[str, Any]:
    """The fields of a PATCH body that the client sent (the others are None)."""
    return {k: v for k, v in asdict(data).items() if v is not None}
