"""Issue 16 in Debian's Chromium: the engineer sees the visit's equipment with its serial on a
phone, fills the checklist and logs time offline (large targets), and everything reaches
the server once when the connection is back; the office's service screen lists equipment.
Screenshots go to test-output/pwa/."""

from __future__ import annotations

from typing import Any

from naryad_harness import Backend
from playwright.async_api import expect
from test_pwa import DESKTOP, _crew, _task, _visit


async def _setup(backend: Backend, crew: dict[str, Any]) -> dict[str, Any]:
    admin = await backend.user("admin", surname="Админов")
    for path, body in (
        (
            "/api/templates/field_visit/checklist",
            {
                "items": [
                    {"text": "Проверить фискальный накопитель", "required": True},
                    {"text": "Напряжение, В", "required": True, "kind": "number"},
                ]
            },
        ),
        ("/api/equipment/kinds", {"code": "pos", "name": "Касса"}),
    ):
        method = backend.http.put if path.endswith("checklist") else backend.http.post
        resp = await method(path, json=body, headers=admin["headers"])
        assert resp.status_code in (200, 201), resp.text
    resp = await backend.http.post(
        "/api/equipment",
        json={
            "counterparty_id": crew["romashka"]["id"],
            "kind": "pos",
            "model": "АТОЛ 30Ф",
            "serial": "00106712345678",
        },
        headers=crew["office"]["headers"],
    )
    assert resp.status_code == 201, resp.text
    return {"admin": admin, "pos": resp.json()}


async def test_checklist_and_time_on_a_phone_offline_are_sent_once(backend, apps):
    crew = await _crew(backend, "office", "ivanov")
    made = await _setup(backend, crew)
    tid = await _visit(
        backend,
        crew["office"],
        site_id=crew["site"]["id"],
        assignee_id=crew["ivanov"]["id"],
        equipment_ids=[made["pos"]["id"]],
    )
    app = await apps()
    page = app.page
    await app.login(crew["ivanov"])
    await app.open_task(tid)
    await expect(page.locator("#task-equipment")).to_contain_text("00106712345678")
    await expect(page.locator(".checklist-item")).to_have_count(2)
    await app.audit()

    await app.context.set_offline(True)
    await expect(page.locator("#net-status")).to_contain_text("Нет сети")
    await page.locator(".checklist-item[data-kind=check] button").click()
    await expect(page.locator(".checklist-item[data-kind=check] .chip-pending")).to_have_count(1)
    volts = page.locator(".checklist-item[data-kind=number] input")
    await volts.fill("221.5")
    await volts.press("Tab")
    await expect(page.locator(".checklist-item[data-kind=number] .chip-pending")).to_have_count(1)
    await page.get_by_label("Минут").fill("45")
    await page.locator(".time-form button[type=submit]").click()
    await expect(page.locator("#net-status")).to_contain_text("ждут")
    await app.shot("16-checklist-offline")
    checklist = (
        await backend.http.get(f"/api/tasks/{tid}/checklist", headers=crew["office"]["headers"])
    ).json()
    assert checklist["open_required"] == 2  # nothing reached the server yet

    await app.context.set_offline(False)
    await expect(page.locator("#outbox-count")).to_have_count(0, timeout=15000)
    checklist = (
        await backend.http.get(f"/api/tasks/{tid}/checklist", headers=crew["office"]["headers"])
    ).json()
    assert [i["value"] for i in checklist["items"]] == [True, 221.5]
    assert checklist["open_required"] == 0
    time = (
        await backend.http.get(f"/api/tasks/{tid}/time", headers=crew["office"]["headers"])
    ).json()
    assert time["total_minutes"] == 45 and len(time["items"]) == 1
    history = (
        await backend.http.get(f"/api/tasks/{tid}/history", headers=crew["office"]["headers"])
    ).json()
    kinds = [e["kind"] for e in history]
    assert kinds.count("checklist_item_set") == 2 and kinds.count("time_logged") == 1, kinds
    task = await _task(backend, crew["office"], tid)
    assert task["equipment"][0]["serial"] == "00106712345678"
    await app.shot("16-checklist-sent")


async def test_office_finds_equipment_on_the_service_screen(backend, apps):
    crew = await _crew(backend, "office")
    await _setup(backend, crew)
    app = await apps(viewport=DESKTOP)
    page = app.page
    await app.login(crew["office"])
    await page.evaluate("() => { location.hash = '#/service?tab=equipment&q=12345'; }")
    await expect(page.locator("[data-equipment-id]")).to_have_count(1)
    await expect(page.locator("[data-equipment-id]")).to_contain_text("АТОЛ 30Ф")
    await app.shot("16-service-equipment")
    for tab in ("contracts", "plans", "labour"):
        await page.evaluate("t => { location.hash = `#/service?tab=${t}`; }", tab)
        await expect(page.locator(".service-body .alert-error")).to_have_count(0)
