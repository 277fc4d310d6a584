from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-22T00:56:44:017483"
VERSION = "1.38.0"
DESCRIPTION = "Calling hours per agent (R-22)"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="agency", description=DESCRIPTION
    )

    manager.add_column(
        table_class_name="Agent",
        tablename="agent",
        column_name="calling_hours",
        db_column_name="calling_hours",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 16,
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
