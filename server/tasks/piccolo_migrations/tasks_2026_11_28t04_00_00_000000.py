"""Editing (issue #13): tasks keep the workflow they were created under; task watchers.

Templates become editable, and an edit applies to new tasks only, so each task stores the
template's workflow flags of its creation. Existing tasks get their template's current
flags — the rules they have been following so far.

Piccolo runs a migration's raw steps *before* it adds tables and columns; the backfill and
the unique index need those, so they run after them, in the same transaction (_Manager).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import Boolean, ForeignKey, Serial, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.engine import engine_finder
from piccolo.table import Table

ID = "2026-11-28T04:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "task workflow snapshot and watchers"

FLAGS = ("has_departure", "requires_check", "requires_completed_works", "counterparty_in_title")


class Task(Table, tablename="tasks", schema=None):
    id = Serial(
        null=False,
        primary_key=True,
        unique=False,
        index=False,
        index_method=IndexMethod.btree,
        choices=None,
        db_column_name="id",
        secret=False,
    )


class User(Table, tablename="users", schema=None):
    id = Serial(
        null=False,
        primary_key=True,
        unique=False,
        index=False,
        index_method=IndexMethod.btree,
        choices=None,
        db_column_name="id",
        secret=False,
    )


async def after_columns() -> None:
    db = engine_finder()
    assert db is not None
    # Correlated subqueries: the same statement on SQLite and PostgreSQL.
    assignments = ", ".join(
        f"{flag} = (SELECT tpl.{flag} FROM task_templates tpl WHERE tpl.id = tasks.template)"
        for flag in FLAGS
    )
    await db.run_ddl(f"UPDATE tasks SET {assignments}")
    await db.run_ddl(
        "CREATE UNIQUE INDEX IF NOT EXISTS task_watchers_task_user "
        'ON task_watchers (task, "user")'
    )


class _Manager(MigrationManager):
    async def run(self, backwards=False):
        db = engine_finder()
        assert db is not None
        # The outer transaction makes Piccolo's own one a no-op: columns, backfill and
        # index commit together or not at all.
        async with db.transaction():
            await super().run(backwards=backwards)
            if not backwards and not self.preview:
                await after_columns()


def _params(**overrides):
    params = {
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
    }
    params.update(overrides)
    return params


async def forwards():
    manager = _Manager(migration_id=ID, app_name="tasks", description=DESCRIPTION)

    for flag in FLAGS:
        manager.add_column(
            table_class_name="Task",
            tablename="tasks",
            column_name=flag,
            db_column_name=flag,
            column_class_name="Boolean",
            column_class=Boolean,
            params=_params(default=False),
            schema=None,
        )

    manager.add_table(
        class_name="TaskWatcher", tablename="task_watchers", schema=None, columns=None
    )
    for name, references, on_delete in (
        ("task", Task, OnDelete.cascade),
        ("user", User, OnDelete.cascade),
        ("added_by", User, OnDelete.set_null),
    ):
        manager.add_column(
            table_class_name="TaskWatcher",
            tablename="task_watchers",
            column_name=name,
            db_column_name=name,
            column_class_name="ForeignKey",
            column_class=ForeignKey,
            params=_params(
                references=references,
                on_delete=on_delete,
                on_update=OnUpdate.cascade,
                target_column=None,
                null=True,
            ),
            schema=None,
        )
    manager.add_column(
        table_class_name="TaskWatcher",
        tablename="task_watchers",
        column_name="created_at",
        db_column_name="created_at",
        column_class_name="Timestamptz",
        column_class=Timestamptz,
        params=_params(default=TimestamptzNow()),
        schema=None,
    )

    return manager
