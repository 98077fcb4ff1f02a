"""Work order and completion act PDFs built from the database, stored with the task and
re-rendered only when their data change (issue 7)."""

from __future__ import annotations

import asyncio
import base64
import io
from pathlib import Path

import httpx
import pytest
from naryad_harness import Server
from pypdf import PdfReader

from printing.sample import signature_png
from server.pricing.documents import DocumentConfig, ensure_documents
from server.pricing.tables import StoredDocument
from server.settings import Settings

pytestmark = pytest.mark.sqlite
OUTPUT_DIR = Path(__file__).resolve().parents[2] / "test-output" / "pricing"


def config_of(backend) -> DocumentConfig:
    """What the test server prints with: the same environment, its own public URL."""
    return DocumentConfig(public_url=backend.server.base_url, print_settings=Settings())


async def stored(task_id: int, kind: str = "work_order") -> list[dict]:
    return (
        await StoredDocument.select(
            StoredDocument.id, StoredDocument.content_hash, StoredDocument.language
        )
        .where((StoredDocument.task == task_id) & (StoredDocument.kind == kind))
        .order_by(StoredDocument.id)
    )


def links(pdf: bytes) -> list[str]:
    uris = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for annot in page.get("/Annots") or []:
            action = annot.get_object().get("/A") or {}
            if "/URI" in action:
                uris.append(str(action["/URI"]))
    return uris


async def _signed_visit(desk, backend):
    """A visit at a site, asked for by a contact, with a specification and a signature."""
    site = await backend.site(
        desk.counterparty["id"], name="Кафе на Тверской", address="Москва, Тверская ул., 7"
    )
    contact = await desk.ok(
        "office",
        "POST",
        "/api/contacts",
        {
            "name": "Петрова Анна",
            "phone": "+7 916 000-11-22",
            "counterparty_id": site["counterparty_id"],
        },
        201,
    )
    task = await desk.visit(
        site_id=site["id"],
        requester_contact_id=contact["id"],
        description="<img src=http://127.0.0.1:9/x.png> Касса не печатает чек",
    )
    tid = task["id"]
    item = await desk.item(name="Замена фискального накопителя", price="4500", vat_rate="20")
    await desk.line(tid, price_item_id=item["id"], quantity="1", discount_percent="10")
    await desk.line(tid, name="Термолента 57 мм", unit="рул", quantity="3", price="85.50")
    await desk.ok(
        "ivanov",
        "POST",
        f"/api/tasks/{tid}/signature",
        {"png_base64": base64.b64encode(signature_png()).decode(), "signer_name": "Петрова А. С."},
        201,
    )
    await desk.ok(
        "ivanov",
        "POST",
        f"/api/tasks/{tid}/done",
        {"completed_works": "Заменён фискальный накопитель"},
    )
    return task


async def test_work_order_and_completion_act_carry_the_tasks_data(desk, backend, pdf_text):
    task = await _signed_visit(desk, backend)
    tid, number = task["id"], task["number"]

    resp = await desk.call("office", "GET", f"/api/tasks/{tid}/work-order.pdf")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/pdf"
    # Kept for a person to look at, next to the renderer tests' samples.
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUTPUT_DIR / f"api_work_order_{backend.kind}.pdf").write_bytes(resp.content)
    assert resp.content.startswith(b"%PDF-")
    assert f"work-order-{number}-ru.pdf" in resp.headers["content-disposition"]
    text = pdf_text(resp.content)
    # 4500 − 10 % = 4050.00 (VAT 675.00) + 3 × 85.50 = 256.50 (без НДС) → 4306.50
    for expected in (
        f"Заказ-наряд № {number}",
        "Заказчик Ромашка",
        "Кафе на Тверской",
        "Москва, Тверская ул., 7",
        "Петрова Анна, +7 916 000-11-22",
        "Иванов",
        "Ромашка: не печатает чек",
        "<img src=http://127.0.0.1:9/x.png> Касса не печатает чек",  # text, never markup
        "Замена фискального накопителя",
        "Термолента 57 мм",
        "Заменён фискальный накопитель",
        "4 306,50",
        "675,00",
        "Петрова А. С.",
        "Подписано на устройстве инженера",
    ):
        assert expected in text, expected
    assert set(links(resp.content)) == {f"{backend.server.base_url}/#/tasks/{tid}"}

    act = await desk.call("client", "GET", f"/api/tasks/{tid}/completion-act.pdf")
    assert act.status_code == 200 and act.headers["content-type"] == "application/pdf"
    act_text = pdf_text(act.content)
    assert f"Акт выполненных работ № {number}" in act_text
    assert "4 306,50" in act_text and "Заменён фискальный накопитель" in act_text
    # the client's contact person and the site's address, on the act too
    assert "Контактное лицо Петрова Анна, +7 916 000-11-22" in act_text
    assert "Москва, Тверская ул., 7" in act_text

    english = await desk.call("office", "GET", f"/api/tasks/{tid}/work-order.pdf?lang=en")
    en_text = pdf_text(english.content)
    assert f"Work order No. {number}" in en_text and "4,306.50" in en_text
    assert "Заменён фискальный накопитель" in en_text  # user data stays as typed


async def test_only_those_who_see_the_task_get_its_documents(desk, backend):
    task = await desk.visit()
    tid = task["id"]
    other = await backend.counterparty("Лютик")
    stranger = await backend.user("client", counterparty_id=other["id"])
    for form in ("work-order.pdf", "completion-act.pdf"):
        resp = await backend.http.get(f"/api/tasks/{tid}/{form}", headers=stranger["headers"])
        assert resp.status_code == 404, resp.text
    assert (await desk.call("client", "GET", f"/api/tasks/{tid}/work-order.pdf")).status_code == 200
    assert (await desk.call("office", "GET", "/api/tasks/999999/work-order.pdf")).status_code == 404
    resp = await desk.call("office", "GET", f"/api/tasks/{tid}/work-order.pdf?lang=de")
    assert resp.status_code == 422 and "lang" in resp.json()["detail"]
    # (backend.http carries the last login's session cookie; a bare client does not)
    async with httpx.AsyncClient(base_url=backend.server.base_url) as anonymous:
        assert (await anonymous.get(f"/api/tasks/{tid}/work-order.pdf")).status_code == 401


async def test_identical_data_identical_bytes_and_changes_store_a_new_document(
    desk, backend, pdf_text
):
    task = await desk.visit()
    tid = task["id"]
    await desk.line(tid, name="Диагностика", quantity="1", price="1000")
    url = f"/api/tasks/{tid}/work-order.pdf"

    first = await desk.call("office", "GET", url)
    second = await desk.call("client", "GET", url)
    assert first.content == second.content
    assert first.headers["etag"] == second.headers["etag"]
    rows = await stored(tid)
    assert len(rows) == 1 and f'"{rows[0]["content_hash"]}"' == first.headers["etag"]
    not_modified = await desk.call(
        "office", "GET", url, headers={"If-None-Match": first.headers["etag"]}
    )
    assert not_modified.status_code == 304 and not_modified.content == b""

    # rendered again from scratch, the same data gives the same bytes
    await StoredDocument.delete().where(StoredDocument.task == tid)
    again = await desk.call("office", "GET", url)
    assert again.content == first.content
    assert len(await stored(tid)) == 1

    # a specification change is new data: a new document, stored beside the old one
    await desk.line(tid, name="Замена блока питания", quantity="1", price="2500")
    changed = await desk.call("office", "GET", url)
    assert changed.content != first.content and changed.headers["etag"] != first.headers["etag"]
    assert "Замена блока питания" in pdf_text(changed.content)
    assert "3 500,00" in pdf_text(changed.content)
    assert len(await stored(tid)) == 2


async def test_ensure_documents_renders_only_what_changed(desk, backend):
    task = await desk.visit()
    tid = task["id"]
    await desk.line(tid, name="Диагностика", quantity="1", price="1000")
    config = config_of(backend)
    await desk.call("office", "GET", f"/api/tasks/{tid}/work-order.pdf")  # stored by the server

    # before the work is done there is an order but no act to issue
    made = await ensure_documents(tid, config=config)
    assert {(d.kind, d.language, d.created) for d in made} == {
        ("work_order", "ru", False),  # the server's copy already matches the data
    }
    assert [d.content_hash for d in made] == [r["content_hash"] for r in await stored(tid)]
    again = await ensure_documents(tid, config=config)
    assert [(d.created, d.content_hash) for d in again] == [(False, made[0].content_hash)]
    assert len(await stored(tid)) == 1 and await stored(tid, "completion_act") == []

    # the job after the visit is done: completed works changed the order and the act is
    # due, and the server's own background job stores them (jobs/documents.py)
    await desk.ok("ivanov", "POST", f"/api/tasks/{tid}/done", {"completed_works": "Проверено"})
    for _ in range(150):
        if len(await stored(tid)) == 2 and len(await stored(tid, "completion_act")) == 1:
            break
        await asyncio.sleep(0.2)
    assert len(await stored(tid)) == 2 and len(await stored(tid, "completion_act")) == 1
    after_done = await ensure_documents(tid, config=config)
    assert [d.created for d in after_done] == [False, False]  # the job already rendered them
    assert {d.content_hash for d in after_done} <= {
        r["content_hash"]
        for kind in ("work_order", "completion_act")
        for r in await stored(tid, kind)
    }
    assert len(await stored(tid)) == 2 and len(await stored(tid, "completion_act")) == 1
    # the endpoint now serves what the job stored, without rendering or storing again
    resp = await desk.call("office", "GET", f"/api/tasks/{tid}/completion-act.pdf")
    assert resp.headers["etag"] == f'"{after_done[1].content_hash}"'
    assert len(await stored(tid, "completion_act")) == 1

    assert await ensure_documents(999999, config=config) == []


async def test_forms_print_the_clients_contact_never_the_employee_who_typed_it(
    desk, backend, pdf_text
):
    office = await desk.person("office")
    site = await backend.site(desk.counterparty["id"], name="Склад", address="Химки, ул. Ленина, 3")
    task = await desk.visit(site_id=site["id"])  # typed by the office, no requester contact
    tid = task["id"]
    assert task["requester"]["kind"] == "user" and task["requester"]["id"] == office["id"]
    await desk.ok("ivanov", "POST", f"/api/tasks/{tid}/done", {"completed_works": "Готово"})
    for form in ("work-order.pdf", "completion-act.pdf"):
        resp = await desk.call("office", "GET", f"/api/tasks/{tid}/{form}")
        assert resp.status_code == 200, resp.text
        text = pdf_text(resp.content)
        assert "Химки, ул. Ленина, 3" in text
        assert office["full_name"] not in text and "Контактное лицо" not in text


async def test_a_completion_act_is_issued_only_for_finished_work(desk, backend):
    task = await desk.visit()
    tid = task["id"]
    resp = await desk.call("office", "GET", f"/api/tasks/{tid}/completion-act.pdf")
    assert resp.status_code == 409, resp.text
    assert f"#{task['number']}" in resp.json()["detail"]
    assert await stored(tid, "completion_act") == []
    await desk.ok("ivanov", "POST", f"/api/tasks/{tid}/done", {"completed_works": "Готово"})
    assert (
        await desk.call("office", "GET", f"/api/tasks/{tid}/completion-act.pdf")
    ).status_code == 200
    await desk.ok("checker", "POST", f"/api/tasks/{tid}/approve")
    resp = await desk.call("client", "GET", f"/api/tasks/{tid}/completion-act.pdf")
    assert resp.status_code == 200
    # a refused task has no act either
    refused = await desk.ok(
        "office",
        "POST",
        "/api/tasks",
        {"template": "field_visit", "title": "Ромашка: не печатает чек"},
        201,
    )
    await desk.ok("office", "POST", f"/api/tasks/{refused['id']}/refuse", {"reason": "Дубль"})
    resp = await desk.call("office", "GET", f"/api/tasks/{refused['id']}/completion-act.pdf")
    assert resp.status_code == 409 and f"#{refused['number']}" in resp.json()["detail"]


async def test_a_render_over_the_time_limit_answers_503(desk, backend):
    # A server whose print time limit no render can meet.
    impatient = await asyncio.to_thread(
        Server, backend.url, extra_env={"NARYAD_PRINT_TIMEOUT_S": "0.000001"}
    )
    try:
        task = await desk.visit()
        office = await desk.person("office")
        resp = await backend.http.get(
            f"{impatient.base_url}/api/tasks/{task['id']}/work-order.pdf", headers=office["headers"]
        )
    finally:
        impatient.stop()
    assert resp.status_code == 503, resp.text
    assert "did not render within" in resp.json()["detail"]
    assert await stored(task["id"]) == []
