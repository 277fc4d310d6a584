"""Display helpers for templates: local times, 元 from fen."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

DISPLAY_ZONE = ZoneInfo("Asia/Shanghai")


def datetime_local(value: dt.datetime | None, zone: str | None = None) -> str:
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(zone) if zone else DISPLAY_ZONE).strftime("%Y-%m-%d %H:%M")


def money(fen: int | None) -> str:
    """Integer fen as 元 with two decimals, without floats (R-4)."""
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{yuan:,}.{cents:02d}"
