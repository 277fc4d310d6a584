"""Piccolo's configuration: the engine (SQLite file by default, PostgreSQL when DATABASE_URL is
set) and the registry of the project's apps. The app and the tests rebind the engine through
`core.db.bind_engine`."""
from piccolo.conf.apps import AppRegistry

from core.db import engine_from_environment

DB = engine_from_environment()

APP_REGISTRY = AppRegistry(
    apps=[
        "agency.piccolo_app",
        "accounts.piccolo_app",
        "cards.piccolo_app",
        "support.piccolo_app",
        "stats.piccolo_app",
    ]
)
