"""The client portal (issue 18): ratings (CSAT) and sign-offs of finished visits; the
"portal" channel for the remote support and field visit templates.

Hand-written: the tables are frozen copies of server/portal/tables.py as of this
migration. Piccolo runs raw steps before it creates tables, so the unique index and the
templates' channels are done after them in the same transaction.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import (
    JSON,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.engine import engine_finder
from piccolo.table import Table

ID = "2026-11-28T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "client portal: ratings, sign-offs, the portal channel"


class User(Table, tablename="users"):
    id = Serial(primary_key=True)


class Contact(Table, tablename="contacts"):
    id = Serial(primary_key=True)


class Task(Table, tablename="tasks"):
    id = Serial(primary_key=True)


class Template(Table, tablename="task_templates"):
    id = Serial(primary_key=True)
    code = Varchar(length=50)
    channels = JSON(default=["ui"])


class TaskRating(Table, tablename="task_ratings"):
    task = ForeignKey(Task, on_delete=OnDelete.cascade)
    score = Integer()
    comment = Text(default="")
    user = ForeignKey(User, null=True, default=None, on_delete=OnDelete.set_null)
    contact = ForeignKey(Contact, null=True, default=None, on_delete=OnDelete.set_null)
    rated_by = Varchar(length=255, default="")
    first_rated_at = Timestamptz()
    rated_at = Timestamptz(index=True)


class SignOff(Table, tablename="task_signoffs"):
    task = ForeignKey(Task, on_delete=OnDelete.cascade, index=True)
    decision = Varchar(length=20)
    comment = Text(default="")
    user = ForeignKey(User, null=True, default=None, on_delete=OnDelete.set_null)
    signer_name = Varchar(length=255, default="")
    at = Timestamptz()


NEW_TABLES = (TaskRating, SignOff)
INDEXES = ("CREATE UNIQUE INDEX IF NOT EXISTS task_ratings_task ON task_ratings (task)",)
# Clients may write requests of these templates in the portal; admins change it with
# PATCH /api/templates/{code} {"channels"}.
PORTAL_TEMPLATES = ("remote_support", "field_visit")


async def _open_portal_channel(db) -> None:
    # This frozen table is no registered app table: point it at the engine being migrated
    # (a process migrating PostgreSQL, then SQLite, must not reuse the first engine).
    Template._meta.db = db
    rows = (
        await Template.select(Template.id, Template.channels)
        .where(Template.code.is_in(list(PORTAL_TEMPLATES)))
        .output(load_json=True)
    )
    for row in rows:
        channels = list(row["channels"] or [])
        if "portal" not in channels:
            await Template.update({Template.channels: [*channels, "portal"]}).where(
                Template.id == row["id"]
            )


class _Manager(MigrationManager):
    async def run(self, backwards=False):
        db = engine_finder()
        assert db is not None
        async with db.transaction():
            await super().run(backwards=backwards)
            if not backwards and not self.preview:
                for statement in INDEXES:
                    await db.run_ddl(statement)
                await _open_portal_channel(db)


async def forwards():
    manager = _Manager(migration_id=ID, app_name="portal", description=DESCRIPTION)
    for table in NEW_TABLES:
        name, tablename = table.__name__, table._meta.tablename
        manager.add_table(class_name=name, tablename=tablename)
        for column in table._meta.non_default_columns:
            manager.add_column(
                table_class_name=name,
                tablename=tablename,
                column_name=column._meta.name,
                db_column_name=column._meta.db_column_name,
                column_class=type(column),
                params=dict(column._meta.params),
            )
    return manager
