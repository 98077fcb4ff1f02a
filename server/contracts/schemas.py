from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from server.lib.ids import Id

UNSET = msgspec.UNSET
Unset = msgspec.UnsetType
ContractStatus = Literal["draft", "active", "suspended", "closed"]
Number = Annotated[str, msgspec.Meta(max_length=100)]
Notes = Annotated[str, msgspec.Meta(max_length=20000)]
Visits = Annotated[int, msgspec.Meta(ge=0, le=10_000)]


class ContractIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    counterparty_id: Id
    number: Number
    starts_on: dt.date
    ends_on: dt.date | None = None
    sla_rule_id: Id | None = None
    # None: not limited. Hours and the discount are strings or numbers, read as written.
    visits_per_month: Visits | None = None
    hours_per_month: Decimal | None = None
    discount_percent: Decimal = Decimal(0)
    status: ContractStatus = "active"
    notes: Notes = ""


class ContractPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    number: Number | Unset = UNSET
    starts_on: dt.date | Unset = UNSET
    ends_on: dt.date | Unset | None = UNSET
    sla_rule_id: Id | Unset | None = UNSET
    visits_per_month: Visits | Unset | None = UNSET
    hours_per_month: Decimal | Unset | None = UNSET
    discount_percent: Decimal | Unset = UNSET
    status: ContractStatus | Unset = UNSET
    notes: Notes | Unset = UNSET


class Ref(msgspec.Struct):
    id: int
    name: str


class ContractOut(msgspec.Struct):
    id: int
    counterparty: Ref
    number: str
    starts_on: dt.date
    ends_on: dt.date | None
    sla_rule: Ref | None
    visits_per_month: int | None
    hours_per_month: Decimal | None
    discount_percent: Decimal
    status: str
    notes: str
    # In force today: status active and today within starts_on..ends_on.
    in_force: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class MonthUsage(msgspec.Struct):
    month: str  # YYYY-MM
    visits_used: int
    visits_included: int | None
    hours_used: Decimal
    hours_included: Decimal | None
    # Tasks of the counterparty that month that fell outside the contract.
    outside_tasks: int


class ContractReport(msgspec.Struct):
    contract: ContractOut
    months: list[MonthUsage]


class TimeIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    minutes: Annotated[int, msgspec.Meta(ge=1, le=24 * 60)]
    performer_id: Id | None = None
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    # The day the work was done (company timezone); default today.
    worked_on: dt.date | None = None


class TimeOut(msgspec.Struct):
    id: int
    task_id: int
    performer: Ref
    minutes: int
    note: str
    worked_on: dt.date
    created_at: dt.datetime


class TaskTime(msgspec.Struct):
    items: list[TimeOut]
    total_minutes: int


class LabourTotal(msgspec.Struct):
    id: int | None
    name: str
    minutes: int


class LabourReport(msgspec.Struct):
    date_from: dt.date
    date_to: dt.date
    total_minutes: int
    by_engineer: list[LabourTotal]
    by_contract: list[LabourTotal]
    by_counterparty: list[LabourTotal]
    # The tasks with the most time, most first (at most 100).
    by_task: list[LabourTotal]
