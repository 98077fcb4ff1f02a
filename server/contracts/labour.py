"""Labour time (issue 16): who spent how long on which task; totals per task, engineer,
contract, counterparty and period. The hours a contract includes are counted from it
(server/contracts/service.py), which is why it lives with contracts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from server import db
from server.contracts.schemas import LabourReport, LabourTotal, Ref, TaskTime, TimeIn, TimeOut
from server.contracts.service import local_day
from server.contracts.tables import LabourEntry
from server.lib import clock
from server.lib.actor import Actor
from server.lib.errors import Forbidden, InvalidInput
from server.tasks import service as tasks
from server.tasks.statuses import Channel

MAX_PERIOD_DAYS = 366
BY_TASK_LIMIT = 100


async def add_time(actor: Actor, task_id: int, data: TimeIn) -> TimeOut:
    """An engineer logs their own time on a task they can see; the office logs anyone's."""
    task = await tasks.get_task(actor, task_id)
    if actor.is_client_only:
        raise Forbidden("contract.clients_do_not_log")
    performer_id = data.performer_id or actor.id
    if performer_id != actor.id and not actor.is_dispatcher:
        raise Forbidden("contract.you_log_your_own")
    performer = await tasks.require_employee(performer_id, "performer_id")
    today = local_day(clock.now())
    worked_on = data.worked_on or today
    if worked_on > today:
        raise InvalidInput("contract.worked_future", worked_on=worked_on)
    if worked_on < task.created_at.date() - dt.timedelta(days=1):
        raise InvalidInput(
            "contract.worked_before_task_created", worked_on=worked_on, task_number=task.number
        )
    now = clock.now()
    async with db.transaction():
        entry = LabourEntry(
            task=task_id,
            performer=performer_id,
            minutes=data.minutes,
            note=data.note.strip(),
            worked_on=worked_on,
            created_by=actor.id,
            created_at=now,
        )
        await entry.save()
        await tasks.record_event(
            task_id,
            actor.id,
            "time_logged",
            Channel.UI,
            {"minutes": data.minutes, "performer_id": performer_id, "worked_on": str(worked_on)},
            at=now,
        )
    return TimeOut(
        id=entry.id,
        task_id=task_id,
        performer=Ref(performer_id, performer["full_name"]),
        minutes=data.minutes,
        note=entry.note,
        worked_on=worked_on,
        created_at=now,
    )


async def task_time(actor: Actor, task_id: int) -> TaskTime:
    await tasks.get_task(actor, task_id)
    rows = (
        await LabourEntry.select(
            LabourEntry.id,
            LabourEntry.minutes,
            LabourEntry.note,
            LabourEntry.worked_on,
            LabourEntry.created_at,
            LabourEntry.performer.id,
            LabourEntry.performer.full_name,
        )
        .where(LabourEntry.task == task_id)
        .order_by(LabourEntry.id)
    )
    items = [
        TimeOut(
            id=r["id"],
            task_id=task_id,
            performer=Ref(r["performer.id"], r["performer.full_name"]),
            minutes=r["minutes"],
            note=r["note"],
            worked_on=r["worked_on"],
            created_at=r["created_at"],
        )
        for r in rows
    ]
    return TaskTime(items=items, total_minutes=sum(i.minutes for i in items))


def period(date_from: dt.date | None, date_to: dt.date | None) -> tuple[dt.date, dt.date]:
    today = local_day(clock.now())
    end = date_to or today
    start = date_from or end.replace(day=1)
    if start > end:
        raise InvalidInput("contract.from_after", start=start, end=end)
    if (end - start).days > MAX_PERIOD_DAYS:
        raise InvalidInput("contract.from_most_days_once", max_period_days=MAX_PERIOD_DAYS)
    return start, end


_ENTRIES = """
SELECT l.id, l.minutes, l.note, l.worked_on, u.id AS user_id, u.full_name,
    t.id AS task_id, t.number, t.title, cp.id AS cp_id, cp.name AS cp_name,
    c.id AS contract_id, c.number AS contract_number
FROM task_labour l
JOIN users u ON u.id = l.performer
JOIN tasks t ON t.id = l.task
LEFT JOIN counterparties cp ON cp.id = t.counterparty
LEFT JOIN contract_tasks ct ON ct.task = t.id
LEFT JOIN contracts c ON c.id = ct.contract
WHERE l.worked_on >= {} AND l.worked_on <= {}
ORDER BY l.worked_on, l.id
"""


async def entries(start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await LabourEntry.raw(_ENTRIES, start, end)
    return rows


def _totals(rows: list[dict[str, Any]], id_key: str, name: Any) -> list[LabourTotal]:
    sums: dict[Any, LabourTotal] = {}
    for r in rows:
        key = r[id_key]
        total = sums.get(key)
        if total is None:
            total = sums[key] = LabourTotal(id=key, name=name(r), minutes=0)
        total.minutes += int(r["minutes"])
    return sorted(sums.values(), key=lambda t: (-t.minutes, t.name))


async def labour_report(date_from: dt.date | None, date_to: dt.date | None) -> LabourReport:
    start, end = period(date_from, date_to)
    rows = await entries(start, end)
    return LabourReport(
        date_from=start,
        date_to=end,
        total_minutes=sum(int(r["minutes"]) for r in rows),
        by_engineer=_totals(rows, "user_id", lambda r: r["full_name"]),
        by_contract=_totals(
            rows,
            "contract_id",
            lambda r: r["contract_number"] or "— вне договора / outside any contract",
        ),
        by_counterparty=_totals(rows, "cp_id", lambda r: r["cp_name"] or "—"),
        by_task=_totals(rows, "task_id", lambda r: f"#{r['number'] or r['task_id']} {r['title']}")[
            :BY_TASK_LIMIT
        ],
    )


EXPORT_COLUMNS = [
    "Дата / Date",
    "Исполнитель / Performer",
    "Задача / Task",
    "Тема / Title",
    "Контрагент / Counterparty",
    "Договор / Contract",
    "Минуты / Minutes",
    "Часы / Hours",
    "Примечание / Note",
]


async def export_rows(date_from: dt.date | None, date_to: dt.date | None) -> list[list[Any]]:
    start, end = period(date_from, date_to)
    return [
        [
            str(r["worked_on"])[:10],
            r["full_name"],
            r["number"] or r["task_id"],
            r["title"],
            r["cp_name"] or "",
            r["contract_number"] or "",
            int(r["minutes"]),
            round(int(r["minutes"]) / 60, 2),
            r["note"],
        ]
        for r in await entries(start, end)
    ]
