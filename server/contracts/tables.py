"""Service contracts, the contract each task was linked to, and labour time (issue 16).

A contract includes so many visits and hours a month; a task is linked to its
counterparty's active contract when it is created (ContractTask, one row per task) and
flagged outside the contract when there is none or the month's allowance is used up.
Labour time (LabourEntry) is what the hours are counted from. Hours are kept as minutes
and the discount in hundredths of a percent: integers on both engines.
"""

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

from server.accounts.tables import User
from server.clients.tables import Counterparty
from server.sla.tables import Rule
from server.tasks.tables import Task


class Contract(Table, tablename="contracts"):
    id: Serial
    counterparty = ForeignKey(Counterparty, on_delete=OnDelete.restrict, index=True)
    number = Varchar(length=100, unique=True)
    starts_on = Date()
    ends_on = Date(null=True, default=None)
    # R10 targets of the contract's tasks (server/sla asks server/contracts for it).
    sla_rule = ForeignKey(Rule, null=True, on_delete=OnDelete.set_null)
    # None: not limited; 0: none included.
    visits_per_month = Integer(null=True, default=None)
    minutes_per_month = Integer(null=True, default=None)
    discount_bp = Integer(default=0)  # price-list discount, 1/100 of a percent
    status = Varchar(length=20, default="active")
    notes = Text(default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class ContractTask(Table, tablename="contract_tasks"):
    """What a task was at creation: its contract (or none) and whether it is outside it."""

    id: Serial
    task = ForeignKey(Task, on_delete=OnDelete.cascade, unique=True)
    contract = ForeignKey(Contract, null=True, on_delete=OnDelete.restrict, index=True)
    outside_contract = Boolean(default=False)
    # no_contract | visits_used_up | hours_used_up | "" (inside the contract)
    reason = Varchar(length=30, default="")
    # The first day of the month (company timezone) the task counts in; a visit goes on site.
    month = Date(null=True, default=None)
    is_visit = Boolean(default=False)
    created_at = Timestamptz()


class LabourEntry(Table, tablename="task_labour"):
    """Time someone spent on a task."""

    id: Serial
    task = ForeignKey(Task, on_delete=OnDelete.cascade, index=True)
    performer = ForeignKey(User, on_delete=OnDelete.restrict, index=True)
    minutes = Integer()
    note = Text(default="")
    worked_on = Date(index=True)
    created_by = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()
