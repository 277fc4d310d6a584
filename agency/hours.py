"""An agent's outbound calling hours (R-22): a daily window in the agent's time zone."""

from __future__ import annotations

import datetime as dt
import re

_HOURS = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])")  # ASCII digits only


def parse_calling_hours(text: str) -> tuple[dt.time, dt.time] | None:
    """"08:00-19:30" -> (08:00, 19:30); "" -> None (any time). A window may cross midnight
    ("22:00-06:00"); "24:00" ends a day. Raises ValueError for anything else."""
    text = text.strip()
    if not text:
        return None
    match = _HOURS.fullmatch(text)
    if not match:
        raise ValueError(text)
    start_h, start_m, end_h, end_m = (int(g) for g in match.groups())
    if end_h == 24 and end_m:
        raise ValueError(text)
    start = dt.time(start_h, start_m)
    end = dt.time.max if end_h == 24 else dt.time(end_h, end_m)
    if start == end:
        raise ValueError(text)
    return start, end


def within_hours(window: tuple[dt.time, dt.time] | None, local: dt.time) -> bool:
    if window is None:
        return True
    start, end = window
    if start < end:
        return start <= local < end
    return local >= start or local < end  # across midnight
