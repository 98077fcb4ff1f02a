"""Planned maintenance and checklists (issue 16).

A plan recurs by an RFC 5545 RRULE; the sweep creates each occurrence's task `lead_days`
ahead. An occurrence is recorded under a unique (plan, occurs_on) key in the transaction
that creates its task, so it is created exactly once however many sweeps run.
`next_create_on` is the day the next occurrence is due to be created: the sweep reads
only the plans whose day has come.

Checklists: items a template or a plan carries are copied onto each new task; R8 keeps a
task from being done while a required one is open.
"""

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
from piccolo.table import Table

from server.accounts.tables import Group, User
from server.assets.tables import Equipment
from server.clients.tables import Counterparty, Site
from server.sla.tables import Calendar
from server.tasks.tables import Task, Template


class MaintenancePlan(Table, tablename="maintenance_plans"):
    id: Serial
    counterparty = ForeignKey(Counterparty, on_delete=OnDelete.restrict, index=True)
    site = ForeignKey(Site, null=True, on_delete=OnDelete.set_null)
    equipment = ForeignKey(Equipment, null=True, on_delete=OnDelete.set_null, index=True)
    template = ForeignKey(Template, on_delete=OnDelete.restrict)
    title = Varchar(length=500)
    description = Text(default="")
    rrule = Varchar(length=1000)
    starts_on = Date()
    # Local time (the company timezone) of each occurrence: DST never moves it.
    time_of_day = Varchar(length=5, default="09:00")
    lead_days = Integer(default=0)
    # keep | skip | next_working_day, by `calendar`'s working days
    non_working_days = Varchar(length=20, default="keep")
    calendar = ForeignKey(Calendar, null=True, on_delete=OnDelete.set_null)
    assignee = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    group = ForeignKey(Group, null=True, on_delete=OnDelete.set_null)
    priority = Varchar(length=10, default="normal")
    # [{"text", "required", "kind"}], copied onto each occurrence's task
    checklist = JSON(default=[])
    active = Boolean(default=True)
    # Occurrences before this day are never created (the plan did not exist then).
    generate_from = Date()
    next_occurrence_on = Date(null=True, default=None)
    next_create_on = Date(null=True, default=None, index=True)
    last_error = Text(default="")
    created_by = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class MaintenanceOccurrence(Table, tablename="maintenance_occurrences"):
    """One date of a plan whose task was created; unique per (plan, occurs_on)."""

    id: Serial
    plan = ForeignKey(MaintenancePlan, on_delete=OnDelete.cascade, index=True)
    occurs_on = Date()  # the RRULE's date: the occurrence's identity
    scheduled_on = Date()  # after moving off a non-working day
    task = ForeignKey(Task, null=True, on_delete=OnDelete.set_null, index=True)
    created_at = Timestamptz()


class TemplateChecklistItem(Table, tablename="template_checklist_items"):
    id: Serial
    template = ForeignKey(Template, on_delete=OnDelete.cascade, index=True)
    position = Integer(default=0)
    text = Varchar(length=500)
    required = Boolean(default=False)
    kind = Varchar(length=10, default="check")  # check | number | text | photo


class TaskChecklistItem(Table, tablename="task_checklist_items"):
    id: Serial
    task = ForeignKey(Task, on_delete=OnDelete.cascade, index=True)
    position = Integer(default=0)
    text = Varchar(length=500)
    required = Boolean(default=False)
    kind = Varchar(length=10, default="check")
    # true (check), a number, a text or a photo's attachment id; null while open
    value = JSON(null=True, default=None)
    done_by = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    done_at = Timestamptz(null=True, default=None)
    source = Varchar(length=20, default="template")  # template | plan
