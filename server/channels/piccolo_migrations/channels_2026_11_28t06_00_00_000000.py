"""IMAP intake and Telegram long polling (issue 19): `imap_messages` remembers every
message taken from a mailbox by UIDVALIDITY and UID; `telegram_poll_offsets` keeps the
getUpdates offset of a bot. Hand-written; runs on SQLite and PostgreSQL."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import (
    BigInt,
    ForeignKey,
    Integer,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table

ID = "2026-11-28T06:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "imap_messages and telegram_poll_offsets"


class Task(Table, tablename="tasks", schema=None):
    id = Serial(null=False, primary_key=True, db_column_name="id")


def _params(default, *, null=False, unique=False, index=False, **extra):
    return {
        "default": default,
        "null": null,
        "primary_key": False,
        "unique": unique,
        "index": index,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
        **extra,
    }


COLUMNS = {
    ("ImapMessage", "imap_messages"): [
        ("key", Varchar, _params("", unique=True, length=700)),
        ("mailbox", Varchar, _params("", length=600)),
        ("uidvalidity", BigInt, _params(0)),
        ("uid", BigInt, _params(0)),
        ("state", Varchar, _params("done", length=20)),
        ("attempts", Integer, _params(0)),
        ("outcome", Varchar, _params("", length=20)),
        ("reason", Text, _params("")),
        (
            "task",
            ForeignKey,
            _params(
                None,
                null=True,
                references=Task,
                on_delete=OnDelete.set_null,
                on_update=OnUpdate.cascade,
                target_column=None,
            ),
        ),
        ("created_at", Timestamptz, _params(TimestamptzNow())),
        ("updated_at", Timestamptz, _params(TimestamptzNow())),
    ],
    ("TelegramPollOffset", "telegram_poll_offsets"): [
        ("bot_id", BigInt, _params(0, unique=True)),
        ("next_offset", BigInt, _params(0)),
        ("updated_at", Timestamptz, _params(TimestamptzNow())),
    ],
}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="channels", description=DESCRIPTION)
    for class_name, tablename in COLUMNS:
        manager.add_table(class_name=class_name, tablename=tablename, schema=None, columns=None)
    for (class_name, tablename), columns in COLUMNS.items():
        for name, column_class, params in columns:
            manager.add_column(
                table_class_name=class_name,
                tablename=tablename,
                column_name=name,
                db_column_name=name,
                column_class_name=column_class.__name__,
                column_class=column_class,
                params=params,
                schema=None,
            )
    return manager
