"""R10 automations, SLA targets and calendars (issue: SLA). An injected clock: the sweep
is told what time it is; nothing sleeps."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
from zoneinfo import ZoneInfo

import pytest

from server.lib import clock
from server.sla import service as sla
from server.sla.calendar import (
    CalendarError,
    WorkCalendar,
    add_working_minutes,
    parse_intervals,
    working_minutes_between,
)
from server.sla.tables import Fired
from server.tasks.tables import Task, TaskEvent

MSK = ZoneInfo("Europe/Moscow")


async def sweep_at(moment: dt.datetime) -> sla.SweepReport:
    """Run the sweep as if it were `moment`: every service it calls reads this clock."""
    clock.set_clock(lambda: moment)
    try:
        return await sla.run_sla_sweep()
    finally:
        clock.set_clock(None)


NINE_TO_SIX = [(dt.time(9), dt.time(18))]
REMOTE = ("Удалённая техподдержка",)
FIELD = ("Выездные инженеры",)


# --- working time (pure) -------------------------------------------------------------------


def test_calendar_skips_nights_weekends_and_holidays():
    cal = WorkCalendar(
        "Europe/Moscow", {d: NINE_TO_SIX for d in range(5)}, {dt.date(2026, 12, 31): []}
    )
    wed_17 = dt.datetime(2026, 12, 30, 17, 0, tzinfo=MSK)
    # 1 h on Wednesday, Thursday 31st is a holiday, 1 h on Friday 1st
    assert add_working_minutes(wed_17, 120, cal) == dt.datetime(2027, 1, 1, 10, 0, tzinfo=MSK)
    sat_noon = dt.datetime(2026, 11, 28, 12, 0, tzinfo=MSK)
    assert add_working_minutes(sat_noon, 30, cal) == dt.datetime(2026, 11, 30, 9, 30, tzinfo=MSK)
    fri_17 = dt.datetime(2026, 11, 27, 17, 0, tzinfo=MSK)
    assert add_working_minutes(fri_17, 90, cal) == dt.datetime(2026, 11, 30, 9, 30, tzinfo=MSK)
    assert working_minutes_between(fri_17, dt.datetime(2026, 11, 30, 9, 30, tzinfo=MSK), cal) == 90
    # the same instant expressed in UTC gives the same answer
    assert add_working_minutes(wed_17.astimezone(dt.UTC), 120, cal) == dt.datetime(
        2027, 1, 1, 7, 0, tzinfo=dt.UTC
    )
    # a short day (exception) and 24x7 (no calendar)
    short = WorkCalendar(
        "Europe/Moscow", {0: NINE_TO_SIX}, {dt.date(2026, 11, 30): [(dt.time(9), dt.time(10))]}
    )
    mon_9 = dt.datetime(2026, 11, 30, 9, 0, tzinfo=MSK)
    assert add_working_minutes(mon_9, 90, short) == dt.datetime(2026, 12, 7, 9, 30, tzinfo=MSK)
    assert add_working_minutes(mon_9, 90, None) == mon_9 + dt.timedelta(minutes=90)


def test_calendar_errors():
    with pytest.raises(CalendarError):
        parse_intervals([["18:00", "09:00"]])
    with pytest.raises(CalendarError):
        parse_intervals([["9 am", "18:00"]])
    assert parse_intervals([["00:00", "24:00"]]) == [(dt.time(0), dt.time(0))]
    with pytest.raises(CalendarError):
        add_working_minutes(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 10, WorkCalendar())


# --- targets -------------------------------------------------------------------------------


async def _admin_post(backend, admin, path, body):
    resp = await backend.http.post(path, json=body, headers=admin["headers"])
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


async def _row(task_id: int):
    return await Task.select().where(Task.id == task_id).first()


async def test_first_matching_rule_sets_targets_in_working_time(backend):
    admin = await backend.user("admin")
    office = await backend.user("office")
    cal = await _admin_post(
        backend,
        admin,
        "/api/sla/calendars",
        {
            "name": "Москва 9–18",
            "timezone": "Europe/Moscow",
            "week": {str(d): [["09:00", "18:00"]] for d in range(5)},
        },
    )
    vip = await backend.counterparty("Ромашка")
    await backend.counterparty("Лютик")
    await _admin_post(
        backend,
        admin,
        "/api/sla/rules",
        {"name": "off", "position": 1, "active": False, "reaction_minutes": 1},
    )
    await _admin_post(
        backend,
        admin,
        "/api/sla/rules",
        {
            "name": "Ромашка urgent",
            "position": 2,
            "template": "remote_support",
            "priority": "urgent",
            "counterparty_id": vip["id"],
            "reaction_minutes": 15,
            "resolution_minutes": 60,
        },
    )
    await _admin_post(
        backend,
        admin,
        "/api/sla/rules",
        {
            "name": "remote, working hours",
            "position": 3,
            "template": "remote_support",
            "calendar_id": cal["id"],
            "reaction_minutes": 30,
            "resolution_minutes": 8 * 60,
        },
    )
    urgent = (
        await backend.create_task(
            office, template="remote_support", title="Ромашка: касса", priority="urgent"
        )
    ).json()
    created = dt.datetime.fromisoformat(urgent["created_at"])
    assert urgent["priority"] == "urgent"
    assert dt.datetime.fromisoformat(urgent["due_reaction_at"]) == created + dt.timedelta(
        minutes=15
    )
    assert dt.datetime.fromisoformat(urgent["due_resolution_at"]) == created + dt.timedelta(hours=1)
    normal = (
        await backend.create_task(office, template="remote_support", title="Лютик: касса")
    ).json()
    created = dt.datetime.fromisoformat(normal["created_at"])
    week = WorkCalendar("Europe/Moscow", {d: NINE_TO_SIX for d in range(5)})
    assert dt.datetime.fromisoformat(normal["due_resolution_at"]) == add_working_minutes(
        created, 480, week
    )
    other = (await backend.create_task(office, template="repair", title="Ремонт")).json()
    assert other["due_reaction_at"] is None and other["overdue"] is False


async def test_overdue_is_reported_and_clock_pauses_while_postponed(backend):
    admin = await backend.user("admin")
    engineer = await backend.user("engineer", groups=REMOTE)
    await backend.counterparty("Ромашка")
    await _admin_post(
        backend,
        admin,
        "/api/sla/rules",
        {"name": "all", "reaction_minutes": 30, "resolution_minutes": 240},
    )
    task = (
        await backend.create_task(
            engineer, template="remote_support", group_id=None, title="Ромашка: касса"
        )
    ).json()
    tid = task["id"]
    due = dt.datetime.fromisoformat(task["due_resolution_at"])
    # late: move the target into the past
    await Task.update(
        {Task.due_resolution_at: dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)}
    ).where(Task.id == tid)
    late = (await backend.http.get(f"/api/tasks/{tid}", headers=engineer["headers"])).json()
    assert late["overdue"] is True
    await Task.update({Task.due_resolution_at: due}).where(Task.id == tid)
    # postpone: the clock stops; resumed 2 h later, the target moves 2 h
    until = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    resp = await backend.http.post(
        f"/api/tasks/{tid}/postpone", json={"until": until.isoformat()}, headers=engineer["headers"]
    )
    assert resp.status_code == 200 and resp.json()["overdue"] is False
    paused_at = (await _row(tid))["sla_paused_at"]
    assert paused_at is not None
    report = await sweep_at(until + dt.timedelta(seconds=1))
    assert report.resumed == 1
    row = await _row(tid)
    assert row["status"] == "accepted" and row["sla_paused_at"] is None
    paused_for = until + dt.timedelta(seconds=1) - paused_at
    assert abs((row["due_resolution_at"] - (due + paused_for)).total_seconds()) < 1


# --- R10 automations ---------------------------------------------------------------------


async def _automation(backend, admin, template, kind):
    rows = (
        await backend.http.get(
            f"/api/sla/automations?template={template}", headers=admin["headers"]
        )
    ).json()
    return next(a for a in rows if a["kind"] == kind)


async def _switch(backend, admin, template, kind, enabled, minutes=None):
    a = await _automation(backend, admin, template, kind)
    body = {"enabled": enabled} | ({"minutes": minutes} if minutes else {})
    resp = await backend.http.patch(
        f"/api/sla/automations/{a['id']}", json=body, headers=admin["headers"]
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


async def _kinds(task_id: int) -> list[str]:
    rows = (
        await TaskEvent.select(TaskEvent.kind)
        .where(TaskEvent.task == task_id)
        .order_by(TaskEvent.id)
    )
    return [r["kind"] for r in rows]


@pytest.mark.parametrize("enabled", [True, False])
async def test_not_accepted_in_30_minutes_notifies_the_manager_once(backend, enabled):
    admin = await backend.user("admin")
    office = await backend.user("office")
    await backend.counterparty("Ромашка")
    await _switch(backend, admin, "remote_support", "unaccepted_notify", enabled)
    task = (
        await backend.create_task(office, template="remote_support", title="Ромашка: касса")
    ).json()
    start = (await _row(task["id"]))["status_changed_at"]
    assert (await sweep_at(start + dt.timedelta(minutes=29))).fired == {}
    report = await sweep_at(start + dt.timedelta(minutes=31))
    assert report.fired == ({"unaccepted_notify": 1} if enabled else {})
    assert (await sweep_at(start + dt.timedelta(minutes=45))).fired == {}
    kinds = await _kinds(task["id"])
    assert kinds.count("escalated") == (1 if enabled else 0)
    if enabled:
        event = (
            await TaskEvent.select()
            .where((TaskEvent.task == task["id"]) & (TaskEvent.kind == "escalated"))
            .first()
            .output(load_json=True)
        )
        assert set(event["data"]["notify"]) == {admin["id"], office["id"]}
        assert event["channel"] == "system"
        assert "not accepted" in event["data"]["reason"]
        listed = (await backend.http.get("/api/sla/escalations", headers=office["headers"])).json()
        assert [e["task_id"] for e in listed] == [task["id"]]


async def _contact(backend, office, name: str = "Петрова Анна") -> int:
    """A client's contact person: the requester the 15-minute rule answers to."""
    resp = await backend.http.post(
        "/api/contacts",
        json={"name": name, "email": "anna@romashka.test"},
        headers=office["headers"],
    )
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


async def _event(task_id: int, kind: str) -> dict:
    return (
        await TaskEvent.select()
        .where((TaskEvent.task == task_id) & (TaskEvent.kind == kind))
        .first()
        .output(load_json=True)
    )


@pytest.mark.parametrize("enabled", [True, False])
async def test_no_reply_in_15_minutes_returns_to_the_queue(backend, enabled):
    admin = await backend.user("admin")
    engineer = await backend.user("engineer", groups=REMOTE)
    office = await backend.user("office")
    await backend.counterparty("Ромашка")
    anna = await _contact(backend, office)
    await _switch(backend, admin, "remote_support", "no_reply_release", enabled)
    silent = (
        await backend.create_task(
            office, template="remote_support", title="Ромашка: касса", requester_contact_id=anna
        )
    ).json()
    answered = (
        await backend.create_task(
            office, template="remote_support", title="Ромашка: оплата", requester_contact_id=anna
        )
    ).json()
    for t in (silent, answered):
        assert (
            await backend.http.post(f"/api/tasks/{t['id']}/accept", headers=engineer["headers"])
        ).status_code == 200
    await backend.http.post(
        f"/api/tasks/{answered['id']}/comments",
        json={"body": "Смотрю", "public": True},
        headers=engineer["headers"],
    )
    accepted_at = (await _row(silent["id"]))["accepted_at"]
    await sweep_at(accepted_at + dt.timedelta(minutes=14))
    assert (await _row(silent["id"]))["status"] == "accepted"
    await sweep_at(accepted_at + dt.timedelta(minutes=16))
    row = await _row(silent["id"])
    assert row["status"] == ("new" if enabled else "accepted")
    assert (row["assignee"] is None) is enabled
    assert (await _row(answered["id"]))["assignee"] == engineer["id"]
    if enabled:
        event = await _event(silent["id"], "released")
        assert "no reply" in event["data"]["reason"] and event["actor"] is None
        assert event["data"]["automation"] == "no_reply_release"


async def test_no_reply_rule_applies_only_where_a_client_waits_for_an_answer(backend):
    """R10's 15 minutes: only tasks with a requester contact; a phone call or an arrival on
    site is an answer; a task back from postponed or one an engineer made for themselves
    is never sent back to the queue."""
    admin = await backend.user("admin")
    engineer = await backend.user("engineer", groups=REMOTE)
    field = await backend.user("engineer", groups=FIELD)
    office = await backend.user("office")
    await backend.counterparty("Ромашка")
    anna = await _contact(backend, office)
    await _switch(backend, admin, "field_visit", "no_reply_release", True)

    async def accepted(who, **body):
        task = (await backend.create_task(office, **body)).json()
        resp = await backend.http.post(f"/api/tasks/{task['id']}/accept", headers=who["headers"])
        assert resp.status_code == 200, resp.text
        return task["id"]

    remote = {"template": "remote_support", "requester_contact_id": anna}
    nobody_waits = await accepted(engineer, template="remote_support", title="Ромашка: касса")
    called = await accepted(engineer, title="Ромашка: звонок", **remote)
    visited = await accepted(
        field, template="field_visit", title="Ромашка: весы", requester_contact_id=anna
    )
    postponed = await accepted(engineer, title="Ромашка: отложена", **remote)
    own = (await backend.create_task(engineer, title="Ромашка: сам себе", **remote)).json()["id"]
    assert (await _row(own))["assignee"] == engineer["id"]
    silent = await accepted(engineer, title="Ромашка: молчание", **remote)

    # a call to the client, written down as a phone comment (internal), is an answer
    resp = await backend.http.post(
        f"/api/tasks/{called}/comments",
        json={"body": "Позвонил, клиент перезагрузит кассу", "public": False, "channel": "phone"},
        headers=engineer["headers"],
    )
    assert resp.status_code == 201 and resp.json()["channel"] == "phone"
    for action in ("depart", "arrive"):
        resp = await backend.http.post(
            f"/api/tasks/{visited}/{action}", json={}, headers=field["headers"]
        )
        assert resp.status_code == 200, resp.text
    until = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    resp = await backend.http.post(
        f"/api/tasks/{postponed}/postpone",
        json={"until": until.isoformat()},
        headers=engineer["headers"],
    )
    assert resp.status_code == 200
    # it comes back, by itself, and is not released afterwards
    assert (await sweep_at(until + dt.timedelta(seconds=1))).resumed == 1
    assert (await _row(postponed))["status"] == "accepted"

    latest = max([(await _row(t))["accepted_at"] for t in (called, visited, own, silent)])
    report = await sweep_at(latest + dt.timedelta(minutes=16))
    assert report.fired.get("no_reply_release") == 1
    assert (await _row(silent))["status"] == "new"
    for task_id in (nobody_waits, called, visited, postponed, own):
        row = await _row(task_id)
        assert row["assignee"] is not None and row["status"] != "new", task_id
    assert await Fired.count().where(Fired.kind == "no_reply_release") == 1


@pytest.mark.parametrize("enabled", [True, False])
async def test_public_reply_waits_for_client_and_client_reply_resumes(backend, enabled):
    admin = await backend.user("admin")
    engineer = await backend.user("engineer", groups=REMOTE)
    cp = await backend.counterparty("Ромашка")
    client = await backend.user("client", counterparty_id=cp["id"])
    for kind in ("public_reply_waiting", "client_reply_resume"):
        await _switch(backend, admin, "remote_support", kind, enabled)
    task = (
        await backend.create_task(engineer, template="remote_support", title="Ромашка: касса")
    ).json()
    tid = task["id"]
    await backend.http.post(f"/api/tasks/{tid}/start", headers=engineer["headers"])
    await backend.http.post(
        f"/api/tasks/{tid}/comments",
        json={"body": "Внутреннее", "public": False},
        headers=engineer["headers"],
    )
    assert (await _row(tid))["status"] == "in_progress"  # internal notes change nothing
    await backend.http.post(
        f"/api/tasks/{tid}/comments",
        json={"body": "Перезагрузите кассу", "public": True},
        headers=engineer["headers"],
    )
    row = await _row(tid)
    assert row["status"] == ("waiting_client" if enabled else "in_progress")
    assert (row["sla_paused_at"] is not None) is enabled
    await backend.http.post(
        f"/api/tasks/{tid}/comments", json={"body": "Не помогло"}, headers=client["headers"]
    )
    assert (await _row(tid))["status"] == "in_progress"


async def test_in_progress_reminds_after_2h_and_escalates_after_3h(backend):
    engineer = await backend.user("engineer", groups=REMOTE)
    await backend.counterparty("Ромашка")
    task = (
        await backend.create_task(engineer, template="remote_support", title="Ромашка: касса")
    ).json()
    await backend.http.post(f"/api/tasks/{task['id']}/start", headers=engineer["headers"])
    # a public reply, so "no reply in 15 min" stays quiet
    await backend.http.post(
        f"/api/tasks/{task['id']}/comments",
        json={"body": "Смотрю", "public": False},
        headers=engineer["headers"],
    )
    await Task.update({Task.replied_at: dt.datetime.now(dt.UTC)}).where(Task.id == task["id"])
    start = (await _row(task["id"]))["status_changed_at"]
    assert (await sweep_at(start + dt.timedelta(minutes=119))).fired == {}
    assert (await sweep_at(start + dt.timedelta(minutes=121))).fired == {"in_progress_remind": 1}
    assert (await sweep_at(start + dt.timedelta(minutes=181))).fired == {"in_progress_notify": 1}
    assert (await sweep_at(start + dt.timedelta(minutes=300))).fired == {}
    reminded = (
        await TaskEvent.select()
        .where((TaskEvent.task == task["id"]) & (TaskEvent.kind == "reminded"))
        .first()
        .output(load_json=True)
    )
    assert reminded["data"]["notify"] == [engineer["id"]]
    assert "in progress" in reminded["data"]["reason"]
    escalated = (
        await TaskEvent.select()
        .where((TaskEvent.task == task["id"]) & (TaskEvent.kind == "escalated"))
        .first()
        .output(load_json=True)
    )
    assert "in progress" in escalated["data"]["reason"]


@pytest.mark.parametrize("enabled", [True, False])
async def test_a_visit_waiting_for_its_check_escalates_and_is_never_completed(backend, enabled):
    """R8: the checker is never bypassed; after 3 days the checkers' manager hears of it."""
    admin = await backend.user("admin")
    engineer = await backend.user("engineer", groups=FIELD)
    office = await backend.user("office")
    boss = await backend.user("checker", surname="Главпроверкин")
    await backend.counterparty("Ромашка")
    automation = await _switch(backend, admin, "field_visit", "done_autocomplete", enabled)
    assert automation["minutes"] == 3 * 24 * 60
    resp = await backend.http.patch(
        f"/api/sla/automations/{automation['id']}",
        json={"notify_user_id": boss["id"]},
        headers=admin["headers"],
    )
    assert resp.status_code == 200
    task = (
        await backend.create_task(office, template="field_visit", title="Ромашка: касса")
    ).json()
    tid = task["id"]
    for action, body in (
        ("accept", None),
        ("depart", None),
        ("arrive", {}),
        ("done", {"completed_works": "ФН"}),
    ):
        resp = await backend.http.post(
            f"/api/tasks/{tid}/{action}", json=body, headers=engineer["headers"]
        )
        assert resp.status_code == 200, resp.text
    done_at = (await _row(tid))["status_changed_at"]
    await sweep_at(done_at + dt.timedelta(days=3) - dt.timedelta(minutes=1))
    assert "escalated" not in await _kinds(tid)
    report = await sweep_at(done_at + dt.timedelta(days=3, minutes=1))
    assert report.fired == ({"done_autocomplete": 1} if enabled else {})
    await sweep_at(done_at + dt.timedelta(days=4))
    row = await _row(tid)
    assert row["status"] == "done" and row["completed_at"] is None
    kinds = await _kinds(tid)
    assert "completed_automatically" not in kinds
    assert kinds.count("escalated") == (1 if enabled else 0)
    if enabled:
        event = await _event(tid, "escalated")
        assert event["data"]["automation"] == "done_autocomplete"
        assert event["data"]["notify"] == [boss["id"]]
        assert "check" in event["data"]["reason"] and "R8" in event["data"]["reason"]


async def test_done_without_a_checker_completes_itself_after_3_days(backend):
    """done_autocomplete completes only tasks whose template needs no check: e.g. a repair
    left in done (a task that waited for a check its template no longer asks for)."""
    admin = await backend.user("admin")
    engineer = await backend.user("engineer", groups=("Ремонт",))
    await _switch(backend, admin, "repair", "done_autocomplete", True)
    task = (await backend.create_task(engineer, template="repair", title="Блок питания")).json()
    await backend.http.post(f"/api/tasks/{task['id']}/accept", headers=engineer["headers"])
    done_at = dt.datetime.now(dt.UTC)
    await Task.update({Task.status: "done", Task.status_changed_at: done_at}).where(
        Task.id == task["id"]
    )
    await sweep_at(done_at + dt.timedelta(days=3, minutes=1))
    row = await _row(task["id"])
    assert row["status"] == "completed" and row["completed_at"] is not None
    event = await _event(task["id"], "completed_automatically")
    assert "no check" in event["data"]["reason"] and event["data"]["automation"] == (
        "done_autocomplete"
    )


async def test_timers_are_editable(backend):
    admin = await backend.user("admin")
    office = await backend.user("office")
    await backend.counterparty("Ромашка")
    changed = await _switch(backend, admin, "remote_support", "unaccepted_notify", True, 5)
    assert changed["minutes"] == 5
    task = (
        await backend.create_task(office, template="remote_support", title="Ромашка: касса")
    ).json()
    start = (await _row(task["id"]))["status_changed_at"]
    assert (await sweep_at(start + dt.timedelta(minutes=6))).fired == {"unaccepted_notify": 1}


async def test_two_workers_sweeping_at_once_fire_each_escalation_once(backend):
    office = await backend.user("office")
    await backend.counterparty("Ромашка")
    ids = []
    for i in range(8):
        ids.append(
            (
                await backend.create_task(
                    office, template="remote_support", title=f"Ромашка: касса {i}"
                )
            ).json()["id"]
        )
    latest = max([(await _row(t))["status_changed_at"] for t in ids])
    now = (latest + dt.timedelta(minutes=31)).isoformat()
    env = {**os.environ, "NARYAD_DATABASE_URL": backend.url, "NARYAD_LOG_LEVEL": "WARNING"}

    async def sweep():
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "server.cli",
            "sla-sweep",
            "--now",
            now,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        return out.decode()

    outputs = await asyncio.gather(*[sweep() for _ in range(4)])
    assert await Fired.count() == len(ids)
    assert await TaskEvent.count().where(TaskEvent.kind == "escalated") == len(ids)
    assert sum(
        int(o.split("unaccepted_notify: ")[1].split(";")[0])
        for o in outputs
        if "unaccepted_notify" in o
    ) == len(ids)


async def test_sla_admin_input_is_checked(backend):
    admin = await backend.user("admin")
    engineer = await backend.user("engineer")
    h = admin["headers"]
    for body, needle in (
        ({"name": "x", "timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "x", "week": {"7": [["09:00", "18:00"]]}}, "weekdays"),
        ({"name": "x", "week": {"0": [["18:00", "09:00"]]}}, "ends before"),
    ):
        resp = await backend.http.post("/api/sla/calendars", json=body, headers=h)
        assert resp.status_code == 422 and needle in resp.json()["detail"], resp.text
    resp = await backend.http.post("/api/sla/rules", json={"name": "x"}, headers=h)
    assert resp.status_code == 422 and "reaction_minutes" in resp.json()["detail"]
    resp = await backend.http.post(
        "/api/sla/rules", json={"name": "x", "template": "nope", "reaction_minutes": 5}, headers=h
    )
    assert resp.status_code == 422
    flag = await _automation(backend, admin, "remote_support", "public_reply_waiting")
    resp = await backend.http.patch(
        f"/api/sla/automations/{flag['id']}", json={"minutes": 5}, headers=h
    )
    assert resp.status_code == 422 and "no timer" in resp.json()["detail"]
    resp = await backend.http.patch(
        "/api/sla/automations/999999", json={"enabled": False}, headers=h
    )
    assert resp.status_code == 404
    assert (
        await backend.http.get("/api/sla/rules", headers=engineer["headers"])
    ).status_code == 403


async def test_rules_match_counterparty_category(backend):
    admin = await backend.user("admin")
    office = await backend.user("office")
    await backend.counterparty("Ромашка", category="VIP")
    await backend.counterparty("Лютик", category="standard")
    await _admin_post(
        backend,
        admin,
        "/api/sla/rules",
        {"name": "vip", "position": 1, "counterparty_category": "vip", "reaction_minutes": 10},
    )
    await _admin_post(
        backend,
        admin,
        "/api/sla/rules",
        {"name": "everyone else", "position": 2, "reaction_minutes": 120},
    )
    for title, minutes in (("Ромашка: касса", 10), ("Лютик: касса", 120)):
        task = (await backend.create_task(office, template="delivery", title=title)).json()
        created = dt.datetime.fromisoformat(task["created_at"])
        assert dt.datetime.fromisoformat(task["due_reaction_at"]) == created + dt.timedelta(
            minutes=minutes
        ), title
    # reacting (accept) ends the reaction clock: never overdue on reaction afterwards
    engineer = await backend.user("engineer", groups=("Доставка",))
    task = (await backend.create_task(office, template="delivery", title="Ромашка: лента")).json()
    await backend.http.post(f"/api/tasks/{task['id']}/accept", headers=engineer["headers"])
    assert (await _row(task["id"]))["reacted_at"] is not None


async def test_in_progress_timers_switched_off_stay_quiet(backend):
    admin = await backend.user("admin")
    engineer = await backend.user("engineer", groups=REMOTE)
    await backend.counterparty("Ромашка")
    for kind in ("in_progress_remind", "in_progress_notify", "no_reply_release"):
        await _switch(backend, admin, "remote_support", kind, False)
    task = (
        await backend.create_task(engineer, template="remote_support", title="Ромашка: касса")
    ).json()
    await backend.http.post(f"/api/tasks/{task['id']}/start", headers=engineer["headers"])
    start = (await _row(task["id"]))["status_changed_at"]
    assert (await sweep_at(start + dt.timedelta(hours=5))).fired == {}
    assert (await _row(task["id"]))["status"] == "in_progress"


async def test_the_manager_to_notify_is_configurable(backend):
    admin = await backend.user("admin")
    await backend.user("office")
    boss = await backend.user("checker", surname="Начальников")
    office = await backend.user("office")
    await backend.counterparty("Ромашка")
    automation = await _automation(backend, admin, "remote_support", "unaccepted_notify")
    resp = await backend.http.patch(
        f"/api/sla/automations/{automation['id']}",
        json={"notify_user_id": boss["id"]},
        headers=admin["headers"],
    )
    assert resp.status_code == 200 and resp.json()["notify_user_id"] == boss["id"]
    task = (
        await backend.create_task(office, template="remote_support", title="Ромашка: касса")
    ).json()
    start = (await _row(task["id"]))["status_changed_at"]
    await sweep_at(start + dt.timedelta(minutes=31))
    event = (
        await TaskEvent.select()
        .where((TaskEvent.task == task["id"]) & (TaskEvent.kind == "escalated"))
        .first()
        .output(load_json=True)
    )
    assert event["data"]["notify"] == [boss["id"]]
