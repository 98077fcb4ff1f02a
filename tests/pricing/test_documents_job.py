"""When a visit is done, its work order and completion act are rendered as a job and kept
with the task (issue: print forms), without anyone asking for the PDF. The backend server
runs jobs in-process (no Redis), as the demo does."""

from __future__ import annotations

import asyncio

from server.pricing.tables import StoredDocument


async def _kinds(task_id: int) -> set[str]:
    rows = await StoredDocument.select(StoredDocument.kind).where(StoredDocument.task == task_id)
    return {r["kind"] for r in rows}


async def test_done_visit_gets_its_documents_rendered_in_the_background(backend):
    office = await backend.user("office")
    engineer = await backend.user("engineer", groups=("Выездные инженеры",))
    await backend.counterparty("Ромашка")
    task = (
        await backend.create_task(office, template="field_visit", title="Ромашка: замена ФН")
    ).json()
    h = engineer["headers"]
    for action, body in (("accept", None), ("depart", None), ("arrive", {})):
        await backend.http.post(f"/api/tasks/{task['id']}/{action}", json=body, headers=h)
    assert await _kinds(task["id"]) == set()  # nothing before the visit is done
    resp = await backend.http.post(
        f"/api/tasks/{task['id']}/done", json={"completed_works": "Заменил ФН"}, headers=h
    )
    assert resp.status_code == 200
    for _ in range(150):  # the job runs after the response; give it up to 30 s
        if await _kinds(task["id"]) == {"work_order", "completion_act"}:
            break
        await asyncio.sleep(0.2)
    assert await _kinds(task["id"]) == {"work_order", "completion_act"}
    # a repair is not a visit: no documents are made for it unasked
    other = (await backend.create_task(office, template="repair", title="Блок питания")).json()
    await backend.http.post(
        f"/api/tasks/{other['id']}/assign",
        json={"user_id": engineer["id"]},
        headers=office["headers"],
    )
    await backend.http.post(f"/api/tasks/{other['id']}/done", json={}, headers=h)
    assert await _kinds(other["id"]) == set()


async def test_documents_are_in_the_counterpartys_language(backend):
    office = await backend.user("office")
    engineer = await backend.user("engineer", groups=("Выездные инженеры",))
    resp = await backend.http.post(
        "/api/counterparties",
        json={"name": "Baker Street Cafe", "language": "en"},
        headers=office["headers"],
    )
    assert resp.status_code == 201 and resp.json()["language"] == "en"
    task = (
        await backend.create_task(office, template="field_visit", title="Baker Street Cafe: till")
    ).json()
    h = engineer["headers"]
    for action, body in (
        ("accept", None),
        ("depart", None),
        ("arrive", {}),
        ("done", {"completed_works": "Fixed"}),
    ):
        await backend.http.post(f"/api/tasks/{task['id']}/{action}", json=body, headers=h)
    for _ in range(150):
        rows = await StoredDocument.select(StoredDocument.language).where(
            StoredDocument.task == task["id"]
        )
        if len(rows) == 2:
            break
        await asyncio.sleep(0.2)
    assert {r["language"] for r in rows} == {"en"}
    pdf = await backend.http.get(f"/api/tasks/{task['id']}/work-order.pdf", headers=h)
    assert pdf.status_code == 200
    assert f"-{task['number']}-en.pdf" in pdf.headers["content-disposition"]
    ru = await backend.http.get(f"/api/tasks/{task['id']}/work-order.pdf?lang=ru", headers=h)
    assert f"-{task['number']}-ru.pdf" in ru.headers["content-disposition"]
