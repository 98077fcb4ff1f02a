"""One stored document per task, form, language and content hash: two requests rendering the
same data at once store it once (the second insert does nothing).

A separate migration because Piccolo runs raw steps before it creates tables."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-24T06:58:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "unique stored documents, ordered specification lines"

INDEXES = [
    "CREATE UNIQUE INDEX IF NOT EXISTS task_documents_content "
    "ON task_documents (task, kind, language, content_hash)",
    "CREATE INDEX IF NOT EXISTS task_spec_lines_task_position "
    "ON task_spec_lines (task, position, id)",
]


async def create_indexes() -> None:
    db = engine_finder()
    assert db is not None
    for sql in INDEXES:
        await db.run_ddl(sql)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="pricing", description=DESCRIPTION)
    manager.add_raw(create_indexes)
    return manager
