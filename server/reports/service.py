"""The operational dashboard and task-list exports (office and admins)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import statistics
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from server import db
from server.lib import clock
from server.lib.actor import Actor
from server.lib.errors import InvalidInput
from server.portal import service as portal
from server.portal.schemas import CsatOut
from server.portal.tables import TaskRating
from server.tasks import service as tasks
from server.tasks.schemas import TaskFilter, TaskOut
from server.tasks.statuses import CLOSED
from server.tasks.tables import RefusalReason, Task, TaskEvent

WORKING = ("accepted", "en_route", "in_progress", "waiting_client")
# Refusals whose reason was given in words only, not from the list.
IN_WORDS = "Другое (своими словами)"
MAX_PERIOD_DAYS = 366
EXPORT_LIMIT = 100_000


class Counts(msgspec.Struct):
    open: int = 0
    overdue: int = 0
    in_progress: int = 0
    due_today: int = 0
    unassigned: int = 0


class NamedCounts(msgspec.Struct):
    id: int | None
    name: str
    counts: Counts


class DayPoint(msgspec.Struct):
    day: dt.date
    created: int
    completed: int


class Durations(msgspec.Struct):
    template: str
    accepted: int
    accept_median_min: float | None
    accept_p90_min: float | None
    completed: int
    complete_median_min: float | None
    complete_p90_min: float | None


class RefusalCount(msgspec.Struct):
    """R11: how many tasks were refused for one reason of the list (`reason_id` null: a
    reason given in words only)."""

    reason_id: int | None
    name: str
    count: int


class Dashboard(msgspec.Struct):
    now: dt.datetime
    timezone: str
    period_from: dt.date
    period_to: dt.date
    totals: Counts
    by_group: list[NamedCounts]
    by_engineer: list[NamedCounts]
    per_day: list[DayPoint]
    durations: list[Durations]
    refusals: list[RefusalCount] = msgspec.field(default_factory=list)
    # Client ratings given in the period (server/portal): by engineer, group, counterparty.
    csat: CsatOut | None = None


def _p90(values: list[float]) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=10, method="inclusive")[-1], 1)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _add(into: Counts, counts: Counts) -> None:
    into.open += counts.open
    into.overdue += counts.overdue
    into.in_progress += counts.in_progress
    into.due_today += counts.due_today
    into.unassigned += counts.unassigned


async def _period_in_python(
    start: dt.datetime, end: dt.datetime, tz: ZoneInfo, per_day: dict[dt.date, list[int]]
) -> list[Durations]:
    """SQLite: tasks created and completed per day into `per_day`, and the times to accept
    and complete by template, from the period's rows."""
    created = await Task.select(
        Task.created_at, Task.accepted_at, Task.completed_at, Task.template.code
    ).where((Task.created_at >= start) & (Task.created_at < end))
    completed = await Task.select(Task.completed_at).where(
        (Task.completed_at >= start) & (Task.completed_at < end)
    )
    for row in created:
        per_day[row["created_at"].astimezone(tz).date()][0] += 1
    for row in completed:
        per_day[row["completed_at"].astimezone(tz).date()][1] += 1

    to_accept: dict[str, list[float]] = defaultdict(list)
    to_complete: dict[str, list[float]] = defaultdict(list)
    for row in created:
        code = row["template.code"]
        if row["accepted_at"] is not None:
            to_accept[code].append((row["accepted_at"] - row["created_at"]).total_seconds() / 60)
        if row["completed_at"] is not None:
            to_complete[code].append((row["completed_at"] - row["created_at"]).total_seconds() / 60)
    return [
        Durations(
            template=code,
            accepted=len(to_accept[code]),
            accept_median_min=_median(to_accept[code]),
            accept_p90_min=_p90(to_accept[code]),
            completed=len(to_complete[code]),
            complete_median_min=_median(to_complete[code]),
            complete_p90_min=_p90(to_complete[code]),
        )
        for code in sorted({*to_accept, *to_complete})
    ]


# PostgreSQL counts the period in the database: a few dozen rows back whatever its size
# (the period's every task read into Python was most of the dashboard's time at 100 000
# tasks). percentile_cont interpolates as statistics.quantiles(method="inclusive") does.
_PER_DAY_SQL = """
SELECT day, SUM(created) AS created, SUM(completed) AS completed FROM (
    SELECT (created_at AT TIME ZONE {tz})::date AS day, 1 AS created, 0 AS completed
    FROM tasks WHERE created_at >= {start} AND created_at < {end}
    UNION ALL
    SELECT (completed_at AT TIME ZONE {tz})::date, 0, 1
    FROM tasks WHERE completed_at >= {start} AND completed_at < {end}
) AS period
GROUP BY day
"""
_MINUTES_TO_ACCEPT = "(EXTRACT(EPOCH FROM t.accepted_at - t.created_at) / 60)::float8"
_MINUTES_TO_COMPLETE = "(EXTRACT(EPOCH FROM t.completed_at - t.created_at) / 60)::float8"
_DURATIONS_SQL = f"""
SELECT tt.code,
    COUNT(t.accepted_at) AS accepted,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY {_MINUTES_TO_ACCEPT}) AS accept_median,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY {_MINUTES_TO_ACCEPT}) AS accept_p90,
    COUNT(t.completed_at) AS completed,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY {_MINUTES_TO_COMPLETE}) AS complete_median,
    percentile_cont(0.9) WITHIN GROUP (ORDER BY {_MINUTES_TO_COMPLETE}) AS complete_p90
FROM tasks t JOIN task_templates tt ON tt.id = t.template
WHERE t.created_at >= {{start}} AND t.created_at < {{end}}
GROUP BY tt.code
HAVING COUNT(t.accepted_at) > 0 OR COUNT(t.completed_at) > 0
ORDER BY tt.code
"""


def _minutes(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def _period_in_sql(
    start: dt.datetime, end: dt.datetime, tz_name: str, per_day: dict[dt.date, list[int]]
) -> list[Durations]:
    """PostgreSQL: what _period_in_python computes, counted by the database."""
    window = {"start": "{}", "end": "{}"}
    sql = _PER_DAY_SQL.format(tz="{}", **window)
    args = [tz_name, start, end, tz_name, start, end]
    for row in await db.fetch_rows(sql, *args):
        counts = per_day[row["day"]]
        counts[0] += int(row["created"])
        counts[1] += int(row["completed"])
    rows = await db.fetch_rows(_DURATIONS_SQL.format(**window), start, end)
    return [
        Durations(
            template=row["code"],
            accepted=int(row["accepted"]),
            accept_median_min=_minutes(row["accept_median"]),
            accept_p90_min=_minutes(row["accept_p90"]),
            completed=int(row["completed"]),
            complete_median_min=_minutes(row["complete_median"]),
            complete_p90_min=_minutes(row["complete_p90"]),
        )
        for row in rows
    ]


async def _open_counts(now: dt.datetime, today_end: dt.datetime) -> list[dict[str, Any]]:
    """The open tasks counted in the database by group and holder: a few hundred rows
    whatever the number of tasks (reading every open task into Python took seconds at a
    million tasks). Overdue is tasks.service.overdue_sql, the SQL twin of is_overdue."""
    late, late_args = tasks.overdue_sql(now)
    working = ", ".join("{}" for _ in WORKING)
    closed = sorted(CLOSED)
    # Counted per (group, holder) first, names joined to those few dozen rows after: ~20 %
    # less than joining every open task to its group and holder before counting.
    sql = f"""
        SELECT g.id AS group_id, g.name AS group_name, a.id AS assignee_id,
            a.full_name AS assignee_name, a.roles AS assignee_roles, c.open, c.overdue,
            c.in_progress, c.due_today, c.unassigned
        FROM (
            SELECT t."group" AS group_id, t.assignee AS assignee_id,
                COUNT(*) AS open,
                SUM(CASE WHEN {late} THEN 1 ELSE 0 END) AS overdue,
                SUM(CASE WHEN t.status IN ({working}) THEN 1 ELSE 0 END) AS in_progress,
                SUM(CASE WHEN t.due_resolution_at < {{}} THEN 1 ELSE 0 END) AS due_today,
                SUM(CASE WHEN t.status = 'new' THEN 1 ELSE 0 END) AS unassigned
            FROM tasks t
            WHERE t.status NOT IN ({", ".join("{}" for _ in closed)})
            GROUP BY t."group", t.assignee
        ) AS c
        LEFT JOIN work_groups g ON g.id = c.group_id
        LEFT JOIN users a ON a.id = c.assignee_id
    """
    rows: list[dict[str, Any]] = await Task.raw(
        sql, *late_args, *WORKING, today_end.astimezone(dt.UTC), *closed
    )
    return rows


async def refusals_by_reason(start: dt.datetime, end: dt.datetime) -> list[RefusalCount]:
    """Refusals in [start, end) by reason, most frequent first (the crm-task-types seed:
    the reason is mandatory because the report depends on it)."""
    rows = (
        await TaskEvent.select(TaskEvent.data)
        .where((TaskEvent.kind == "refused") & (TaskEvent.at >= start) & (TaskEvent.at < end))
        .output(load_json=True)
    )
    names = {r["id"]: r["name"] for r in await RefusalReason.select()}
    counts: dict[int | None, RefusalCount] = {}
    for row in rows:
        data = row["data"] or {}
        reason_id = data.get("reason_id")
        name = names.get(reason_id) or data.get("reason_name") or IN_WORDS
        counts.setdefault(reason_id, RefusalCount(reason_id, name, 0)).count += 1
    return sorted(counts.values(), key=lambda c: (-c.count, c.name))


async def dashboard(
    tz_name: str, date_from: dt.date | None = None, date_to: dt.date | None = None
) -> Dashboard:
    tz = ZoneInfo(tz_name)
    now = clock.now()
    today = now.astimezone(tz).date()
    date_to = date_to or today
    date_from = date_from or date_to - dt.timedelta(days=13)
    if date_from > date_to:
        raise InvalidInput("report.from_must_not_after")
    if (date_to - date_from).days >= MAX_PERIOD_DAYS:
        raise InvalidInput("report.period_may_cover_most", max_period_days=MAX_PERIOD_DAYS)
    today_end = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(0), tz)

    totals = Counts()
    groups: dict[int | None, NamedCounts] = {}
    engineers: dict[int, NamedCounts] = {}
    for row in await _open_counts(now, today_end):
        counts = Counts(
            open=int(row["open"]),
            overdue=int(row["overdue"] or 0),
            in_progress=int(row["in_progress"] or 0),
            due_today=int(row["due_today"] or 0),
            unassigned=int(row["unassigned"] or 0),
        )
        _add(totals, counts)
        gid = row["group_id"]
        group = groups.setdefault(gid, NamedCounts(gid, row["group_name"] or "—", Counts()))
        _add(group.counts, counts)
        # "By engineer" is the field staff's load: office staff holding a task are not in it.
        roles = row["assignee_roles"]
        roles = json.loads(roles) if isinstance(roles, str) else roles or []
        if row["assignee_id"] is not None and "engineer" in roles:
            eng = engineers.setdefault(
                row["assignee_id"],
                NamedCounts(row["assignee_id"], row["assignee_name"], Counts()),
            )
            _add(eng.counts, counts)

    start = dt.datetime.combine(date_from, dt.time(0), tz)
    end = dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(0), tz)
    per_day = {
        date_from + dt.timedelta(days=i): [0, 0] for i in range((date_to - date_from).days + 1)
    }
    if db.is_sqlite():
        durations = await _period_in_python(start, end, tz, per_day)
    else:
        durations = await _period_in_sql(start, end, tz_name, per_day)
    return Dashboard(
        now=now,
        timezone=tz_name,
        period_from=date_from,
        period_to=date_to,
        totals=totals,
        by_group=sorted(groups.values(), key=lambda g: g.name),
        by_engineer=sorted(engineers.values(), key=lambda e: e.name),
        per_day=[DayPoint(day, c, d) for day, (c, d) in per_day.items()],
        durations=durations,
        refusals=await refusals_by_reason(start, end),
        csat=await portal.csat(start, end),
    )


# --- exports -----------------------------------------------------------------------------

# Column headings and values in the reader's language (?lang=ru|en): what the office
# sees in the app, not codes. Dates are real dates: XLSX date cells in the company's time
# zone, ISO-like text in CSV.
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "ru": [
        ("number", "№"),
        ("title", "Название"),
        ("template", "Шаблон"),
        ("status", "Статус"),
        ("priority", "Приоритет"),
        ("counterparty", "Контрагент"),
        ("site", "Объект"),
        ("group", "Группа"),
        ("assignee", "Исполнитель"),
        ("created_at", "Создана"),
        ("accepted_at", "Принята"),
        ("completed_at", "Завершена"),
        ("due_resolution_at", "Срок"),
        ("rating", "Оценка клиента"),
        ("overdue", "Просрочена"),
    ],
    "en": [
        ("number", "No."),
        ("title", "Title"),
        ("template", "Template"),
        ("status", "Status"),
        ("priority", "Priority"),
        ("counterparty", "Counterparty"),
        ("site", "Site"),
        ("group", "Group"),
        ("assignee", "Assignee"),
        ("created_at", "Created"),
        ("accepted_at", "Accepted"),
        ("completed_at", "Completed"),
        ("due_resolution_at", "Due"),
        ("rating", "Client rating"),
        ("overdue", "Overdue"),
    ],
}
LABELS: dict[str, dict[str, dict[str, str]]] = {
    "ru": {
        "status": {
            "new": "Новая",
            "accepted": "Принята",
            "en_route": "В пути",
            "in_progress": "В работе",
            "waiting_client": "Ждёт клиента",
            "done": "Выполнена (ждёт проверки)",
            "completed": "Завершена",
            "postponed": "Отложена",
            "cancelled": "Отменена",
        },
        "priority": {"low": "Низкий", "normal": "Обычный", "high": "Высокий", "urgent": "Срочный"},
        "template": {
            "field_visit": "Выезд",
            "remote_support": "Удалённая поддержка",
            "repair": "Ремонт",
            "delivery": "Доставка",
            "accounting": "Бухгалтерия",
        },
        "yes": {"": "да"},
    },
    "en": {
        "status": {
            "new": "New",
            "accepted": "Accepted",
            "en_route": "En route",
            "in_progress": "In progress",
            "waiting_client": "Waiting for client",
            "done": "Done (awaiting check)",
            "completed": "Completed",
            "postponed": "Postponed",
            "cancelled": "Cancelled",
        },
        "priority": {"low": "Low", "normal": "Normal", "high": "High", "urgent": "Urgent"},
        "template": {
            "field_visit": "Field visit",
            "remote_support": "Remote support",
            "repair": "Repair",
            "delivery": "Delivery",
            "accounting": "Accounting",
        },
        "yes": {"": "yes"},
    },
}
DATE_FORMAT = "yyyy-mm-dd hh:mm"


def export_language(lang: str | None) -> str:
    if lang in (None, ""):
        return "ru"
    if lang not in COLUMNS:
        raise InvalidInput("report.lang_must_ru_en", lang=lang)
    return lang


def _cells(
    task: TaskOut, tz: ZoneInfo, lang: str = "ru", as_text: bool = True, score: int | None = None
) -> list[Any]:
    labels = LABELS[lang]

    def when(value: dt.datetime | None) -> Any:
        if value is None:
            return "" if as_text else None
        local = value.astimezone(tz)
        # openpyxl writes naive datetimes as date cells; the zone is the company's.
        return local.strftime("%Y-%m-%d %H:%M") if as_text else local.replace(tzinfo=None)

    def label(group: str, code: str) -> str:
        return labels[group].get(code, code)

    return [
        task.number,
        task.title,
        label("template", task.template),
        label("status", task.status),
        label("priority", task.priority),
        task.counterparty.name if task.counterparty else "",
        task.site.name if task.site else "",
        task.group.name if task.group else "",
        task.assignee.full_name if task.assignee else "",
        when(task.created_at),
        when(task.accepted_at),
        when(task.completed_at),
        when(task.due_resolution_at),
        score if score is not None else ("" if as_text else None),
        labels["yes"][""] if task.overdue else "",
    ]


async def _all_tasks(actor: Actor, f: TaskFilter) -> list[TaskOut]:
    """Every task the filter matches (page by page), up to EXPORT_LIMIT."""
    result: list[TaskOut] = []
    cursor = f.cursor
    while len(result) < EXPORT_LIMIT:
        page = await tasks.list_tasks(actor, msgspec.structs.replace(f, limit=200, cursor=cursor))
        result.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = int(page.next_cursor)
    return result[:EXPORT_LIMIT]


async def _scores(found: list[TaskOut]) -> dict[int, int]:
    """CSAT scores of the exported tasks: one query per chunk of ids, on task_ratings'
    unique task index (the list itself stays one query per page)."""
    ids = [task.id for task in found]
    scores: dict[int, int] = {}
    for start in range(0, len(ids), 500):
        rows = await TaskRating.select(TaskRating.task, TaskRating.score).where(
            TaskRating.task.is_in(ids[start : start + 500])
        )
        scores.update({row["task"]: row["score"] for row in rows})
    return scores


async def export_csv(actor: Actor, f: TaskFilter, tz_name: str, lang: str = "ru") -> bytes:
    tz = ZoneInfo(tz_name)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([title for _, title in COLUMNS[lang]])
    found = await _all_tasks(actor, f)
    scores = await _scores(found)
    for task in found:
        writer.writerow(_cells(task, tz, lang, score=scores.get(task.id)))
    # The BOM makes Excel read the Cyrillic as UTF-8.
    return ("\ufeff" + out.getvalue()).encode("utf-8")


async def export_xlsx(actor: Actor, f: TaskFilter, tz_name: str, lang: str = "ru") -> bytes:
    from openpyxl import Workbook  # loaded by the first export, not at start (~45 ms, 8 MB)

    tz = ZoneInfo(tz_name)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Задачи" if lang == "ru" else "Tasks"
    sheet.append([title for _, title in COLUMNS[lang]])
    date_columns = [i + 1 for i, (name, _) in enumerate(COLUMNS[lang]) if name.endswith("_at")]
    found = await _all_tasks(actor, f)
    scores = await _scores(found)
    for task in found:
        sheet.append(_cells(task, tz, lang, as_text=False, score=scores.get(task.id)))
    for col in date_columns:
        for (cell,) in sheet.iter_rows(min_row=2, min_col=col, max_col=col):
            cell.number_format = DATE_FORMAT
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
