"""Composite indexes for the list queries, and the seeded groups and templates (DESIGN.md).

Templates are data that admins may edit later; this migration only inserts rows that
are missing, so re-running it or editing a template is safe.
"""

import json

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-24T06:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "indexes and seeded templates"

INDEXES = [
    'CREATE INDEX IF NOT EXISTS tasks_group_status ON tasks ("group", status, id)',
    "CREATE INDEX IF NOT EXISTS tasks_assignee_status ON tasks (assignee, status, id)",
    "CREATE INDEX IF NOT EXISTS task_events_task_at ON task_events (task, at, id)",
    "CREATE INDEX IF NOT EXISTS task_comments_task_at ON task_comments (task, created_at, id)",
    'CREATE UNIQUE INDEX IF NOT EXISTS group_memberships_user_group '
    'ON group_memberships ("user", "group")',
]

GROUPS = ["Бухгалтерия", "Доставка", "Выездные инженеры", "Ремонт", "Удалённая техподдержка"]

# code, name, default group, channels, counterparty_in_title, requires_check,
# requires_completed_works, allows_completed_on_creation, creator_is_default_assignee,
# has_departure
TEMPLATES = [
    ("accounting", "Бухгалтерия", "Бухгалтерия", ["ui", "telegram", "email"],
     False, False, False, False, False, False),
    ("delivery", "Доставка", "Доставка", ["ui", "telegram"],
     True, False, False, False, False, False),
    ("field_visit", "Выездная заявка", "Выездные инженеры", ["ui", "telegram"],
     True, True, True, False, False, True),
    ("repair", "Ремонт", "Ремонт", ["ui"],
     False, False, False, False, False, False),
    ("remote_support", "Удалённая поддержка", "Удалённая техподдержка",
     ["ui", "telegram", "email", "phone"],
     True, False, False, True, True, False),
]


async def seed() -> None:
    db = engine_finder()
    assert db is not None
    for sql in INDEXES:
        await db.run_ddl(sql)
    for name in GROUPS:
        await db.run_querystring(
            _qs("INSERT INTO work_groups (name) VALUES ({}) ON CONFLICT (name) DO NOTHING", name)
        )
    for code, name, group, channels, *flags in TEMPLATES:
        rows = await db.run_querystring(_qs("SELECT id FROM work_groups WHERE name = {}", group))
        group_id = rows[0]["id"]
        await db.run_querystring(
            _qs(
                "INSERT INTO task_templates (code, name, default_group, channels, "
                "counterparty_in_title, requires_check, requires_completed_works, "
                "allows_completed_on_creation, creator_is_default_assignee, has_departure) "
                "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}) ON CONFLICT (code) DO NOTHING",
                code, name, group_id, json.dumps(channels), *flags,
            )
        )


def _qs(template: str, *args):
    from piccolo.querystring import QueryString

    return QueryString(template, *args)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="tasks", description=DESCRIPTION)
    manager.add_raw(seed)
    return manager
