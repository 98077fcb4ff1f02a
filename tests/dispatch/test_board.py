"""The dispatch board in a real browser (Debian's chromium, never a downloaded one): the
map's tile server does not answer, so the board is its list, and a visit is assigned from
its nearest engineers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from naryad_harness import Backend
from playwright.async_api import Browser, async_playwright, expect

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HAVE_CHROMIUM = Path(CHROMIUM).exists()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium`", pytrace=False)
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


async def test_the_board_works_as_a_list_without_tiles_and_assigns(
    geo_postgres: Backend, browser: Browser
) -> None:
    geo = geo_postgres
    office = await geo.user("office", login="dispatcher")
    engineer = await geo.user("engineer", groups=("Выездные инженеры",), surname="Ближний")
    cp = await geo.counterparty("Ромашка")
    site = await geo.site(cp["id"], address="Москва, Тверская, 7", lat=55.76, lon=37.61)
    resp = await geo.create_task(
        office, template="field_visit", title="Ромашка: касса", site_id=site["id"]
    )
    task = resp.json()
    await geo.http.put(
        f"/api/users/{engineer['id']}/home-base",
        json={"lat": 55.75, "lon": 37.61},
        headers=office["headers"],
    )

    context = await browser.new_context(
        viewport={"width": 1280, "height": 900}, locale="ru-RU", timezone_id="Europe/Moscow"
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await page.goto(f"{geo.server.base_url}/#/login")
        await page.get_by_label("Логин").fill("dispatcher")
        await page.get_by_label("Пароль").fill("secret-pass")
        await page.locator("#login-form button[type=submit]").click()
        await expect(page.locator("#nav-dispatch")).to_be_visible()
        await page.locator("#nav-dispatch").click()
        visit = page.locator(f".board-visit[data-task-id='{task['id']}']")
        await expect(visit).to_be_visible()
        # the tile server is unreachable: the map gives way to the list, which still works
        await expect(page.locator("#board-tiles-failed")).to_be_visible(timeout=15_000)
        await expect(page.locator("#board-map")).to_be_hidden()
        await visit.locator(f"[data-nearest='{task['id']}']").click()
        nearest = visit.locator(f".nearest-engineer[data-user-id='{engineer['id']}']")
        await expect(nearest).to_contain_text("1.1 км")
        await nearest.locator(f"[data-assign='{engineer['id']}']").click()
        await expect(page.locator(f".board-visit[data-task-id='{task['id']}']")).to_have_attribute(
            "data-status", "accepted"
        )
        assert not errors, errors
    finally:
        await context.close()
    got = await geo.http.get(f"/api/tasks/{task['id']}", headers=office["headers"])
    assert got.json()["assignee"]["id"] == engineer["id"]
    assert got.json()["status"] == "accepted"
