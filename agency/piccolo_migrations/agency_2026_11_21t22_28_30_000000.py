"""R-6: the database itself refuses a customer-facing ledger balance below zero.

Written by hand: Piccolo runs raw steps before a migration's tables are created, so this
constraint lives in the migration after the one that creates ledger_account."""
from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.tables import Migration

ID = "2026-11-21T22:28:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "refuse negative customer-facing balances in the database"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="agency", description=DESCRIPTION)

    async def refuse_negative_customer_balances():
        engine = Migration._meta.db
        if engine.engine_type == "postgres":
            await engine.run_ddl(
                "ALTER TABLE ledger_account ADD CONSTRAINT customer_balance_not_negative "
                "CHECK (NOT customer_facing OR balance >= 0)"
            )
        else:  # SQLite cannot add a CHECK to an existing table; triggers refuse the same rows.
            for event in ("INSERT", "UPDATE"):
                await engine.run_ddl(
                    f"CREATE TRIGGER customer_balance_not_negative_{event.lower()} BEFORE {event} ON ledger_account "
                    "WHEN NEW.customer_facing AND NEW.balance < 0 "
                    "BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: customer_balance_not_negative'); END"
                )

    manager.add_raw(refuse_negative_customer_balances)
    return manager
