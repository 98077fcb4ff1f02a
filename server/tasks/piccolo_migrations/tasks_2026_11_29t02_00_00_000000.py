"""Tasks by when they were created and completed, refusals by when they happened (issue
#21's cost-growth table): the dashboard's period (created and completed per day, times to
accept and complete, refusals by reason), the list's created_from/created_to filters and
the exports read a window of days; without these indexes each read the whole table, so the
dashboard slowed with every task ever made.
Hand-written: raw DDL, nothing for Piccolo's schema snapshot.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-29T02:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "tasks by created_at and completed_at, refusals by time"

INDEXES = {
    "tasks_created_at": "tasks (created_at)",
    "tasks_completed_at": "tasks (completed_at) WHERE completed_at IS NOT NULL",
    "task_events_refused_at": "task_events (at) WHERE kind = 'refused'",
}


async def _create_indexes() -> None:
    db = engine_finder()
    assert db is not None
    for name, target in INDEXES.items():
        await db.run_ddl(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")


async def _drop_indexes() -> None:
    db = engine_finder()
    assert db is not None
    for name in INDEXES:
        await db.run_ddl(f"DROP INDEX IF EXISTS {name}")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="tasks", description=DESCRIPTION)
    manager.add_raw(_create_indexes)
    manager.add_raw_backwards(_drop_indexes)
    return manager
