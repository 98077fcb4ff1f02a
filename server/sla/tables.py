from piccolo.columns import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from server.accounts.tables import Group, User
from server.clients.tables import Counterparty
from server.tasks.tables import Task, Template


class Calendar(Table, tablename="sla_calendars"):
    """Service hours: weekly intervals per weekday (Monday = "0") in a timezone."""

    id: Serial
    name = Varchar(length=150, unique=True)
    timezone = Varchar(length=64, default="Europe/Moscow")
    week = JSON(default={})


class CalendarDay(Table, tablename="sla_calendar_days"):
    """An exception day: a holiday ([]) or different hours."""

    id: Serial
    calendar = ForeignKey(Calendar, on_delete=OnDelete.cascade, index=True)
    day = Date()
    hours = JSON(default=[])


class Rule(Table, tablename="sla_rules"):
    """Reaction and resolution targets; the first active matching rule (by position) wins."""

    id: Serial
    position = Integer(default=100)
    active = Boolean(default=True)
    name = Varchar(length=150)
    template = ForeignKey(Template, null=True, on_delete=OnDelete.cascade)
    priority = Varchar(length=10, null=True, default=None)
    counterparty_category = Varchar(length=50, null=True, default=None)
    counterparty = ForeignKey(Counterparty, null=True, on_delete=OnDelete.cascade)
    calendar = ForeignKey(Calendar, null=True, on_delete=OnDelete.set_null)
    reaction_minutes = Integer(null=True, default=None)
    resolution_minutes = Integer(null=True, default=None)


class Automation(Table, tablename="sla_automations"):
    """R10: one timer or status rule of one template; every one can be changed or switched off."""

    id: Serial
    template = ForeignKey(Template, on_delete=OnDelete.cascade, index=True)
    kind = Varchar(length=40)
    enabled = Boolean(default=True)
    minutes = Integer(null=True, default=None)
    # who "the manager" is for notify kinds; neither set: admins and office staff
    notify_user = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    notify_group = ForeignKey(Group, null=True, on_delete=OnDelete.set_null)


class Fired(Table, tablename="sla_fired"):
    """Escalations that fired, one per task, kind and occurrence (unique): a second
    worker, a restart or a slow sweep cannot fire the same one again."""

    id: Serial
    task = ForeignKey(Task, on_delete=OnDelete.cascade, index=True)
    kind = Varchar(length=40)
    occurrence = Varchar(length=64)
    fired_at = Timestamptz(index=True)
    data = JSON(default={})
