"""What the previous migration's tables need beyond their columns (Piccolo runs a migration's raw
steps before its column changes, hence a migration of its own): one bar per prefix and scope,
one rule of a kind per scope, a subscriber's calls by time, and the operator's settings row with its defaults."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-02T18:06:02:000000"
VERSION = "1.38.0"
DESCRIPTION = "Call controls: one bar per prefix and scope, one rule of a kind per scope, the settings row"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="accounts", description=DESCRIPTION)
    manager.add_raw(constraints_and_settings)
    return manager


async def constraints_and_settings():
    from accounts.tables import SwitchSettings

    await SwitchSettings.raw("CREATE UNIQUE INDEX IF NOT EXISTS barred_prefix_scope ON barred_prefix (scope, prefix)")
    await SwitchSettings.raw("CREATE UNIQUE INDEX IF NOT EXISTS usage_rule_scope ON usage_rule (scope, kind)")
    # the usage rules count a subscriber's calls of the last hour
    await SwitchSettings.raw("CREATE INDEX IF NOT EXISTS call_subscriber_started ON call (subscriber, started_at)")
    await SwitchSettings.raw(
        "INSERT INTO switch_settings (id, max_call_seconds, subscriber_call_cap) VALUES (1, 3600, 1) "
        "ON CONFLICT (id) DO NOTHING"
    )
