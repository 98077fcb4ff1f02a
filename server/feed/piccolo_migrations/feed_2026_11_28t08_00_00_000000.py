"""The in-app feed (issue 15): feed_items, one row per person and event.

Hand-written: the table below is a frozen copy of server/feed/tables.py as of this
migration. The index serves "my feed, newest first" and the unread count.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import JSON, ForeignKey, OnDelete, Serial, Timestamptz, Varchar
from piccolo.engine import engine_finder
from piccolo.table import Table

ID = "2026-11-28T08:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "in-app feed"


class User(Table, tablename="users"):
    id = Serial(primary_key=True)


class Task(Table, tablename="tasks"):
    id = Serial(primary_key=True)


class FeedItem(Table, tablename="feed_items"):
    user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    task = ForeignKey(Task, on_delete=OnDelete.cascade, index=True)
    kind = Varchar(length=30)
    data = JSON(default={})
    created_at = Timestamptz()
    read_at = Timestamptz(null=True, default=None)


INDEXES = ("CREATE INDEX IF NOT EXISTS feed_items_user_id ON feed_items (\"user\", id)",)


class _Manager(MigrationManager):
    async def run(self, backwards=False):
        db = engine_finder()
        assert db is not None
        async with db.transaction():
            await super().run(backwards=backwards)
            if not backwards and not self.preview:
                for statement in INDEXES:
                    await db.run_ddl(statement)


async def forwards():
    manager = _Manager(migration_id=ID, app_name="feed", description=DESCRIPTION)
    for table in (FeedItem,):
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
