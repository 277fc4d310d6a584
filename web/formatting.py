"""Display helpers for templates: local times, 元 from fen, airtime as minutes:seconds."""

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


def airtime(seconds: int | None) -> str:
    """Seconds of airtime as m:ss (a call's 99 s is "1:39", 1,200 minutes "1,200:00"; signed when negative)."""
    if seconds is None:
        return "—"
    sign = "-" if seconds < 0 else ""
    minutes, rest = divmod(abs(seconds), 60)
    return f"{sign}{minutes:,}:{rest:02d}"
