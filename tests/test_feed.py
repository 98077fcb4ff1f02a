"""Issue 15 (server side): the engineer's in-app feed, the task list's new filters and
sorts, exports in words with real dates, "by engineer" with engineers only."""

from __future__ import annotations

import datetime as dt
import io
import urllib.parse
from typing import Any

import pytest
from naryad_harness import Backend
from openpyxl import load_workbook

pytestmark = pytest.mark.sqlite
FIELD = ("Выездные инженеры",)


async def _post(b: Backend, who: dict[str, Any], path: str, body: Any = None) -> Any:
    resp = await b.http.post(path, json=body, headers=who["headers"])
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


async def _feed(b: Backend, who: dict[str, Any]) -> dict[str, Any]:
    resp = await b.http.get("/api/me/feed", headers=who["headers"])
    assert resp.status_code == 200, resp.text
    feed: dict[str, Any] = resp.json()
    return feed


async def _visit(b: Backend, office: dict[str, Any], site: dict[str, Any], **kw: Any) -> int:
    resp = await b.create_task(
        office, template="field_visit", title="Ромашка: не печатает чек", site_id=site["id"], **kw
    )
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


async def test_the_feed_tells_an_engineer_what_changed_in_their_work(backend: Backend) -> None:
    romashka = await backend.counterparty("Ромашка")
    site = await backend.site(romashka["id"], name="Магазин", lat=55.7, lon=37.6)
    office = await backend.user("office", surname="Соколова")
    ivanov = await backend.user("engineer", groups=FIELD, surname="Иванов")
    petrov = await backend.user("engineer", groups=FIELD, surname="Петров")
    checker = await backend.user("checker", groups=FIELD, surname="Кузнецов")
    client = await backend.user("client", counterparty_id=romashka["id"], surname="Клиентов")

    tid = await _visit(backend, office, site)
    for who in (ivanov, petrov):
        feed = await _feed(backend, who)
        assert [(i["kind"], i["task_id"]) for i in feed["items"]] == [("queue_new", tid)]
        assert feed["unread"] == 1
    assert (await _feed(backend, office))["items"] == []

    await _post(backend, ivanov, f"/api/tasks/{tid}/accept")
    await _post(backend, ivanov, f"/api/tasks/{tid}/redirect", {"user_id": petrov["id"]})
    feed = await _feed(backend, petrov)
    assert feed["items"][0]["kind"] == "assigned" and feed["items"][0]["actor"].startswith("Иванов")
    for action, body in (("depart", None), ("arrive", {}), ("done", {"completed_works": "Ок"})):
        await _post(backend, petrov, f"/api/tasks/{tid}/{action}", body)
    await _post(backend, checker, f"/api/tasks/{tid}/return", {"reason": "Нет фото чека"})
    top = (await _feed(backend, petrov))["items"][0]
    assert (top["kind"], top["reason"], top["read"]) == ("returned", "Нет фото чека", False)

    await _post(backend, client, f"/api/tasks/{tid}/comments", {"body": "Спасибо, ждём"})
    top = (await _feed(backend, petrov))["items"][0]
    assert top["kind"] == "client_reply" and "ждём" in top["text"]

    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    await _post(backend, petrov, f"/api/tasks/{tid}/postpone", {"until": until, "reason": "нет"})
    await _post(backend, office, f"/api/tasks/{tid}/resume")
    feed = await _feed(backend, petrov)
    assert feed["items"][0]["kind"] == "resumed"
    assert feed["unread"] == 5

    first = feed["items"][-1]["id"]
    marked = await _post(backend, petrov, "/api/me/feed/read", {"ids": [first]})
    assert marked == {"marked": 1, "unread": 4}
    assert (await _post(backend, petrov, "/api/me/feed/read", {}))["unread"] == 0
    assert all(i["read"] for i in (await _feed(backend, petrov))["items"])
    # One's feed is one's own: Ivanov's lines are untouched.
    assert (await _feed(backend, ivanov))["unread"] == 1
    assert (await backend.http.get("/api/me/feed", headers=client["headers"])).status_code == 403


async def test_list_filters_and_sorts_for_the_office(backend: Backend) -> None:
    romashka = await backend.counterparty("Ромашка")
    site = await backend.site(romashka["id"], name="Магазин")
    office = await backend.user("office", surname="Соколова")
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    late = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    a = await _visit(backend, office, site, priority="low")
    b = await _visit(backend, office, site, priority="urgent")
    c = await _visit(backend, office, site, priority="high")
    for tid, due in ((a, late), (b, soon), (c, past)):
        resp = await backend.http.patch(
            f"/api/tasks/{tid}",
            json={"due_resolution_at": due.isoformat()},
            headers=office["headers"],
        )
        assert resp.status_code == 200, resp.text

    async def ids(**params: str) -> list[int]:
        resp = await backend.http.get(
            "/api/tasks?" + urllib.parse.urlencode(params), headers=office["headers"]
        )
        assert resp.status_code == 200, resp.text
        return [t["id"] for t in resp.json()["items"]]

    assert await ids() == [c, b, a]
    assert await ids(sort="due") == [c, b, a]
    assert await ids(sort="priority") == [b, c, a]
    assert await ids(overdue="true") == [c]
    assert await ids(overdue="false") == [b, a]
    # pages of a sorted list follow each other
    first = (
        await backend.http.get("/api/tasks?sort=priority&limit=2", headers=office["headers"])
    ).json()
    rest = (
        await backend.http.get(
            f"/api/tasks?sort=priority&limit=2&cursor={first['next_cursor']}",
            headers=office["headers"],
        )
    ).json()
    assert [t["id"] for t in first["items"] + rest["items"]] == [b, c, a]
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    yesterday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    assert await ids(created_from=yesterday, created_to=tomorrow) == [c, b, a]
    assert await ids(created_from=tomorrow) == []
    bad = await backend.http.get("/api/tasks?sort=title", headers=office["headers"])
    assert bad.status_code == 422 and "sort" in bad.json()["detail"]

    # Exports: the same filters, words instead of codes, dates as dates.
    resp = await backend.http.get(
        "/api/tasks/export.xlsx?sort=due&overdue=false&lang=ru", headers=office["headers"]
    )
    assert resp.status_code == 200, resp.text
    sheet = load_workbook(io.BytesIO(resp.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:5] == ("№", "Название", "Шаблон", "Статус", "Приоритет")
    assert [r[4] for r in rows[1:]] == ["Срочный", "Низкий"]
    assert rows[1][2] == "Выезд" and rows[1][3] == "Новая"
    assert isinstance(rows[1][9], dt.datetime) and isinstance(rows[1][12], dt.datetime)
    csv_en = await backend.http.get(
        "/api/tasks/export.csv?lang=en&priority=x", headers=office["headers"]
    )
    text = csv_en.content.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("No.,Title,Template,Status,Priority")
    assert "Field visit,New,High" in text


async def test_by_engineer_counts_engineers_only(backend: Backend) -> None:
    romashka = await backend.counterparty("Ромашка")
    site = await backend.site(romashka["id"], name="Магазин")
    office = await backend.user("office", groups=("Бухгалтерия",), surname="Соколова")
    ivanov = await backend.user("engineer", groups=FIELD, surname="Иванов")
    tid = await _visit(backend, office, site)
    await _post(backend, ivanov, f"/api/tasks/{tid}/accept")
    resp = await backend.create_task(
        office, template="accounting", title="Ромашка: акт сверки", assignee_id=office["id"]
    )
    assert resp.status_code == 201, resp.text
    dash = (await backend.http.get("/api/dashboard", headers=office["headers"])).json()
    assert [e["name"] for e in dash["by_engineer"]] == [ivanov["full_name"]]
