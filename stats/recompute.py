"""`stats verify` and `stats rebuild`: the daily figures recomputed from what they count.

The sources are read with SQL of their own, independent of the code that keeps the figures
(stats.daily): the journal's transactions of bundles, remittances, card batches, voided and expired
cards; the cards' activation and redemption times; the accounts' opening and closing times; the
rated call records. Each is grouped by agent and by the operator's calendar day in the database.
The subtree rows are then the sums of the own rows along the stored paths.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from core import sql
from core.db import transaction
from stats.daily import METRICS, Key, add_open_accounts, add_rows, expand, open_changes


def _sources() -> list[tuple[str, str]]:
    """(figures it gives, SQL grouped by agent and day) for each source. Every statement returns
    agent, day and the named figures."""
    day = sql.local_day
    return [
        (
            "bought_seconds, paid_fen",
            f"SELECT o.buyer AS agent, {day('t.created_at')} AS day, SUM(o.minutes * 60) AS bought_seconds, "
            "SUM(o.total_fen) AS paid_fen FROM bundle_order o JOIN journal_transaction t ON t.id = o.txn "
            f"GROUP BY o.buyer, {day('t.created_at')}",
        ),
        (
            "sold_seconds, received_fen, margin_fen",
            f"SELECT o.seller AS agent, {day('t.created_at')} AS day, SUM(o.minutes * 60) AS sold_seconds, "
            "SUM(o.total_fen) AS received_fen, SUM(o.total_fen - o.seller_cost_fen) AS margin_fen "
            "FROM bundle_order o JOIN journal_transaction t ON t.id = o.txn WHERE o.seller IS NOT NULL "
            f"GROUP BY o.seller, {day('t.created_at')}",
        ),
        (
            "remitted_fen",
            f"SELECT r.agent AS agent, {day('t.created_at')} AS day, SUM(r.amount_fen) AS remitted_fen "
            "FROM remittance r JOIN journal_transaction t ON t.id = r.txn WHERE r.status = 'confirmed' "
            f"GROUP BY r.agent, {day('t.created_at')}",
        ),
        (
            "carded_seconds",
            f"SELECT b.agent AS agent, {day('t.created_at')} AS day, "
            "SUM(b.size * b.face_minutes * 60) AS carded_seconds "
            f"FROM batch b JOIN journal_transaction t ON t.id = b.txn GROUP BY b.agent, {day('t.created_at')}",
        ),
        (
            "returned_seconds",
            f"SELECT a.agent AS agent, {day('t.created_at')} AS day, SUM(-e.amount) AS returned_seconds "
            "FROM journal_transaction t JOIN journal_entry e ON e.txn = t.id "
            "JOIN ledger_account a ON a.id = e.account "
            "WHERE t.kind IN ('card_void', 'card_expiry') AND a.kind = 'escrow' "
            f"GROUP BY a.agent, {day('t.created_at')}",
        ),
        (
            "activated_cards, activated_seconds",
            f"SELECT c.agent AS agent, {day('c.activated_at')} AS day, COUNT(*) AS activated_cards, "
            "SUM(b.face_minutes * 60) AS activated_seconds FROM card c JOIN batch b ON b.id = c.batch "
            f"WHERE c.activated_at IS NOT NULL GROUP BY c.agent, {day('c.activated_at')}",
        ),
        (
            "redeemed_cards, redeemed_seconds",
            f"SELECT c.agent AS agent, {day('c.redeemed_at')} AS day, COUNT(*) AS redeemed_cards, "
            "SUM(b.face_minutes * 60) AS redeemed_seconds FROM card c JOIN batch b ON b.id = c.batch "
            f"WHERE c.redeemed_at IS NOT NULL GROUP BY c.agent, {day('c.redeemed_at')}",
        ),
        (
            "opened_accounts",
            f"SELECT agent, {day('created_at')} AS day, COUNT(*) AS opened_accounts FROM subscriber "
            f"GROUP BY agent, {day('created_at')}",
        ),
        (
            "closed_accounts",
            f"SELECT agent, {day('closed_at')} AS day, COUNT(*) AS closed_accounts FROM subscriber "
            f"WHERE closed_at IS NOT NULL GROUP BY agent, {day('closed_at')}",
        ),
        (
            "calls, consumed_seconds",
            f"SELECT agent, {day('started_at')} AS day, COUNT(*) AS calls, SUM(charged) AS consumed_seconds "
            f"FROM call GROUP BY agent, {day('started_at')}",
        ),
    ]


async def recompute() -> dict[Key, tuple[str, Counter]]:
    """Every row the figures should have (own, subtree, network stripes) with its path, from the sources."""
    own: dict[tuple[int, str], Counter] = {}
    for names, statement in _sources():
        figures = [name.strip() for name in names.split(",")]
        for row in await sql.fetch(statement):
            counted = own.setdefault((row["agent"], row["day"]), Counter())
            counted.update({name: int(row[name] or 0) for name in figures})
    paths = {row["id"]: row["path"] for row in await sql.fetch("SELECT id, path FROM agent")}
    return {key: row for key, row in expand(own, paths).items() if any(row[1].values())}


def _figures(row: dict) -> tuple[int, ...]:
    return tuple(int(row[name] or 0) for name in METRICS)


@dataclass
class StatsReport:
    rows: int = 0
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


async def verify(limit: int = 50) -> StatsReport:
    """Compare the stored figures and open accounts with a recomputation; at most `limit`
    differences are described."""
    expected_rows = await recompute()
    expected = {key: tuple(figures[name] for name in METRICS) for key, (_path, figures) in expected_rows.items()}
    found = {
        (row["agent"], row["scope"], row["day"]): _figures(row)
        for row in await sql.fetch(f"SELECT agent, scope, day, {', '.join(METRICS)} FROM agent_day")
    }
    found = {key: figures for key, figures in found.items() if any(figures)}
    report = StatsReport(rows=len(found))
    nothing = (0,) * len(METRICS)
    for key in sorted(set(expected) | set(found)):
        want, have = expected.get(key, nothing), found.get(key, nothing)
        for name, wanted, stored in zip(METRICS, want, have, strict=True):
            if wanted != stored:
                agent, scope, day = key
                report.differences.append(f"agent {agent} {scope} {day} {name}: stored {stored}, recomputed {wanted}")
                if len(report.differences) >= limit:
                    return report
    open_expected = {key: n for key, n in open_changes(expected_rows).items() if n}
    open_found = {
        (row["agent"], row["scope"]): row["accounts"]
        for row in await sql.fetch("SELECT agent, scope, accounts FROM agent_open_accounts WHERE accounts <> 0")
    }
    for agent, scope in sorted(set(open_expected) | set(open_found)):
        wanted, stored = open_expected.get((agent, scope), 0), open_found.get((agent, scope), 0)
        if wanted != stored:
            report.differences.append(f"agent {agent} {scope} open accounts: stored {stored}, recomputed {wanted}")
    return report


async def rebuild() -> int:
    """Replace the stored figures with the recomputation (after an upgrade or a restore); returns the
    number of rows written. One transaction: readers see the old figures or the new, never a mix."""
    async with transaction():
        expected = await recompute()
        await sql.execute("DELETE FROM agent_day")
        await sql.execute("DELETE FROM agent_open_accounts")
        await add_rows([(*key, path, figures) for key, (path, figures) in expected.items()])
        await add_open_accounts(open_changes(expected))
    return len(expected)


async def fill_if_missing() -> int:
    """After migrating: a database with history but no figures yet (upgraded from a version without
    statistics) gets them rebuilt; returns the rows written (0 when nothing was missing)."""
    has_figures = await sql.fetch_one("SELECT EXISTS (SELECT 1 FROM agent_day) AS found")
    has_history = await sql.fetch_one(
        "SELECT EXISTS (SELECT 1 FROM journal_transaction) OR EXISTS (SELECT 1 FROM subscriber) AS found"
    )
    return await rebuild() if has_history["found"] and not has_figures["found"] else 0
