"""Admin side of SLA: calendars, rules, automations, and the escalations list."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server import db
from server.accounts.tables import Group, User
from server.clients.tables import Counterparty
from server.lib.errors import Conflict, InvalidInput, NotFound
from server.sla.calendar import CalendarError, parse_intervals
from server.sla.schemas import (
    AutomationOut,
    AutomationPatch,
    CalendarDayIn,
    CalendarIn,
    CalendarOut,
    FiredOut,
    RuleIn,
    RuleOut,
)
from server.sla.service import AUTOMATIONS
from server.sla.tables import Automation, Calendar, CalendarDay, Fired, Rule
from server.tasks.tables import Task, Template

# Defaults of the support-desk configuration; the migration seeds the same values.
DEFAULT_ENABLED = {
    "remote_support": set(AUTOMATIONS),
    "field_visit": {"unaccepted_notify", "done_autocomplete"},
}


def _check_hours(hours: list[list[str]], where: str) -> None:
    try:
        parse_intervals(hours)
    except CalendarError as exc:
        raise InvalidInput("sla.error", where=where, exc=exc) from exc


async def create_calendar(data: CalendarIn) -> CalendarOut:
    try:
        ZoneInfo(data.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput("sla.unknown_timezone_e_g", timezone=data.timezone) from exc
    for key, hours in data.week.items():
        if key not in {str(d) for d in range(7)}:
            raise InvalidInput("sla.week_keys_weekdays_monday", key=key)
        _check_hours(hours, f"week[{key}]")
    async with db.transaction():
        if await Calendar.exists().where(Calendar.name == data.name):
            raise Conflict("sla.calendar_named_already_exists", data_name=data.name)
        row = Calendar(name=data.name, timezone=data.timezone, week=data.week)
        await row.save()
    return await get_calendar(row.id)


async def get_calendar(calendar_id: int) -> CalendarOut:
    row = await Calendar.select().where(Calendar.id == calendar_id).first().output(load_json=True)
    if row is None:
        raise NotFound("sla.calendar_not_found", calendar_id=calendar_id)
    days = (
        await CalendarDay.select().where(CalendarDay.calendar == calendar_id).output(load_json=True)
    )
    return CalendarOut(
        id=row["id"],
        name=row["name"],
        timezone=row["timezone"],
        week=row["week"] or {},
        days={d["day"].isoformat(): d["hours"] or [] for d in days},
    )


async def list_calendars() -> list[CalendarOut]:
    return [await get_calendar(r["id"]) for r in await Calendar.select(Calendar.id)]


async def set_calendar_day(calendar_id: int, data: CalendarDayIn) -> CalendarOut:
    _check_hours(data.hours, str(data.day))
    async with db.transaction():
        await get_calendar(calendar_id)
        await CalendarDay.delete().where(
            (CalendarDay.calendar == calendar_id) & (CalendarDay.day == data.day)
        )
        await CalendarDay.insert(CalendarDay(calendar=calendar_id, day=data.day, hours=data.hours))
    return await get_calendar(calendar_id)


def _rule_out(r: dict[str, Any]) -> RuleOut:
    return RuleOut(
        id=r["id"],
        name=r["name"],
        position=r["position"],
        active=r["active"],
        template=r["template.code"],
        priority=r["priority"],
        counterparty_category=r["counterparty_category"],
        counterparty_id=r["counterparty"],
        calendar_id=r["calendar"],
        reaction_minutes=r["reaction_minutes"],
        resolution_minutes=r["resolution_minutes"],
    )


async def list_rules() -> list[RuleOut]:
    rows = (
        await Rule.select(*Rule.all_columns(), Rule.template.code)
        .order_by(Rule.position)
        .order_by(Rule.id)
    )
    return [_rule_out(r) for r in rows]


async def create_rule(data: RuleIn) -> RuleOut:
    if data.reaction_minutes is None and data.resolution_minutes is None:
        raise InvalidInput("sla.rule_needs_reaction_minutes")
    async with db.transaction():
        template_id = None
        if data.template is not None:
            t = await Template.select(Template.id).where(Template.code == data.template).first()
            if t is None:
                raise InvalidInput("sla.template_no_such_template", template=data.template)
            template_id = t["id"]
        if data.counterparty_id is not None and not await Counterparty.exists().where(
            Counterparty.id == data.counterparty_id
        ):
            raise InvalidInput("sla.counterparty_id_no_such", counterparty_id=data.counterparty_id)
        if data.calendar_id is not None and not await Calendar.exists().where(
            Calendar.id == data.calendar_id
        ):
            raise InvalidInput("sla.calendar_id_no_such", calendar_id=data.calendar_id)
        row = Rule(
            name=data.name,
            position=data.position,
            active=data.active,
            template=template_id,
            priority=data.priority,
            counterparty_category=(
                data.counterparty_category.strip().lower() if data.counterparty_category else None
            ),
            counterparty=data.counterparty_id,
            calendar=data.calendar_id,
            reaction_minutes=data.reaction_minutes,
            resolution_minutes=data.resolution_minutes,
        )
        await row.save()
    return next(r for r in await list_rules() if r.id == row.id)


async def set_rule_active(rule_id: int, active: bool) -> RuleOut:
    async with db.transaction():
        updated = (
            await Rule.update({Rule.active: active}).where(Rule.id == rule_id).returning(Rule.id)
        )
    if not updated:
        raise NotFound("sla.sla_rule_not_found", rule_id=rule_id)
    return next(r for r in await list_rules() if r.id == rule_id)


async def list_automations(template: str | None = None) -> list[AutomationOut]:
    query = Automation.select(*Automation.all_columns(), Automation.template.code).order_by(
        Automation.id
    )
    if template:
        query = query.where(Automation.template.code == template)
    return [
        AutomationOut(
            id=r["id"],
            template=r["template.code"],
            kind=r["kind"],
            description=AUTOMATIONS[r["kind"]][1],
            enabled=r["enabled"],
            minutes=r["minutes"],
            notify_user_id=r["notify_user"],
            notify_group_id=r["notify_group"],
        )
        for r in await query
    ]


async def update_automation(automation_id: int, data: AutomationPatch) -> AutomationOut:
    values: dict[Any, Any] = {}
    async with db.transaction():
        row = await Automation.select().where(Automation.id == automation_id).first()
        if row is None:
            raise NotFound("sla.automation_not_found", automation_id=automation_id)
        if data.enabled is not None:
            values[Automation.enabled] = data.enabled
        if data.minutes is not None:
            if AUTOMATIONS[row["kind"]][0] is None:
                raise InvalidInput("sla.reacts_replies_no_timer", kind=row["kind"])
            values[Automation.minutes] = data.minutes
        if data.notify_user_id is not None:
            if not await User.exists().where(User.id == data.notify_user_id):
                raise InvalidInput("sla.notify_user_id_no", notify_user_id=data.notify_user_id)
            values[Automation.notify_user] = data.notify_user_id
        if data.notify_group_id is not None:
            if not await Group.exists().where(Group.id == data.notify_group_id):
                raise InvalidInput("sla.notify_group_id_no", notify_group_id=data.notify_group_id)
            values[Automation.notify_group] = data.notify_group_id
        if values:
            await Automation.update(values).where(Automation.id == automation_id)
    return next(a for a in await list_automations() if a.id == automation_id)


async def restore_default_automations() -> None:
    """Every template's automations back to the support-desk defaults."""
    async with db.transaction():
        templates = await Template.select(Template.id, Template.code)
        await Automation.delete(force=True)
        await Automation.insert(
            *[
                Automation(
                    template=t["id"],
                    kind=kind,
                    enabled=kind in DEFAULT_ENABLED.get(t["code"], {"unaccepted_notify"}),
                    minutes=minutes,
                )
                for t in templates
                for kind, (minutes, _) in AUTOMATIONS.items()
            ]
        )


async def list_fired(since: dt.datetime | None, limit: int = 200) -> list[FiredOut]:
    """The manager's view of escalations (newest first)."""
    query = (
        Fired.select(*Fired.all_columns(), Fired.task.number, Fired.task.title)
        .order_by(Fired.fired_at, ascending=False)
        .order_by(Fired.id, ascending=False)
        .limit(limit)
        .output(load_json=True)
    )
    if since is not None:
        query = query.where(Fired.fired_at >= since)
    return [
        FiredOut(
            task_id=r["task"],
            task_number=r["task.number"] or r["task"],
            title=r["task.title"],
            kind=r["kind"],
            fired_at=r["fired_at"],
            data=r["data"] or {},
        )
        for r in await query
    ]


async def task_exists(task_id: int) -> None:
    if not await Task.exists().where(Task.id == task_id):
        raise NotFound("sla.task_not_found", task_id=task_id)
