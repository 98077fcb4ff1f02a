"""Index-ordered lists (issue #21): every list page is `ORDER BY id DESC LIMIT 51` over one
slice of the tasks, so each slice gets an index that hands its rows out newest first and
the page is read from the index without sorting — the same few buffers at 10 000 and at
1 000 000 tasks:

* the open tasks someone holds (`queue=mine`, the engineer's first screen), a partial index
  whose predicate is the literal `status NOT IN ('cancelled', 'completed')` the list writes;
* one status, one group, one counterparty (the office's filtered lists).

The unassigned new tasks of a group use tasks_group_status ("group", status, id).
Hand-written: raw DDL, nothing for Piccolo's schema snapshot.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-29T01:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "index-ordered task lists (open by assignee, status, group, counterparty)"

INDEXES = {
    "tasks_open_assignee_id": "tasks (assignee, id) WHERE status NOT IN ('cancelled', 'completed')",
    "tasks_status_id": "tasks (status, id)",
    "tasks_group_id": 'tasks ("group", id)',
    "tasks_counterparty_id": "tasks (counterparty, id)",
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
