"""Service contracts, the contract of each task, and labour time (issue 16).

Hand-written: the tables below are frozen copies of server/contracts/tables.py as of this
migration (later changes get migrations of their own).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import (
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
from piccolo.table import Table

ID = "2026-11-28T07:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "service contracts and labour time"


class Counterparty(Table, tablename="counterparties"):
    id = Serial(primary_key=True)


class User(Table, tablename="users"):
    id = Serial(primary_key=True)


class Task(Table, tablename="tasks"):
    id = Serial(primary_key=True)


class Rule(Table, tablename="sla_rules"):
    id = Serial(primary_key=True)


class Contract(Table, tablename="contracts"):
    counterparty = ForeignKey(Counterparty, on_delete=OnDelete.restrict, index=True)
    number = Varchar(length=100, unique=True)
    starts_on = Date()
    ends_on = Date(null=True, default=None)
    sla_rule = ForeignKey(Rule, null=True, on_delete=OnDelete.set_null)
    visits_per_month = Integer(null=True, default=None)
    minutes_per_month = Integer(null=True, default=None)
    discount_bp = Integer(default=0)
    status = Varchar(length=20, default="active")
    notes = Text(default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class ContractTask(Table, tablename="contract_tasks"):
    task = ForeignKey(Task, on_delete=OnDelete.cascade, unique=True)
    contract = ForeignKey(Contract, null=True, on_delete=OnDelete.restrict, index=True)
    outside_contract = Boolean(default=False)
    reason = Varchar(length=30, default="")
    month = Date(null=True, default=None)
    is_visit = Boolean(default=False)
    created_at = Timestamptz()


class LabourEntry(Table, tablename="task_labour"):
    task = ForeignKey(Task, on_delete=OnDelete.cascade, index=True)
    performer = ForeignKey(User, on_delete=OnDelete.restrict, index=True)
    minutes = Integer()
    note = Text(default="")
    worked_on = Date(index=True)
    created_by = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()


NEW_TABLES = (Contract, ContractTask, LabourEntry)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="contracts", description=DESCRIPTION)
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
