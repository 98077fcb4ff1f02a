"""The equipment registry (issue 16): kinds, equipment, and the equipment of tasks.

Hand-written: the tables below are frozen copies of server/assets/tables.py as of this
migration (later changes get migrations of their own). Piccolo runs raw steps before it
creates tables, so the unique indexes are made after them in the same transaction.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.engine import engine_finder
from piccolo.table import Table

ID = "2026-11-28T07:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "equipment registry"


class Counterparty(Table, tablename="counterparties"):
    id = Serial(primary_key=True)


class Site(Table, tablename="sites"):
    id = Serial(primary_key=True)


class Task(Table, tablename="tasks"):
    id = Serial(primary_key=True)


class EquipmentKind(Table, tablename="equipment_kinds"):
    code = Varchar(length=50, unique=True)
    name = Varchar(length=150)
    attributes = JSON(default=[])
    created_at = Timestamptz()


class Equipment(Table, tablename="equipment"):
    counterparty = ForeignKey(Counterparty, on_delete=OnDelete.restrict, index=True)
    site = ForeignKey(Site, null=True, on_delete=OnDelete.set_null, index=True)
    kind = ForeignKey(EquipmentKind, on_delete=OnDelete.restrict, index=True)
    model = Varchar(length=200)
    serial = Varchar(length=200, default="")
    model_key = Varchar(length=200)
    serial_key = Varchar(length=200, index=True)
    installed_on = Date(null=True, default=None)
    warranty_until = Date(null=True, default=None)
    notes = Text(default="")
    attributes = JSON(default={})
    archived = Boolean(default=False)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class TaskEquipment(Table, tablename="task_equipment"):
    task = ForeignKey(Task, on_delete=OnDelete.cascade, index=True)
    equipment = ForeignKey(Equipment, on_delete=OnDelete.cascade, index=True)
    created_at = Timestamptz()


NEW_TABLES = (EquipmentKind, Equipment, TaskEquipment)
INDEXES = (
    # A serial is unique per kind and model (pieces without a serial are not compared).
    "CREATE UNIQUE INDEX IF NOT EXISTS equipment_kind_model_serial "
    "ON equipment (kind, model_key, serial_key) WHERE serial_key <> ''",
    "CREATE UNIQUE INDEX IF NOT EXISTS task_equipment_task_equipment "
    "ON task_equipment (task, equipment)",
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
    manager = _Manager(migration_id=ID, app_name="assets", description=DESCRIPTION)
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
