"""Service contracts and labour time (issue 16) through HTTP: a new task is linked to its
counterparty's contract (or its central office's) and flagged outside it when there is none
or the month's visits or hours are used up; R10 targets come from the contract's SLA rule;
time entries add up per task, engineer and contract; the monthly report as JSON, CSV, XLSX."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from naryad_harness import Backend
from openpyxl import load_workbook

pytestmark = pytest.mark.sqlite
FIELD = ("Выездные инженеры",)
REMOTE = ("Удалённая техподдержка",)


@pytest.fixture
async def crew(backend: Backend) -> dict[str, Any]:
    chain = await backend.counterparty("Кофе Хаус")
    return {
        "romashka": await backend.counterparty("Ромашка"),
        "lutik": await backend.counterparty("Лютик"),
        "chain": chain,
        "arbat": await backend.counterparty("Кофе Хаус Арбат", parent_id=chain["id"]),
        "admin": await backend.user("admin"),
        "office": await backend.user("office"),
        "ivanov": await backend.user("engineer", groups=FIELD + REMOTE, surname="Иванов"),
    }


async def _post(b: Backend, who: dict[str, Any], url: str, body: Any, **headers: str) -> Any:
    return await b.http.post(url, json=body, headers={**who["headers"], **headers})


async def _task(b: Backend, who: dict[str, Any], template: str, title: str) -> dict[str, Any]:
    resp = await b.create_task(who, template=template, title=title)
    assert resp.status_code == 201, resp.text
    task: dict[str, Any] = resp.json()
    return task


async def test_tasks_fall_under_their_contract_until_the_allowance_is_used(
    backend: Backend, crew: dict[str, Any]
) -> None:
    admin, office, ivanov = crew["admin"], crew["office"], crew["ivanov"]
    generic = await _post(
        backend, admin, "/api/sla/rules", {"name": "все", "position": 1, "reaction_minutes": 30}
    )
    assert generic.status_code == 201, generic.text
    own = await _post(
        backend,
        admin,
        "/api/sla/rules",
        {"name": "договор", "active": False, "reaction_minutes": 240},
    )
    today = dt.date.today()
    contract = await _post(
        backend,
        office,
        "/api/contracts",
        {
            "counterparty_id": crew["romashka"]["id"],
            "number": "ТО-2026/17",
            "starts_on": str(today - dt.timedelta(days=40)),
            "sla_rule_id": own.json()["id"],
            "visits_per_month": 1,
            "hours_per_month": "1.5",
            "discount_percent": 10,
        },
    )
    assert contract.status_code == 201, contract.text
    c = contract.json()
    assert (c["hours_per_month"], c["discount_percent"], c["in_force"]) == ("1.50", "10.00", True)
    ref = {"id": c["id"], "number": "ТО-2026/17"}

    first = await _task(backend, office, "field_visit", "Ромашка: не печатает чек")
    assert (first["contract"], first["outside_contract"]) == (ref, False)
    # R10: the contract's rule (4 h), not the first matching rule (30 min).
    created = dt.datetime.fromisoformat(first["created_at"])
    assert dt.datetime.fromisoformat(first["due_reaction_at"]) - created == dt.timedelta(hours=4)
    second = await _task(backend, office, "field_visit", "Ромашка: сканер")
    assert (second["contract"], second["outside_contract"]) == (ref, True)  # 1 visit a month
    remote = await _task(backend, office, "remote_support", "Ромашка: обновить кассу")
    assert (remote["contract"], remote["outside_contract"]) == (ref, False)  # not a visit

    # 90 minutes of labour use the hours up: the next task is outside the contract.
    url = f"/api/tasks/{first['id']}/time"
    resp = await _post(backend, office, url, {"minutes": 60, "performer_id": ivanov["id"]})
    assert resp.status_code == 201, resp.text
    resp = await _post(backend, office, url, {"minutes": 30, "note": "дорога"})
    assert resp.status_code == 201, resp.text
    third = await _task(backend, office, "remote_support", "Ромашка: ещё вопрос")
    assert (third["contract"], third["outside_contract"]) == (ref, True)

    other = await _task(backend, office, "field_visit", "Лютик: касса")
    assert (other["contract"], other["outside_contract"]) == (None, True)
    later = dt.datetime.fromisoformat(other["due_reaction_at"])
    assert later - dt.datetime.fromisoformat(other["created_at"]) == dt.timedelta(minutes=30)

    # A chain's restaurant falls under its central office's contract.
    chain_contract = await _post(
        backend,
        office,
        "/api/contracts",
        {"counterparty_id": crew["chain"]["id"], "number": "КХ-1", "starts_on": str(today)},
    )
    arbat = await _task(backend, office, "field_visit", "Кофе Хаус Арбат: терминал")
    assert arbat["contract"] == {"id": chain_contract.json()["id"], "number": "КХ-1"}

    # The report: per month, used against included.
    resp = await backend.http.get(f"/api/contracts/{c['id']}/report", headers=office["headers"])
    assert resp.status_code == 200, resp.text
    month = resp.json()["months"][-1]
    assert month["month"] == today.isoformat()[:7]
    assert (month["visits_used"], month["visits_included"]) == (1, 1)
    assert (month["hours_used"], month["hours_included"]) == ("1.50", "1.50")
    assert month["outside_tasks"] == 2
    resp = await backend.http.get(
        f"/api/contracts/report.csv?counterparty={crew['romashka']['id']}",
        headers=office["headers"],
    )
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert rows[-1][:4] == ["ТО-2026/17", "Ромашка", today.isoformat()[:7], "1"]
    resp = await backend.http.get("/api/contracts/report.xlsx", headers=office["headers"])
    sheet = load_workbook(io.BytesIO(resp.content)).active
    numbers = {row[0] for row in sheet.iter_rows(min_row=2, values_only=True)}
    assert numbers == {"ТО-2026/17", "КХ-1"}

    # Labour totals of the period.
    resp = await backend.http.get("/api/labour", headers=office["headers"])
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert report["total_minutes"] == 90
    engineers = {t["name"]: t["minutes"] for t in report["by_engineer"]}
    assert engineers[ivanov["full_name"]] == 60 and sum(engineers.values()) == 90
    assert report["by_contract"] == [{"id": c["id"], "name": "ТО-2026/17", "minutes": 90}]
    resp = await backend.http.get("/api/labour/export.csv", headers=office["headers"])
    lines = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
    assert len(lines) == 3 and lines[1][5] == "ТО-2026/17"


async def test_time_entries_and_bad_contracts(backend: Backend, crew: dict[str, Any]) -> None:
    office, ivanov = crew["office"], crew["ivanov"]
    task = await _task(backend, office, "remote_support", "Ромашка: не работает интернет")
    url = f"/api/tasks/{task['id']}/time"
    # An engineer logs their own time; the phone's outbox may send it twice.
    key = {"Idempotency-Key": "time-1"}
    for _ in range(2):
        resp = await _post(backend, ivanov, url, {"minutes": 45, "note": "удалённо"}, **key)
        assert resp.status_code == 201, resp.text
    resp = await _post(backend, ivanov, url, {"minutes": 10, "performer_id": office["id"]})
    assert resp.status_code == 403
    for body in ({"minutes": 0}, {"minutes": 2000}, {"minutes": 10, "worked_on": "2999-01-01"}):
        resp = await _post(backend, ivanov, url, body)
        assert resp.status_code == 422, (body, resp.text)
    resp = await backend.http.get(url, headers=ivanov["headers"])
    assert resp.json()["total_minutes"] == 45 and len(resp.json()["items"]) == 1
    kinds = [
        e["kind"]
        for e in (
            await backend.http.get(f"/api/tasks/{task['id']}/history", headers=office["headers"])
        ).json()
    ]
    assert kinds.count("time_logged") == 1

    base = {"counterparty_id": crew["romashka"]["id"], "number": "A-1", "starts_on": "2026-01-01"}
    assert (await _post(backend, office, "/api/contracts", base)).status_code == 201
    for body, field in (
        (base, "number:"),
        ({**base, "number": "A-2", "ends_on": "2025-12-31"}, "ends_on:"),
        ({**base, "number": "A-3", "hours_per_month": "1.234"}, "hours_per_month:"),
        ({**base, "number": "A-4", "discount_percent": 120}, "discount_percent:"),
        ({**base, "number": "A-5", "sla_rule_id": 999999}, "sla_rule_id:"),
    ):
        resp = await _post(backend, office, "/api/contracts", body)
        assert resp.status_code == 422 and resp.json()["detail"].startswith(field), resp.text
    assert (
        await _post(backend, ivanov, "/api/contracts", {**base, "number": "A-6"})
    ).status_code == 403
    listed = (await backend.http.get("/api/contracts", headers=ivanov["headers"])).json()
    assert [c["number"] for c in listed] == ["A-1"]
    resp = await backend.http.patch(
        f"/api/contracts/{listed[0]['id']}", json={"status": "closed"}, headers=office["headers"]
    )
    assert resp.status_code == 200 and resp.json()["in_force"] is False


async def test_price_list_lines_take_the_contracts_discount(
    backend: Backend, crew: dict[str, Any]
) -> None:
    """A contract's price-list discount is what a line from the price list gets unless the
    line says otherwise; free lines and tasks outside any contract get none."""
    admin, office = crew["admin"], crew["office"]
    contract = {
        "counterparty_id": crew["romashka"]["id"],
        "number": "D-10",
        "starts_on": "2026-01-01",
        "discount_percent": "10",
    }
    assert (await _post(backend, office, "/api/contracts", contract)).status_code == 201
    item = await _post(
        backend, admin, "/api/price-list", {"code": "W-1", "name": "Выезд", "price": "1000"}
    )
    assert item.status_code == 201, item.text
    inside = await _task(backend, office, "field_visit", "Ромашка: весы")
    outside = await _task(backend, office, "field_visit", "Лютик: весы")

    async def line(task: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        resp = await _post(backend, office, f"/api/tasks/{task['id']}/specification/lines", body)
        assert resp.status_code == 201, resp.text
        result: dict[str, Any] = resp.json()
        return result

    from_list = {"price_item_id": item.json()["id"], "quantity": "1"}
    assert (await line(inside, from_list))["discount_percent"] == "10"
    assert (await line(inside, {**from_list, "discount_percent": "0"}))["discount_percent"] == "0"
    free = {"name": "Кабель", "price": "100", "quantity": "1"}
    assert (await line(inside, free))["discount_percent"] == "0"
    assert (await line(outside, from_list))["discount_percent"] == "0"
