"""Refusal reasons (issue #12, R11): the list admins keep, seeded with a few defaults.

Piccolo runs a migration's raw steps *before* it adds tables; the seed needs the table, so
it runs after it, in the same transaction (_Manager). The seed only inserts names that are
missing, so an admin's edits survive a re-run.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean, Varchar
from piccolo.columns.indexes import IndexMethod
from piccolo.engine import engine_finder
from piccolo.querystring import QueryString

ID = "2026-11-28T03:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "refusal reasons"

# What service desks refuse visits and requests for most often; "Другое" is left out on
# purpose: it spoils the report (seeds/crm-task-types.ru.txt), free words cover the rest.
DEFAULT_REASONS = [
    "Дубль заявки",
    "Клиент отказался от работ",
    "Проблема решилась без нас",
    "Ошибочная заявка",
    "Нет договора на обслуживание",
]


async def seed() -> None:
    db = engine_finder()
    assert db is not None
    for name in DEFAULT_REASONS:
        await db.run_querystring(
            QueryString(
                "INSERT INTO refusal_reasons (name, active) VALUES ({}, {}) "
                "ON CONFLICT (name) DO NOTHING",
                name,
                True,
            )
        )


class _Manager(MigrationManager):
    async def run(self, backwards=False):
        db = engine_finder()
        assert db is not None
        # The outer transaction makes Piccolo's own one a no-op: the table and its seed
        # commit together or not at all.
        async with db.transaction():
            await super().run(backwards=backwards)
            if not backwards and not self.preview:
                await seed()


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
    manager.add_table(
        class_name="RefusalReason", tablename="refusal_reasons", schema=None, columns=None
    )
    manager.add_column(
        table_class_name="RefusalReason",
        tablename="refusal_reasons",
        column_name="name",
        db_column_name="name",
        column_class_name="Varchar",
        column_class=Varchar,
        params=_params(length=150, default="", unique=True),
        schema=None,
    )
    manager.add_column(
        table_class_name="RefusalReason",
        tablename="refusal_reasons",
        column_name="active",
        db_column_name="active",
        column_class_name="Boolean",
        column_class=Boolean,
        params=_params(default=True),
        schema=None,
    )
    return manager
