from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

Id = Annotated[int, msgspec.Meta(ge=1)]
Minutes = Annotated[int, msgspec.Meta(ge=1, le=525_600)]
Hours = list[Annotated[list[str], msgspec.Meta(min_length=2, max_length=2)]]
Priority = Literal["low", "normal", "high", "urgent"]


class CalendarIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=150)]
    timezone: str = "Europe/Moscow"
    # weekday (Monday = "0") -> [["09:00", "18:00"], ...]; missing weekday = day off
    week: dict[str, Hours] = {}


class CalendarDayIn(msgspec.Struct, forbid_unknown_fields=True):
    day: dt.date
    hours: Hours = []  # [] = a holiday


class CalendarOut(msgspec.Struct):
    id: int
    name: str
    timezone: str
    week: dict[str, Hours]
    days: dict[str, Hours]


class RuleIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=150)]
    position: int = 100
    active: bool = True
    template: str | None = None
    priority: Priority | None = None
    counterparty_category: Annotated[str, msgspec.Meta(max_length=50)] | None = None
    counterparty_id: Id | None = None
    calendar_id: Id | None = None
    reaction_minutes: Minutes | None = None
    resolution_minutes: Minutes | None = None


class RuleOut(msgspec.Struct):
    id: int
    name: str
    position: int
    active: bool
    template: str | None
    priority: str | None
    counterparty_category: str | None
    counterparty_id: int | None
    calendar_id: int | None
    reaction_minutes: int | None
    resolution_minutes: int | None


class AutomationPatch(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool | None = None
    minutes: Minutes | None = None
    notify_user_id: Id | None = None
    notify_group_id: Id | None = None


class AutomationOut(msgspec.Struct):
    id: int
    template: str
    kind: str
    description: str
    enabled: bool
    minutes: int | None
    notify_user_id: int | None
    notify_group_id: int | None


class FiredOut(msgspec.Struct):
    task_id: int
    task_number: int
    title: str
    kind: str
    fired_at: dt.datetime
    data: dict[str, object]
