"""Dispatch (issue 17): the geocoding cache, shared positions of engineers, home bases.

Hand-written: the tables below are a frozen copy of server/dispatch/tables.py as of this
migration. Positions are read newest first per engineer, hence (user, at).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import (
    JSON,
    Boolean,
    DoublePrecision,
    ForeignKey,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.engine import engine_finder
from piccolo.table import Table

ID = "2026-11-28T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "geocoding cache, engineer positions and home bases"


class User(Table, tablename="users"):
    id = Serial(primary_key=True)


class GeocodeCache(Table, tablename="geocode_cache"):
    query_key = Varchar(length=500, unique=True)
    status = Varchar(length=20)
    lat = DoublePrecision(null=True, default=None)
    lon = DoublePrecision(null=True, default=None)
    display_name = Text(default="")
    candidates = JSON(default=[])
    created_at = Timestamptz()


class EngineerPosition(Table, tablename="engineer_positions"):
    user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    lat = DoublePrecision()
    lon = DoublePrecision()
    accuracy_m = DoublePrecision(null=True, default=None)
    at = Timestamptz(index=True)


class EngineerDispatch(Table, tablename="engineer_dispatch"):
    user = ForeignKey(User, on_delete=OnDelete.cascade, unique=True)
    share_location = Boolean(default=False)
    home_lat = DoublePrecision(null=True, default=None)
    home_lon = DoublePrecision(null=True, default=None)
    home_label = Varchar(length=255, default="")
    updated_at = Timestamptz()


INDEXES = (
    'CREATE INDEX IF NOT EXISTS engineer_positions_user_at ON engineer_positions ("user", at)',
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


async def forwards():
    manager = _Manager(migration_id=ID, app_name="dispatch", description=DESCRIPTION)
    for table in (GeocodeCache, EngineerPosition, EngineerDispatch):
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
