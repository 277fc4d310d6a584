"""`ledger verify` over the whole business (R-8): the ledger's own invariants (money.ledger),
subscribers' airtime (accounts.integrity) and card escrow, here. It lives in cards because cards
sits above every package that holds money or airtime."""

from __future__ import annotations

from accounts import integrity as accounts_integrity
from core import sql
from money import ledger


async def check_escrow(report: ledger.VerifyReport) -> None:
    """Each agent's card escrow equals the airtime on its generated and active cards."""
    for row in await sql.fetch(
        "SELECT COALESCE(e.agent, c.agent) AS agent, COALESCE(e.total, 0) AS escrow, COALESCE(c.seconds, 0) AS cards "
        "FROM (SELECT a.agent, SUM(j.amount) AS total FROM ledger_account a JOIN journal_entry j ON j.account = a.id "
        "      WHERE a.kind = 'escrow' GROUP BY a.agent) e "
        "FULL OUTER JOIN (SELECT card.agent, SUM(b.face_minutes * 60) AS seconds FROM card "
        "      JOIN batch b ON b.id = card.batch WHERE card.status IN ('generated', 'active') GROUP BY card.agent) c "
        "ON c.agent = e.agent WHERE COALESCE(e.total, 0) <> COALESCE(c.seconds, 0)"
    ):
        report.breaches.append(
            f"agent {row['agent']}: card escrow {row['escrow']} s, but its unused cards carry {row['cards']} s"
        )


async def verify_everything() -> ledger.VerifyReport:
    report = await ledger.verify()
    await accounts_integrity.check(report)
    await check_escrow(report)
    return report
