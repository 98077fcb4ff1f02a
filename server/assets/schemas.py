from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec

from server.lib.ids import Id

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=50, pattern=r"^[a-z0-9_\-]+$")]
Name = Annotated[str, msgspec.Meta(max_length=150)]
Model = Annotated[str, msgspec.Meta(max_length=200)]
Serial = Annotated[str, msgspec.Meta(max_length=200)]
Notes = Annotated[str, msgspec.Meta(max_length=20000)]
AttributeType = Literal["string", "number", "integer", "boolean", "date"]


class AttributeSpec(msgspec.Struct, forbid_unknown_fields=True):
    """A custom attribute equipment of a kind may carry, e.g. firmware or fiscal drive."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=50, pattern=r"^[a-z0-9_]+$")]
    type: AttributeType = "string"
    required: bool = False
    label: Name = ""


class KindIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Code
    name: Name
    attributes: Annotated[list[AttributeSpec], msgspec.Meta(max_length=50)] = msgspec.field(
        default_factory=list
    )


class KindOut(msgspec.Struct):
    id: int
    code: str
    name: str
    attributes: list[AttributeSpec]


class EquipmentIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    counterparty_id: Id
    kind: Annotated[str, msgspec.Meta(max_length=50)]
    model: Model
    serial: Serial = ""
    site_id: Id | None = None
    installed_on: dt.date | None = None
    warranty_until: dt.date | None = None
    notes: Notes = ""
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)


class EquipmentPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    counterparty_id: Id | Unset = UNSET
    kind: Annotated[str, msgspec.Meta(max_length=50)] | Unset = UNSET
    model: Model | Unset = UNSET
    serial: Serial | Unset = UNSET
    site_id: Id | Unset | None = UNSET
    installed_on: dt.date | Unset | None = UNSET
    warranty_until: dt.date | Unset | None = UNSET
    notes: Notes | Unset = UNSET
    attributes: dict[str, Any] | Unset = UNSET
    archived: bool | Unset = UNSET


class Ref(msgspec.Struct):
    id: int
    name: str


class EquipmentTask(msgspec.Struct):
    """A task about this piece: its service history."""

    id: int
    number: int
    title: str
    status: str
    template: str
    created_at: dt.datetime
    completed_at: dt.datetime | None
    assignee: str | None


class EquipmentOut(msgspec.Struct):
    id: int
    counterparty: Ref
    site: Ref | None
    kind: str
    kind_name: str
    model: str
    serial: str
    installed_on: dt.date | None
    warranty_until: dt.date | None
    under_warranty: bool
    notes: str
    attributes: dict[str, Any]
    archived: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    # GET /api/equipment/{id} only: the tasks about it, newest first.
    tasks: list[EquipmentTask] = msgspec.field(default_factory=list)


class EquipmentPage(msgspec.Struct):
    items: list[EquipmentOut]
    next_cursor: str | None


class EquipmentFilter(msgspec.Struct, kw_only=True):
    q: str | None = None
    counterparty_id: int | None = None
    site_id: int | None = None
    kind: str | None = None
    archived: bool | None = False
    limit: int = 50
    cursor: int | None = None


class TaskEquipmentIn(msgspec.Struct, forbid_unknown_fields=True):
    equipment_ids: Annotated[list[Id], msgspec.Meta(max_length=50)]


class ImportIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A CSV (UTF-8, comma or semicolon) or XLSX file, base64-encoded."""

    data_base64: str
    filename: Annotated[str, msgspec.Meta(max_length=255)] = ""
    format: Literal["csv", "xlsx"] | None = None
    # Check every row and report, but write nothing.
    dry_run: bool = False


class ImportRow(msgspec.Struct):
    row: int  # the line (CSV) or row (XLSX) number, the header being 1
    status: Literal["accepted", "rejected"]
    errors: list[str] = msgspec.field(default_factory=list)
    id: int | None = None
    serial: str = ""


class ImportReport(msgspec.Struct):
    imported: bool
    accepted: int
    rejected: int
    rows: list[ImportRow]
