"""Issue 12: a bundle order keeps what the seller (an agent) would have paid for its minutes at the
time of the sale, for the margin in the statistics. Orders before this migration have 0: their
margin is their whole price (the seller's cost then is not known any more)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import BigInt
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-02T07:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "bundle orders keep the seller's cost"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="agency", description=DESCRIPTION)
    manager.add_column(
        table_class_name="BundleOrder",
        tablename="bundle_order",
        column_name="seller_cost_fen",
        db_column_name="seller_cost_fen",
        column_class_name="BigInt",
        column_class=BigInt,
        params={
            "default": 0,
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
