"""The indexes of authorize's lookups by subscriber, so that PostgreSQL's plans stay with them.

- call: by subscriber through call_subscriber_started (subscriber, started_at) alone. With the
  subscriber's own index beside it, PostgreSQL counted the calls of the last hour (a usage rule,
  on every authorize) by reading the subscriber's whole history through that one.
- call_reservation: by subscriber through a new index (subscriber, expires_at), in place of the
  subscriber's own. Once the table was analysed, PostgreSQL read a subscriber's open reservations
  through the index of expires_at, that is every reservation of the last hour, deleted ones
  included until the next VACUUM. And the table, small with many short-lived rows, keeps its pages
  when VACUUM empties them: truncated to nothing, it looked empty to the planner, whose cached
  plans then scanned it whole while its dead rows piled up.

Measured with benchmarks.login_flood on PostgreSQL: calls a second fell by a tenth from one
scenario to the next (each after a VACUUM ANALYZE) before, and held after."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.tables import Migration
from piccolo.columns.column_types import ForeignKey

ID = "2026-12-03T00:31:56:386544"
VERSION = "1.38.0"
DESCRIPTION = "Lookups by subscriber of calls and reservations by (subscriber, time) indexes alone"


async def reservation_index():
    engine = Migration._meta.db
    await engine.run_ddl(
        "CREATE INDEX IF NOT EXISTS call_reservation_subscriber_expires ON call_reservation (subscriber, expires_at)"
    )
    if engine.engine_type == "postgres":
        await engine.run_ddl("ALTER TABLE call_reservation SET (vacuum_truncate = false)")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="accounts", description=DESCRIPTION)

    manager.alter_column(
        table_class_name="Call",
        tablename="call",
        column_name="subscriber",
        db_column_name="subscriber",
        params={"index": False},
        old_params={"index": True},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )
    manager.alter_column(
        table_class_name="CallReservation",
        tablename="call_reservation",
        column_name="subscriber",
        db_column_name="subscriber",
        params={"index": False},
        old_params={"index": True},
        column_class=ForeignKey,
        old_column_class=ForeignKey,
        schema=None,
    )
    manager.add_raw(reservation_index)

    return manager
