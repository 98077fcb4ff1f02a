"""Planned maintenance, its occurrences, and checklists (issue 16).

Hand-written: the tables below are frozen copies of server/maintenance/tables.py as of this
migration. Piccolo runs raw steps before it creates tables, so the unique index that makes
an occurrence's task exactly-once is made after them in the same transaction.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import (
    JSON,
    Boolean,
    Date,
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

ID = "2026-11-28T07:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "planned maintenance and checklists"


class Counterparty(Table, tablename="counterparties"):
    id = Serial(primary_key=True)


class Site(Table, tablename="sites"):
    id = Serial(primary_key=True)


class User(Table, tablename="users"):
    id = Serial(primary_key=True)


class Group(Table, tablename="work_groups"):
    id = Serial(primary_key=True)


class Task(Table, tablename="tasks"):
    id = Serial(primary_key=True)


class Template(Table, tablename="task_templates"):
    id = Serial(primary_key=True)


class Calendar(Table, tablename="sla_calendars"):
    id = Serial(primary_key=True)


class Equipment(Table, tablename="equipment"):
    id = Serial(primary_key=True)


class MaintenancePlan(Table, tablename="maintenance_plans"):
    counterparty = ForeignKey(Counterparty, on_delete=OnDelete.restrict, index=True)
    site = ForeignKey(Site, null=True, on_delete=OnDelete.set_null)
    equipment = ForeignKey(Equipment, null=True, on_delete=OnDelete.set_null, index=True)
    template = ForeignKey(Template, on_delete=OnDelete.restrict)
    title = Varchar(length=500)
    description = Text(default="")
    rrule = Varchar(length=1000)
    starts_on = Date()
    time_of_day = Varchar(length=5, default="09:00")
    lead_days = Integer(default=0)
    non_working_days = Varchar(length=20, default="keep")
    calendar = ForeignKey(Calendar, null=True, on_delete=OnDelete.set_null)
    assignee = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    group = ForeignKey(Group, null=True, on_delete=OnDelete.set_null)
    priority = Varchar(length=10, default="normal")
    checklist = JSON(default=[])
    active = Boolean(default=True)
    generate_from = Date()
    next_occurrence_on = Date(null=True, default=None)
    next_create_on = Date(null=True, default=None, index=True)
    last_error = Text(default="")
    created_by = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class MaintenanceOccurrence(Table, tablename="maintenance_occurrences"):
    plan = ForeignKey(MaintenancePlan, on_delete=OnDelete.cascade, index=True)
    occurs_on = Date()
    scheduled_on = Date()
    task = ForeignKey(Task, null=True, on_delete=OnDelete.set_null, index=True)
    created_at = Timestamptz()


class TemplateChecklistItem(Table, tablename="template_checklist_items"):
    template = ForeignKey(Template, on_delete=OnDelete.cascade, index=True)
    position = Integer(default=0)
    text = Varchar(length=500)
    required = Boolean(default=False)
    kind = Varchar(length=10, default="check")


class TaskChecklistItem(Table, tablename="task_checklist_items"):
    task = ForeignKey(Task, on_delete=OnDelete.cascade, index=True)
    position = Integer(default=0)
    text = Varchar(length=500)
    required = Boolean(default=False)
    kind = Varchar(length=10, default="check")
    value = JSON(null=True, default=None)
    done_by = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    done_at = Timestamptz(null=True, default=None)
    source = Varchar(length=20, default="template")


NEW_TABLES = (MaintenancePlan, MaintenanceOccurrence, TemplateChecklistItem, TaskChecklistItem)
INDEXES = (
    "CREATE UNIQUE INDEX IF NOT EXISTS maintenance_occurrences_plan_day "
    "ON maintenance_occurrences (plan, occurs_on)",
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
    manager = _Manager(migration_id=ID, app_name="maintenance", description=DESCRIPTION)
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
