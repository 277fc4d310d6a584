"""Issue 11: journal transactions, journal entries and audit entries are append-only in the
database itself. UPDATE and DELETE are refused by trigger on both engines, unless the same
transaction holds a row of `append_only_permit`: the one sanctioned way through
(core.db.lifting_append_only), used by the audit purge, which audits itself. TRUNCATE, which
only the test suite uses between tests, is not a row change and is not refused.

Written by hand: triggers are not part of Piccolo's schema."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.tables import Migration

ID = "2026-12-02T05:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "journal and audit entries are append-only"

TABLES = ("journal_transaction", "journal_entry", "audit_entry")


async def refuse_changes():
    engine = Migration._meta.db
    if engine.engine_type == "postgres":
        await engine.run_ddl(
            "CREATE TABLE append_only_permit (id SERIAL PRIMARY KEY, reason VARCHAR(200) NOT NULL)"
        )
        await engine.run_ddl(
            "CREATE FUNCTION refuse_unpermitted_change() RETURNS trigger AS $$ BEGIN "
            "IF NOT EXISTS (SELECT 1 FROM append_only_permit) THEN "
            "RAISE EXCEPTION 'append-only: % refuses %', TG_TABLE_NAME, TG_OP; END IF; "
            "IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        for table in TABLES:
            await engine.run_ddl(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION refuse_unpermitted_change()"
            )
    else:
        await engine.run_ddl(
            "CREATE TABLE append_only_permit (id INTEGER PRIMARY KEY, reason TEXT NOT NULL)"
        )
        for table in TABLES:
            for event in ("UPDATE", "DELETE"):
                await engine.run_ddl(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    "WHEN NOT EXISTS (SELECT 1 FROM append_only_permit) "
                    f"BEGIN SELECT RAISE(ABORT, 'append-only: {table} refuses {event}'); END"
                )


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="agency", description=DESCRIPTION)
    manager.add_raw(refuse_changes)
    return manager
