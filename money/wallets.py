"""What an agent's users see of money: balances and the journal of its wallet and stock,
for their own agent and its descendants (R-1)."""

from __future__ import annotations

from typing import Any

from agency.agents import get_agent
from agency.roles import Actor
from core.errors import N_, Forbidden, ValidationFailed
from money import ledger
from money.bundles import sold_this_month
from money.ledger import JournalFilter

JOURNAL_ACCOUNTS = (ledger.WALLET, ledger.STOCK, ledger.DEPOSIT, ledger.ESCROW)
TRANSACTION_KINDS = ("bundle", "remittance", "onboarding", "deposit_return", "adjustment", "penalty")


async def _visible_agent(actor: Actor, agent_id: int) -> dict[str, Any]:
    agent = await get_agent(actor, agent_id)
    if not actor.can("view_money"):
        raise Forbidden()
    return agent


async def money_summary(actor: Actor, agent_id: int) -> dict[str, Any]:
    agent = await _visible_agent(actor, agent_id)
    return {
        "agent_id": agent["id"],
        **await ledger.balances(agent["id"]),
        "receipts": await ledger.receipts_of(agent["id"]),
        "sold_this_month_minutes": await sold_this_month(agent["id"]),
    }


async def agent_journal(
    actor: Actor, agent_id: int, account: str, flt: JournalFilter, *, page: int = 1, per_page: int = 50
) -> tuple[list[dict[str, Any]], int]:
    agent = await _visible_agent(actor, agent_id)
    if account not in JOURNAL_ACCOUNTS:
        raise ValidationFailed({"account": N_("Choose one of the offered values.")})
    if flt.kind and flt.kind not in TRANSACTION_KINDS:
        raise ValidationFailed({"kind": N_("Choose one of the offered values.")})
    return await ledger.journal(agent["id"], account, flt, page=page, per_page=per_page)
