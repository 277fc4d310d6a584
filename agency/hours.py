"""An agent's outbound calling hours (R-22): a daily window in the agent's time zone."""

from __future__ import annotations

import datetime as dt
import re

_HOURS = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])")  # ASCII digits only


def parse_calling_hours(text: str) -> tuple[dt.time, dt.time] | None:
    """ "08:00-19:30" -> (08:00, 19:30); "" -> None (any time). A window may cross midnight
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


DAY_MINUTES = 24 * 60


def _minute(moment: dt.time) -> int:
    return DAY_MINUTES if moment == dt.time.max else moment.hour * 60 + moment.minute


def minutes_covered(window: tuple[dt.time, dt.time], utc_offset: dt.timedelta) -> frozenset[int]:
    """The minutes of a UTC day (0 to 1439) that a window covers, read in a time zone
    `utc_offset` ahead of UTC."""
    start, end = _minute(window[0]), _minute(window[1])
    local = range(start, end) if start < end else [*range(start, DAY_MINUTES), *range(0, end)]
    shift = int(utc_offset.total_seconds() // 60)
    return frozenset((m - shift) % DAY_MINUTES for m in local)


def window_within(
    inner: tuple[dt.time, dt.time],
    inner_zone: dt.tzinfo,
    outer: tuple[dt.time, dt.time],
    outer_zone: dt.tzinfo,
    at: dt.datetime,
) -> bool:
    """Whether `inner` (in its zone) lies within `outer` (in its own), comparing the two zones
    at their offsets of the moment `at` (a DST change may shift them later; `authorize` applies
    both windows anyway)."""
    return minutes_covered(inner, at.astimezone(inner_zone).utcoffset()) <= minutes_covered(
        outer, at.astimezone(outer_zone).utcoffset()
    )


def window_end(window: tuple[dt.time, dt.time] | None, at: dt.datetime, zone: dt.tzinfo) -> dt.datetime | None:
    """While the moment `at` lies in the window (read in `zone`), the moment the window closes
    (None: no window, no end); raises OutsideHours when it does not."""
    if window is None or window == (dt.time(0), dt.time.max):  # 00:00-24:00 never closes
        return None
    local = at.astimezone(zone)
    if not within_hours(window, local.time()):
        raise OutsideHours()
    start, end = window
    day = local.date()
    if start > end and local.time() >= start:  # across midnight, before midnight: it ends tomorrow
        day += dt.timedelta(days=1)
    if end == dt.time.max:  # 24:00
        day, end = day + dt.timedelta(days=1), dt.time(0)
    return dt.datetime.combine(day, end, tzinfo=zone)


class OutsideHours(Exception):
    """The moment lies outside an agent's calling hours."""
