"""Pure rules of prices and units (R-4, R-9), with property-based tests."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ValidationFailed
from core.units import format_price, parse_minutes, parse_price, parse_yuan, total_fen
from money.ledger import Posting, UnbalancedTransaction, check_balanced
from money.pricing import Tier, first_below_cost, normalize, tier_for

tier_lists = st.lists(
    st.tuples(st.integers(min_value=2, max_value=100_000), st.integers(min_value=1, max_value=100_000)),
    max_size=6, unique_by=lambda t: t[0],
).flatmap(lambda rest: st.integers(min_value=1, max_value=100_000).map(
    lambda first: normalize([Tier(1, first), *(Tier(m, p) for m, p in rest)])))


@given(tier_lists, st.integers(min_value=1, max_value=10**8))
def test_tier_is_the_largest_minimum_not_above_the_size(tiers, minutes):
    chosen = tier_for(tiers, minutes)
    assert chosen.min_minutes <= minutes
    assert all(not (chosen.min_minutes < t.min_minutes <= minutes) for t in tiers)


@given(st.integers(min_value=0, max_value=10**8), st.integers(min_value=1, max_value=10**7))
def test_total_is_rounded_half_up_once(minutes, price):
    exact_hundredths = minutes * price
    total = total_fen(minutes, price)
    assert total * 100 - 50 <= exact_hundredths < total * 100 + 50


def test_rounding_examples():
    assert total_fen(1, 825) == 8  # 8.25 fen -> 8
    assert total_fen(2, 825) == 17  # 16.50 fen -> 17 (half up)
    assert total_fen(3, 825) == 25  # 24.75 -> 25
    assert total_fen(1200, 850) == 10_200


@given(tier_lists, tier_lists)
def test_below_cost_check_is_exhaustive(selling, cost):
    bad = first_below_cost(selling, cost)
    sizes = range(1, max(t.min_minutes for t in selling + cost) + 2)
    if bad is None:
        assert all(tier_for(selling, m).price >= tier_for(cost, m).price for m in list(sizes)[:2000])
    else:
        assert tier_for(selling, bad).price < tier_for(cost, bad).price


@given(tier_lists)
def test_a_list_is_never_below_itself(tiers):
    assert first_below_cost(tiers, tiers) is None


def test_tier_lists_must_be_well_formed():
    for bad in ([], [Tier(5, 100)], [Tier(1, 100), Tier(1, 90)], [Tier(1, 0)]):
        with pytest.raises(ValidationFailed):
            normalize(bad)


def test_parsing_money_and_minutes():
    assert parse_yuan("a", "1200") == 120_000
    assert parse_yuan("a", "1,200.5") == 120_050
    assert parse_yuan("a", "0.01") == 1
    assert parse_price("p", "8.25") == 825 and format_price(825) == "8.25"
    assert parse_minutes("m", "60") == 60 and parse_minutes("m", 60) == 60
    for bad in ("0", "-1", "1.001", "1e5", "", "abc", None, "0.00", 1.5):
        with pytest.raises(ValidationFailed):
            parse_yuan("a", bad)
    for bad in ("0", "-3", "2.5", "", True, None, 10**10, "１２"):
        with pytest.raises(ValidationFailed):
            parse_minutes("m", bad)


@given(st.lists(st.integers(min_value=-10**9, max_value=10**9).filter(bool), min_size=1, max_size=5))
def test_postings_must_balance(amounts):
    postings = [Posting(i, "fen", a) for i, a in enumerate(amounts)]
    if sum(amounts) == 0:
        check_balanced(postings)
    else:
        with pytest.raises(UnbalancedTransaction):
            check_balanced(postings)
    with pytest.raises(UnbalancedTransaction):
        check_balanced([Posting(1, "fen", 5), Posting(2, "sec", -5)])
