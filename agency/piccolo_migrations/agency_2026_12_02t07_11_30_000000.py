"""Issue 11.4: API tokens made before expiries existed expire 90 days after this migration
(sessions.API_TOKEN_DAYS, the default of a new token) instead of never. Written by hand."""

import datetime as dt

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.tables import Migration
from piccolo.querystring import QueryString

ID = "2026-12-02T07:11:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "old API tokens expire in 90 days"


async def give_old_tokens_an_expiry():
    until = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=90)
    await Migration._meta.db.run_querystring(
        QueryString("UPDATE api_token SET expires_at = {} WHERE expires_at IS NULL", until)
    )


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="agency", description=DESCRIPTION)
    manager.add_raw(give_old_tokens_an_expiry)
    return manager
