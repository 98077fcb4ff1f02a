"""Piccolo's configuration module (PICCOLO_CONF=server.piccolo_conf).

DB is built from NARYAD_DATABASE_URL so the `piccolo` CLI works; the app and the tests
re-point it with server.db.configure_database.
"""

from typing import Any

from piccolo.engine.base import Engine

from server.db import engine_from_url
from server.settings import Settings

DB: Engine[Any] = engine_from_url(Settings.from_env().database_url)

APPS = [
    "server.clients.piccolo_app",
    "server.accounts.piccolo_app",
    "server.tasks.piccolo_app",
    "server.pricing.piccolo_app",
    "server.notifications.piccolo_app",
    "server.sla.piccolo_app",
    "server.channels.piccolo_app",
    "server.attachments.piccolo_app",
    "server.assets.piccolo_app",
    "server.contracts.piccolo_app",
    "server.maintenance.piccolo_app",
    "server.dispatch.piccolo_app",
    "server.portal.piccolo_app",
    "server.kb.piccolo_app",
    "server.feed.piccolo_app",
    "server.devmail.piccolo_app",
]


def __getattr__(name: str) -> Any:
    """APP_REGISTRY, built when first asked for (migrations, the `piccolo` CLI): importing
    piccolo.conf.apps loads black and the migration machinery (~7 MB, ~60 ms), which a
    server that only serves requests never needs (issue 21)."""
    if name == "APP_REGISTRY":
        from piccolo.conf.apps import AppRegistry

        registry = globals()["APP_REGISTRY"] = AppRegistry(apps=APPS)
        return registry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
