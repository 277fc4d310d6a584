"""Issue 14: when an agent's hotline answers (free text, such as "Mon-Fri 09:00-18:00"), shown
with the hotline to its subscribers in the portal."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-02T14:58:17:728208"
VERSION = "1.38.0"
DESCRIPTION = "agent service hours"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="agency", description=DESCRIPTION)

    manager.add_column(
        table_class_name="Agent",
        tablename="agent",
        column_name="service_hours",
        db_column_name="service_hours",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 64,
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
