"""Helpers for tests that move money: price lists, funding wallets, checking the ledger."""
from __future__ import annotations

import uuid

from agency.roles import Actor
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
    """Put money in a wallet as a confirmed remittance would (without the paperwork)."""
    async with transaction():
        outside = await ledger.system_account(ledger.OUTSIDE_MONEY)
        wallet = await ledger.agent_account(agent_id, ledger.WALLET)
        await ledger.post("remittance", transfer(outside, wallet, FEN, fen), memo="test funding")


def key() -> str:
    return uuid.uuid4().hex


async def assert_ledger_ok() -> None:
    report = await ledger.verify()
    assert report.ok, report.breaches
