"""CSAT in the task-list exports (issue 18): the client's score is a column of the CSV and
the XLSX, read with one extra query over the exported ids, empty where nobody rated."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from naryad_harness import Backend
from openpyxl import load_workbook

pytestmark = pytest.mark.sqlite
REMOTE = ("Удалённая техподдержка",)


async def _ok(b: Backend, who: dict[str, Any], path: str, body: Any = None) -> Any:
    resp = await b.http.post(path, json=body, headers=who["headers"])
    assert resp.status_code in (200, 201), (path, resp.text)
    return resp.json()


async def test_exports_carry_the_clients_rating(backend: Backend) -> None:
    romashka = await backend.counterparty("Ромашка")
    client = await backend.user("client", counterparty_id=romashka["id"])
    office = await backend.user("office")
    remote = await backend.user("engineer", groups=REMOTE)
    ids = []
    for title in ("касса", "сеть"):
        resp = await backend.create_task(client, template="remote_support", title=title)
        assert resp.status_code == 201, resp.text
        ids.append(resp.json()["id"])
    rated = ids[0]
    for tid in ids:
        await _ok(backend, remote, f"/api/tasks/{tid}/accept")
        await _ok(backend, remote, f"/api/tasks/{tid}/start")
        await _ok(backend, remote, f"/api/tasks/{tid}/done", {"completed_works": "ok"})
    await _ok(backend, client, f"/api/tasks/{rated}/rating", {"score": 4, "comment": "быстро"})

    resp = await backend.http.get("/api/tasks/export.csv", headers=office["headers"])
    assert resp.status_code == 200, resp.text
    rows = list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))
    column = rows[0].index("Оценка клиента")
    score = {row[1]: row[column] for row in rows[1:]}
    assert score == {"Ромашка: касса": "4", "Ромашка: сеть": ""}

    resp = await backend.http.get("/api/tasks/export.xlsx?lang=en", headers=office["headers"])
    assert resp.status_code == 200, resp.text
    sheet = load_workbook(io.BytesIO(resp.content)).active
    assert sheet is not None
    values = list(sheet.values)
    column = list(values[0]).index("Client rating")
    assert {row[1]: row[column] for row in values[1:]} == {
        "Ромашка: касса": 4,
        "Ромашка: сеть": None,
    }
