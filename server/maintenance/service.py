"""Planned maintenance (issue 16): plans, their occurrences, and the sweep that creates each
occurrence's task `lead_days` ahead — exactly once, however many sweeps run at once.

Tasks are created through `server.tasks.service.create_task`, so R1–R4 hold as for any
task. R3: a plan is how the office asks for these tasks, so its template must take tasks
through the UI (checked when the plan is written, and again by create_task for each
occurrence); the history says the sweep made it ("planned", channel system). R2: the plan's
title names its counterparty where the template asks for it, and each task's title is the
plan's title with the visit's date. A planned task is due at the end of its visit's day:
the template's SLA target, counted from a creation `lead_days` early, would make it
overdue before its date.

Exactly once: the occurrence row, unique per (plan, occurs_on), is inserted first in the
transaction that creates the task; a concurrent sweep's insert waits for it and fails, and
its transaction rolls back with nothing written.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
from dateutil.rrule import rrule

from server import db
from server.accounts.tables import Group
from server.assets import service as assets
from server.clients import service as clients
from server.clients.tables import Counterparty, Site
from server.lib import clock
from server.lib.actor import Actor
from server.lib.errors import DomainError, InvalidInput, NotFound, RuleViolation
from server.lib.logs import get_logger
from server.maintenance import checklists
from server.maintenance.recurrence import (
    Occurrence,
    RuleError,
    first_from,
    next_after,
    parse_rule,
    schedule,
    shift,
)
from server.maintenance.schemas import (
    ChecklistItemIn,
    EquipmentRef,
    OccurrenceOut,
    Occurrences,
    PlanIn,
    PlanOut,
    PlanPatch,
    Ref,
    SweepOut,
    UserRef,
)
from server.maintenance.tables import MaintenanceOccurrence, MaintenancePlan
from server.settings import current as current_settings
from server.sla import service as sla
from server.sla.tables import Calendar
from server.tasks import service as tasks
from server.tasks.schemas import TaskIn, TemplateOut
from server.tasks.statuses import Channel
from server.tasks.tables import Task

log = get_logger("naryad.maintenance")

RULE_CHECK_TIMEOUT_S = 2.0
MAX_OCCURRENCE_WINDOW = dt.timedelta(days=3 * 366)
# One sweep creates at most this many tasks per plan (a long outage catches up over sweeps).
MAX_PER_PLAN = 100
SWEEP_BATCH = 500
PLANNED_CHANNEL = Channel.UI


def _pick(changes: dict[str, Any], field: str, current: Any) -> Any:
    """A PATCH's value for `field`, or the current one when the PATCH leaves it out."""
    return changes.get(field, current)


def zone() -> ZoneInfo:
    return ZoneInfo(current_settings().timezone)


def local_today(now: dt.datetime | None = None) -> dt.date:
    return (now or clock.now()).astimezone(zone()).date()


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


# --- reading ----------------------------------------------------------------------------------

_COLUMNS = (
    *MaintenancePlan.all_columns(),
    MaintenancePlan.counterparty.name,
    MaintenancePlan.site.name,
    MaintenancePlan.template.code,
    MaintenancePlan.assignee.full_name,
    MaintenancePlan.group.name,
    MaintenancePlan.equipment.model,
    MaintenancePlan.equipment.serial,
    MaintenancePlan.equipment.kind.code,  # type: ignore[union-attr]
)


def _out(r: dict[str, Any]) -> PlanOut:
    return PlanOut(
        id=r["id"],
        counterparty=Ref(r["counterparty"], r["counterparty.name"]),
        site=Ref(r["site"], r["site.name"]) if r["site"] else None,
        equipment=EquipmentRef(
            r["equipment"],
            r["equipment.kind.code"],
            r["equipment.model"],
            r["equipment.serial"],
        )
        if r["equipment"]
        else None,
        template=r["template.code"],
        title=r["title"],
        description=r["description"],
        rrule=r["rrule"],
        starts_on=r["starts_on"],
        time_of_day=r["time_of_day"],
        lead_days=r["lead_days"],
        non_working_days=r["non_working_days"],
        calendar_id=r["calendar"],
        assignee=UserRef(r["assignee"], r["assignee.full_name"]) if r["assignee"] else None,
        group=Ref(r["group"], r["group.name"]) if r["group"] else None,
        priority=r["priority"],
        checklist=msgspec.convert(r["checklist"] or [], list[ChecklistItemIn]),
        active=bool(r["active"]),
        next_occurrence_on=r["next_occurrence_on"],
        next_create_on=r["next_create_on"],
        last_error=r["last_error"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


async def _row(plan_id: int) -> dict[str, Any]:
    row = (
        await MaintenancePlan.select(*_COLUMNS)
        .where(MaintenancePlan.id == plan_id)
        .first()
        .output(load_json=True)
    )
    if row is None:
        raise NotFound("maintenance.maintenance_plan_not_found", plan_id=plan_id)
    return dict(row)


async def get_plan(plan_id: int) -> PlanOut:
    return _out(await _row(plan_id))


async def list_plans(
    counterparty_id: int | None = None,
    equipment_id: int | None = None,
    assignee_id: int | None = None,
    active: bool | None = None,
) -> list[PlanOut]:
    query = MaintenancePlan.select(*_COLUMNS).order_by(MaintenancePlan.id).output(load_json=True)
    for column, value in (
        (MaintenancePlan.counterparty, counterparty_id),
        (MaintenancePlan.equipment, equipment_id),
        (MaintenancePlan.assignee, assignee_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if active is not None:
        query = query.where(MaintenancePlan.active == active)
    return [_out(r) for r in await query]


# --- writing ----------------------------------------------------------------------------------


class _Plan(msgspec.Struct, kw_only=True):
    """A plan's fields as they are checked and stored."""

    counterparty_id: int
    template: str
    title: str
    rrule: str
    starts_on: dt.date
    site_id: int | None
    equipment_id: int | None
    description: str
    time_of_day: str
    lead_days: int
    non_working_days: str
    calendar_id: int | None
    assignee_id: int | None
    group_id: int | None
    priority: str
    checklist: list[ChecklistItemIn]
    active: bool


async def checked_rule(text: str, starts_on: dt.date, time_of_day: str) -> rrule:
    """parse_rule, off the event loop and with a time limit (a rule matching almost never
    makes dateutil search for years)."""
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(parse_rule, text, starts_on, time_of_day), RULE_CHECK_TIMEOUT_S
        )
    except RuleError as exc:
        raise InvalidInput("maintenance.rrule_rfc_e_g", exc=exc) from exc
    except TimeoutError as exc:
        raise InvalidInput("maintenance.rrule_gives_no_date") from exc


async def _check(plan: _Plan) -> tuple[_Plan, TemplateOut]:
    """Every rule a plan must meet, each error naming its field; R1–R4 as its tasks will."""
    template = await tasks.get_template(plan.template)  # R1
    tasks.require_channel(template, PLANNED_CHANNEL)  # R3
    title = " ".join(plan.title.split())
    if not title:
        raise InvalidInput("maintenance.title_must_not_blank")
    if not await Counterparty.exists().where(Counterparty.id == plan.counterparty_id):
        raise InvalidInput(
            "maintenance.counterparty_id_no_counterparty", counterparty_id=plan.counterparty_id
        )
    if template.counterparty_in_title and not await clients.title_names_counterparty(
        title, plan.counterparty_id
    ):
        cp = await clients.get_counterparty(plan.counterparty_id)
        raise RuleViolation(
            "r2.plan_title_lacks_counterparty",
            template=template.code,
            cp_name=cp.name,
            title=title,
            rule="R2",
        )
    if plan.site_id is not None:
        site = await Site.select(Site.counterparty).where(Site.id == plan.site_id).first()
        if site is None or site["counterparty"] != plan.counterparty_id:
            raise InvalidInput("maintenance.site_id_site_not", site_id=plan.site_id)
    if plan.equipment_id is not None:
        try:
            await assets.require_linkable(plan.counterparty_id, [plan.equipment_id])
        except InvalidInput as exc:
            raise InvalidInput(exc.code, **{**exc.params, "field": "equipment_id"}) from exc
    if plan.group_id is not None and not await Group.exists().where(Group.id == plan.group_id):
        raise InvalidInput("maintenance.group_id_no_group", group_id=plan.group_id)
    if plan.assignee_id is not None:
        await tasks.require_may_work(  # R4/R7: whom the task may be given to
            plan.assignee_id, template, plan.group_id or template.default_group_id, "assignee_id"
        )
    if plan.non_working_days != "keep" and plan.calendar_id is None:
        raise InvalidInput(
            "maintenance.calendar_id_non_working", non_working_days=plan.non_working_days
        )
    if plan.calendar_id is not None and not await Calendar.exists().where(
        Calendar.id == plan.calendar_id
    ):
        raise InvalidInput("maintenance.calendar_id_no_sla", calendar_id=plan.calendar_id)
    await checked_rule(plan.rrule, plan.starts_on, plan.time_of_day)
    checklist = checklists.clean_checklist(plan.checklist)
    return msgspec.structs.replace(plan, title=title, checklist=checklist), template


async def working_day_test(calendar_id: int | None) -> Any:
    calendar = await sla.load_calendar(calendar_id)
    if calendar is None:
        return None
    return lambda day: bool(calendar.intervals(day))


async def _pointer(plan: _Plan, generate_from: dt.date) -> tuple[dt.date | None, dt.date | None]:
    """(next_occurrence_on, next_create_on) from `generate_from` on."""
    rule = parse_rule(plan.rrule, plan.starts_on, plan.time_of_day)
    moment = first_from(rule, generate_from)
    if moment is None:
        return None, None
    is_working = await working_day_test(plan.calendar_id)
    return moment.date(), _create_on(moment.date(), plan, is_working)


def _create_on(occurs_on: dt.date, plan: Any, is_working: Any) -> dt.date:
    scheduled = shift(occurs_on, plan.non_working_days, is_working) or occurs_on
    return scheduled - dt.timedelta(days=plan.lead_days)


def _values(plan: _Plan) -> dict[Any, Any]:
    return {
        MaintenancePlan.counterparty: plan.counterparty_id,
        MaintenancePlan.site: plan.site_id,
        MaintenancePlan.equipment: plan.equipment_id,
        MaintenancePlan.title: plan.title,
        MaintenancePlan.description: plan.description.strip(),
        MaintenancePlan.rrule: " ".join(plan.rrule.split()),
        MaintenancePlan.starts_on: plan.starts_on,
        MaintenancePlan.time_of_day: plan.time_of_day,
        MaintenancePlan.lead_days: plan.lead_days,
        MaintenancePlan.non_working_days: plan.non_working_days,
        MaintenancePlan.calendar: plan.calendar_id,
        MaintenancePlan.assignee: plan.assignee_id,
        MaintenancePlan.group: plan.group_id,
        MaintenancePlan.priority: plan.priority,
        MaintenancePlan.checklist: checklists.to_builtins(plan.checklist),
        MaintenancePlan.active: plan.active,
    }


async def create_plan(actor: Actor, data: PlanIn) -> PlanOut:
    plan, template = await _check(_Plan(**msgspec.structs.asdict(data)))
    generate_from = max(plan.starts_on, local_today())
    next_on, create_on = await _pointer(plan, generate_from)
    now = clock.now()
    async with db.transaction():
        values = _values(plan)
        row = MaintenancePlan(
            **{column._meta.name: value for column, value in values.items()},
            template=template.id,
            generate_from=generate_from,
            next_occurrence_on=next_on,
            next_create_on=create_on,
            created_by=actor.id,
            created_at=now,
            updated_at=now,
        )
        await row.save()
    return await get_plan(row.id)


_SCHEDULE_FIELDS = {
    "rrule",
    "starts_on",
    "time_of_day",
    "lead_days",
    "non_working_days",
    "calendar_id",
    "active",
}


async def update_plan(plan_id: int, patch: PlanPatch) -> PlanOut:
    current = await _row(plan_id)
    changes = {
        f: getattr(patch, f)
        for f in patch.__struct_fields__
        if not isinstance(getattr(patch, f), msgspec.UnsetType)
    }
    merged = _Plan(
        counterparty_id=current["counterparty"],
        template=_pick(changes, "template", current["template.code"]),
        title=_pick(changes, "title", current["title"]),
        rrule=_pick(changes, "rrule", current["rrule"]),
        starts_on=_pick(changes, "starts_on", _date(current["starts_on"])),
        site_id=_pick(changes, "site_id", current["site"]),
        equipment_id=_pick(changes, "equipment_id", current["equipment"]),
        description=_pick(changes, "description", current["description"]),
        time_of_day=_pick(changes, "time_of_day", current["time_of_day"]),
        lead_days=_pick(changes, "lead_days", current["lead_days"]),
        non_working_days=_pick(changes, "non_working_days", current["non_working_days"]),
        calendar_id=_pick(changes, "calendar_id", current["calendar"]),
        assignee_id=_pick(changes, "assignee_id", current["assignee"]),
        group_id=_pick(changes, "group_id", current["group"]),
        priority=_pick(changes, "priority", current["priority"]),
        checklist=_pick(
            changes, "checklist", msgspec.convert(current["checklist"] or [], list[ChecklistItemIn])
        ),
        active=_pick(changes, "active", bool(current["active"])),
    )
    plan, template = await _check(merged)
    values = _values(plan)
    values[MaintenancePlan.template] = template.id
    values[MaintenancePlan.last_error] = ""
    values[MaintenancePlan.updated_at] = clock.now()
    if _SCHEDULE_FIELDS & changes.keys():
        # Dates already created keep their tasks (the unique key); the rest follow the new
        # schedule from today on.
        generate_from = max(plan.starts_on, local_today())
        next_on, create_on = await _pointer(plan, generate_from)
        values[MaintenancePlan.generate_from] = generate_from
        values[MaintenancePlan.next_occurrence_on] = next_on
        values[MaintenancePlan.next_create_on] = create_on
    async with db.transaction():
        await MaintenancePlan.update(values).where(MaintenancePlan.id == plan_id)
    return await get_plan(plan_id)


# --- occurrences ------------------------------------------------------------------------------


async def plan_schedule(row: dict[str, Any], start: dt.date, end: dt.date) -> list[Occurrence]:
    rule = parse_rule(row["rrule"], _date(row["starts_on"]), row["time_of_day"])  # type: ignore[arg-type]
    return schedule(
        rule,
        start,
        end,
        mode=row["non_working_days"],
        is_working=await working_day_test(row["calendar"]),
        zone=zone(),
    )


async def occurrences(
    plan_id: int, date_from: dt.date | None, date_to: dt.date | None
) -> Occurrences:
    """The plan's visits whose day is in [from, to] (default: the next 90 days), with the
    task each has, or null when it was not created (yet)."""
    row = await _row(plan_id)
    start = date_from or local_today()
    end = date_to or start + dt.timedelta(days=90)
    if end < start:
        raise InvalidInput("maintenance.before_from", end=end, start=start)
    if end - start > MAX_OCCURRENCE_WINDOW:
        raise InvalidInput("maintenance.from_most_three_years")
    found = await plan_schedule(row, start - dt.timedelta(days=31), end)
    created = {
        _date(r["occurs_on"]): r["task"]
        for r in await MaintenanceOccurrence.select(
            MaintenanceOccurrence.occurs_on, MaintenanceOccurrence.task
        ).where(MaintenanceOccurrence.plan == plan_id)
    }
    return Occurrences(
        items=[
            OccurrenceOut(
                date=o.scheduled_on,
                task_id=created.get(o.occurs_on),
                occurs_on=o.occurs_on,
                starts_at=o.starts_at,
            )
            for o in found
            if start <= o.scheduled_on <= end
        ]
    )


# --- the sweep --------------------------------------------------------------------------------


def _is_duplicate(exc: BaseException) -> bool:
    return isinstance(exc, asyncpg.UniqueViolationError) or (
        isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)
    )


def _task_in(row: dict[str, Any], occurrence: Occurrence) -> TaskIn:
    return TaskIn(
        title=f"{row['title']} — {occurrence.scheduled_on:%d.%m.%Y}"[:500],
        template=row["template.code"],
        description=row["description"],
        counterparty_id=row["counterparty"],
        site_id=row["site"],
        assignee_id=row["assignee"],
        group_id=row["group"],
        priority=row["priority"],
        equipment_ids=[row["equipment"]] if row["equipment"] else [],
    )


async def _create_occurrence(row: dict[str, Any], occurrence: Occurrence) -> int | None:
    """The occurrence's task, created once: its id, or None if another sweep made it."""
    now = clock.now()
    try:
        async with db.transaction():
            # First, so a concurrent twin waits on this key and then fails: nothing of its
            # work survives, and nothing is created twice.
            await MaintenanceOccurrence.insert(
                MaintenanceOccurrence(
                    plan=row["id"],
                    occurs_on=occurrence.occurs_on,
                    scheduled_on=occurrence.scheduled_on,
                    created_at=now,
                )
            )
            task = await tasks.create_task(
                None,
                _task_in(row, occurrence),
                channel=PLANNED_CHANNEL,
                event_data={"maintenance_plan_id": row["id"]},
            )
            await MaintenanceOccurrence.update({MaintenanceOccurrence.task: task.id}).where(
                (MaintenanceOccurrence.plan == row["id"])
                & (MaintenanceOccurrence.occurs_on == occurrence.occurs_on)
            )
            await checklists.add_items(
                task.id, msgspec.convert(row["checklist"] or [], list[ChecklistItemIn]), "plan"
            )
            day_end = dt.datetime.combine(
                occurrence.scheduled_on + dt.timedelta(days=1), dt.time(0), zone()
            )
            await Task.update({Task.due_resolution_at: day_end}).where(Task.id == task.id)
            await tasks.record_event(
                task.id,
                None,
                "planned",
                Channel.SYSTEM,
                {
                    "maintenance_plan_id": row["id"],
                    "occurs_on": occurrence.occurs_on.isoformat(),
                    "scheduled_on": occurrence.scheduled_on.isoformat(),
                },
                at=now,
            )
    except (asyncpg.UniqueViolationError, sqlite3.IntegrityError) as exc:
        if _is_duplicate(exc):
            return None
        raise
    return task.id


async def _sweep_plan(row: dict[str, Any], today: dt.date) -> tuple[int, bool]:
    """Create the plan's due occurrences in one transaction: (tasks created, failed?).

    On PostgreSQL the plan's row is claimed first (FOR UPDATE SKIP LOCKED): a concurrent
    sweep passes over a plan another one is working on instead of queueing behind it. The
    unique occurrence key is what makes each task exactly-once; the claim only saves work.
    On SQLite the write transaction serialises sweeps anyway."""
    async with db.transaction():
        claim = "FOR UPDATE SKIP LOCKED" if not db.is_sqlite() else ""
        fresh = await MaintenancePlan.raw(
            "SELECT next_occurrence_on FROM maintenance_plans "
            f"WHERE id = {{}} AND active = {{}} AND next_create_on <= {{}} {claim}",
            row["id"],
            True,
            today,
        )
        if not fresh:
            return 0, False  # claimed by another sweep, or no longer due
        row["next_occurrence_on"] = _date(fresh[0]["next_occurrence_on"])
        return await _sweep_claimed(row, today)


async def _sweep_claimed(row: dict[str, Any], today: dt.date) -> tuple[int, bool]:
    pointer = _date(row["next_occurrence_on"])
    assert pointer is not None
    horizon = today + dt.timedelta(days=row["lead_days"])
    rule = parse_rule(row["rrule"], _date(row["starts_on"]), row["time_of_day"])  # type: ignore[arg-type]
    is_working = await working_day_test(row["calendar"])
    due = schedule(
        rule, pointer, horizon, mode=row["non_working_days"], is_working=is_working, zone=zone()
    )
    lead = dt.timedelta(days=row["lead_days"])
    done = {
        _date(r["occurs_on"])
        for r in await MaintenanceOccurrence.select(MaintenanceOccurrence.occurs_on).where(
            (MaintenanceOccurrence.plan == row["id"]) & (MaintenanceOccurrence.occurs_on >= pointer)
        )
    }
    created = 0
    new_pointer: dt.date | None = None
    for occurrence in due:
        if occurrence.scheduled_on - lead > today or created >= MAX_PER_PLAN:
            new_pointer = occurrence.occurs_on  # moved past the horizon: not due yet
            break
        if occurrence.occurs_on in done:
            continue
        try:
            if await _create_occurrence(row, occurrence) is not None:
                created += 1
        except DomainError as exc:
            # R1–R4 refused it (a template changed, an assignee left…): keep the pointer
            # here, so the office sees why and the date is created once the plan is fixed.
            await MaintenancePlan.update(
                {MaintenancePlan.last_error: f"{occurrence.scheduled_on}: {exc.detail}"}
            ).where(MaintenancePlan.id == row["id"])
            log.warning("planned task refused", plan=row["id"], error=exc.detail)
            await _move_pointer(row, occurrence.occurs_on, rule, is_working)
            return created, True
    if new_pointer is None:
        moment = next_after(rule, horizon)
        new_pointer = moment.date() if moment else None
    await _move_pointer(row, new_pointer, rule, is_working)
    return created, False


async def _move_pointer(
    row: dict[str, Any], occurs_on: dt.date | None, rule: rrule, is_working: Any
) -> None:
    """Compare-and-set from the pointer this sweep started at: a concurrent sweep that got
    further first is not moved back."""
    create_on = _create_on(occurs_on, _Lead(row), is_working) if occurs_on else None
    await MaintenancePlan.update(
        {
            MaintenancePlan.next_occurrence_on: occurs_on,
            MaintenancePlan.next_create_on: create_on,
        }
    ).where(
        (MaintenancePlan.id == row["id"])
        & (MaintenancePlan.next_occurrence_on == row["next_occurrence_on"])
    )


class _Lead:
    def __init__(self, row: dict[str, Any]) -> None:
        self.lead_days = row["lead_days"]
        self.non_working_days = row["non_working_days"]


_SWEEP_COLUMNS = (
    MaintenancePlan.id,
    MaintenancePlan.counterparty,
    MaintenancePlan.site,
    MaintenancePlan.equipment,
    MaintenancePlan.title,
    MaintenancePlan.description,
    MaintenancePlan.rrule,
    MaintenancePlan.starts_on,
    MaintenancePlan.time_of_day,
    MaintenancePlan.lead_days,
    MaintenancePlan.non_working_days,
    MaintenancePlan.calendar,
    MaintenancePlan.assignee,
    MaintenancePlan.group,
    MaintenancePlan.priority,
    MaintenancePlan.checklist,
    MaintenancePlan.next_occurrence_on,
    MaintenancePlan.template.code,
)


async def run_maintenance_sweep(now: dt.datetime | None = None) -> SweepOut:
    """Create every due occurrence's task. Safe to run from any number of workers at once."""
    today = local_today(now)
    plans = created = failed = 0
    last_id = 0
    while True:
        rows = (
            await MaintenancePlan.select(*_SWEEP_COLUMNS)
            .where(
                MaintenancePlan.active.eq(True)
                & (MaintenancePlan.next_create_on <= today)
                & (MaintenancePlan.id > last_id)
            )
            .order_by(MaintenancePlan.id)
            .limit(SWEEP_BATCH)
            .output(load_json=True)
        )
        if not rows:
            break
        for row in rows:
            plans += 1
            made, refused = await _sweep_plan(dict(row), today)
            created += made
            failed += refused
        last_id = rows[-1]["id"]
    if created or failed:
        log.info("maintenance sweep", plans=plans, created=created, failed=failed)
    return SweepOut(plans=plans, created=created, failed=failed)
