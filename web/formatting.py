"""Display helpers for templates: local times, 元 from fen, airtime, grouped counts.

Figures are written as users write them: thousands grouped with commas (money, minutes and counts
alike) and the minus sign in front of the whole figure ("-¥1,234.50", not "¥-1,234.50")."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

DISPLAY_ZONE = ZoneInfo("Asia/Shanghai")


def datetime_local(value: dt.datetime | None, zone: str | None = None) -> str:
    if value is None:
        return "—"
    return value.astimezone(ZoneInfo(zone) if zone else DISPLAY_ZONE).strftime("%Y-%m-%d %H:%M")


def money(fen: int | None) -> str:
    """Integer fen as 元 with two decimals, without floats (R-4): the bare figure, as in a form
    field or a CSV cell ("-1,234.50"); pages show `yuan`."""
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    return f"{sign}{yuan:,}.{cents:02d}"


def yuan(fen: int | None) -> str:
    """The whole figure of an amount of money on a page: "¥1,234.50", "-¥1,234.50"."""
    if fen is None:
        return "—"
    return ("-¥" if fen < 0 else "¥") + money(abs(fen))


def airtime(seconds: int | None) -> str:
    """Seconds of airtime as m:ss (a call's 99 s is "1:39", 1,200 minutes "1,200:00"; signed when negative)."""
    if seconds is None:
        return "—"
    sign = "-" if seconds < 0 else ""
    minutes, rest = divmod(abs(seconds), 60)
    return f"{sign}{minutes:,}:{rest:02d}"


def minutes(seconds: int | None) -> str:
    """Seconds of airtime as whole minutes, grouped ("20,000"): a stock or a balance at a glance.
    Leftover seconds are dropped toward zero, so -90 s is "-1"."""
    if seconds is None:
        return "—"
    whole = abs(seconds) // 60
    return f"{'-' if seconds < 0 and whole else ''}{whole:,}"


def number(value: int | None) -> str:
    """A count or a number of minutes, grouped ("12,345")."""
    if value is None:
        return "—"
    return f"{value:,}"
