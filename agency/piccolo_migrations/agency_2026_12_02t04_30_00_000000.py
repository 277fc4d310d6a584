"""R-11a: an agent's wallet is held by its seller; what sub-agents pay it are its sales receipts.

Written by hand, a data migration (no schema change). Before it, a parent's confirmation of its
sub-agent's remittance credited the wallet from the operator's inflow (`outside:remittances`), and
a sub-agent's payment for a bundle or franchise fee landed in the parent's wallet, which the
parent could then spend with the operator. The entries are moved to the accounts they belong to
(journal entries are not yet append-only in the database; this is the one sanctioned rewrite):
- a parent's confirmation: from the parent's `inflow` account;
- a sub-agent's payment to its parent (bundle, franchise fee): to the parent's `receipts`.
Cached balances of wallets and receipts are then recomputed from their entries. A parent that had
already spent receipts with its own seller would have a negative wallet: its holder credits the
shortfall as an adjustment, so the books balance and the hole is visible on its statement."""

import datetime as dt

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.tables import Migration

ID = "2026-12-02T04:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "wallets held by the seller: parents' inflow and sales receipts"


async def _accounts_for(agent_ids_sql: str, kind: str, customer_facing: bool) -> None:
    await Migration.raw(
        "INSERT INTO ledger_account (code, kind, unit, agent, customer_facing, balance) "
        f"SELECT 'agent:' || CAST(x.id AS TEXT) || ':{kind}', '{kind}', 'fen', x.id, {{}}, 0 "
        f"FROM ({agent_ids_sql}) x WHERE true ON CONFLICT (code) DO NOTHING",  # SQLite needs the WHERE
        customer_facing,
    )


def _account_of(agent_sql: str, kind: str) -> str:
    return f"(SELECT id FROM ledger_account WHERE code = 'agent:' || CAST({agent_sql} AS TEXT) || ':{kind}')"


async def move_to_holders() -> None:
    sellers = "SELECT DISTINCT seller AS id FROM remittance WHERE seller IS NOT NULL AND txn IS NOT NULL"
    await _accounts_for(sellers, "inflow", False)
    await Migration.raw(
        "UPDATE journal_entry SET account = "
        + _account_of("(SELECT r.seller FROM remittance r WHERE r.txn = journal_entry.txn)", "inflow")
        + " WHERE amount < 0 AND txn IN (SELECT txn FROM remittance WHERE seller IS NOT NULL AND txn IS NOT NULL)"
    )
    fee_payers = (
        "SELECT g.id, g.parent FROM agent g JOIN journal_transaction t ON t.ref_id = CAST(g.id AS TEXT) "
        "WHERE t.kind = 'onboarding' AND t.ref_type = 'agent' AND g.parent IS NOT NULL"
    )
    receivers = (
        "SELECT DISTINCT seller AS id FROM bundle_order WHERE seller IS NOT NULL AND txn IS NOT NULL "
        f"UNION SELECT parent FROM ({fee_payers}) f"
    )
    await _accounts_for(receivers, "receipts", True)
    await Migration.raw(
        "UPDATE journal_entry SET account = "
        + _account_of("(SELECT o.seller FROM bundle_order o WHERE o.txn = journal_entry.txn)", "receipts")
        + " WHERE unit = 'fen' AND amount > 0 AND txn IN "
        "(SELECT txn FROM bundle_order WHERE seller IS NOT NULL AND txn IS NOT NULL)"
    )
    await Migration.raw(
        "UPDATE journal_entry SET account = "
        + _account_of(
            "(SELECT g.parent FROM agent g JOIN journal_transaction t ON t.ref_id = CAST(g.id AS TEXT) "
            "WHERE t.id = journal_entry.txn)",
            "receipts",
        )
        + " WHERE account = (SELECT id FROM ledger_account WHERE code = 'operator:franchise-fees') AND txn IN "
        f"(SELECT t.id FROM journal_transaction t JOIN ({fee_payers}) f ON t.ref_id = CAST(f.id AS TEXT) "
        "WHERE t.kind = 'onboarding')"
    )
    await _cover_overspent_wallets()
    await Migration.raw(
        "UPDATE ledger_account SET balance = COALESCE((SELECT SUM(amount) FROM journal_entry "
        "WHERE account = ledger_account.id), 0) WHERE kind IN ('wallet', 'receipts')"
    )


async def _cover_overspent_wallets() -> None:
    short = await Migration.raw(
        "SELECT a.id, a.agent, g.parent, -SUM(e.amount) AS missing FROM ledger_account a "
        "JOIN agent g ON g.id = a.agent JOIN journal_entry e ON e.account = a.id "
        "WHERE a.kind = 'wallet' GROUP BY a.id, a.agent, g.parent HAVING SUM(e.amount) < 0"
    )
    for row in short:
        if row["parent"] is None:
            code, agent = "operator:adjustments", None
            await Migration.raw(
                "INSERT INTO ledger_account (code, kind, unit, agent, customer_facing, balance) "
                "VALUES ({}, 'system', 'fen', NULL, {}, 0) ON CONFLICT (code) DO NOTHING",
                code,
                False,
            )
        else:
            code, agent = f"agent:{row['parent']}:adjustments", row["parent"]
            await Migration.raw(
                "INSERT INTO ledger_account (code, kind, unit, agent, customer_facing, balance) "
                "VALUES ({}, 'adjustments', 'fen', {}, {}, 0) ON CONFLICT (code) DO NOTHING",
                code,
                agent,
                False,
            )
        source = (await Migration.raw("SELECT id FROM ledger_account WHERE code = {}", code))[0]["id"]
        txn = (
            await Migration.raw(
                "INSERT INTO journal_transaction (kind, memo, user_id, ref_type, ref_id, created_at) "
                "VALUES ('adjustment', {}, NULL, 'agent', {}, {}) RETURNING id",
                "sales receipts already spent with the seller, before they were kept apart",
                str(row["agent"]),
                dt.datetime.now(dt.timezone.utc),
            )
        )[0]["id"]
        missing = int(row["missing"])
        await Migration.raw(
            "INSERT INTO journal_entry (txn, account, unit, amount) VALUES ({}, {}, 'fen', {}), ({}, {}, 'fen', {})",
            txn,
            source,
            -missing,
            txn,
            row["id"],
            missing,
        )


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="agency", description=DESCRIPTION)
    manager.add_raw(move_to_holders)
    return manager
