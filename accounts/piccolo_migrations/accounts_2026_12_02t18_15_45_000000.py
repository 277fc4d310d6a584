"""One slot of a number per agent (Piccolo runs a migration's raw steps before its column changes,
hence a migration of its own)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-02T18:15:45:000000"
VERSION = "1.38.0"
DESCRIPTION = "Call slots: one per agent and number"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="accounts", description=DESCRIPTION)
    manager.add_raw(unique_slots)
    return manager


async def unique_slots():
    from accounts.tables import CallSlot

    await CallSlot.raw("CREATE UNIQUE INDEX IF NOT EXISTS call_slot_agent ON call_slot (agent, slot)")
