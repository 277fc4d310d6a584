"""Figures as users write them (issue 13.8): thousands grouped for minutes and counts as for money,
and the minus sign in front of the whole amount."""
from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from web.formatting import minutes, number, yuan


def test_money_minutes_and_counts_are_grouped_and_signed_in_front():
    assert yuan(123_450) == "¥1,234.50"
    assert yuan(-123_450) == "-¥1,234.50"
    assert yuan(-5) == "-¥0.05" and yuan(0) == "¥0.00" and yuan(None) == "—"
    assert minutes(1_200_000) == "20,000" and minutes(-90) == "-1" and minutes(59) == "0" and minutes(-30) == "0"
    assert number(1_234_567) == "1,234,567" and number(-1000) == "-1,000" and number(None) == "—"


@given(st.integers(min_value=-10**13, max_value=10**13))
def test_yuan_is_exact_and_signed_once(fen):
    text = yuan(fen)
    assert re.fullmatch(r"-?¥\d{1,3}(,\d{3})*\.\d\d", text), text
    assert int(re.sub(r"[¥,.]", "", text)) == fen
