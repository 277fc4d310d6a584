"""JSON API v1 for money and minutes: balances and journal, bundles, remittances, prices,
activation. Every money operation takes an idempotency key (R-7) and, where SPEC R-3 asks,
the operation password."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.params import FromPath, FromQuery, JSONBody

from core.units import format_price
from money import adjustments, bundles, onboarding, prices, remittances, wallets
from money.pricing import Tier
from web import labels
from web.auth import access
from web.controllers.answers import Page, answer, page_of
from web.controllers.forms import period, refuse_unreadable_days
from web.controllers.money import journal_filter


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
    idempotency_key: str | None = None  # a retry with the same key returns the first record
    confirm_duplicate: bool = False  # record it although this agent already used the bank reference (409 else)


@dataclass
class DecisionIn:
    operation_password: str
    idempotency_key: str
    note: str = ""  # required to reject: the reason, which the sender sees


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


class BalancesOut(msgspec.Struct):
    """An agent's balances: wallet, deposit and sales receipts (from its sub-agents) in fen, stock
    and card escrow in seconds."""

    agent_id: int
    wallet: int
    stock: int
    deposit: int
    escrow: int
    receipts: int
    sold_this_month_minutes: int


@dataclass
class AdjustmentIn:
    """`amount`: yuan for the wallet ("12.50"), whole minutes for the stock ("30")."""

    account: str  # wallet or stock
    direction: str  # credit or debit
    kind: str  # adjustment or penalty (a debit)
    amount: str
    reason: str
    reference: str
    operation_password: str
    idempotency_key: str


class AdjustmentAnswer(msgspec.Struct):
    """An adjustment or penalty posted: its journal transaction, and the amount in fen or seconds."""

    txn_id: int
    agent_id: int
    account: str
    direction: str
    kind: str
    amount: int
    reason: str
    reference: str


class JournalEntryOut(msgspec.Struct):
    """One entry of an account's journal (amount in the account's unit: fen or sec) and its transaction."""

    id: int
    amount: int
    unit: str
    txn_id: int
    kind: str
    memo: str
    at: dt.datetime
    ref_type: str
    ref_id: str


class PricePreviewOut(msgspec.Struct):
    """What a bundle of `minutes` costs: the tier applied, its price in fen per minute ("8.25"), the total in fen."""

    minutes: int
    tier_min_minutes: int
    unit_price: str
    total_fen: int


class QuoteOut(PricePreviewOut):
    """What a bundle costs the caller's agent now, and who sells it (null: the operator)."""

    seller_id: int | None


class PurchaseAnswer(msgspec.Struct):
    """A bought bundle: the order's id and number, and the quote it was bought at."""

    id: int
    number: str
    minutes: int
    tier_min_minutes: int
    unit_price: str
    total_fen: int
    seller_id: int | None


class BundleOrderOut(msgspec.Struct):
    """A bundle order; `unit_price` in 1/100 fen per minute, `seller` null for the operator."""

    id: int
    number: str
    buyer: int
    seller: int | None
    minutes: int
    tier_min_minutes: int
    unit_price: int
    total_fen: int
    created_at: dt.datetime
    buyer_name: str
    seller_name: str | None


class RemittanceOut(msgspec.Struct):
    """Money an agent says it sent to its seller (null: the operator); status pending, confirmed or rejected."""

    id: int
    agent: int
    seller: int | None
    amount_fen: int
    bank_reference: str
    remitted_on: dt.date
    status: str
    note: str
    slip_name: str
    created_at: dt.datetime
    decided_at: dt.datetime | None
    decision_note: str  # the decider's words: a rejection's reason
    agent_name: str
    agent_path: str


class RemittanceDetailOut(RemittanceOut):
    """A remittance with the media type of its bank slip ("" without one)."""

    slip_type: str


class DecisionAnswer(msgspec.Struct):
    """A remittance confirmed (its amount credited to the agent's wallet) or rejected."""

    id: int
    status: str
    amount_fen: int


class TierOut(msgspec.Struct):
    """One tier of a price list: from `min_minutes` on, `price` fen per minute ("8.25")."""

    min_minutes: int
    price: str


class LevelPolicyOut(msgspec.Struct):
    """The operator's policy for a level: minimum first purchase (minutes), deposit and franchise fee (fen)."""

    level: int
    min_first_purchase_minutes: int
    deposit_fen: int
    franchise_fee_fen: int


class LevelPricesOut(msgspec.Struct):
    """The operator's price list for agents of one level."""

    level: int
    tiers: list[TierOut]


class OperatorPricesOut(LevelPricesOut):
    """The operator's price list for a level, and its policy (shown to the operator only, else null)."""

    policy: LevelPolicyOut | None


class AgentPricesOut(msgspec.Struct):
    """What an agent pays (its parent's own list, or the operator's) and the list it keeps for its sub-agents."""

    agent_id: int
    pays: list[TierOut]
    pays_parents_own_list: bool
    sells_to_sub_agents: list[TierOut]


class SubAgentPricesOut(msgspec.Struct):
    """The list an agent keeps for its direct sub-agents (empty: they pay the operator's list)."""

    agent_id: int
    sells_to_sub_agents: list[TierOut]


class ActivationAnswer(msgspec.Struct):
    """An activated agent, with the deposit and franchise fee (fen) its wallet paid."""

    id: int
    status: str
    deposit_fen: int
    franchise_fee_fen: int


def _tiers(tiers: list[Tier]) -> list[TierOut]:
    return [TierOut(t.min_minutes, format_price(t.price)) for t in tiers]


def _tier_data(data: PriceListIn) -> list[dict[str, Any]]:
    return [asdict(t) for t in data.tiers]


async def _decide(request: Request, remittance_id: int, data: DecisionIn, *, confirm: bool) -> DecisionAnswer:
    decided = await remittances.decide_remittance(
        request.user,
        remittance_id,
        confirm=confirm,
        note=data.note,
        operation_password=data.operation_password,
        idempotency_key=data.idempotency_key,
    )
    return answer(DecisionAnswer, decided)


class MoneyApiController(Controller):
    path = "/api/v1"
    tags = ["money"]

    @get("/agents/{agent_id:int}/balances", opt=access("view_money"))
    async def balances(self, request: Request, agent_id: FromPath[int]) -> BalancesOut:
        return answer(BalancesOut, await wallets.money_summary(request.user, agent_id))

    @post("/agents/{agent_id:int}/adjustments", opt=access("adjust_balances"), status_code=201)
    async def adjust(self, request: Request, agent_id: FromPath[int], data: JSONBody[AdjustmentIn]) -> AdjustmentAnswer:
        """An adjustment or penalty by the agent's holder (R-11b), with a reason and a reference."""
        fields = {k: v for k, v in asdict(data).items() if k not in ("operation_password", "idempotency_key")}
        result = await adjustments.adjust(
            request.user,
            agent_id,
            fields,
            operation_password=data.operation_password,
            idempotency_key=data.idempotency_key,
        )
        return answer(AdjustmentAnswer, result)

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
    ) -> Page[JournalEntryOut]:
        refuse_unreadable_days(since=since, until=until)
        rows, total = await wallets.agent_journal(
            request.user, agent_id, account, journal_filter(kind, since, until, counterparty), page=page
        )
        # The API keeps codes; a memo the system wrote is given in English, as it always was.
        rows = [{**row, "memo": labels.stored(row["memo"], "en")} for row in rows]
        return page_of(JournalEntryOut, rows, total, page)

    @get("/bundles/quote", opt=access("buy_bundle"))
    async def quote(self, request: Request, minutes: FromQuery[str]) -> QuoteOut:
        return answer(QuoteOut, (await bundles.quote(request.user, minutes)).as_dict())

    @post("/bundles", opt=access("buy_bundle"), status_code=201)
    async def buy(self, request: Request, data: JSONBody[BundleIn]) -> PurchaseAnswer:
        bought = await bundles.buy_bundle(
            request.user,
            data.minutes,
            operation_password=data.operation_password,
            idempotency_key=data.idempotency_key,
            expected_total_fen=data.expected_total_fen,
        )
        return answer(PurchaseAnswer, bought)

    @get("/bundles", opt=access("view_money"))
    async def orders(
        self,
        request: Request,
        agent_id: FromQuery[int | None] = None,
        since: FromQuery[str] = "",
        until: FromQuery[str] = "",
        page: FromQuery[int] = 1,
    ) -> Page[BundleOrderOut]:
        refuse_unreadable_days(since=since, until=until)
        start, end = period(since, until)
        rows, total = await bundles.list_orders(request.user, agent_id=agent_id, since=start, until=end, page=page)
        return page_of(BundleOrderOut, rows, total, page)

    @get("/bundles/{order_id:int}", opt=access("view_money"))
    async def order(self, request: Request, order_id: FromPath[int]) -> BundleOrderOut:
        return answer(BundleOrderOut, await bundles.get_order(request.user, order_id))

    @post("/remittances", opt=access("record_remittance"), status_code=201)
    async def record_remittance(self, request: Request, data: JSONBody[RemittanceIn]) -> RemittanceDetailOut:
        key = data.idempotency_key
        recorded = await remittances.record_remittance(request.user, asdict(data), idempotency_key=key)
        return answer(RemittanceDetailOut, recorded)

    @get("/remittances", opt=access("view_money"))
    async def list_remittances(
        self,
        request: Request,
        status: FromQuery[str] = "",
        to_me: FromQuery[bool] = False,
        mine: FromQuery[bool] = False,
        page: FromQuery[int] = 1,
    ) -> Page[RemittanceOut]:
        """`to_me`: those the caller's side decides; `mine`: those its own agent sent."""
        rows, total = await remittances.list_remittances(request.user, status=status, to_me=to_me, mine=mine, page=page)
        return page_of(RemittanceOut, rows, total, page)

    @post("/remittances/{remittance_id:int}/confirm", opt=access("confirm_remittance"), status_code=200)
    async def confirm(
        self, request: Request, remittance_id: FromPath[int], data: JSONBody[DecisionIn]
    ) -> DecisionAnswer:
        return await _decide(request, remittance_id, data, confirm=True)

    @post("/remittances/{remittance_id:int}/reject", opt=access("confirm_remittance"), status_code=200)
    async def reject(
        self, request: Request, remittance_id: FromPath[int], data: JSONBody[DecisionIn]
    ) -> DecisionAnswer:
        return await _decide(request, remittance_id, data, confirm=False)

    @get("/prices/preview", opt=access("view_money"))
    async def preview(
        self, request: Request, minutes: FromQuery[str], level: FromQuery[int | None] = None
    ) -> PricePreviewOut:
        return answer(PricePreviewOut, await prices.preview(request.user, minutes, level))

    @get("/prices/levels/{level:int}", opt=access("view_money"))
    async def operator_prices(self, request: Request, level: FromPath[int]) -> OperatorPricesOut:
        policy = answer(LevelPolicyOut, await prices.level_policy(level)) if request.user.is_operator else None
        return OperatorPricesOut(level=level, tiers=_tiers(await prices.operator_list(level)), policy=policy)

    @put("/prices/levels/{level:int}", opt=access("set_prices"))
    async def save_operator_prices(
        self, request: Request, level: FromPath[int], data: JSONBody[PriceListIn]
    ) -> LevelPricesOut:
        tiers = await prices.save_operator_list(request.user, level, _tier_data(data))
        return LevelPricesOut(level=level, tiers=_tiers(tiers))

    @put("/prices/levels/{level:int}/policy", opt=access("set_prices"))
    async def save_level_policy(
        self, request: Request, level: FromPath[int], data: JSONBody[LevelPolicyIn]
    ) -> LevelPolicyOut:
        values = prices.level_policy_values(data.min_first_purchase_minutes, data.deposit, data.franchise_fee)
        return answer(LevelPolicyOut, await prices.save_level_policy(request.user, level, values))

    @get("/agents/{agent_id:int}/prices", opt=access("view_money"))
    async def agent_prices(self, request: Request, agent_id: FromPath[int]) -> AgentPricesOut:
        from agency.agents import get_agent

        agent = await get_agent(request.user, agent_id)
        pays, own_list = await prices.price_list_for(agent)
        return AgentPricesOut(
            agent_id=agent_id,
            pays=_tiers(pays),
            pays_parents_own_list=own_list,
            sells_to_sub_agents=_tiers(await prices.agent_list(agent_id)),
        )

    @put("/agents/{agent_id:int}/prices", opt=access("set_prices"))
    async def save_agent_prices(
        self, request: Request, agent_id: FromPath[int], data: JSONBody[PriceListIn]
    ) -> SubAgentPricesOut:
        tiers = await prices.save_agent_list(request.user, agent_id, _tier_data(data))
        return SubAgentPricesOut(agent_id=agent_id, sells_to_sub_agents=_tiers(tiers))

    @post("/agents/{agent_id:int}/activate", opt=access("activate_agent"), status_code=200)
    async def activate(
        self, request: Request, agent_id: FromPath[int], data: JSONBody[ActivationIn]
    ) -> ActivationAnswer:
        activated = await onboarding.activate_agent(
            request.user, agent_id, operation_password=data.operation_password, idempotency_key=data.idempotency_key
        )
        return answer(ActivationAnswer, activated)


ROUTES = [MoneyApiController]
