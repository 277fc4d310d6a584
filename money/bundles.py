"""Buying minute bundles (R-10): the buyer's wallet pays its seller, the seller's stock gives
the buyer the minutes (the operator's stock is unlimited issuance), in one transaction that is
refused whole when either side is short."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from agency import agents, audit
from agency.agents import get_agent, valid_id
from agency.roles import Actor
from agency.tables import Agent
from agency.tree import in_subtree
from agency.users import check_operation_password
from core import stored_text
from core.clock import now
from core.db import fetch_page
from core.errors import N_, Conflict, Forbidden, NotFound, ValidationFailed
from core.units import FEN, SECONDS, format_price, parse_minutes
from money import ledger
from money.idempotency import run_once
from money.ledger import transfer
from money.prices import level_policy, price_list_for
from money.pricing import price_of
from money.tables import BundleOrder
from stats import daily


class SellerShort(Conflict):
    message = N_("Your seller does not have enough minutes in stock for this bundle; nothing was changed.")


class BelowCost(Conflict):
    message = N_(
        "%(seller)s's price list for you is below its own cost at %(minutes)s minutes, so it cannot sell this "
        "bundle until it raises that list; nothing was changed."
    )


class WalletShort(Conflict):
    message = N_("Your wallet does not cover this bundle; nothing was changed.")


@dataclass(frozen=True)
class Quote:
    minutes: int
    tier_min_minutes: int
    unit_price: int  # 1/100 fen per minute
    total_fen: int
    seller_id: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "minutes": self.minutes,
            "tier_min_minutes": self.tier_min_minutes,
            "unit_price": format_price(self.unit_price),
            "total_fen": self.total_fen,
            "seller_id": self.seller_id,
        }


async def _buyer(actor: Actor) -> dict[str, Any]:
    if actor.is_operator or not actor.can("buy_bundle"):
        raise Forbidden()
    return await get_agent(actor, actor.agent_id)


async def quote(actor: Actor, minutes: object) -> Quote:
    """What a bundle of `minutes` costs the actor's agent now."""
    return await _offer(await _buyer(actor), parse_minutes("minutes", minutes))


async def _offer(buyer: dict[str, Any], count: int) -> Quote:
    tiers, _own = await price_list_for(buyer)
    if not tiers:
        raise ValidationFailed({"minutes": N_("No price list applies to you yet; ask your seller.")})
    tier, total = price_of(tiers, count)
    return Quote(count, tier.min_minutes, tier.price, total, buyer["parent"])


async def _seller_cost(seller_id: int, count: int, offer: Quote) -> int:
    """What the seller itself would pay now for these minutes, in fen (its cost, for the margin of
    the sale); and no sale below that cost (R-9): its list may have been fine when it was saved,
    and its own seller's prices rose since."""
    seller = await Agent.select(Agent.parent, Agent.level, Agent.brand_name).where(Agent.id == seller_id).first()
    cost, _own = await price_list_for(seller)
    if not cost:
        return 0
    tier, cost_fen = price_of(cost, count)
    if tier.price > offer.unit_price:
        raise BelowCost(seller=seller["brand_name"], minutes=count)
    return cost_fen


def _order_number(order_id: int) -> str:
    return f"BO{now():%Y%m%d}{order_id:06d}"


async def buy_bundle(
    actor: Actor,
    minutes: object,
    *,
    operation_password: object,
    idempotency_key: object,
    expected_total_fen: object = None,
) -> dict[str, Any]:
    """Confirm a purchase. Needs the operation password (R-3) and an idempotency key (R-7).
    `expected_total_fen`, when given, must match the current quote (so a changed price list
    cannot surprise the buyer between quote and confirmation)."""
    buyer = await _buyer(actor)
    count = parse_minutes("minutes", minutes)
    await check_operation_password(actor, operation_password)
    params = {"minutes": count, "expected_total_fen": expected_total_fen}

    async def purchase() -> dict[str, Any]:
        current = await get_agent(actor, buyer["id"])
        if current["status"] != "active":
            raise Conflict(N_("Only an active agent can buy bundles."))
        await agents.require_seller_selling(current)  # a suspended or terminated seller does not sell
        offer = await _offer(current, count)
        if expected_total_fen is not None and expected_total_fen != offer.total_fen:
            raise Conflict(N_("The price changed since your quote; look at the new quote and confirm again."))
        seller_cost_fen = 0 if current["parent"] is None else await _seller_cost(current["parent"], count, offer)
        policy = await level_policy(buyer["level"])
        if policy["min_first_purchase_minutes"] and count < policy["min_first_purchase_minutes"]:
            if not await BundleOrder.exists().where(BundleOrder.buyer == buyer["id"]):
                raise ValidationFailed(
                    {"minutes": N_("Your first purchase must be at least %(minutes)s minutes.")},
                    minutes=policy["min_first_purchase_minutes"],
                )
        # The money goes to the seller's revenue (the operator) or sales receipts (a parent), never
        # to the parent's own wallet, which only its own seller can credit (R-11a).
        if buyer["parent"] is None:
            seller_stock = await ledger.system_account(ledger.OPERATOR_ISSUANCE)
            seller_takings = await ledger.system_account(ledger.OPERATOR_REVENUE)
        else:
            seller_stock = await ledger.agent_account(buyer["parent"], ledger.STOCK)
            seller_takings = await ledger.agent_account(buyer["parent"], ledger.RECEIPTS)
        buyer_wallet = await ledger.agent_account(buyer["id"], ledger.WALLET)
        buyer_stock = await ledger.agent_account(buyer["id"], ledger.STOCK)
        seconds = count * 60
        at = now()
        rows = await BundleOrder.insert(
            BundleOrder(
                number=f"new-{secrets.token_hex(8)}",
                buyer=buyer["id"],
                seller=buyer["parent"],
                minutes=count,
                tier_min_minutes=offer.tier_min_minutes,
                unit_price=offer.unit_price,
                total_fen=offer.total_fen,
                seller_cost_fen=seller_cost_fen,
                txn=None,
                user_id=actor.user_id,
                created_at=at,
            )
        ).returning(BundleOrder.id)
        order_id = rows[0]["id"]
        number = _order_number(order_id)
        postings = transfer(seller_stock, buyer_stock, SECONDS, seconds)
        if offer.total_fen:
            postings += transfer(buyer_wallet, seller_takings, FEN, offer.total_fen)
        try:
            txn_id = await ledger.post(
                "bundle",
                postings,
                memo=stored_text.message(N_("Order %(number)s: %(minutes)s minutes"), number=number, minutes=count),
                user_id=actor.user_id,
                ref_type="bundle_order",
                ref_id=order_id,
                at=at,
            )
        except ledger.InsufficientBalance as short:
            raise WalletShort() if short.account_id == buyer_wallet else SellerShort() from None
        await BundleOrder.update({BundleOrder.number: number, BundleOrder.txn: txn_id}).where(
            BundleOrder.id == order_id
        )
        daily.count(buyer["id"], at, bought_seconds=seconds, paid_fen=offer.total_fen)
        if buyer["parent"] is not None:
            daily.count(
                buyer["parent"],
                at,
                sold_seconds=seconds,
                received_fen=offer.total_fen,
                margin_fen=offer.total_fen - seller_cost_fen,
            )
        await audit.record(
            actor,
            "bundle.buy",
            target_type="bundle_order",
            target_id=order_id,
            scope_path=buyer["path"],
            after={"number": number, **offer.as_dict()},
        )
        return {"id": order_id, "number": number, **offer.as_dict()}

    return await run_once(actor, idempotency_key, "buy_bundle", params, purchase)


ORDER_COLUMNS = (
    BundleOrder.id,
    BundleOrder.number,
    BundleOrder.buyer,
    BundleOrder.seller,
    BundleOrder.minutes,
    BundleOrder.tier_min_minutes,
    BundleOrder.unit_price,
    BundleOrder.total_fen,
    BundleOrder.created_at,
    BundleOrder.buyer.brand_name.as_alias("buyer_name"),
    BundleOrder.seller.brand_name.as_alias("seller_name"),
)


def _order_scope(actor: Actor):
    """Orders the actor may see: bought or sold by an agent of its subtree."""
    if actor.is_operator:
        return None
    return in_subtree(actor, BundleOrder.buyer.path) | (BundleOrder.seller == actor.agent_id)


async def list_orders(
    actor: Actor,
    *,
    agent_id: int | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[list[dict[str, Any]], int]:
    """Orders bought or sold within the actor's subtree, newest first; optionally those of one
    agent (as buyer or seller) and of a period."""
    if not actor.can("view_money"):
        raise Forbidden()
    conditions = [_order_scope(actor)]
    if agent_id is not None:
        await get_agent(actor, agent_id)
        conditions.append((BundleOrder.buyer == agent_id) | (BundleOrder.seller == agent_id))
    if since is not None:
        conditions.append(BundleOrder.created_at >= since)
    if until is not None:
        conditions.append(BundleOrder.created_at < until)
    return await fetch_page(
        BundleOrder.select(*ORDER_COLUMNS),
        BundleOrder.count(),
        conditions,
        BundleOrder.id,
        page=page,
        per_page=per_page,
    )


async def get_order(actor: Actor, order_id: int) -> dict[str, Any]:
    if not actor.can("view_money") or not valid_id(order_id):
        raise NotFound()
    query = BundleOrder.select(*ORDER_COLUMNS).where(BundleOrder.id == order_id)
    if (scope := _order_scope(actor)) is not None:
        query = query.where(scope)
    row = await query.first()
    if row is None:
        raise NotFound()
    return row


async def sold_this_month(agent_id: int) -> int:
    """Minutes the agent sold to its sub-agents since the start of this month (UTC)."""
    start = now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    rows = await BundleOrder.select(BundleOrder.minutes).where(
        (BundleOrder.seller == agent_id) & (BundleOrder.created_at >= start)
    )
    return sum(r["minutes"] for r in rows)
