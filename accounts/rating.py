"""Rating calls (R-20, R-21): pure rules, in whole seconds of airtime.

A call shorter than FREE_BELOW seconds is free. Otherwise the first block and then each increment
are billed whole ("part of a minute is billed as a minute" with the default 60 s / 60 s), and the
billed seconds times the destination's multiplier (in percent), rounded up, are charged.
"""

from __future__ import annotations

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
