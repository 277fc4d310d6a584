"""Rating calls (R-20, R-21, R-22): pure rules, in whole seconds of airtime.

A call shorter than FREE_BELOW seconds is free. Otherwise the first block and then each increment
are billed whole ("part of a minute is billed as a minute" with the default 60 s / 60 s), and the
billed seconds times the destination's multiplier (in percent), rounded up, are charged.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

FREE_BELOW = 3
REVIEW_OVER = 3600  # calls longer than an hour are flagged for review
MAX_CALL = 4 * 3600  # the longest call `authorize` grants at once


@dataclass(frozen=True)
class Tariff:
    multiplier: int = 100  # percent: 150 charges 1.5 s of airtime per billed second
    first_block: int = 60
    increment: int = 60


def billed_seconds(duration: int, tariff: Tariff) -> int:
    if duration < FREE_BELOW:
        return 0
    if duration <= tariff.first_block:
        return tariff.first_block
    extra = duration - tariff.first_block
    return tariff.first_block + -(-extra // tariff.increment) * tariff.increment


def charge(billed: int, tariff: Tariff) -> int:
    """Airtime seconds taken for `billed` seconds: the multiplier applied, rounded up."""
    return -(-billed * tariff.multiplier // 100)


def longest_call(available: int, tariff: Tariff, cap: int = MAX_CALL) -> int:
    """The longest call whose charge fits in `available` seconds (0: not even the first block).
    charge(x) <= available  <=>  x * multiplier <= 100 * available, for whole `available`."""
    affordable = 100 * max(available, 0) // tariff.multiplier
    if affordable < tariff.first_block:
        return 0
    blocks = (affordable - tariff.first_block) // tariff.increment
    return min(tariff.first_block + blocks * tariff.increment, cap)


_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


def parse_calling_hours(text: str) -> tuple[dt.time, dt.time] | None:
    """ "08:00-19:30" -> (08:00, 19:30); "" -> None (any time). A window may cross midnight
    ("22:00-06:00"); "24:00" ends a day. Raises ValueError for anything else."""
    text = text.strip()
    if not text:
        return None
    match = _HOURS.match(text)
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
