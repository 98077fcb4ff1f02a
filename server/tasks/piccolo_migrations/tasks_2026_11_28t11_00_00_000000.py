"""Visibility by group (issue #14): an engineer sees, besides the tasks of their groups and
those they hold, every task they worked on — an EXISTS on task_events by task and actor,
run once per listed task. This index answers it from the index alone, on SQLite and
PostgreSQL; the watchers' EXISTS uses task_watchers_task_user (2026-11-28T04:00).

Hand-written: raw DDL, nothing for Piccolo's schema snapshot.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-28T11:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "task_events index by task and actor (visibility by group)"


async def _create_index() -> None:
    db = engine_finder()
    assert db is not None
    await db.run_ddl(
        "CREATE INDEX IF NOT EXISTS task_events_task_actor ON task_events (task, actor)"
    )


async def _drop_index() -> None:
    db = engine_finder()
    assert db is not None
    await db.run_ddl("DROP INDEX IF EXISTS task_events_task_actor")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="tasks", description=DESCRIPTION)
    manager.add_raw(_create_index)
    manager.add_raw_backwards(_drop_index)
    return manager
