"""Helpers for tests that move money: price lists, funding wallets, checking the ledger."""
from __future__ import annotations

import uuid

from agency.roles import Actor
from agency.tables import Agent
from cards.integrity import verify_everything
from core.db import transaction
from core.units import FEN
from money import ledger
from money.ledger import transfer
from money.prices import save_operator_list
from web.demo import OPERATOR_PRICES

OPERATOR_TIERS = OPERATOR_PRICES  # the demo's lists; tests save them again where they need them


async def set_operator_prices(admin: Actor) -> None:
    for level, tiers in OPERATOR_TIERS.items():
        await save_operator_list(admin, level, tiers)


async def fund(agent_id: int, fen: int) -> None:
    """Put money in a wallet as its holder's confirmed remittance would (without the paperwork)."""
    async with transaction():
        holder = (await Agent.select(Agent.parent).where(Agent.id == agent_id).first())["parent"]
        inflow = await ledger.holder_account(holder, ledger.INFLOW)
        wallet = await ledger.agent_account(agent_id, ledger.WALLET)
        await ledger.post("remittance", transfer(inflow, wallet, FEN, fen), memo="test funding")


def key() -> str:
    return uuid.uuid4().hex


async def assert_ledger_ok() -> None:
    report = await verify_everything()
    assert report.ok, report.breaches
