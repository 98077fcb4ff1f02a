"""R2's suggestions in the PWA (issue 12), in Debian's Chromium: the office misspells a
counterparty, or names two, and fixes the title with one tap. Screenshots go to
test-output/pwa/."""

from __future__ import annotations

from playwright.async_api import expect
from test_pwa import (  # noqa: F401  (fixtures)
    DESKTOP,
    PHONE,
    _crew,
    _task,
    apps,
    browser,
)


async def _new_task(page, title: str) -> None:
    await page.get_by_role("link", name="Новая").click()
    await expect(page.get_by_role("heading", name="Новая задача")).to_be_visible()
    await page.get_by_label("Шаблон").select_option("field_visit")
    await page.get_by_label("Название").fill(title)
    await page.get_by_role("button", name="Создать").click()


async def test_office_fixes_a_misspelt_counterparty_with_one_tap(backend, apps):  # noqa: F811
    crew = await _crew(backend, "office")
    app = await apps(viewport=PHONE)
    page = app.page
    await app.login(crew["office"])

    await _new_task(page, "Рамашка: не печатает чек")
    await expect(page.locator("#new-title-error")).to_contain_text("R2:")
    fixes = page.locator("#r2-fixes button.r2-fix")
    await expect(fixes).to_have_count(1)
    await expect(page.locator("#r2-fixes")).to_contain_text("Возможно, имелся в виду")
    await expect(fixes.first).to_contain_text("Ромашка: не печатает чек")
    await app.shot("r2-1-typo-suggested")
    await app.audit()

    await fixes.first.click()
    await expect(page.get_by_label("Название")).to_have_value("Ромашка: не печатает чек")
    await expect(page.locator("#new-title-error")).to_be_hidden()
    await expect(page.locator("#r2-hint")).to_contain_text("Ромашка")
    await expect(page.locator("#new-site option")).to_have_count(2)  # none + the site
    await page.get_by_role("button", name="Создать").click()
    await expect(page.locator("article.task")).to_be_visible()
    task = await _task(backend, crew["office"], int(page.url.rsplit("/", 1)[1]))
    assert task["counterparty"]["id"] == crew["romashka"]["id"]
    assert task["title"] == "Ромашка: не печатает чек"


async def test_office_picks_one_of_two_counterparties_with_one_tap(backend, apps):  # noqa: F811
    crew = await _crew(backend, "office")
    bakery = await backend.counterparty("ООО «Пекарня Хлебница»", aliases=["Хлебница"])
    app = await apps(viewport=DESKTOP)
    page = app.page
    await app.login(crew["office"])

    title = "Ромашка и Хлебница: сверить кассы"
    await _new_task(page, title)
    # the server's words, in the language of the app (Accept-Language from pwa/js/api.js)
    await expect(page.locator("#new-title-error")).to_contain_text("названо несколько контрагентов")
    await expect(page.locator("#r2-fixes")).to_contain_text("несколько контрагентов")
    fixes = page.locator("#r2-fixes button.r2-fix")
    await expect(fixes).to_have_count(2)
    await expect(fixes.nth(0)).to_have_text("Ромашка")
    await expect(fixes.nth(1)).to_have_text("ООО «Пекарня Хлебница»")
    await app.shot("r2-2-two-names")

    await fixes.nth(1).click()
    await expect(page.get_by_label("Название")).to_have_value(title)  # kept as written
    await expect(page.locator("#r2-hint")).to_contain_text(
        "Контрагент выбран: ООО «Пекарня Хлебница»"
    )
    await app.shot("r2-3-chosen")
    await page.get_by_role("button", name="Создать").click()
    await expect(page.locator("article.task")).to_be_visible()
    task = await _task(backend, crew["office"], int(page.url.rsplit("/", 1)[1]))
    assert task["counterparty"]["id"] == bakery["id"]
    assert task["title"] == title
