"""The rows a delivery may claim, in their own small index.

Claims take due rows oldest first (`ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED`). With only
the primary key to go by, PostgreSQL walked it from the oldest row, past every row long
sent: 45 ms a claim with 300 000 sent rows, growing with the table. A partial index on the
id of the rows not yet settled ('pending', 'sending') holds only those, so a claim reads a
batch's worth of entries however large the table grows (0.5 ms, generic plan included).
Both engines have partial indexes.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-28T13:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "notifications: partial index of unsettled rows"


async def unsettled_index() -> None:
    db = engine_finder()
    assert db is not None
    await db.run_ddl(
        "CREATE INDEX IF NOT EXISTS notifications_unsettled ON notifications (id) "
        "WHERE status IN ('pending', 'sending')"
    )


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="notifications", description=DESCRIPTION)
    manager.add_raw(unsettled_index)
    return manager
