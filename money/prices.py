"""Price lists (R-9) and the operator's per-level policy (R-10, R-11).

The operator keeps one list per agent level; each agent may keep one list for its direct
sub-agents, which otherwise pay the operator's list for their level. No list may sell below
the seller's own cost at any tier."""

from __future__ import annotations

from typing import Any

from agency import audit
from agency.agents import get_agent
from agency.roles import Actor
from agency.tables import Agent
from core.db import transaction
from core.errors import N_, Forbidden, ValidationFailed
from core.units import format_price, parse_minutes, parse_price, parse_yuan
from money.pricing import Tier, first_below_cost, normalize, price_of
from money.tables import LevelPolicy, PriceTier

MAX_LEVEL = 20


async def _stored_tiers(seller_id: int | None, level: int) -> list[Tier]:
    condition = (PriceTier.level == level) & (
        PriceTier.seller.is_null() if seller_id is None else PriceTier.seller == seller_id
    )
    rows = await PriceTier.select(PriceTier.min_minutes, PriceTier.price).where(condition)
    return sorted(Tier(r["min_minutes"], r["price"]) for r in rows)


def _check_level(level: object) -> None:
    if not isinstance(level, int) or not 1 <= level <= MAX_LEVEL:
        raise ValidationFailed({"level": N_("Unknown level.")})


async def operator_list(level: int) -> list[Tier]:
    return await _stored_tiers(None, level)


async def agent_list(seller_id: int) -> list[Tier]:
    """The list an agent keeps for its direct sub-agents (empty: they pay the operator's list)."""
    level = (await Agent.select(Agent.level).where(Agent.id == seller_id).first())["level"]
    return await _stored_tiers(seller_id, level + 1)


async def price_list_for(buyer: dict[str, Any]) -> tuple[list[Tier], bool]:
    """What `buyer` pays its seller: the parent's own list, else the operator's list for the
    buyer's level. The flag says whether the parent's own list applies."""
    if buyer["parent"] is not None:
        own = await _stored_tiers(buyer["parent"], buyer["level"])
        if own:
            return own, True
    return await operator_list(buyer["level"]), False


async def below_cost_from(agent: dict[str, Any]) -> int | None:
    """The smallest bundle at which the agent's list for its sub-agents asks less than what the
    agent itself pays now, or None. The list was checked when saved, but its own seller's
    prices may have risen since; until it is fixed, such sales are refused (money.bundles)."""
    selling = await _stored_tiers(agent["id"], agent["level"] + 1)
    cost, _own = await price_list_for(agent)
    return first_below_cost(selling, cost) if selling and cost else None


def parse_tiers(data: object) -> list[Tier]:
    """Tiers from a list of {"min_minutes": …, "price": "8.25"} (price in fen per minute)."""
    if not isinstance(data, list) or not data or len(data) > 20:
        raise ValidationFailed({"tiers": N_("A price list needs 1 to 20 tiers.")})
    tiers = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise ValidationFailed({"tiers": N_("A tier is out of range.")})
        tiers.append(
            Tier(
                parse_minutes(f"min_minutes_{i}", item.get("min_minutes")), parse_price(f"price_{i}", item.get("price"))
            )
        )
    return normalize(tiers)


def _below_cost_error(minutes: int) -> ValidationFailed:
    return ValidationFailed(
        {"tiers": N_("The tier from %(minutes)s minutes sells below your own cost.")}, minutes=minutes
    )


async def save_operator_list(actor: Actor, level: int, data: object) -> list[Tier]:
    """The operator's list for `level`. A deeper level never pays less than the level above
    (sub-agents buy at these defaults, so their sellers could otherwise sell below cost)."""
    if not (actor.is_operator and actor.can("set_prices")):
        raise Forbidden()
    _check_level(level)
    tiers = parse_tiers(data)
    async with transaction():
        above = await operator_list(level - 1) if level > 1 else []
        below = await operator_list(level + 1)
        if above and (minutes := first_below_cost(tiers, above)) is not None:
            raise _below_cost_error(minutes)
        if below and first_below_cost(below, tiers) is not None:
            raise ValidationFailed({"tiers": N_("The next level's list would then sell below this one.")})
        await _replace(None, level, tiers)
        await audit.record(
            actor,
            "prices.operator",
            target_type="level",
            target_id=level,
            after={"tiers": [[t.min_minutes, format_price(t.price)] for t in tiers]},
        )
    return tiers


async def save_agent_list(actor: Actor, seller_id: int, data: object) -> list[Tier]:
    """An agent's list for its direct sub-agents, checked against what the agent itself pays."""
    seller = await get_agent(actor, seller_id)
    if not actor.can("set_prices") or (not actor.is_operator and seller["id"] != actor.agent_id):
        raise Forbidden()
    tiers = parse_tiers(data)
    async with transaction():
        cost, _own = await price_list_for(seller)
        if not cost:
            raise ValidationFailed({"tiers": N_("Your own price list is not set yet; ask your seller.")})
        if (minutes := first_below_cost(tiers, cost)) is not None:
            raise _below_cost_error(minutes)
        await _replace(seller_id, seller["level"] + 1, tiers)
        await audit.record(
            actor,
            "prices.agent",
            target_type="agent",
            target_id=seller_id,
            scope_path=seller["path"],
            after={"tiers": [[t.min_minutes, format_price(t.price)] for t in tiers]},
        )
    return tiers


async def _replace(seller_id: int | None, level: int, tiers: list[Tier]) -> None:
    condition = (PriceTier.level == level) & (
        PriceTier.seller.is_null() if seller_id is None else PriceTier.seller == seller_id
    )
    await PriceTier.delete().where(condition)
    await PriceTier.insert(
        *(PriceTier(seller=seller_id, level=level, min_minutes=t.min_minutes, price=t.price) for t in tiers)
    )


async def level_policy(level: int) -> dict[str, int]:
    row = await LevelPolicy.select().where(LevelPolicy.level == level).first()
    return {
        "level": level,
        "min_first_purchase_minutes": row["min_first_purchase_minutes"] if row else 0,
        "deposit_fen": row["deposit_fen"] if row else 0,
        "franchise_fee_fen": row["franchise_fee_fen"] if row else 0,
    }


def level_policy_values(min_first_purchase: object, deposit: object, franchise_fee: object) -> dict[str, int]:
    """A level's policy as typed (minutes; yuan, "" or "0" for none) in minutes and fen."""
    return {
        "min_first_purchase_minutes": parse_minutes("min_first_purchase_minutes", min_first_purchase, minimum=0),
        "deposit_fen": 0 if deposit in ("", "0") else parse_yuan("deposit", deposit),
        "franchise_fee_fen": 0 if franchise_fee in ("", "0") else parse_yuan("franchise_fee", franchise_fee),
    }


async def save_level_policy(actor: Actor, level: int, values: dict[str, int]) -> dict[str, int]:
    """Values are already parsed integers (minutes, fen): see level_policy_values."""
    if not (actor.is_operator and actor.can("set_prices")):
        raise Forbidden()
    _check_level(level)
    async with transaction():
        before = await level_policy(level)
        await LevelPolicy.delete().where(LevelPolicy.level == level)
        await LevelPolicy.insert(LevelPolicy(level=level, **values))
        await audit.record(
            actor, "prices.level_policy", target_type="level", target_id=level, before=before, after=values
        )
    return await level_policy(level)


async def preview(actor: Actor, minutes: object, level: object = None) -> dict[str, Any]:
    """What a sub-agent of the actor's agent would pay for `minutes` (the agent's own list, or
    the operator's default for that level); for the operator, what an agent of `level` pays."""
    count = parse_minutes("minutes", minutes)
    if actor.is_operator:
        _check_level(level)
        tiers = await operator_list(level)
    else:
        me = await get_agent(actor, actor.agent_id)
        tiers = await _stored_tiers(me["id"], me["level"] + 1) or await operator_list(me["level"] + 1)
    if not tiers:
        raise ValidationFailed({"minutes": N_("No price list applies to you yet; ask your seller.")})
    tier, total = price_of(tiers, count)
    return {
        "minutes": count,
        "tier_min_minutes": tier.min_minutes,
        "unit_price": format_price(tier.price),
        "total_fen": total,
    }
