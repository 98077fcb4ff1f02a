"""SLA targets at creation as written SQL (issue 21, target 4): the first matching rule
in one query, a calendar with its exception days in one query, and no write when no rule
applies. The same answers on PostgreSQL and SQLite."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from server import db
from server.sla import admin as sla_admin
from server.sla import service as sla
from server.sla.calendar import WorkCalendar, add_working_minutes
from server.sla.schemas import CalendarDayIn, CalendarIn, RuleIn
from server.tasks.tables import Task, Template

pytestmark = pytest.mark.sqlite

MSK = ZoneInfo("Europe/Moscow")
NINE_TO_SIX = [(dt.time(9), dt.time(18))]


async def _template_id(code: str) -> int:
    row = await Template.select(Template.id).where(Template.code == code).first()
    assert row is not None
    return int(row["id"])


async def _rule(**fields: object) -> int:
    return (await sla_admin.create_rule(RuleIn(**fields))).id  # type: ignore[arg-type]


async def test_first_matching_rule_honours_every_condition(backend):
    remote = await _template_id("remote_support")
    field = await _template_id("field_visit")
    vip = await backend.counterparty("Ромашка", category="vip")
    plain = await backend.counterparty("Лютик")
    other = await backend.counterparty("Василёк", category="retail")
    await _rule(name="off", position=1, active=False, reaction_minutes=1)
    by_cp = await _rule(name="Лютик", position=2, counterparty_id=plain["id"], reaction_minutes=5)
    vip_urgent = await _rule(
        name="vip urgent",
        position=3,
        counterparty_category="vip",
        priority="urgent",
        reaction_minutes=10,
    )
    remote_rule = await _rule(
        name="remote", position=4, template="remote_support", reaction_minutes=30
    )
    anything = await _rule(name="the rest", position=5, reaction_minutes=60)

    async def rule_id(template: int, priority: str, cp: int | None) -> int | None:
        rule = await sla.matching_rule(template, priority, cp)
        return None if rule is None else int(rule["id"])

    assert await rule_id(remote, "normal", plain["id"]) == by_cp
    assert await rule_id(field, "urgent", vip["id"]) == vip_urgent
    assert await rule_id(field, "normal", vip["id"]) == anything  # priority not met
    assert await rule_id(remote, "urgent", other["id"]) == remote_rule  # another category
    assert await rule_id(remote, "urgent", None) == remote_rule  # no counterparty: no category
    assert await rule_id(field, "low", None) == anything
    rule = await sla.matching_rule(field, "urgent", vip["id"])
    assert rule is not None
    assert (rule["name"], rule["reaction_minutes"], rule["calendar"]) == ("vip urgent", 10, None)


async def test_a_calendar_is_read_with_its_exception_days(backend):
    week = {str(d): [["09:00", "18:00"]] for d in range(5)}
    cal = await sla_admin.create_calendar(CalendarIn(name="Москва", week=week))
    holiday, short = dt.date(2026, 12, 7), dt.date(2026, 12, 8)
    await sla_admin.set_calendar_day(cal.id, CalendarDayIn(day=holiday, hours=[]))
    await sla_admin.set_calendar_day(cal.id, CalendarDayIn(day=short, hours=[["10:00", "12:00"]]))
    loaded = await sla.load_calendar(cal.id)
    assert loaded == WorkCalendar(
        "Europe/Moscow",
        {d: NINE_TO_SIX for d in range(5)},
        {holiday: [], short: [(dt.time(10), dt.time(12))]},
    )
    bare = await sla_admin.create_calendar(CalendarIn(name="Без исключений", week=week))
    assert await sla.load_calendar(bare.id) == WorkCalendar(
        "Europe/Moscow", {d: NINE_TO_SIX for d in range(5)}, {}
    )
    assert await sla.load_calendar(cal.id + bare.id + 1000) is None
    assert await sla.load_calendar(None) is None


async def test_targets_skip_the_calendars_holiday(backend):
    office = await backend.user("office")
    await backend.counterparty("Ромашка")
    week = {str(d): [["09:00", "18:00"]] for d in range(5)}
    cal = await sla_admin.create_calendar(CalendarIn(name="Москва", week=week))
    monday = dt.date(2026, 12, 7)
    await sla_admin.set_calendar_day(cal.id, CalendarDayIn(day=monday, hours=[]))
    rule = await _rule(
        name="remote",
        template="remote_support",
        calendar_id=cal.id,
        reaction_minutes=60,
        resolution_minutes=240,
    )
    resp = await backend.create_task(office, template="remote_support", title="Ромашка: касса")
    assert resp.status_code == 201, resp.text
    task = resp.json()
    # Again at a known moment: Friday 17:30, the next working day is Tuesday (Monday is off).
    friday = dt.datetime(2026, 12, 4, 17, 30, tzinfo=MSK)
    async with db.transaction():
        await sla.set_targets(
            task["id"],
            await _template_id("remote_support"),
            "normal",
            task["counterparty"]["id"],
            friday,
        )
    row = await Task.select().where(Task.id == task["id"]).first()
    assert row is not None
    assert (row["sla_rule_id"], row["sla_calendar_id"]) == (rule, cal.id)
    tuesday = dt.datetime(2026, 12, 8, 9, 30, tzinfo=MSK)
    assert db.stored_datetime(row["due_reaction_at"]) == tuesday
    assert db.stored_datetime(row["due_resolution_at"]) == tuesday + dt.timedelta(hours=3)
    expected = add_working_minutes(friday, 240, await sla.load_calendar(cal.id))
    assert db.stored_datetime(row["due_resolution_at"]) == expected


async def test_without_a_rule_creation_writes_no_targets(backend):
    office = await backend.user("office")
    await backend.counterparty("Ромашка")
    resp = await backend.create_task(office, template="remote_support", title="Ромашка: касса")
    assert resp.status_code == 201, resp.text
    task = resp.json()
    assert task["due_reaction_at"] is None and task["due_resolution_at"] is None
    row = await Task.select().where(Task.id == task["id"]).first()
    assert row is not None
    assert row["sla_rule_id"] is None and row["sla_calendar_id"] is None
    # status_changed_at is the creation's time, written with the task itself
    assert db.stored_datetime(row["status_changed_at"]) == db.stored_datetime(row["created_at"])
