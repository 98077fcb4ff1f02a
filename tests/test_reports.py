"""The dashboard and task-list exports (office and admins)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from server.tasks.tables import Task

pytestmark = pytest.mark.sqlite
FIELD = ("Выездные инженеры",)


async def _make_company(backend):
    office = await backend.user("office")
    ivanov = await backend.user("engineer", groups=FIELD, surname="Иванов")
    await backend.counterparty("Ромашка")
    ids = {}
    for name, template, title in (
        ("queued", "field_visit", "Ромашка: касса"),
        ("working", "field_visit", "Ромашка: сканер"),
        ("done", "repair", "Блок питания"),
        ("late", "repair", "Принтер"),
    ):
        resp = await backend.create_task(office, template=template, title=title)
        assert resp.status_code == 201, resp.text
        ids[name] = resp.json()["id"]
    h = ivanov["headers"]
    await backend.http.post(f"/api/tasks/{ids['working']}/accept", headers=h)
    await backend.http.post(f"/api/tasks/{ids['working']}/depart", headers=h)
    await backend.http.post(f"/api/tasks/{ids['working']}/arrive", json={}, headers=h)
    await backend.http.post(
        f"/api/tasks/{ids['done']}/assign",
        json={"user_id": ivanov["id"]},
        headers=office["headers"],
    )
    resp = await backend.http.post(f"/api/tasks/{ids['done']}/done", json={}, headers=h)
    assert resp.json()["status"] == "completed"
    await backend.http.post(
        f"/api/tasks/{ids['late']}/assign",
        json={"user_id": ivanov["id"]},
        headers=office["headers"],
    )
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    await Task.update({Task.due_resolution_at: past}).where(Task.id == ids["late"])
    return office, ivanov, ids


async def test_dashboard_counts_per_group_engineer_day_and_durations(backend):
    office, ivanov, _ = await _make_company(backend)
    resp = await backend.http.get("/api/dashboard", headers=office["headers"])
    assert resp.status_code == 200, resp.text
    d = resp.json()
    assert d["totals"] == {
        "open": 3,
        "overdue": 1,
        "in_progress": 2,
        "due_today": 1,
        "unassigned": 1,
    }
    groups = {g["name"]: g["counts"] for g in d["by_group"]}
    assert groups["Выездные инженеры"] == {
        "open": 2,
        "overdue": 0,
        "in_progress": 1,
        "due_today": 0,
        "unassigned": 1,
    }
    assert groups["Ремонт"]["overdue"] == 1
    [eng] = d["by_engineer"]
    assert eng["id"] == ivanov["id"] and eng["counts"]["open"] == 2
    today = [p for p in d["per_day"] if p["created"]]
    assert len(d["per_day"]) == 14 and len(today) == 1
    assert today[0]["created"] == 4 and today[0]["completed"] == 1
    durations = {x["template"]: x for x in d["durations"]}
    assert durations["repair"]["completed"] == 1 and durations["repair"]["accepted"] == 2
    assert durations["repair"]["complete_median_min"] >= 0
    assert durations["field_visit"]["accepted"] == 1


async def test_dashboard_days_are_the_companys_and_durations_interpolate(backend):
    """Per day is the company's day (Europe/Moscow), not UTC's; medians and p90 interpolate
    (statistics.quantiles, method "inclusive") the same on PostgreSQL, where the database
    counts, and on SQLite."""
    office = await backend.user("office")
    await backend.user("engineer", groups=FIELD)
    ids = []
    for title in ("Касса 1", "Касса 2", "Касса 3", "Касса 4"):
        resp = await backend.create_task(office, template="repair", title=title)
        assert resp.status_code == 201, resp.text
        ids.append(resp.json()["id"])
    moscow = ZoneInfo("Europe/Moscow")
    today = dt.datetime.now(moscow).date()
    two_days_ago = dt.datetime.combine(today - dt.timedelta(days=2), dt.time(0), moscow)
    # 23:30 and 00:30 Moscow time: two company days, one UTC day (20:30 and 21:30 UTC)
    late_evening = two_days_ago + dt.timedelta(hours=23, minutes=30)
    after_midnight = two_days_ago + dt.timedelta(hours=24, minutes=30)
    minutes = dt.timedelta(minutes=1)
    for task_id, created, accept_after, complete_after in (
        (ids[0], late_evening, 10, 60),
        (ids[1], after_midnight, 20, 180),
        (ids[2], after_midnight, 30, None),
        (ids[3], after_midnight, 40, None),
    ):
        await Task.update(
            {
                Task.created_at: created,
                Task.accepted_at: created + accept_after * minutes,
                Task.completed_at: None
                if complete_after is None
                else created + complete_after * minutes,
                Task.status: "accepted" if complete_after is None else "completed",
            }
        ).where(Task.id == task_id)
    resp = await backend.http.get("/api/dashboard", headers=office["headers"])
    assert resp.status_code == 200, resp.text
    d = resp.json()
    days = {p["day"]: (p["created"], p["completed"]) for p in d["per_day"]}
    assert days[str(today - dt.timedelta(days=2))] == (1, 0)
    # task 1 completed at 00:30 of the next day; task 2 created 00:30, completed 03:30
    assert days[str(today - dt.timedelta(days=1))] == (3, 2)
    assert days[str(today)] == (0, 0)
    [repair] = [x for x in d["durations"] if x["template"] == "repair"]
    assert repair == {
        "template": "repair",
        "accepted": 4,
        "accept_median_min": 25.0,
        "accept_p90_min": 37.0,
        "completed": 2,
        "complete_median_min": 120.0,
        "complete_p90_min": 168.0,
    }


async def test_dashboard_period_and_access(backend):
    office, _, _ = await _make_company(backend)
    resp = await backend.http.get(
        "/api/dashboard?from=2026-01-01&to=2026-01-03", headers=office["headers"]
    )
    assert resp.status_code == 200
    assert [p["day"] for p in resp.json()["per_day"]] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    bad = await backend.http.get(
        "/api/dashboard?from=2026-02-01&to=2026-01-01", headers=office["headers"]
    )
    assert bad.status_code == 422
    bad = await backend.http.get("/api/dashboard?from=yesterday", headers=office["headers"])
    assert bad.status_code in (400, 422)
    engineer = await backend.user("engineer")
    assert (
        await backend.http.get("/api/dashboard", headers=engineer["headers"])
    ).status_code == 403


async def test_csv_and_xlsx_exports_follow_the_list_filters(backend):
    office, _, _ = await _make_company(backend)
    resp = await backend.http.get(
        "/api/tasks/export.csv?template=repair", headers=office["headers"]
    )
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    text = resp.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][0] == "№" and len(rows) == 3
    assert {r[1] for r in rows[1:]} == {"Блок питания", "Принтер"}
    late = next(r for r in rows[1:] if r[1] == "Принтер")
    assert late[rows[0].index("Просрочена")] == "да"  # the list's words, in Russian by default
    resp = await backend.http.get("/api/tasks/export.xlsx?q=ромашка", headers=office["headers"])
    assert resp.status_code == 200
    sheet = load_workbook(io.BytesIO(resp.content)).active
    values = list(sheet.values)
    assert len(values) == 3 and {v[1] for v in values[1:]} == {"Ромашка: касса", "Ромашка: сканер"}
    bad = await backend.http.get("/api/tasks/export.csv?status=lost", headers=office["headers"])
    assert bad.status_code == 422


async def test_dashboard_counts_refusals_by_reason(backend):
    office, _, _ = await _make_company(backend)
    admin = await backend.user("admin")
    names = [f"Дубль {uuid.uuid4().hex[:6]}", f"Нет договора {uuid.uuid4().hex[:6]}"]
    reasons = []
    for name in names:
        resp = await backend.http.post(
            "/api/refusal-reasons", json={"name": name}, headers=admin["headers"]
        )
        assert resp.status_code == 201, resp.text
        reasons.append(resp.json())
    for body in (
        {"reason_id": reasons[0]["id"]},
        {"reason_id": reasons[0]["id"], "reason": "тот же адрес"},
        {"reason_id": reasons[1]["id"]},
        {"reason": "Клиент передумал"},
    ):
        task = (await backend.create_task(office, template="repair", title="Касса")).json()
        resp = await backend.http.post(
            f"/api/tasks/{task['id']}/refuse", json=body, headers=office["headers"]
        )
        assert resp.status_code == 200, resp.text
    resp = await backend.http.get("/api/dashboard", headers=office["headers"])
    assert resp.status_code == 200, resp.text
    counts = {(r["reason_id"], r["name"]): r["count"] for r in resp.json()["refusals"]}
    assert counts[(reasons[0]["id"], names[0])] == 2
    assert counts[(reasons[1]["id"], names[1])] == 1
    assert sum(c for (rid, _), c in counts.items() if rid is None) == 1
    # most frequent first
    assert resp.json()["refusals"][0]["reason_id"] == reasons[0]["id"]
    # an earlier period counts none of them
    old = await backend.http.get(
        "/api/dashboard?from=2026-01-01&to=2026-01-03", headers=office["headers"]
    )
    assert old.json()["refusals"] == []
