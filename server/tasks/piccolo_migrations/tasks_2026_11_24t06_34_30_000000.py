"""One stored response per user and Idempotency-Key: a concurrent duplicate fails to insert.

A separate migration because Piccolo runs raw steps before it creates tables."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-24T06:34:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "unique idempotency keys"


async def unique_idempotency_key() -> None:
    db = engine_finder()
    assert db is not None
    await db.run_ddl(
        'CREATE UNIQUE INDEX IF NOT EXISTS idempotency_keys_user_key ON idempotency_keys ("user", key)'
    )


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="tasks", description=DESCRIPTION)
    manager.add_raw(unique_idempotency_key)
    return manager
