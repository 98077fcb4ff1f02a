"""SLA: targets at creation, the paused clock, and the R10 automations sweep.

The sweep is called every minute (arq cron, or the in-process loop of the demo). It asks
the database what is due — no timers in memory — and acts through the task services.
Each escalation is recorded in sla_fired under a unique (task, kind, occurrence) key in
the same transaction as its action, so it fires once per occurrence however many
workers sweep at once, and a restart or a slow run repeats nothing. Every firing says in
the task's history why (`reason` in the event's data).
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import msgspec
from piccolo.query.functions import Coalesce

from server import db
from server.accounts.tables import Membership, User
from server.lib import clock, events
from server.lib.errors import Conflict
from server.lib.logs import get_logger
from server.sla.calendar import (
    WorkCalendar,
    add_working_minutes,
    parse_intervals,
    working_minutes_between,
)
from server.sla.tables import Automation, Calendar, CalendarDay, Fired, Rule
from server.tasks import service as tasks
from server.tasks import transitions
from server.tasks.events import AutomationSignalled
from server.tasks.statuses import PAUSING, Channel
from server.tasks.tables import Task, TaskEvent

log = get_logger("naryad.sla")

# kind -> (default minutes, what it does); defaults from the support-desk configuration
AUTOMATIONS: dict[str, tuple[int | None, str]] = {
    "unaccepted_notify": (30, "not accepted in N minutes: notify the manager"),
    "no_reply_release": (
        15,
        "accepted, no answer to the requester contact in N minutes (a public reply, a phone "
        "comment or an arrival on site answers): back to the queue",
    ),
    "public_reply_waiting": (None, "a public reply sets waiting_client"),
    "client_reply_resume": (None, "the client's reply sets in_progress"),
    "in_progress_remind": (120, "N minutes in in_progress: remind the assignee"),
    "in_progress_notify": (180, "N minutes in in_progress: notify the manager"),
    "done_autocomplete": (
        3 * 24 * 60,
        "done but not completed in N minutes: complete; a task waiting for its checker is "
        "never completed by a timer (R8): notify the manager instead",
    ),
}


class SweepReport(msgspec.Struct):
    fired: dict[str, int]
    resumed: int


# --- calendars and targets ---------------------------------------------------------------


# A calendar and its exception days in one statement (PostgreSQL): every create whose rule
# has a calendar reads it.
_CALENDAR_SQL = (
    "SELECT c.timezone, c.week, (SELECT json_agg(json_build_array(d.day, d.hours)) "
    "FROM sla_calendar_days d WHERE d.calendar = c.id) AS days "
    "FROM sla_calendars c WHERE c.id = {}"
)


def _json(value: Any) -> Any:
    """json columns arrive from raw SQL on PostgreSQL as text."""
    return json.loads(value) if isinstance(value, str) else value


def _calendar_of(timezone: str, week: Any, days: Any) -> WorkCalendar:
    """A calendar from _CALENDAR_SQL's columns (JSON as raw SQL returns it)."""
    week, days = _json(week), _json(days)
    return WorkCalendar(
        timezone=timezone,
        week={int(k): parse_intervals(v) for k, v in (week or {}).items()},
        days={dt.date.fromisoformat(d): parse_intervals(h or []) for d, h in days or []},
    )


async def load_calendar(calendar_id: int | None) -> WorkCalendar | None:
    if calendar_id is None:
        return None
    if not db.is_sqlite():
        rows = await db.fetch_rows(_CALENDAR_SQL, calendar_id)
        if not rows:
            return None
        return _calendar_of(rows[0]["timezone"], rows[0]["week"], rows[0]["days"])
    row = await Calendar.select().where(Calendar.id == calendar_id).first().output(load_json=True)
    if row is None:
        return None
    found = (
        await CalendarDay.select().where(CalendarDay.calendar == calendar_id).output(load_json=True)
    )
    return WorkCalendar(
        timezone=row["timezone"],
        week={int(k): parse_intervals(v) for k, v in (row["week"] or {}).items()},
        days={d["day"]: parse_intervals(d["hours"] or []) for d in found},
    )


# The first active rule (by position) whose every set condition the task meets: a
# condition left empty (NULL) matches anything; a category condition never matches a task
# without a counterparty, nor one whose counterparty has no category.
_MATCHING_RULE_SQL = (
    "SELECT r.id, r.position, r.active, r.name, r.template, r.priority, "
    "r.counterparty_category, r.counterparty, r.calendar, r.reaction_minutes, "
    "r.resolution_minutes FROM sla_rules r "
    "WHERE r.active AND (r.template IS NULL OR r.template = {}) "
    "AND (r.priority IS NULL OR r.priority = {}) "
    "AND (r.counterparty IS NULL OR r.counterparty = {}) "
    "AND (r.counterparty_category IS NULL OR r.counterparty_category = "
    "(SELECT c.category FROM counterparties c WHERE c.id = {})) "
    "ORDER BY r.position, r.id LIMIT 1"
)


# The same, with its calendar (_CALENDAR_SQL's columns) when it has one.
_MATCHING_RULE_CALENDAR_SQL = f"""
SELECT r.*, c.timezone AS "calendar.timezone", c.week AS "calendar.week",
    (SELECT json_agg(json_build_array(d.day, d.hours)) FROM sla_calendar_days d
        WHERE d.calendar = c.id) AS "calendar.days"
FROM ({_MATCHING_RULE_SQL}) r
LEFT JOIN sla_calendars c ON c.id = r.calendar
"""


async def matching_rule(
    template_id: int, priority: str, counterparty_id: int | None
) -> dict[str, Any] | None:
    """The first active rule (by position) whose every set condition the task meets."""
    rows = await db.fetch_rows(
        _MATCHING_RULE_SQL, template_id, priority, counterparty_id, counterparty_id
    )
    return dict(rows[0]) if rows else None


# Another domain may name a task's rule before the list is consulted: a service contract
# carries its own SLA (server/contracts registers here; sla imports nothing of it).
RuleSource = Callable[[int | None, dt.datetime], Awaitable[int | None]]
_rule_sources: list[RuleSource] = []


def register_rule_source(source: RuleSource) -> RuleSource:
    """`source(counterparty_id, at)` -> a rule id that wins over the matching list, or None."""
    if source not in _rule_sources:
        _rule_sources.append(source)
    return source


async def _sourced_rule(counterparty_id: int | None, at: dt.datetime) -> dict[str, Any] | None:
    for source in _rule_sources:
        rule_id = await source(counterparty_id, at)
        if rule_id is not None:
            row: dict[str, Any] | None = await Rule.select().where(Rule.id == rule_id).first()
            if row is not None:
                return row
    return None


async def set_targets(
    task_id: int, template_id: int, priority: str, counterparty_id: int | None, now: dt.datetime
) -> None:
    """Reaction and resolution targets at creation (inside the creating transaction)."""
    rule = await _sourced_rule(counterparty_id, now)
    if rule is None and not db.is_sqlite():
        # The matching rule with its calendar in one statement (issue 21).
        rows = await db.fetch_rows(
            _MATCHING_RULE_CALENDAR_SQL, template_id, priority, counterparty_id, counterparty_id
        )
        rule = dict(rows[0]) if rows else None
    elif rule is None:
        rule = await matching_rule(template_id, priority, counterparty_id)
    if rule is None:
        # No targets; the task was written with status_changed_at = `now` (the creation's
        # time, which TaskCreated carries here), so there is nothing to write.
        return
    if rule.get("calendar.timezone") is not None:
        cal: WorkCalendar | None = _calendar_of(
            rule["calendar.timezone"], rule["calendar.week"], rule["calendar.days"]
        )
    else:
        cal = await load_calendar(rule["calendar"])
    values: dict[Any, Any] = {
        Task.status_changed_at: now,
        Task.sla_rule_id: rule["id"],
        Task.sla_calendar_id: rule["calendar"],
    }
    if rule["reaction_minutes"] is not None:
        values[Task.due_reaction_at] = add_working_minutes(now, rule["reaction_minutes"], cal)
    if rule["resolution_minutes"] is not None:
        values[Task.due_resolution_at] = add_working_minutes(now, rule["resolution_minutes"], cal)
    if db.is_sqlite():
        await Task.update(values).where(Task.id == task_id)
        return
    # Written SQL on PostgreSQL: the same UPDATE without Piccolo's query building.
    sets = ", ".join(f'"{column._meta.db_column_name}" = {{}}' for column in values)
    await db.fetch_rows(f"UPDATE tasks SET {sets} WHERE id = {{}}", *values.values(), task_id)


async def on_status_changed(task_id: int, old: str, new: str, now: dt.datetime) -> None:
    """Pause the SLA clock in postponed / waiting_client; end the reaction at accept.
    Call inside the transition's transaction. An accept from a running clock ends the
    reaction in the transition's own UPDATE (the stamp registered in subscribers.py): then
    there is nothing left to do here, and no statement is run."""
    if old not in PAUSING and new not in PAUSING:
        return
    row = (
        await Task.select(
            Task.reacted_at,
            Task.sla_paused_at,
            Task.due_reaction_at,
            Task.due_resolution_at,
            Task.sla_calendar_id,
        )
        .where(Task.id == task_id)
        .first()
    )
    if row is None:
        return
    values: dict[Any, Any] = {}
    if new == "accepted" and row["reacted_at"] is None:
        values[Task.reacted_at] = now
    if new in PAUSING and old not in PAUSING:
        values[Task.sla_paused_at] = now
    elif old in PAUSING and new not in PAUSING and row["sla_paused_at"] is not None:
        paused_at = row["sla_paused_at"]
        cal = await load_calendar(row["sla_calendar_id"])
        values[Task.sla_paused_at] = None
        for column, key in (
            (Task.due_reaction_at, "due_reaction_at"),
            (Task.due_resolution_at, "due_resolution_at"),
        ):
            due = row[key]
            if due is None or due <= paused_at:
                continue  # already late when paused: it stays late
            if key == "due_reaction_at" and row["reacted_at"] is not None:
                continue
            left = working_minutes_between(paused_at, due, cal)
            values[column] = add_working_minutes(now, left, cal)
    if values:
        await Task.update(values).where(Task.id == task_id)


async def on_client_contact(task_id: int, now: dt.datetime) -> None:
    """Staff answered the client — a public reply, a call noted as a phone comment, or an
    arrival on site: the reaction target is met; R10 'no reply' is satisfied."""
    await Task.update(
        {Task.replied_at: now, Task.reacted_at: Coalesce(Task.reacted_at, now)}
    ).where(Task.id == task_id)


async def automation_enabled(template_id: int, kind: str) -> bool:
    return await Automation.exists().where(
        (Automation.template == template_id)
        & (Automation.kind == kind)
        & Automation.enabled.eq(True)
    )


# --- the sweep ----------------------------------------------------------------------------


def _occurrence(moment: dt.datetime | None) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S.%f") if moment else "-"


async def _fire(
    task_id: int,
    kind: str,
    occurrence: str,
    now: dt.datetime,
    data: dict[str, Any],
    action: Callable[[], Awaitable[None]],
) -> bool:
    """Record the firing and act in one transaction; what the action's events send
    leaves after the commit."""
    try:
        async with db.transaction():
            await Fired.insert(
                Fired(task=task_id, kind=kind, occurrence=occurrence, fired_at=now, data=data)
            )
            await action()
    except (asyncpg.UniqueViolationError, sqlite3.IntegrityError):
        return False  # another sweep fired it first
    except Conflict:
        return False  # the task changed meanwhile; the next sweep looks again
    log.info("sla fired", task=task_id, kind=kind, **data)
    return True


async def manager_ids(automation: dict[str, Any]) -> list[int]:
    """Who 'the manager' is for an automation: its user, its group, else admins and office."""
    if automation["notify_user"] is not None:
        return [automation["notify_user"]]
    if automation["notify_group"] is not None:
        rows = await Membership.select(Membership.user).where(
            Membership.group == automation["notify_group"]
        )
        return sorted(r["user"] for r in rows)
    rows = await User.select(User.id, User.roles).where(User.active.eq(True)).output(load_json=True)
    return sorted(r["id"] for r in rows if {"admin", "office"} & set(r["roles"] or []))


def _reason(kind: str, minutes: int, checked: bool) -> str:
    """Why an automation fired, for the task's history (R12)."""
    if kind == "done_autocomplete" and checked:
        return (
            f"waiting for its check for {minutes} min since done; a task that needs a check "
            "is never completed by a timer (R8): the checkers' manager is told"
        )
    return {
        "unaccepted_notify": f"not accepted within {minutes} min in the queue: the manager is told",
        "in_progress_remind": f"in progress for {minutes} min: the assignee is reminded",
        "in_progress_notify": f"in progress for {minutes} min: the manager is told",
    }.get(kind, "")


def _action(
    kind: str, task_id: int, minutes: int, data: dict[str, Any], now: dt.datetime
) -> Callable[[], Awaitable[None]]:
    """What an automation does to one task, through the task services. `data["checked"]`:
    the task waits for a checker (done_autocomplete escalates it instead, R8)."""

    async def signal(event_kind: str) -> None:
        event = {"automation": kind, **data}
        await tasks.record_event(task_id, None, event_kind, Channel.SYSTEM, event, at=now)
        await events.emit(
            AutomationSignalled(
                task_id=task_id,
                kind=event_kind,
                automation=kind,
                notify=list(data.get("notify") or []),
                minutes=minutes,
                at=now,
            )
        )

    async def escalate() -> None:
        await signal("escalated")

    async def remind() -> None:
        await signal("reminded")

    async def release() -> None:
        await transitions.release_unanswered(task_id, minutes)

    async def complete() -> None:
        if data.get("checked"):
            await escalate()
        else:
            await transitions.autocomplete_task(task_id, minutes)

    return {
        "unaccepted_notify": escalate,
        "in_progress_notify": escalate,
        "in_progress_remind": remind,
        "no_reply_release": release,
        "done_autocomplete": complete,
    }[kind]


async def _awaiting_first_answer(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """R10's 15 minutes: of accepted tasks with a requester contact, those nobody answered
    since acceptance. A public reply, a phone comment or an arrival on site answers
    (replied_at); a task its holder created for themselves (they are already talking to the
    client), or one postponed since acceptance (the holder agreed a time with the client,
    and it may just have come back), is never sent back to the queue."""
    rows = [
        r
        for r in rows
        if (r["replied_at"] is None or r["replied_at"] < r["accepted_at"])
        and r["created_by"] != r["assignee"]
    ]
    if not rows:
        return rows
    postponed: dict[int, list[dt.datetime]] = {}
    for e in await TaskEvent.select(TaskEvent.task, TaskEvent.at).where(
        TaskEvent.task.is_in([r["id"] for r in rows]) & (TaskEvent.kind == "postponed")
    ):
        postponed.setdefault(e["task"], []).append(e["at"])
    return [r for r in rows if all(at < r["accepted_at"] for at in postponed.get(r["id"], []))]


async def run_sla_sweep(now: dt.datetime | None = None) -> SweepReport:
    """Fire every due R10 automation once, and bring back due postponed tasks (R11)."""
    now = now or clock.now()
    fired = dict.fromkeys(AUTOMATIONS, 0)
    automations = await Automation.select().where(
        Automation.enabled.eq(True) & Automation.minutes.is_not_null()
    )
    for a in automations:
        threshold = now - dt.timedelta(minutes=a["minutes"])
        kind = a["kind"]
        base = Task.select(
            Task.id,
            Task.assignee,
            Task.created_by,
            Task.status_changed_at,
            Task.accepted_at,
            Task.replied_at,
        ).where(Task.template == a["template"])
        if kind == "unaccepted_notify":
            rows = await base.where((Task.status == "new") & (Task.status_changed_at <= threshold))
        elif kind == "no_reply_release":
            rows = await _awaiting_first_answer(
                await base.where(
                    Task.status.is_in(["accepted", "in_progress"])
                    & (Task.accepted_at <= threshold)
                    & Task.requester_contact.is_not_null()
                )
            )
        elif kind in ("in_progress_remind", "in_progress_notify"):
            rows = await base.where(
                (Task.status == "in_progress") & (Task.status_changed_at <= threshold)
            )
        elif kind == "done_autocomplete":
            rows = await base.where((Task.status == "done") & (Task.status_changed_at <= threshold))
        else:
            continue
        for row in rows:
            since = row["accepted_at"] if kind == "no_reply_release" else row["status_changed_at"]
            data: dict[str, Any] = {"minutes": a["minutes"]}
            checked = kind == "done_autocomplete" and await transitions.needs_check(row["id"])
            if checked:
                data["checked"] = True
            if kind in ("unaccepted_notify", "in_progress_notify") or checked:
                data["notify"] = await manager_ids(a)
            elif kind == "in_progress_remind":
                data["notify"] = [row["assignee"]] if row["assignee"] else []
            if reason := _reason(kind, a["minutes"], checked):
                data["reason"] = reason
            action = _action(kind, row["id"], a["minutes"], data, now)
            if await _fire(row["id"], kind, _occurrence(since), now, data, action):
                fired[kind] += 1
    resumed = await transitions.resume_due_postponed(now)
    return SweepReport(fired={k: v for k, v in fired.items() if v}, resumed=len(resumed))
