from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-22T01:37:41:513173"
VERSION = "1.38.0"
DESCRIPTION = "A call reservation is deleted when its call record arrives (no released_at)"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="accounts", description=DESCRIPTION
    )

    manager.drop_column(
        table_class_name="CallReservation",
        tablename="call_reservation",
        column_name="released_at",
        db_column_name="released_at",
        schema=None,
    )

    return manager
