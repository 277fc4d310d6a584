"""Rating rules and calling hours (R-20 to R-22): table cases and properties."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.rating import FREE_BELOW, MAX_CALL, Tariff, billed_seconds, charge, longest_call
from agency.hours import parse_calling_hours, within_hours

MINUTE = Tariff()
tariffs = st.builds(
    Tariff,
    multiplier=st.integers(min_value=1, max_value=1000),
    first_block=st.integers(min_value=1, max_value=600),
    increment=st.integers(min_value=1, max_value=600),
)


@pytest.mark.parametrize(
    ("duration", "billed"),
    [(0, 0), (2, 0), (3, 60), (59, 60), (60, 60), (61, 120), (120, 120), (121, 180), (3601, 3660)],
)
def test_part_of_a_minute_is_billed_as_a_minute(duration, billed):
    assert billed_seconds(duration, MINUTE) == billed


def test_multiplier_and_six_second_increments():
    uk = Tariff(multiplier=150, first_block=6, increment=6)
    assert billed_seconds(61, uk) == 66 and charge(66, uk) == 99
    assert charge(1, Tariff(multiplier=101)) == 2  # rounded up: never a fraction given away


@given(st.integers(min_value=0, max_value=10**6), tariffs)
def test_billing_never_undercharges_and_overcharges_by_less_than_a_step(duration, tariff):
    billed = billed_seconds(duration, tariff)
    if duration < FREE_BELOW:
        assert billed == 0
    else:
        assert billed >= duration and billed >= tariff.first_block
        assert billed - duration < max(tariff.first_block, tariff.increment)


@given(st.integers(min_value=-100, max_value=10**7), tariffs)
def test_the_longest_call_is_paid_for_and_one_step_more_is_not(available, tariff):
    seconds = longest_call(available, tariff)
    if seconds == 0:  # not even the first block
        assert charge(tariff.first_block, tariff) > available
        return
    assert charge(billed_seconds(seconds, tariff), tariff) <= available
    assert seconds <= MAX_CALL
    if seconds + tariff.increment <= MAX_CALL and seconds >= FREE_BELOW:  # the next billing step is not
        assert charge(billed_seconds(seconds + tariff.increment, tariff), tariff) > available


def test_calling_hours():
    day = parse_calling_hours("08:00-19:30")
    assert day == (dt.time(8), dt.time(19, 30))
    assert within_hours(day, dt.time(8)) and within_hours(day, dt.time(19, 29))
    assert not within_hours(day, dt.time(19, 30)) and not within_hours(day, dt.time(7, 59))
    night = parse_calling_hours("22:00-06:00")
    assert within_hours(night, dt.time(23)) and within_hours(night, dt.time(5)) and not within_hours(night, dt.time(12))
    assert within_hours(parse_calling_hours("00:00-24:00"), dt.time(23, 59, 59))
    assert parse_calling_hours("") is None and within_hours(None, dt.time(3))
    bad_windows = ("8:00-19:30", "08:00-24:30", "25:00-26:00", "08:00-08:00", "08:00 - 19:30", "０８:00-19:30")
    for bad in (*bad_windows, "08:0０-19:30", "x"):
        with pytest.raises(ValueError):
            parse_calling_hours(bad)
