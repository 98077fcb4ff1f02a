from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec

from server.lib.ids import Id

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType
ItemKind = Literal["check", "number", "text", "photo"]
NonWorkingDays = Literal["keep", "skip", "next_working_day"]
Priority = Literal["low", "normal", "high", "urgent"]
Title = Annotated[str, msgspec.Meta(max_length=500)]
Text = Annotated[str, msgspec.Meta(max_length=20000)]
RRule = Annotated[str, msgspec.Meta(max_length=1000)]
TimeOfDay = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
LeadDays = Annotated[int, msgspec.Meta(ge=0, le=365)]


class ChecklistItemIn(msgspec.Struct, forbid_unknown_fields=True):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    required: bool = False
    kind: ItemKind = "check"


Checklist = Annotated[list[ChecklistItemIn], msgspec.Meta(max_length=100)]


class TemplateChecklistIn(msgspec.Struct, forbid_unknown_fields=True):
    items: Checklist


class TemplateChecklistOut(msgspec.Struct):
    template: str
    items: list[ChecklistItemIn]


class Ref(msgspec.Struct):
    id: int
    name: str


class UserRef(msgspec.Struct):
    id: int
    full_name: str


class ChecklistItemOut(msgspec.Struct):
    id: int
    position: int
    text: str
    required: bool
    kind: str
    # true (check), a number, a text, or a photo's attachment id; null while open
    value: Any
    done: bool
    done_by: UserRef | None
    done_at: dt.datetime | None


class TaskChecklist(msgspec.Struct):
    task_id: int
    items: list[ChecklistItemOut]
    # Required items still open: while there are any, the task cannot be marked done (R8).
    open_required: int


class ChecklistValueIn(msgspec.Struct, forbid_unknown_fields=True):
    value: Any = None


class EquipmentRef(msgspec.Struct):
    id: int
    kind: str
    model: str
    serial: str


class PlanIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    counterparty_id: Id
    template: Annotated[str, msgspec.Meta(max_length=50)]
    title: Title
    rrule: RRule
    starts_on: dt.date
    site_id: Id | None = None
    equipment_id: Id | None = None
    description: Text = ""
    time_of_day: TimeOfDay = "09:00"
    lead_days: LeadDays = 0
    non_working_days: NonWorkingDays = "keep"
    calendar_id: Id | None = None
    assignee_id: Id | None = None
    group_id: Id | None = None
    priority: Priority = "normal"
    checklist: Checklist = msgspec.field(default_factory=list)
    active: bool = True


class PlanPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    template: Annotated[str, msgspec.Meta(max_length=50)] | Unset = UNSET
    title: Title | Unset = UNSET
    rrule: RRule | Unset = UNSET
    starts_on: dt.date | Unset = UNSET
    site_id: Id | Unset | None = UNSET
    equipment_id: Id | Unset | None = UNSET
    description: Text | Unset = UNSET
    time_of_day: TimeOfDay | Unset = UNSET
    lead_days: LeadDays | Unset = UNSET
    non_working_days: NonWorkingDays | Unset = UNSET
    calendar_id: Id | Unset | None = UNSET
    assignee_id: Id | Unset | None = UNSET
    group_id: Id | Unset | None = UNSET
    priority: Priority | Unset = UNSET
    checklist: Checklist | Unset = UNSET
    active: bool | Unset = UNSET


class PlanOut(msgspec.Struct):
    id: int
    counterparty: Ref
    site: Ref | None
    equipment: EquipmentRef | None
    template: str
    title: str
    description: str
    rrule: str
    starts_on: dt.date
    time_of_day: str
    lead_days: int
    non_working_days: str
    calendar_id: int | None
    assignee: UserRef | None
    group: Ref | None
    priority: str
    checklist: list[ChecklistItemIn]
    active: bool
    # The next date the sweep will create a task for, and the day it does so.
    next_occurrence_on: dt.date | None
    next_create_on: dt.date | None
    # Why the last occurrence could not be created (R1–R4 refused it), or "".
    last_error: str
    created_at: dt.datetime
    updated_at: dt.datetime


class OccurrenceOut(msgspec.Struct):
    date: dt.date  # the day of the visit (moved off a non-working day if the plan says so)
    task_id: int | None
    occurs_on: dt.date  # the date the RRULE gives
    starts_at: dt.datetime  # local time in the company timezone


class Occurrences(msgspec.Struct):
    items: list[OccurrenceOut]


class SweepOut(msgspec.Struct):
    plans: int
    created: int
    failed: int


class CalendarLink(msgspec.Struct):
    url: str
