"""The keys of the daily figures. Written by hand, after the table exists (Piccolo runs a
migration's raw steps before its tables are made): composite indexes are not part of its schema."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.tables import Migration

ID = "2026-12-02T08:09:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "keys of the statistics"


async def keys():
    """One row per (agent, scope, day) and per (agent, scope) of the open accounts, which the upserts
    of stats.daily rely on; and the own rows of a subtree over a period as one index range."""
    engine = Migration._meta.db
    await engine.run_ddl("CREATE UNIQUE INDEX agent_day_key ON agent_day (agent, scope, day)")
    await engine.run_ddl("CREATE INDEX agent_day_subtree ON agent_day (scope, path, day)")
    await engine.run_ddl("CREATE UNIQUE INDEX agent_open_accounts_key ON agent_open_accounts (agent, scope)")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="stats", description=DESCRIPTION)
    manager.add_raw(keys)
    return manager
