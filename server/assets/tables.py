"""The equipment registry: what the company services at its clients' sites (issue 16).

Kinds are an admin-kept list (a code, a name and the custom attributes equipment of that
kind may carry). A serial number is unique per kind and model: `serial_key` and
`model_key` are the trimmed, lower-cased forms, and a partial unique index (the migration)
holds them for every piece that has a serial at all.
"""

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
from piccolo.table import Table

from server.clients.tables import Counterparty, Site
from server.tasks.tables import Task


class EquipmentKind(Table, tablename="equipment_kinds"):
    id: Serial
    code = Varchar(length=50, unique=True)
    name = Varchar(length=150)
    # [{"name", "type": string|number|integer|boolean|date, "required", "label"}]
    attributes = JSON(default=[])
    created_at = Timestamptz()


class Equipment(Table, tablename="equipment"):
    id: Serial
    counterparty = ForeignKey(Counterparty, on_delete=OnDelete.restrict, index=True)
    site = ForeignKey(Site, null=True, on_delete=OnDelete.set_null, index=True)
    kind = ForeignKey(EquipmentKind, on_delete=OnDelete.restrict, index=True)
    model = Varchar(length=200)
    serial = Varchar(length=200, default="")
    # Lower-cased and trimmed: the search (SQLite's LIKE folds ASCII only) and uniqueness.
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
    """Which equipment a task is about; one row per task and piece (a unique index)."""

    id: Serial
    task = ForeignKey(Task, on_delete=OnDelete.cascade, index=True)
    equipment = ForeignKey(Equipment, on_delete=OnDelete.cascade, index=True)
    created_at = Timestamptz()
