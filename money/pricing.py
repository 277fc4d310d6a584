"""Pure rules of tiered prices (R-9): picking the tier, and the no-selling-below-cost check."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import N_, ValidationFailed
from core.units import MAX_MINUTES, total_fen


@dataclass(frozen=True, order=True)
class Tier:
    min_minutes: int
    price: int  # 1/100 fen per minute


def normalize(tiers: list[Tier]) -> list[Tier]:
    """Sorted, validated tiers: the first starts at 1 minute, breakpoints are distinct."""
    ordered = sorted(tiers)
    if not ordered:
        raise ValidationFailed({"tiers": N_("A price list needs at least one tier.")})
    if ordered[0].min_minutes != 1:
        raise ValidationFailed({"tiers": N_("The first tier must start at 1 minute.")})
    if len({t.min_minutes for t in ordered}) != len(ordered):
        raise ValidationFailed({"tiers": N_("Two tiers start at the same number of minutes.")})
    if len(ordered) > 20 or any(not 1 <= t.min_minutes <= MAX_MINUTES or t.price <= 0 for t in ordered):
        raise ValidationFailed({"tiers": N_("A tier is out of range.")})
    return ordered


def tier_for(tiers: list[Tier], minutes: int) -> Tier:
    """The tier picked by the size of the bundle: the largest minimum not above it."""
    chosen = None
    for tier in sorted(tiers):
        if tier.min_minutes <= minutes:
            chosen = tier
    if chosen is None:
        raise ValidationFailed({"minutes": N_("No tier of the price list covers this size.")})
    return chosen


def first_below_cost(selling: list[Tier], cost: list[Tier]) -> int | None:
    """The smallest bundle size (a tier breakpoint of either list) at which `selling` asks less
    than `cost`, or None. Both are step functions, so checking every breakpoint is exhaustive."""
    for minutes in sorted({t.min_minutes for t in selling} | {t.min_minutes for t in cost}):
        if tier_for(selling, minutes).price < tier_for(cost, minutes).price:
            return minutes
    return None


def price_of(tiers: list[Tier], minutes: int) -> tuple[Tier, int]:
    """The tier and the total in fen of a bundle of `minutes` under `tiers`."""
    tier = tier_for(tiers, minutes)
    return tier, total_fen(minutes, tier.price)
