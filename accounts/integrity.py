"""Invariants of subscribers' airtime that `ledger verify` checks (MONEY.md, invariant 3): a
closed account holds nothing, and what calls consumed equals what the rated calls charged."""

from __future__ import annotations

from accounts.switch import CALL_CONSUMPTION
from core import sql
from money import ledger


async def check(report: ledger.VerifyReport) -> None:
    for row in await sql.fetch(
        "SELECT s.account_number, a.balance FROM subscriber s JOIN ledger_account a ON a.code = "
        + ("'subscriber:' || CAST(s.id AS TEXT)")
        + " WHERE s.status = 'closed' AND a.balance <> 0"
    ):
        report.breaches.append(f"closed account {row['account_number']} still holds {row['balance']} s")
    consumed = await ledger.system_balance(CALL_CONSUMPTION)
    charged = (await sql.fetch_one("SELECT COALESCE(SUM(charged), 0) AS total FROM call"))["total"]
    if consumed != int(charged):
        report.breaches.append(f"calls consumed {consumed} s of airtime but the rated calls charged {charged} s")
