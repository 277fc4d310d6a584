"""Helpers for tests that move money: price lists, funding wallets, checking the ledger."""
from __future__ import annotations

import uuid

from agency import ledger
from agency.database import transaction
from agency.ledger import Posting
from agency.prices import save_operator_list
from agency.roles import Actor
from agency.units import FEN

# Operator lists per level: deeper levels pay more (fen per minute as text, like the forms).
OPERATOR_TIERS = {
    level: [{"min_minutes": 1, "price": f"{8 + level}.00"}, {"min_minutes": 1000, "price": f"{7 + level}.50"}]
    for level in range(1, 6)
}


async def set_operator_prices(admin: Actor) -> None:
    for level, tiers in OPERATOR_TIERS.items():
        await save_operator_list(admin, level, tiers)


async def fund(agent_id: int, fen: int) -> None:
    """Put money in a wallet as a confirmed remittance would (without the paperwork)."""
    async with transaction():
        outside = await ledger.system_account(ledger.OUTSIDE_MONEY)
        wallet = await ledger.agent_account(agent_id, ledger.WALLET)
        await ledger.post("remittance", [Posting(outside, FEN, -fen), Posting(wallet, FEN, fen)], memo="test funding")


def key() -> str:
    return uuid.uuid4().hex


async def assert_ledger_ok() -> None:
    report = await ledger.verify()
    assert report.ok, report.breaches
