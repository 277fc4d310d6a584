"""JSON API v1 for money and minutes: balances and journal, bundles, remittances, prices,
activation. Every money operation takes an idempotency key (R-7) and, where SPEC R-3 asks,
the operation password."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from litestar import Controller, Request, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody

from core.units import format_price
from money import bundles, onboarding, prices, remittances, wallets
from money.pricing import Tier
from web.auth import access
from web.controllers.forms import period
from web.controllers.money import journal_filter
from web.controllers.paging import json_page


@dataclass
class BundleIn:
    minutes: int
    operation_password: str
    idempotency_key: str
    expected_total_fen: int | None = None


@dataclass
class RemittanceIn:
    amount: str
    bank_reference: str
    remitted_on: dt.date
    note: str = ""


@dataclass
class DecisionIn:
    operation_password: str
    idempotency_key: str
    note: str = ""


@dataclass
class TierIn:
    min_minutes: int
    price: str


@dataclass
class PriceListIn:
    tiers: list[TierIn]


@dataclass
class LevelPolicyIn:
    min_first_purchase_minutes: int = 0
    deposit: str = "0"
    franchise_fee: str = "0"


@dataclass
class ActivationIn:
    operation_password: str
    idempotency_key: str


def _tiers(tiers: list[Tier]) -> list[dict[str, Any]]:
    return [{"min_minutes": t.min_minutes, "price": format_price(t.price)} for t in tiers]


def _tier_data(data: PriceListIn) -> list[dict[str, Any]]:
    return [{"min_minutes": t.min_minutes, "price": t.price} for t in data.tiers]


class MoneyApiController(Controller):
    path = "/api/v1"
    tags = ["money"]

    @get("/agents/{agent_id:int}/balances", opt=access("view_money"))
    async def balances(self, request: Request, agent_id: FromPath[int]) -> dict[str, Any]:
        return await wallets.money_summary(request.user, agent_id)

    @get("/agents/{agent_id:int}/journal", opt=access("view_money"))
    async def journal(
        self,
        request: Request,
        agent_id: FromPath[int],
        account: FromQuery[str] = "wallet",
        kind: FromQuery[str] = "",
        since: FromQuery[str] = "",
        until: FromQuery[str] = "",
        counterparty: FromQuery[str] = "",
        page: FromQuery[int] = 1,
    ) -> dict[str, Any]:
        rows, total = await wallets.agent_journal(
            request.user, agent_id, account, journal_filter(kind, since, until, counterparty), page=page
        )
        return json_page(rows, total, page)

    @get("/bundles/quote", opt=access("buy_bundle"))
    async def quote(self, request: Request, minutes: FromQuery[str]) -> dict[str, Any]:
        return (await bundles.quote(request.user, minutes)).as_dict()

    @post("/bundles", opt=access("buy_bundle"), status_code=201)
    async def buy(self, request: Request, data: JSONBody[BundleIn]) -> dict[str, Any]:
        return await bundles.buy_bundle(
            request.user,
            data.minutes,
            operation_password=data.operation_password,
            idempotency_key=data.idempotency_key,
            expected_total_fen=data.expected_total_fen,
        )

    @get("/bundles", opt=access("view_money"))
    async def orders(
        self,
        request: Request,
        agent_id: FromQuery[int | None] = None,
        since: FromQuery[str] = "",
        until: FromQuery[str] = "",
        page: FromQuery[int] = 1,
    ) -> dict[str, Any]:
        start, end = period(since, until)
        rows, total = await bundles.list_orders(request.user, agent_id=agent_id, since=start, until=end, page=page)
        return json_page(rows, total, page)

    @get("/bundles/{order_id:int}", opt=access("view_money"))
    async def order(self, request: Request, order_id: FromPath[int]) -> dict[str, Any]:
        return await bundles.get_order(request.user, order_id)

    @post("/remittances", opt=access("record_remittance"), status_code=201)
    async def record_remittance(self, request: Request, data: JSONBody[RemittanceIn]) -> dict[str, Any]:
        return await remittances.record_remittance(
            request.user,
            {
                "amount": data.amount,
                "bank_reference": data.bank_reference,
                "remitted_on": data.remitted_on.isoformat(),
                "note": data.note,
            },
        )

    @get("/remittances", opt=access("view_money"))
    async def list_remittances(
        self, request: Request, status: FromQuery[str] = "", to_me: FromQuery[bool] = False, page: FromQuery[int] = 1
    ) -> dict[str, Any]:
        rows, total = await remittances.list_remittances(request.user, status=status, to_me=to_me, page=page)
        return json_page(rows, total, page)

    @post("/remittances/{remittance_id:int}/confirm", opt=access("confirm_remittance"), status_code=200)
    async def confirm(self, request: Request, remittance_id: FromPath[int], data: JSONBody[DecisionIn]) -> dict:
        return await remittances.decide_remittance(
            request.user,
            remittance_id,
            confirm=True,
            note=data.note,
            operation_password=data.operation_password,
            idempotency_key=data.idempotency_key,
        )

    @post("/remittances/{remittance_id:int}/reject", opt=access("confirm_remittance"), status_code=200)
    async def reject(self, request: Request, remittance_id: FromPath[int], data: JSONBody[DecisionIn]) -> dict:
        return await remittances.decide_remittance(
            request.user,
            remittance_id,
            confirm=False,
            note=data.note,
            operation_password=data.operation_password,
            idempotency_key=data.idempotency_key,
        )

    @get("/prices/preview", opt=access("view_money"))
    async def preview(self, request: Request, minutes: FromQuery[str], level: FromQuery[int | None] = None) -> dict:
        return await prices.preview(request.user, minutes, level)

    @get("/prices/levels/{level:int}", opt=access("view_money"))
    async def operator_prices(self, request: Request, level: FromPath[int]) -> dict[str, Any]:
        return {
            "level": level,
            "tiers": _tiers(await prices.operator_list(level)),
            "policy": await prices.level_policy(level) if request.user.is_operator else None,
        }

    @put("/prices/levels/{level:int}", opt=access("set_prices"))
    async def save_operator_prices(
        self, request: Request, level: FromPath[int], data: JSONBody[PriceListIn]
    ) -> dict[str, Any]:
        return {"level": level, "tiers": _tiers(await prices.save_operator_list(request.user, level, _tier_data(data)))}

    @put("/prices/levels/{level:int}/policy", opt=access("set_prices"))
    async def save_level_policy(
        self, request: Request, level: FromPath[int], data: JSONBody[LevelPolicyIn]
    ) -> dict[str, Any]:
        values = prices.level_policy_values(data.min_first_purchase_minutes, data.deposit, data.franchise_fee)
        return await prices.save_level_policy(request.user, level, values)

    @get("/agents/{agent_id:int}/prices", opt=access("view_money"))
    async def agent_prices(self, request: Request, agent_id: FromPath[int]) -> dict[str, Any]:
        from agency.agents import get_agent

        agent = await get_agent(request.user, agent_id)
        pays, own_list = await prices.price_list_for(agent)
        return {
            "agent_id": agent_id,
            "pays": _tiers(pays),
            "pays_parents_own_list": own_list,
            "sells_to_sub_agents": _tiers(await prices.agent_list(agent_id)),
        }

    @put("/agents/{agent_id:int}/prices", opt=access("set_prices"))
    async def save_agent_prices(
        self, request: Request, agent_id: FromPath[int], data: JSONBody[PriceListIn]
    ) -> dict[str, Any]:
        return {
            "agent_id": agent_id,
            "sells_to_sub_agents": _tiers(await prices.save_agent_list(request.user, agent_id, _tier_data(data))),
        }

    @post("/agents/{agent_id:int}/activate", opt=access("activate_agent"), status_code=200)
    async def activate(self, request: Request, agent_id: FromPath[int], data: JSONBody[ActivationIn]) -> dict:
        return await onboarding.activate_agent(
            request.user, agent_id, operation_password=data.operation_password, idempotency_key=data.idempotency_key
        )


ROUTES = [MoneyApiController]
