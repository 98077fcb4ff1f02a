"""Service contracts (issue 16): what a counterparty is owed each month, which contract a new
task falls under, and how much of the allowance is used.

A task is linked when it is created (the TaskCreated subscriber, inside the creating
transaction) to the contract in force for its counterparty that day — the counterparty's
own, else its central office's — and flagged `outside_contract` when there is none or the
month's allowance is used up: a visit (a task that goes on site) when the included visits
are taken, any task when the included hours are. Months are calendar months in the
company timezone. Tasks without a counterparty are not client work: no contract, no flag.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from server import db
from server.clients.tables import Counterparty
from server.contracts.schemas import (
    ContractIn,
    ContractOut,
    ContractPatch,
    ContractReport,
    MonthUsage,
    Ref,
)
from server.contracts.tables import Contract, ContractTask, LabourEntry
from server.lib import clock
from server.lib.errors import InvalidInput, NotFound
from server.settings import current as current_settings
from server.sla.tables import Rule
from server.tasks.schemas import ContractRef, TaskOut
from server.tasks.statuses import Status

HUNDREDTH = Decimal("0.01")
MAX_HOURS = Decimal(24 * 31)
MAX_REPORT_MONTHS = 36


def _pick(changes: dict[str, Any], field: str, current: Any) -> Any:
    """A PATCH's value for `field`, or the current one when the PATCH leaves it out."""
    return changes.get(field, current)


def company_zone() -> ZoneInfo:
    return ZoneInfo(current_settings().timezone)


def local_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(company_zone()).date()


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(month: dt.date) -> dt.date:
    return (month + dt.timedelta(days=32)).replace(day=1)


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _minutes(hours: Decimal | None, field: str = "hours_per_month") -> int | None:
    if hours is None:
        return None
    if not hours.is_finite() or hours < 0 or hours > MAX_HOURS:
        raise InvalidInput(
            "contract.must_between_got", field=field, max_hours=MAX_HOURS, hours=hours
        )
    if hours != hours.quantize(HUNDREDTH):
        raise InvalidInput("contract.most_decimal_places_got", field=field, hours=hours)
    return int((hours * 60).quantize(Decimal(1), ROUND_HALF_UP))


def hours(minutes: int | None) -> Decimal | None:
    if minutes is None:
        return None
    return (Decimal(minutes) / 60).quantize(HUNDREDTH, ROUND_HALF_UP)


def _basis_points(percent: Decimal) -> int:
    if not percent.is_finite() or not 0 <= percent <= 100:
        raise InvalidInput("contract.discount_percent_must_between", percent=percent)
    if percent != percent.quantize(HUNDREDTH):
        raise InvalidInput("contract.discount_percent_most_decimal", percent=percent)
    return int(percent * 100)


# --- contracts -------------------------------------------------------------------------------

_COLUMNS = (
    Contract.id,
    Contract.number,
    Contract.starts_on,
    Contract.ends_on,
    Contract.visits_per_month,
    Contract.minutes_per_month,
    Contract.discount_bp,
    Contract.status,
    Contract.notes,
    Contract.created_at,
    Contract.updated_at,
    Contract.counterparty.id,
    Contract.counterparty.name,
    Contract.sla_rule.id,
    Contract.sla_rule.name,
)


def in_force(row: dict[str, Any], day: dt.date) -> bool:
    ends_on = _date(row["ends_on"])
    return (
        row["status"] == "active"
        and _date(row["starts_on"]) <= day  # type: ignore[operator]
        and (ends_on is None or day <= ends_on)
    )


def _out(r: dict[str, Any], today: dt.date) -> ContractOut:
    return ContractOut(
        id=r["id"],
        counterparty=Ref(r["counterparty.id"], r["counterparty.name"]),
        number=r["number"],
        starts_on=r["starts_on"],
        ends_on=r["ends_on"],
        sla_rule=Ref(r["sla_rule.id"], r["sla_rule.name"]) if r["sla_rule.id"] else None,
        visits_per_month=r["visits_per_month"],
        hours_per_month=hours(r["minutes_per_month"]),
        discount_percent=(Decimal(r["discount_bp"]) / 100).quantize(HUNDREDTH),
        status=r["status"],
        notes=r["notes"],
        in_force=in_force(r, today),
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


async def get_contract(contract_id: int) -> ContractOut:
    row = await Contract.select(*_COLUMNS).where(Contract.id == contract_id).first()
    if row is None:
        raise NotFound("contract.contract_not_found", contract_id=contract_id)
    return _out(row, local_day(clock.now()))


async def list_contracts(
    counterparty_id: int | None = None, status: str | None = None
) -> list[ContractOut]:
    query = Contract.select(*_COLUMNS).order_by(Contract.id, ascending=False)
    if counterparty_id is not None:
        query = query.where(Contract.counterparty == counterparty_id)
    if status:
        query = query.where(Contract.status == status)
    today = local_day(clock.now())
    return [_out(r, today) for r in await query]


async def _check(
    counterparty_id: int,
    number: str,
    starts_on: dt.date,
    ends_on: dt.date | None,
    sla_rule_id: int | None,
    exclude_id: int | None = None,
) -> str:
    number = " ".join(number.split())
    if not number:
        raise InvalidInput("contract.number_must_not_blank")
    if ends_on is not None and ends_on < starts_on:
        raise InvalidInput("contract.ends_before_starts", ends_on=ends_on, starts_on=starts_on)
    if not await Counterparty.exists().where(Counterparty.id == counterparty_id):
        raise InvalidInput(
            "contract.counterparty_id_no_counterparty", counterparty_id=counterparty_id
        )
    if sla_rule_id is not None and not await Rule.exists().where(Rule.id == sla_rule_id):
        raise InvalidInput("contract.sla_rule_id_no", sla_rule_id=sla_rule_id)
    taken = Contract.select(Contract.id).where(Contract.number == number)
    if exclude_id is not None:
        taken = taken.where(Contract.id != exclude_id)
    row = await taken.first()
    if row is not None:
        raise InvalidInput("contract.number_already_contract", number=number, id=row["id"])
    return number


async def create_contract(data: ContractIn) -> ContractOut:
    minutes = _minutes(data.hours_per_month)
    discount = _basis_points(data.discount_percent)
    async with db.transaction():
        number = await _check(
            data.counterparty_id, data.number, data.starts_on, data.ends_on, data.sla_rule_id
        )
        now = clock.now()
        row = Contract(
            counterparty=data.counterparty_id,
            number=number,
            starts_on=data.starts_on,
            ends_on=data.ends_on,
            sla_rule=data.sla_rule_id,
            visits_per_month=data.visits_per_month,
            minutes_per_month=minutes,
            discount_bp=discount,
            status=data.status,
            notes=data.notes.strip(),
            created_at=now,
            updated_at=now,
        )
        await row.save()
    return await get_contract(row.id)


async def update_contract(contract_id: int, patch: ContractPatch) -> ContractOut:
    changes = {
        f: getattr(patch, f)
        for f in patch.__struct_fields__
        if not isinstance(getattr(patch, f), msgspec.UnsetType)
    }
    async with db.transaction():
        row = await Contract.select().where(Contract.id == contract_id).first()
        if row is None:
            raise NotFound("contract.contract_not_found", contract_id=contract_id)
        number = await _check(
            row["counterparty"],
            _pick(changes, "number", row["number"]),
            _pick(changes, "starts_on", _date(row["starts_on"])),
            _pick(changes, "ends_on", _date(row["ends_on"])),
            _pick(changes, "sla_rule_id", row["sla_rule"]),
            exclude_id=contract_id,
        )
        values: dict[Any, Any] = {Contract.number: number, Contract.updated_at: clock.now()}
        simple = {
            "starts_on": Contract.starts_on,
            "ends_on": Contract.ends_on,
            "sla_rule_id": Contract.sla_rule,
            "visits_per_month": Contract.visits_per_month,
            "status": Contract.status,
        }
        for field, column in simple.items():
            if field in changes:
                values[column] = changes[field]
        if "hours_per_month" in changes:
            values[Contract.minutes_per_month] = _minutes(changes["hours_per_month"])
        if "discount_percent" in changes:
            values[Contract.discount_bp] = _basis_points(changes["discount_percent"])
        if "notes" in changes:
            values[Contract.notes] = changes["notes"].strip()
        await Contract.update(values).where(Contract.id == contract_id)
    return await get_contract(contract_id)


# --- the contract of a task ------------------------------------------------------------------


# A counterparty's active contracts and its central office's, newest first, in one
# statement (issue 21: every create asks twice, for the link and for the SLA rule).
_CONTRACTS_OF = """
SELECT id, counterparty, number, starts_on, ends_on, status, sla_rule, visits_per_month,
    minutes_per_month
FROM contracts
WHERE status = 'active'
    AND (counterparty = {} OR counterparty = (SELECT parent FROM counterparties WHERE id = {}))
ORDER BY starts_on DESC, id DESC
"""


async def contract_in_force(counterparty_id: int | None, day: dt.date) -> dict[str, Any] | None:
    """The counterparty's contract in force on `day`, else its central office's; the one
    that started last wins when several are."""
    if counterparty_id is None:
        return None
    rows = [dict(r) for r in await db.fetch_rows(_CONTRACTS_OF, counterparty_id, counterparty_id)]
    own = [r for r in rows if r["counterparty"] == counterparty_id]
    office = [r for r in rows if r["counterparty"] != counterparty_id]
    for row in own + office:
        if in_force(row, day):
            return row
    return None


# The creating transaction asks for the contract in force twice with the same question:
# for the link (link_on_creation) and for the SLA rule (contract_rule, a rule source).
# Whichever TaskCreated subscriber asks first leaves the answer here for the other, which
# takes it away; the key names the transaction, so no other one ever sees it.
_asked: contextvars.ContextVar[tuple[Any, int, dt.datetime, dict[str, Any] | None] | None] = (
    contextvars.ContextVar("naryad_contract_asked", default=None)
)


async def _in_force_at_creation(counterparty_id: int, at: dt.datetime) -> dict[str, Any] | None:
    transaction = db.current_engine().current_transaction.get()
    memo = _asked.get()
    if (
        memo is not None
        and transaction is not None
        and memo[0] is transaction
        and memo[1:3] == (counterparty_id, at)
    ):
        _asked.set(None)
        return memo[3]
    contract = await contract_in_force(counterparty_id, local_day(at))
    _asked.set(None if transaction is None else (transaction, counterparty_id, at, contract))
    return contract


async def visits_used(contract_id: int, month: dt.date) -> int:
    rows = await ContractTask.raw(
        "SELECT count(*) AS n FROM contract_tasks ct JOIN tasks t ON t.id = ct.task "
        "WHERE ct.contract = {} AND ct.month = {} AND ct.is_visit = {} "
        "AND ct.outside_contract = {} AND t.status <> {}",
        contract_id,
        month,
        True,
        False,
        Status.CANCELLED.value,
    )
    return int(rows[0]["n"])


async def minutes_used(contract_id: int, start: dt.date, end: dt.date) -> int:
    """Labour on the contract's tasks (inside it) worked on in [start, end)."""
    rows = await LabourEntry.raw(
        "SELECT coalesce(sum(l.minutes), 0) AS m FROM task_labour l "
        "JOIN contract_tasks ct ON ct.task = l.task "
        "WHERE ct.contract = {} AND ct.outside_contract = {} "
        "AND l.worked_on >= {} AND l.worked_on < {}",
        contract_id,
        False,
        start,
        end,
    )
    return int(rows[0]["m"])


async def link_on_creation(
    task_id: int, counterparty_id: int | None, at: dt.datetime, is_visit: bool
) -> None:
    """Inside the creating transaction: the contract in force and whether the task is
    within its allowance (`is_visit`: the task's has_departure, as created)."""
    if counterparty_id is None:
        return
    month = month_of(local_day(at))
    contract = await _in_force_at_creation(counterparty_id, at)
    reason = ""
    if contract is None:
        reason = "no_contract"
    else:
        if not db.is_sqlite():
            # Two tasks created at once must not both take the last included visit.
            await Contract.raw("SELECT id FROM contracts WHERE id = {} FOR UPDATE", contract["id"])
        limit = contract["visits_per_month"]
        if is_visit and limit is not None and await visits_used(contract["id"], month) >= limit:
            reason = "visits_used_up"
        minutes = contract["minutes_per_month"]
        if (
            not reason
            and minutes is not None
            and await minutes_used(contract["id"], month, next_month(month)) >= minutes
        ):
            reason = "hours_used_up"
    contract_id = contract["id"] if contract else None
    if db.is_sqlite():
        await ContractTask.insert(
            ContractTask(
                task=task_id,
                contract=contract_id,
                outside_contract=bool(reason),
                reason=reason,
                month=month,
                is_visit=is_visit,
                created_at=clock.now(),
            )
        )
        return
    # Written SQL on PostgreSQL: the same row without Piccolo's query building.
    await db.fetch_rows(
        _LINK_TASK, task_id, contract_id, bool(reason), reason, month, is_visit, clock.now()
    )


_LINK_TASK = (
    "INSERT INTO contract_tasks (task, contract, outside_contract, reason, month, is_visit, "
    "created_at) VALUES ({}, {}, {}, {}, {}, {}, {})"
)


async def contract_rule(counterparty_id: int | None, at: dt.datetime) -> int | None:
    """The SLA rule of the contract in force (server/sla asks before its own list)."""
    if counterparty_id is None:
        return None
    contract = await _in_force_at_creation(counterparty_id, at)
    return contract["sla_rule"] if contract else None


# fill_task() as one PostgreSQL expression over the task row `t`, for answers built in one
# statement (tasks.extensions.read_in_sql); keep the two in step.
TASK_CONTRACT_SQL = (
    "SELECT json_build_array(ct.outside_contract, c.id, c.number) FROM contract_tasks ct "
    "LEFT JOIN contracts c ON c.id = ct.contract WHERE ct.task = t.id LIMIT 1"
)


def apply_task_contract(task: TaskOut, value: list[Any] | None) -> None:
    if value is None:
        return
    outside, contract_id, number = value
    task.outside_contract = bool(outside)
    if contract_id is not None:
        task.contract = ContractRef(contract_id, number)


async def fill_task(task: TaskOut) -> None:
    row = (
        await ContractTask.select(
            ContractTask.outside_contract, ContractTask.contract.id, ContractTask.contract.number
        )
        .where(ContractTask.task == task.id)
        .first()
    )
    if row is None:
        return
    task.outside_contract = bool(row["outside_contract"])
    if row["contract.id"] is not None:
        task.contract = ContractRef(row["contract.id"], row["contract.number"])


# --- the report -----------------------------------------------------------------------------


def report_months(date_from: dt.date | None, date_to: dt.date | None) -> list[dt.date]:
    today = local_day(clock.now())
    last = month_of(date_to or today)
    first = month_of(date_from) if date_from else month_of(last - dt.timedelta(days=150))
    if first > last:
        raise InvalidInput("contract.from_after_2", date_from=date_from, date_to=date_to)
    months = [first]
    while months[-1] < last:
        months.append(next_month(months[-1]))
    if len(months) > MAX_REPORT_MONTHS:
        raise InvalidInput("contract.from_most_months_once", max_report_months=MAX_REPORT_MONTHS)
    return months


async def contract_usage(contract: ContractOut, months: list[dt.date]) -> list[MonthUsage]:
    start, end = months[0], next_month(months[-1])
    visits: dict[str, int] = {}
    outside: dict[str, int] = {}
    rows = await ContractTask.raw(
        "SELECT ct.month, ct.is_visit, ct.outside_contract, t.status FROM contract_tasks ct "
        "JOIN tasks t ON t.id = ct.task "
        "WHERE ct.contract = {} AND ct.month >= {} AND ct.month < {}",
        contract.id,
        start,
        end,
    )
    for r in rows:
        month = str(r["month"])[:7]
        if r["outside_contract"]:
            outside[month] = outside.get(month, 0) + 1
        elif r["is_visit"] and r["status"] != Status.CANCELLED:
            visits[month] = visits.get(month, 0) + 1
    minutes: dict[str, int] = {}
    labour = await LabourEntry.raw(
        "SELECT l.worked_on, l.minutes FROM task_labour l "
        "JOIN contract_tasks ct ON ct.task = l.task "
        "WHERE ct.contract = {} AND ct.outside_contract = {} "
        "AND l.worked_on >= {} AND l.worked_on < {}",
        contract.id,
        False,
        start,
        end,
    )
    for r in labour:
        month = str(r["worked_on"])[:7]
        minutes[month] = minutes.get(month, 0) + int(r["minutes"])
    result = []
    for first_day in months:
        label = first_day.isoformat()[:7]
        result.append(
            MonthUsage(
                month=label,
                visits_used=visits.get(label, 0),
                visits_included=contract.visits_per_month,
                hours_used=hours(minutes.get(label, 0)) or Decimal(0),
                hours_included=contract.hours_per_month,
                outside_tasks=outside.get(label, 0),
            )
        )
    return result


async def contract_report(
    contract_id: int, date_from: dt.date | None, date_to: dt.date | None
) -> ContractReport:
    contract = await get_contract(contract_id)
    months = report_months(date_from, date_to)
    return ContractReport(contract=contract, months=await contract_usage(contract, months))


REPORT_COLUMNS = [
    "Договор / Contract",
    "Контрагент / Counterparty",
    "Месяц / Month",
    "Выезды / Visits used",
    "Выезды включены / Visits included",
    "Часы / Hours used",
    "Часы включены / Hours included",
    "Вне договора / Outside the contract",
]


async def report_rows(
    counterparty_id: int | None, date_from: dt.date | None, date_to: dt.date | None
) -> list[list[Any]]:
    months = report_months(date_from, date_to)
    rows: list[list[Any]] = []
    for contract in reversed(await list_contracts(counterparty_id)):
        for usage in await contract_usage(contract, months):
            rows.append(
                [
                    contract.number,
                    contract.counterparty.name,
                    usage.month,
                    usage.visits_used,
                    "" if usage.visits_included is None else usage.visits_included,
                    str(usage.hours_used),
                    "" if usage.hours_included is None else str(usage.hours_included),
                    usage.outside_tasks,
                ]
            )
    return rows
