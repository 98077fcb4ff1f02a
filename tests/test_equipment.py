"""The equipment registry (issue 16) through HTTP: kinds with declared attributes, serials
unique per kind and model, search, the equipment of tasks (same counterparty only, nothing
half-written), the task history of a piece, and imports that are all or nothing."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from naryad_harness import Backend
from openpyxl import Workbook

from server.assets.tables import Equipment, TaskEquipment
from server.tasks.tables import Task

pytestmark = pytest.mark.sqlite
FIELD = ("Выездные инженеры",)


@pytest.fixture
async def crew(backend: Backend) -> dict[str, Any]:
    romashka = await backend.counterparty("Ромашка")
    lutik = await backend.counterparty("Лютик")
    admin = await backend.user("admin")
    resp = await backend.http.post(
        "/api/equipment/kinds",
        json={
            "code": "pos",
            "name": "Касса",
            "attributes": [
                {"name": "firmware", "type": "string"},
                {"name": "fiscal_drive_months", "type": "integer", "required": True},
            ],
        },
        headers=admin["headers"],
    )
    assert resp.status_code == 201, resp.text
    return {
        "romashka": romashka,
        "lutik": lutik,
        "site": await backend.site(romashka["id"], "Кафе на Арбате"),
        "admin": admin,
        "office": await backend.user("office"),
        "ivanov": await backend.user("engineer", groups=FIELD, surname="Иванов"),
    }


async def _equipment(b: Backend, who: dict[str, Any], **body: Any) -> Any:
    body = {"kind": "pos", "model": "АТОЛ 30Ф", "attributes": {"fiscal_drive_months": 15}, **body}
    return await b.http.post("/api/equipment", json=body, headers=who["headers"])


async def test_equipment_is_registered_searched_and_edited(
    backend: Backend, crew: dict[str, Any]
) -> None:
    office, romashka = crew["office"], crew["romashka"]
    resp = await _equipment(
        backend,
        office,
        counterparty_id=romashka["id"],
        site_id=crew["site"]["id"],
        serial="00106712345678",
        installed_on="2026-03-01",
        warranty_until="2099-03-01",
        attributes={"firmware": "5.8.10", "fiscal_drive_months": 36},
    )
    assert resp.status_code == 201, resp.text
    pos = resp.json()
    assert pos["kind"] == "pos" and pos["kind_name"] == "Касса"
    assert pos["counterparty"] == {"id": romashka["id"], "name": "Ромашка"}
    assert pos["site"]["name"] == "Кафе на Арбате"
    assert pos["under_warranty"] is True
    assert pos["attributes"] == {"firmware": "5.8.10", "fiscal_drive_months": 36}
    other = await _equipment(
        backend, office, counterparty_id=crew["lutik"]["id"], model="Эвотор 7.3", serial="X-1"
    )
    assert other.status_code == 201, other.text

    # Search: any part of the serial or model, any case; and by counterparty.
    for query, expected in (
        ("q=12345", [pos["id"]]),
        ("q=атол", [pos["id"]]),
        ("q=x-1", [other.json()["id"]]),
        (f"counterparty={crew['lutik']['id']}", [other.json()["id"]]),
        ("kind=pos&limit=1", [other.json()["id"]]),
    ):
        resp = await backend.http.get(f"/api/equipment?{query}", headers=crew["ivanov"]["headers"])
        assert resp.status_code == 200, resp.text
        assert [e["id"] for e in resp.json()["items"]] == expected, query
    page = (await backend.http.get("/api/equipment?limit=1", headers=office["headers"])).json()
    assert page["next_cursor"] == str(other.json()["id"])

    resp = await backend.http.patch(
        f"/api/equipment/{pos['id']}",
        json={"notes": "в зале", "archived": True},
        headers=office["headers"],
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["notes"] == "в зале" and resp.json()["archived"] is True
    listed = (await backend.http.get("/api/equipment?q=атол", headers=office["headers"])).json()
    assert listed["items"] == []
    archived = await backend.http.get(
        "/api/equipment?q=атол&archived=true", headers=office["headers"]
    )
    assert [e["id"] for e in archived.json()["items"]] == [pos["id"]]
    # Engineers read; the office writes; admins keep the kinds.
    resp = await _equipment(backend, crew["ivanov"], counterparty_id=romashka["id"])
    assert resp.status_code == 403
    resp = await backend.http.post(
        "/api/equipment/kinds",
        json={"code": "printer", "name": "Принтер"},
        headers=office["headers"],
    )
    assert resp.status_code == 403


async def test_bad_equipment_is_refused_naming_the_field(
    backend: Backend, crew: dict[str, Any]
) -> None:
    office, romashka = crew["office"], crew["romashka"]
    first = await _equipment(backend, office, counterparty_id=romashka["id"], serial="SN-1")
    assert first.status_code == 201, first.text
    cases = [
        ({"serial": " sn-1 "}, "serial: «sn-1» is already used by equipment"),
        ({"kind": "toaster"}, "kind: unknown equipment kind 'toaster'"),
        ({"attributes": {"fiscal_drive_months": "15"}}, "attributes.fiscal_drive_months"),
        ({"attributes": {}}, "attributes.fiscal_drive_months: required"),
        ({"attributes": {"fiscal_drive_months": 15, "colour": "red"}}, "attributes.colour"),
        ({"site_id": (await backend.site(crew["lutik"]["id"]))["id"]}, "site_id: site"),
        ({"model": "  "}, "model: must not be blank"),
    ]
    for body, message in cases:
        resp = await _equipment(backend, office, counterparty_id=romashka["id"], **body)
        assert resp.status_code == 422, (body, resp.text)
        assert message in resp.json()["detail"], (body, resp.json()["detail"])
    # The same serial under another model is another piece.
    resp = await _equipment(
        backend, office, counterparty_id=romashka["id"], model="АТОЛ 91Ф", serial="SN-1"
    )
    assert resp.status_code == 201, resp.text
    resp = await backend.http.patch(
        f"/api/equipment/{resp.json()['id']}", json={"model": "атол 30ф"}, headers=office["headers"]
    )
    assert resp.status_code == 422 and resp.json()["detail"].startswith("serial:"), resp.text
    assert await Equipment.count() == 2


async def test_tasks_carry_their_counterpartys_equipment(
    backend: Backend, crew: dict[str, Any]
) -> None:
    office, romashka = crew["office"], crew["romashka"]
    pos = (await _equipment(backend, office, counterparty_id=romashka["id"], serial="A1")).json()
    theirs = (
        await _equipment(backend, office, counterparty_id=crew["lutik"]["id"], serial="B2")
    ).json()
    tasks_before = await Task.count()
    resp = await backend.create_task(
        office,
        template="field_visit",
        title="Ромашка: не печатает чек",
        equipment_ids=[pos["id"], theirs["id"]],
    )
    assert resp.status_code == 422, resp.text
    detail = resp.json()["detail"]
    assert detail.startswith("equipment_ids:") and "belongs to «Лютик»" in detail
    assert await Task.count() == tasks_before  # nothing half-written
    assert await TaskEquipment.count() == 0

    resp = await backend.create_task(
        office, template="field_visit", title="Ромашка: не печатает чек", equipment_ids=[pos["id"]]
    )
    assert resp.status_code == 201, resp.text
    task = resp.json()
    assert task["equipment"] == [
        {"id": pos["id"], "kind": "pos", "model": "АТОЛ 30Ф", "serial": "A1"}
    ]
    got = (await backend.http.get(f"/api/tasks/{task['id']}", headers=office["headers"])).json()
    assert got["equipment"] == task["equipment"]

    # The piece's service history.
    history = (
        await backend.http.get(f"/api/equipment/{pos['id']}", headers=office["headers"])
    ).json()
    assert [(t["id"], t["number"], t["status"]) for t in history["tasks"]] == [
        (task["id"], task["number"], "new")
    ]

    # Changing a task's equipment (the office, or the engineer holding it).
    second = (await _equipment(backend, office, counterparty_id=romashka["id"], serial="A2")).json()
    url = f"/api/tasks/{task['id']}/equipment"
    resp = await backend.http.put(
        url, json={"equipment_ids": [second["id"]]}, headers=crew["ivanov"]["headers"]
    )
    assert resp.status_code == 403, resp.text
    resp = await backend.http.put(
        url, json={"equipment_ids": [theirs["id"]]}, headers=office["headers"]
    )
    assert resp.status_code == 422 and "equipment_ids" in resp.json()["detail"]
    resp = await backend.http.put(
        url, json={"equipment_ids": [second["id"], pos["id"]]}, headers=office["headers"]
    )
    assert resp.status_code == 200, resp.text
    assert sorted(e["id"] for e in resp.json()["equipment"]) == sorted([pos["id"], second["id"]])
    events = (
        await backend.http.get(f"/api/tasks/{task['id']}/history", headers=office["headers"])
    ).json()
    changed = [e for e in events if e["kind"] == "equipment_changed"]
    assert changed and changed[-1]["data"] == {
        "old": [pos["id"]],
        "new": sorted([pos["id"], second["id"]]),
    }


def _xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_import_is_all_or_nothing_with_a_report(
    backend: Backend, crew: dict[str, Any]
) -> None:
    office = crew["office"]
    existing = await _equipment(
        backend, office, counterparty_id=crew["romashka"]["id"], serial="OLD-1"
    )
    assert existing.status_code == 201
    csv_text = (
        "Контрагент;Объект;Вид;Модель;Серийный номер;Дата установки;fiscal_drive_months\n"
        "Ромашка;Кафе на Арбате;pos;АТОЛ 30Ф;NEW-1;01.02.2026;36\n"
        "ромашка;;pos;АТОЛ 30Ф;OLD-1;;36\n"
        "Нет такого;;pos;АТОЛ 30Ф;NEW-2;;36\n"
        "Лютик;;pos;АТОЛ 30Ф;NEW-1;;много\n"
    )
    body = {"filename": "pos.csv", "data_base64": base64.b64encode(csv_text.encode()).decode()}
    resp = await backend.http.post("/api/equipment/import", json=body, headers=office["headers"])
    assert resp.status_code == 422, resp.text
    report = resp.json()["extra"]["report"]
    assert (report["accepted"], report["rejected"], report["imported"]) == (1, 3, False)
    rows = {r["row"]: r for r in report["rows"]}
    assert rows[2]["status"] == "accepted"
    assert "already used by equipment" in rows[3]["errors"][0]
    assert "counterparty" in rows[4]["errors"][0]
    assert any("fiscal_drive_months" in e for e in rows[5]["errors"])
    assert any("row 2 of this file" in e for e in rows[5]["errors"])
    assert await Equipment.count() == 1  # nothing half-imported

    xlsx = _xlsx(
        [
            [
                "counterparty",
                "site",
                "kind",
                "model",
                "serial",
                "warranty_until",
                "attr:fiscal_drive_months",
            ],
            ["Ромашка", "Кафе на Арбате", "pos", "АТОЛ 30Ф", "NEW-1", "2027-01-31", 36],
            [crew["lutik"]["id"], None, "pos", "АТОЛ 30Ф", "NEW-3", None, 15],
        ]
    )
    body = {"filename": "pos.xlsx", "data_base64": base64.b64encode(xlsx).decode()}
    resp = await backend.http.post("/api/equipment/import", json=body, headers=office["headers"])
    assert resp.status_code == 200, resp.text
    report = resp.json()
    assert (report["accepted"], report["rejected"], report["imported"]) == (2, 0, True)
    ids = [r["id"] for r in report["rows"]]
    first = (await backend.http.get(f"/api/equipment/{ids[0]}", headers=office["headers"])).json()
    assert first["site"]["name"] == "Кафе на Арбате"
    assert first["warranty_until"] == "2027-01-31"
    assert first["attributes"] == {"fiscal_drive_months": 36}
    assert await Equipment.count() == 3

    resp = await backend.http.post(
        "/api/equipment/import",
        json={"data_base64": base64.b64encode(b"serial;colour\nX;red\n").decode()},
        headers=office["headers"],
    )
    assert resp.status_code == 422 and resp.json()["detail"].startswith("columns:"), resp.text
