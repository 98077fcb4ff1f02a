"""Planned maintenance and checklists (issue 16) through HTTP: RRULEs as RFC 5545 says them
(months without a 31st are skipped), holidays skipped or moved to the next working day,
local times that daylight saving does not move, the iCalendar export, the sweep that
creates each occurrence's task once — also with several sweeps at once on PostgreSQL — and
checklists that keep a visit from being done (R8) while a required item is open."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import sys
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from naryad_harness import ROOT, Backend, Server, _clean
from pypdf import PdfReader

from server.lib.actor import Actor
from server.maintenance import service as maintenance
from server.maintenance.schemas import PlanIn
from server.maintenance.tables import MaintenanceOccurrence
from server.tasks.tables import Task

FIELD = ("Выездные инженеры",)
MOSCOW = "Europe/Moscow"  # the test settings' company timezone (the default)


@pytest.fixture
async def crew(backend: Backend) -> dict[str, Any]:
    romashka = await backend.counterparty("Ромашка")
    return {
        "romashka": romashka,
        "lutik": await backend.counterparty("Лютик"),
        "site": await backend.site(romashka["id"], "Кафе на Арбате"),
        "admin": await backend.user("admin"),
        "ivanov": await backend.user("engineer", groups=FIELD, surname="Иванов"),
    }


async def _plan(b: Backend, who: dict[str, Any], **body: Any) -> Any:
    return await b.http.post("/api/maintenance-plans", json=body, headers=who["headers"])


async def _occurrences(b: Backend, who: dict[str, Any], plan_id: int, start: str, end: str) -> Any:
    resp = await b.http.get(
        f"/api/maintenance-plans/{plan_id}/occurrences?from={start}&to={end}",
        headers=who["headers"],
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["items"]


@pytest.mark.sqlite
async def test_recurrence_holidays_and_bad_plans(backend: Backend, crew: dict[str, Any]) -> None:
    admin, romashka = crew["admin"], crew["romashka"]
    base = {
        "counterparty_id": romashka["id"],
        "template": "field_visit",
        "title": "Ромашка: ТО кассы",
        "starts_on": "2027-01-01",
        "rrule": "FREQ=MONTHLY;BYMONTHDAY=31",
    }
    resp = await _plan(backend, admin, **base)
    assert resp.status_code == 201, resp.text
    plan = resp.json()
    assert plan["next_occurrence_on"] == "2027-01-31"
    days = [
        o["date"]
        for o in await _occurrences(backend, admin, plan["id"], "2027-01-01", "2027-12-31")
    ]
    assert days == [
        "2027-01-31",
        "2027-03-31",
        "2027-05-31",
        "2027-07-31",
        "2027-08-31",
        "2027-10-31",
        "2027-12-31",
    ]

    # A calendar: Monday to Friday, and 2027-03-08 a holiday.
    resp = await backend.http.post(
        "/api/sla/calendars",
        json={"name": "Пятидневка", "week": {str(d): [["09:00", "18:00"]] for d in range(5)}},
        headers=admin["headers"],
    )
    assert resp.status_code == 201, resp.text
    calendar = resp.json()["id"]
    resp = await backend.http.put(
        f"/api/sla/calendars/{calendar}/days",
        json={"day": "2027-03-08", "hours": []},
        headers=admin["headers"],
    )
    assert resp.status_code == 200, resp.text
    weekly = {
        **base,
        "rrule": "FREQ=WEEKLY;BYDAY=MO,SA",
        "starts_on": "2027-03-01",
        "calendar_id": calendar,
    }
    shifted = (await _plan(backend, admin, **weekly, non_working_days="next_working_day")).json()
    got = await _occurrences(backend, admin, shifted["id"], "2027-03-01", "2027-03-15")
    # Mon 1st; Sat 6th -> Mon 8th (a holiday) -> Tue 9th, and Mon 8th merges into it;
    # Sat 13th -> Mon 15th.
    assert [(o["occurs_on"], o["date"]) for o in got] == [
        ("2027-03-01", "2027-03-01"),
        ("2027-03-06", "2027-03-09"),
        ("2027-03-13", "2027-03-15"),
    ]
    skipped = (await _plan(backend, admin, **weekly, non_working_days="skip")).json()
    got = await _occurrences(backend, admin, skipped["id"], "2027-03-01", "2027-03-15")
    assert [o["date"] for o in got] == ["2027-03-01", "2027-03-15"]
    kept = (await _plan(backend, admin, **weekly)).json()
    got = await _occurrences(backend, admin, kept["id"], "2027-03-01", "2027-03-08")
    assert [o["date"] for o in got] == ["2027-03-01", "2027-03-06", "2027-03-08"]

    theirs = await backend.http.post(
        "/api/equipment/kinds", json={"code": "pos", "name": "Касса"}, headers=admin["headers"]
    )
    assert theirs.status_code == 201
    pos = await backend.http.post(
        "/api/equipment",
        json={"counterparty_id": crew["lutik"]["id"], "kind": "pos", "model": "АТОЛ"},
        headers=admin["headers"],
    )
    bad = [
        ({"rrule": "FREQ=SOMETIMES"}, "rrule:"),
        ({"rrule": "FREQ=MONTHLY;BYDAY=XX"}, "rrule:"),
        ({"rrule": "FREQ=HOURLY"}, "rrule:"),
        ({"rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"}, "rrule:"),
        ({"rrule": "DTSTART:20270101T000000\nRRULE:FREQ=DAILY"}, "rrule:"),
        ({"title": "ТО кассы"}, "R2: title:"),
        ({"template": "nothing"}, "R1:"),
        ({"non_working_days": "skip"}, "calendar_id:"),
        ({"equipment_id": pos.json()["id"]}, "equipment_id:"),
        ({"assignee_id": admin["id"]}, "R7:"),
    ]
    for change, start in bad:
        resp = await _plan(backend, admin, **{**base, **change})
        assert resp.status_code == 422, (change, resp.text)
        assert resp.json()["detail"].startswith(start), (change, resp.json()["detail"])
    resp = await backend.http.patch(
        f"/api/maintenance-plans/{plan['id']}",
        json={"rrule": "FREQ=NEVER"},
        headers=admin["headers"],
    )
    assert resp.status_code == 422 and resp.json()["detail"].startswith("rrule:")
    resp = await _plan(backend, crew["ivanov"], **base)
    assert resp.status_code == 403


@pytest.mark.sqlite
async def test_the_sweep_creates_each_visit_once_lead_days_ahead(
    backend: Backend, crew: dict[str, Any]
) -> None:
    admin, ivanov = crew["admin"], crew["ivanov"]
    resp = await backend.http.put(
        "/api/templates/field_visit/checklist",
        json={"items": [{"text": "Фото кассы", "required": False, "kind": "photo"}]},
        headers=admin["headers"],
    )
    assert resp.status_code == 200, resp.text
    await backend.http.post(
        "/api/equipment/kinds", json={"code": "pos", "name": "Касса"}, headers=admin["headers"]
    )
    pos = await backend.http.post(
        "/api/equipment",
        json={
            "counterparty_id": crew["romashka"]["id"],
            "kind": "pos",
            "model": "АТОЛ",
            "serial": "7",
        },
        headers=admin["headers"],
    )
    start = dt.date.today() + dt.timedelta(days=10)
    resp = await _plan(
        backend,
        admin,
        counterparty_id=crew["romashka"]["id"],
        site_id=crew["site"]["id"],
        equipment_id=pos.json()["id"],
        template="field_visit",
        title="Ромашка: ТО кассы",
        starts_on=str(start),
        rrule="FREQ=MONTHLY;COUNT=2",
        lead_days=3,
        assignee_id=ivanov["id"],
        checklist=[{"text": "Напряжение, В", "required": True, "kind": "number"}],
    )
    assert resp.status_code == 201, resp.text
    plan = resp.json()
    assert plan["next_create_on"] == str(start - dt.timedelta(days=3))

    def at(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(12), dt.UTC)

    assert (await maintenance.run_maintenance_sweep(at(start - dt.timedelta(days=4)))).created == 0
    for _ in range(2):  # a repeated sweep creates nothing more
        await maintenance.run_maintenance_sweep(at(start - dt.timedelta(days=3)))
    items = await _occurrences(
        backend, admin, plan["id"], str(start), str(start + dt.timedelta(days=40))
    )
    assert items[0]["task_id"] is not None and items[1]["task_id"] is None
    task = (
        await backend.http.get(f"/api/tasks/{items[0]['task_id']}", headers=ivanov["headers"])
    ).json()
    assert task["title"] == f"Ромашка: ТО кассы — {start:%d.%m.%Y}"
    assert (task["status"], task["assignee"]["id"]) == ("accepted", ivanov["id"])
    assert task["equipment"] == [
        {"id": pos.json()["id"], "kind": "pos", "model": "АТОЛ", "serial": "7"}
    ]
    # Due at the end of the visit's day (company timezone), not by an SLA counted from today.
    day_end = dt.datetime.combine(start + dt.timedelta(days=1), dt.time(0), ZoneInfo(MOSCOW))
    assert dt.datetime.fromisoformat(task["due_resolution_at"]) == day_end
    history = (
        await backend.http.get(f"/api/tasks/{task['id']}/history", headers=admin["headers"])
    ).json()
    planned = [e for e in history if e["kind"] == "planned"]
    assert planned[0]["data"]["maintenance_plan_id"] == plan["id"]
    assert planned[0]["channel"] == "system"

    # The checklist: the template's items, then the plan's.
    url = f"/api/tasks/{task['id']}/checklist"
    checklist = (await backend.http.get(url, headers=ivanov["headers"])).json()
    assert [(i["text"], i["kind"], i["required"]) for i in checklist["items"]] == [
        ("Фото кассы", "photo", False),
        ("Напряжение, В", "number", True),
    ]
    assert checklist["open_required"] == 1
    photo_item, volts = checklist["items"]
    for item, value in ((volts, "220"), (volts, True), (photo_item, 12345), (photo_item, "x.jpg")):
        resp = await backend.http.patch(
            f"{url}/{item['id']}", json={"value": value}, headers=ivanov["headers"]
        )
        assert resp.status_code == 422 and resp.json()["detail"].startswith("value:"), resp.text
    # R8: a required item open keeps the visit from being done.
    for action in ("depart", "arrive"):
        assert (
            await backend.http.post(
                f"/api/tasks/{task['id']}/{action}", json={}, headers=ivanov["headers"]
            )
        ).status_code == 200
    done = await backend.http.post(
        f"/api/tasks/{task['id']}/done",
        json={"completed_works": "ТО проведено"},
        headers=ivanov["headers"],
    )
    assert done.status_code == 422, done.text
    assert done.json()["detail"].startswith("R8:") and "«Напряжение, В»" in done.json()["detail"]
    resp = await backend.http.patch(
        f"{url}/{volts['id']}",
        json={"value": 221.5},
        headers={**ivanov["headers"], "Idempotency-Key": "v1"},
    )
    assert resp.status_code == 200 and resp.json()["done"] is True, resp.text
    assert resp.json()["done_by"]["id"] == ivanov["id"]
    done = await backend.http.post(
        f"/api/tasks/{task['id']}/done",
        json={"completed_works": "ТО проведено"},
        headers=ivanov["headers"],
    )
    assert done.status_code == 200 and done.json()["status"] == "done", done.text
    resp = await backend.http.patch(
        f"{url}/{volts['id']}", json={"value": None}, headers=ivanov["headers"]
    )
    assert resp.status_code == 409  # a finished visit's checklist stays as it was

    # The work order lists the equipment with its serial and the checklist; the act, the
    # equipment.
    for form, expected in (
        ("work-order", ["АТОЛ", "Заводской №", "Напряжение, В", "221.5", "Чек-лист"]),
        ("completion-act", ["АТОЛ", "Заводской №"]),
    ):
        resp = await backend.http.get(
            f"/api/tasks/{task['id']}/{form}.pdf", headers=admin["headers"]
        )
        assert resp.status_code == 200, resp.text
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(resp.content)).pages)
        for fragment in expected:
            assert fragment in text, (form, fragment)

    # The next month is created when its day comes, once.
    second = dt.date.fromisoformat(items[1]["date"]) - dt.timedelta(days=3)
    report = await maintenance.run_maintenance_sweep(at(second))
    assert report.created == 1
    assert await MaintenanceOccurrence.count().where(MaintenanceOccurrence.plan == plan["id"]) == 2
    plan = (
        await backend.http.get(f"/api/maintenance-plans/{plan['id']}", headers=admin["headers"])
    ).json()
    assert (plan["next_occurrence_on"], plan["next_create_on"]) == (None, None)  # COUNT=2 done


@pytest.fixture
async def berlin(pg_url: str) -> AsyncIterator[Backend]:
    """A server whose company timezone has daylight saving."""
    await _clean(pg_url)
    server = await asyncio.to_thread(Server, pg_url, 1, {"NARYAD_TIMEZONE": "Europe/Berlin"})
    b = Backend("postgres", pg_url, server)
    try:
        yield b
    finally:
        await b.http.aclose()
        await asyncio.to_thread(server.stop)


async def test_local_time_survives_daylight_saving_and_exports_to_icalendar(
    berlin: Backend,
) -> None:
    romashka = await berlin.counterparty("Ромашка")
    engineer = await berlin.user("engineer", groups=FIELD, surname="Иванов")
    admin = await berlin.user("admin")
    resp = await _plan(
        berlin,
        admin,
        counterparty_id=romashka["id"],
        template="field_visit",
        title="Ромашка: ТО",
        starts_on="2027-03-20",
        time_of_day="09:00",
        rrule="FREQ=WEEKLY;BYDAY=SA;COUNT=3",
        assignee_id=engineer["id"],
    )
    assert resp.status_code == 201, resp.text
    plan = resp.json()
    items = await _occurrences(berlin, admin, plan["id"], "2027-03-01", "2027-04-30")
    starts = [dt.datetime.fromisoformat(o["starts_at"]) for o in items]
    # Europe/Berlin goes to summer time on 2027-03-28: 09:00 stays 09:00, the offset moves.
    assert [s.strftime("%Y-%m-%d %H:%M %z") for s in starts] == [
        "2027-03-20 09:00 +0100",
        "2027-03-27 09:00 +0100",
        "2027-04-03 09:00 +0200",
    ]
    resp = await berlin.http.get(
        f"/api/maintenance-plans/{plan['id']}/calendar.ics?from=2027-03-01&to=2027-04-30",
        headers=admin["headers"],
    )
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/calendar")
    assert b"BEGIN:VTIMEZONE" in resp.content and b"TZID:Europe/Berlin" in resp.content
    events = [c for c in Calendar.from_ical(resp.content).walk("VEVENT")]
    local = [e.decoded("dtstart") for e in events]
    assert [(d.hour, d.utcoffset()) for d in local] == [
        (9, dt.timedelta(hours=1)),
        (9, dt.timedelta(hours=1)),
        (9, dt.timedelta(hours=2)),
    ]
    assert all(str(e["summary"]) == "Ромашка: ТО" for e in events)

    # The engineer's phone subscribes to a signed link; a forged one reads nothing.
    link = (
        await berlin.http.get("/api/me/maintenance-calendar", headers=engineer["headers"])
    ).json()
    path = link["url"].split(berlin.server.base_url, 1)[1]
    resp = await berlin.http.get(path + "&from=2027-03-01&to=2027-04-30")
    assert resp.status_code == 200 and len(Calendar.from_ical(resp.content).walk("VEVENT")) == 3
    forged = path.replace(f"user={engineer['id']}", f"user={admin['id']}")
    assert (await berlin.http.get(forged)).status_code == 403


_SUBPROCESS_SWEEP = """
import asyncio, datetime as dt, sys
from server import db, settings, subscribers
from server.maintenance.service import run_maintenance_sweep
settings.install(settings.Settings.from_env({"NARYAD_DATABASE_URL": sys.argv[1]}))
subscribers.install()
async def main():
    engine = db.configure_database(sys.argv[1])
    async with db.connection_pool(engine, max_size=3):
        print("ready", flush=True)
        sys.stdin.readline()  # start with the others
        report = await run_maintenance_sweep(dt.datetime.fromisoformat(sys.argv[2]))
    print("created", report.created, flush=True)
asyncio.run(main())
"""


async def test_exactly_once_with_workers_and_the_in_process_runner_at_once(
    backend: Backend,
) -> None:
    """100 plans × 12 months; two worker processes and three in-process sweeps at once."""
    romashka = await backend.counterparty("Ромашка")
    admin = await backend.user("admin")
    actor = Actor(admin["id"], admin["login"], "Admin", frozenset({"admin"}), frozenset(), None)
    start = dt.date.today() + dt.timedelta(days=1)
    for n in range(100):
        await maintenance.create_plan(
            actor,
            PlanIn(
                counterparty_id=romashka["id"],
                template="repair",
                title=f"Плановый ремонт {n}",
                starts_on=start,
                rrule=f"FREQ=MONTHLY;BYMONTHDAY={n % 28 + 1};COUNT=12",
            ),
        )
    tasks_before = await Task.count()
    now = dt.datetime.combine(start + dt.timedelta(days=400), dt.time(12), dt.UTC)
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _SUBPROCESS_SWEEP,
            backend.url,
            now.isoformat(),
            cwd=ROOT,
            env={**os.environ, "NARYAD_LOG_LEVEL": "WARNING"},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    for worker in workers:  # both connected: go, all five at once
        assert worker.stdout is not None and worker.stdin is not None
        assert (await asyncio.wait_for(worker.stdout.readline(), 60)).strip() == b"ready"
    for worker in workers:
        assert worker.stdin is not None
        worker.stdin.write(b"go\n")
        await worker.stdin.drain()
    reports = await asyncio.gather(*(maintenance.run_maintenance_sweep(now) for _ in range(3)))
    outputs = [(await asyncio.wait_for(w.communicate(), 300))[0].decode() for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    by_workers = [int(out.split("created")[-1]) for out in outputs]
    created = sum(r.created for r in reports) + sum(by_workers)
    assert created == 1200
    assert await Task.count() - tasks_before == 1200
    assert (
        await MaintenanceOccurrence.count().where(MaintenanceOccurrence.task.is_not_null()) == 1200
    )
    assert (await maintenance.run_maintenance_sweep(now)).created == 0
