"""Issue 15 in Debian's Chromium: the office on a desktop (exports, specification, edit,
missing counterparty, dashboard words), the engineer on a phone (feed, price list, due and
distance, no risky buttons, icons, history in words), the checker's one-screen approval,
the demo's mail catcher, and offline right after the first login (20 times, CPU throttled).
Screenshots go to test-output/pwa/."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import io
import time
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
from naryad_harness import Backend, Server
from openpyxl import load_workbook
from playwright.async_api import expect
from test_pwa import DESKTOP, PHONE, SITE, App, _crew, _post, _task, _visit

from server.channels import service as channels

WIDE = {"width": 1366, "height": 850}
SECRET = "inbound-secret-i15"
DOMAIN = "naryad-i15.example"


async def _price_list(backend: Backend) -> dict[str, Any]:
    admin = await backend.user("admin", surname="Админов")
    items = {}
    for code, name, price in (
        ("W-002", "Диагностика ККТ", "1200.00"),
        ("P-001", "Термоголовка Атол 30Ф", "4300.00"),
    ):
        resp = await backend.http.post(
            "/api/price-list",
            json={"code": code, "name": name, "price": price, "vat_rate": "20"},
            headers=admin["headers"],
        )
        assert resp.status_code == 201, resp.text
        items[code] = resp.json()
    return {"admin": admin, **items}


async def _spec(backend: Backend, who: dict[str, Any], tid: int) -> dict[str, Any]:
    resp = await backend.http.get(f"/api/tasks/{tid}/specification", headers=who["headers"])
    assert resp.status_code == 200, resp.text
    spec: dict[str, Any] = resp.json()
    return spec


def _signature_png() -> str:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (300, 100), "white")
    ImageDraw.Draw(image).line([(10, 50), (100, 20), (200, 80), (290, 40)], fill="navy", width=4)
    out = io.BytesIO()
    image.save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


async def _no_mid_word_breaks(app: App, selector: str) -> list[str]:
    """Words of these elements that wrap across lines without a hyphen."""
    return await app.page.evaluate(
        """(selector) => {
          const broken = [];
          for (const el of document.querySelectorAll(selector)) {
            const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
              const re = /\\S+/g;
              let m;
              while ((m = re.exec(node.data))) {
                const range = document.createRange();
                range.setStart(node, m.index);
                range.setEnd(node, m.index + m[0].length);
                const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
                const hyphens = getComputedStyle(el).hyphens === 'auto';
                if (tops.size > 1 && !hyphens) broken.push(m[0]);
                if (tops.size > 1 && hyphens && m[0].length < 6) broken.push(m[0]);
              }
            }
          }
          return broken;
        }""",
        selector,
    )


# --- the engineer on a phone -------------------------------------------------------------


async def test_engineer_feed_price_list_and_safe_buttons_on_a_phone(backend, apps):
    crew = await _crew(backend, "office", "ivanov", "checker")
    prices = await _price_list(backend)
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)).isoformat()
    later = await _visit(
        backend, crew["office"], title="Ромашка: профилактика", site_id=crew["site"]["id"]
    )
    tid = await _visit(backend, crew["office"], site_id=crew["site"]["id"], priority="urgent")
    resp = await backend.http.patch(
        f"/api/tasks/{tid}", json={"due_resolution_at": soon}, headers=crew["office"]["headers"]
    )
    assert resp.status_code == 200, resp.text
    # The phone shares its location far from the site: the check-in is kept, as a warning.
    app = await apps(
        PHONE, geolocation={"latitude": 55.70, "longitude": 37.60}, permissions=["geolocation"]
    )
    page = app.page
    await app.login(crew["ivanov"])

    # Nav icons are drawn, not circles; the feed says how many news wait.
    assert (
        await page.locator("#nav a.nav-link svg.icon").count()
        == await page.locator("#nav a.nav-link").count()
    )
    await expect(page.locator("#feed-unread")).to_have_text("2")
    # Queue: soonest due first, with due time, priority and distance to the site.
    rows = page.locator("a.task-link")
    await expect(rows.first).to_have_attribute("data-task-id", str(tid))
    await expect(rows.first).to_contain_text("Срочный")
    await expect(rows.first).to_contain_text("срок")
    await expect(rows.first.locator(".distance")).to_contain_text("км")
    assert await page.locator(f"a.task-link[data-task-id='{later}'] .prio").count() == 0
    await app.shot("i15-01-engineer-queue-due-distance")

    await page.locator("#nav-feed").click()
    await expect(page.locator(".feed-item")).to_have_count(2)
    await expect(page.locator(".feed-item.unread").first).to_contain_text("Новая задача в очереди")
    await app.shot("i15-02-engineer-feed")
    await page.locator("button[data-action=mark-all-read]").click()
    await expect(page.locator(".feed-item.unread")).to_have_count(0)
    await expect(page.locator("#feed-unread")).to_have_count(0)

    await app.open_task(tid)
    await app.button("accept").click()
    await app.wait_status("accepted")
    assert await app.button("arrive").count() == 0  # no check-in without a departure
    await app.button("depart").click()
    await app.wait_status("en_route")
    await app.button("arrive").click()
    await app.wait_status("in_progress")
    await expect(page.locator("#task-feedback .alert-warning")).to_be_visible()
    assert (await _task(backend, crew["office"], tid))["checkin_far"] is True
    # On site: no one-tap "departed" again.
    assert await app.button("depart").count() == 0

    # Works and materials from the price list, found as you type.
    await page.locator("#spec-search").fill("Термо")
    await page.locator(f"button.spec-add[data-item-id='{prices['P-001']['id']}']").click()
    await expect(page.locator("#spec-lines tbody tr")).to_have_count(1)
    await page.locator("#spec-search").fill("диагн")
    await page.locator("#spec-discount").fill("10")
    await page.locator(f"button.spec-add[data-item-id='{prices['W-002']['id']}']").click()
    await expect(page.locator("#spec-lines tbody tr")).to_have_count(2)
    await expect(page.locator("#spec-total")).to_contain_text("5 380,00")
    spec = await _spec(backend, crew["office"], tid)
    assert [(line["name"], line["discount_percent"]) for line in spec["lines"]] == [
        ("Термоголовка Атол 30Ф", "0"),
        ("Диагностика ККТ", "10"),
    ]
    assert spec["totals"]["total"] == "5380.00"
    await app.shot("i15-03-engineer-spec")

    await expect(page.locator("#signature-h")).to_be_visible()
    await _post(
        backend,
        crew["ivanov"],
        f"/api/tasks/{tid}/signature",
        {"png_base64": _signature_png(), "signer_name": "Ирина"},
    )
    await page.get_by_label("Выполненные работы").fill("Заменил термоголовку")
    await app.button("done").click()
    await app.wait_status("done")
    await expect(page.locator("#signature-h")).to_have_count(0)  # no pad once done
    await expect(page.locator("ol.history")).to_contain_text("Клиент расписался")
    await expect(page.locator("ol.history")).to_contain_text("Добавлена строка спецификации")
    assert "signature_captured" not in await page.locator("ol.history").inner_text()

    # The checker returns it: the reason is at the top of the card and in the feed.
    await _post(backend, crew["checker"], f"/api/tasks/{tid}/return", {"reason": "Нет фото чека"})
    await page.reload()
    await expect(page.locator("#returned-banner")).to_contain_text("Нет фото чека")
    await expect(page.locator("#feed-unread")).to_have_text("1")
    await app.shot("i15-04-engineer-returned")
    await page.locator("#nav-feed").click()
    await expect(page.locator(".feed-item.unread")).to_contain_text("Нет фото чека")
    await app.audit()


# --- the checker -------------------------------------------------------------------------


async def test_checker_approves_from_one_screen(backend, apps):
    crew = await _crew(backend, "office", "ivanov", "checker")
    prices = await _price_list(backend)
    tid = await _visit(backend, crew["office"], site_id=crew["site"]["id"])
    for action, body in (
        ("accept", None),
        ("depart", None),
        ("arrive", {"lat": 55.6701, "lon": 37.5531}),
    ):
        await _post(backend, crew["ivanov"], f"/api/tasks/{tid}/{action}", body)
    await _post(
        backend,
        crew["ivanov"],
        f"/api/tasks/{tid}/specification/lines",
        {"price_item_id": prices["W-002"]["id"], "quantity": "1"},
    )
    await _post(
        backend,
        crew["ivanov"],
        f"/api/tasks/{tid}/signature",
        {"png_base64": _signature_png(), "signer_name": "Ирина"},
    )
    photo = base64.b64encode((backend_root() / "pwa/icons/icon-192.png").read_bytes()).decode()
    await _post(
        backend,
        crew["ivanov"],
        f"/api/tasks/{tid}/attachments",
        {"filename": "after.png", "content_type": "image/png", "data_base64": photo},
    )
    await _post(backend, crew["ivanov"], f"/api/tasks/{tid}/done", {"completed_works": "Готово"})

    app = await apps(WIDE)
    page = app.page
    await app.login(crew["checker"])
    await app.open_task(tid)
    await expect(page.locator("#signature-view img")).to_be_visible()
    assert await page.locator("#signature-view img").evaluate("img => img.naturalWidth") == 300
    await expect(page.locator("#checkin-facts")).to_contain_text("м от объекта")
    await expect(page.locator("#spec-lines")).to_contain_text("Диагностика ККТ")
    await expect(page.locator("#spec-locked")).to_have_count(0)
    await expect(page.locator(".photo-list img, .photos img").first).to_be_visible()
    await expect(page.locator("#act-link")).to_be_visible()
    await app.shot("i15-05-checker-one-screen")
    # Everything fits beside the approve button on one desktop screen: no other page needed.
    await app.button("approve").click()
    await app.wait_status("completed")
    await expect(page.locator("#spec-locked")).to_be_visible()
    await expect(page.locator("#act-link")).to_have_attribute(
        "href", f"/api/tasks/{tid}/completion-act.pdf"
    )


def backend_root():
    from test_pwa import ROOT

    return ROOT


# --- the office on a desktop -------------------------------------------------------------


@pytest.fixture(scope="session")
def catcher_servers() -> Any:
    started: dict[str, Server] = {}
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture
async def cb(backend: Backend, catcher_servers: dict[str, Server]) -> AsyncIterator[Backend]:
    """The backend's database behind a server with mail intake and the mail catcher on
    (no SMTP host): the demo's configuration."""
    if backend.kind not in catcher_servers:
        env = {
            "NARYAD_INBOUND_EMAIL_SECRET": SECRET,
            "NARYAD_MAIL_DOMAIN": DOMAIN,
            "NARYAD_DEV_MAIL_CATCHER": "true",
        }
        catcher_servers[backend.kind] = await asyncio.to_thread(Server, backend.url, 1, env)
    b = Backend(backend.kind, backend.url, catcher_servers[backend.kind])
    await channels.seed_default_addresses(DOMAIN)
    yield b
    await b.http.aclose()


async def _mail(b: Backend, sender: str, subject: str) -> None:
    msg = EmailMessage()
    msg["From"] = f"Мария <{sender}>"
    msg["To"] = f"project+31@{DOMAIN}"
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="client.example")
    msg.set_content("Добрый день! Касса не включается.")
    resp = await b.http.post(
        "/api/channels/email/inbound",
        content=msg.as_bytes(),
        headers={"Content-Type": "message/rfc822", "X-Naryad-Secret": SECRET},
    )
    assert resp.status_code == 200 and resp.json()["outcome"] == "task_created", resp.text


async def test_office_desktop_create_filter_export_edit_fix_and_dashboard(cb, apps):
    crew = await _crew(cb, "office", "ivanov")
    lutik = await cb.counterparty("Лютик")
    lutik_site = await cb.site(lutik["id"], name="Кафе Лютик", address="Москва, Цветной б-р, 1")
    plain = await _visit(cb, crew["office"], title="Ромашка: плановый осмотр")
    await _mail(cb, "maria@lutik-cafe.example", "Не работает касса")

    app = await apps(WIDE)
    app.base_url = cb.server.base_url  # the server with mail intake and the catcher
    page = app.page
    await app.login(crew["office"])

    # Create with priority and a due time.
    await page.locator("#nav a[href='#/new']").click()
    await page.locator("#new-template").select_option("field_visit")
    await page.locator("#new-title").fill("Ромашка: срочно не печатает чек")
    await page.locator("#new-priority").select_option("urgent")
    due = (dt.datetime.now() + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    await page.locator("#new-due").fill(due)
    await page.locator("#create-form button[type=submit]").click()
    await expect(page.locator("article.task")).to_be_visible()
    tid = int(page.url.rsplit("/", 1)[1])
    task = await _task(cb, crew["office"], tid)
    assert task["priority"] == "urgent" and task["due_resolution_at"]

    # Edit: the site of the counterparty (the counterparty, contact and site pickers).
    await page.locator("#edit-box summary").click()
    await expect(page.locator("#edit-site option")).to_have_count(2)
    await page.locator("#edit-site").select_option(str(crew["site"]["id"]))
    await page.locator("#edit-priority").select_option("high")
    await page.locator("button[data-action=save-edit]").click()
    await expect(page.locator("#edit-result")).to_contain_text("сохранены")
    task = await _task(cb, crew["office"], tid)
    assert task["site"]["id"] == crew["site"]["id"] and task["priority"] == "high"
    await expect(page.locator("#work-order-link, #print-link").first).to_be_visible()
    await app.shot("i15-06-office-task-edit")

    # The list: priority and due on each card, filters, sort, exports with the filters.
    await page.locator("#nav a[href='#/tasks']").click()
    row = page.locator(f"a.task-link[data-task-id='{tid}']")
    await expect(row).to_contain_text("Высокий")
    await expect(row).to_contain_text("срок")
    await page.locator("select[name=sort]").select_option("priority")
    await expect(page.locator("a.task-link").first).to_have_attribute("data-task-id", str(tid))
    await page.locator("select[name=counterparty]").select_option(str(crew["romashka"]["id"]))
    await expect(page.locator(f"a.task-link[data-task-id='{plain}']")).to_be_visible()
    await expect(page.locator("a.task-link")).to_have_count(2)
    href = await page.locator("#export-xlsx").get_attribute("href")
    assert href and f"counterparty={crew['romashka']['id']}" in href and "sort=priority" in href
    xlsx = await cb.http.get(href, headers=crew["office"]["headers"])
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == [
        task["number"],
        (await _task(cb, crew["office"], plain))["number"],
    ]
    assert rows[1][4] == "Высокий" and isinstance(rows[1][9], dt.datetime)
    csv_href = await page.locator("#export-csv").get_attribute("href")
    assert csv_href and "lang=ru" in csv_href
    await app.shot("i15-07-office-list-filters")

    # The missing-counterparty list, fixed in one click.
    await page.locator("#nav-missing").click()
    item = page.locator(".missing-row")
    await expect(item).to_have_count(1)
    await item.locator("select").select_option(str(lutik["id"]))
    await item.locator("button[data-action=fix]").click()
    await expect(page.locator("#missing-empty")).to_be_visible()
    await app.shot("i15-08-office-missing-fixed")
    assert lutik_site  # the counterparty has a site to choose next

    # Dashboard: words are not cut mid-word, at desktop and at 360 px.
    await page.locator("#nav a[href='#/dashboard']").click()
    await expect(page.locator("#status-counts")).to_be_visible()
    assert await _no_mid_word_breaks(app, ".count-label, #by-engineer th") == []
    await app.shot("i15-09-office-dashboard-wide")
    await page.set_viewport_size(PHONE)
    assert await _no_mid_word_breaks(app, ".count-label, #by-engineer th") == []
    await app.shot("i15-10-office-dashboard-360")


async def test_mail_catcher_keeps_what_the_demo_would_send(cb, apps):
    crew = await _crew(cb, "office")
    admin = await cb.user("admin", surname="Админов")
    await cb.user(
        "engineer", groups=("Выездные инженеры",), surname="Почтов", email="pochtov@example.com"
    )
    await _visit(cb, crew["office"], title="Ромашка: письмо инженеру")
    deadline = time.monotonic() + 20
    items: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        page = (await cb.http.get("/api/dev/mail", headers=admin["headers"])).json()
        assert page["enabled"] is True
        items = [m for m in page["items"] if m["recipient"] == "pochtov@example.com"]
        if items:
            break
        await asyncio.sleep(0.3)
    assert items and "Ромашка: письмо инженеру" in items[0]["body_text"] + items[0]["subject"]
    forbidden = await cb.http.get("/api/dev/mail", headers=crew["office"]["headers"])
    assert forbidden.status_code == 403

    app = await apps(DESKTOP)
    app.base_url = cb.server.base_url
    await app.login(admin)
    await app.page.locator("#nav-mail").click()
    await expect(app.page.locator("#mail-list")).to_contain_text("pochtov@example.com")
    await app.shot("i15-11-admin-mail-catcher")


# --- offline right after the first login -------------------------------------------------

RUNS = 20
PARALLEL = 2


async def test_offline_right_after_the_first_login_20_times(backend, browser):
    crew = await _crew(backend, "office", "ivanov")
    tid = await _visit(backend, crew["office"], site_id=crew["site"]["id"])
    await _post(backend, crew["ivanov"], f"/api/tasks/{tid}/accept")
    started = time.monotonic()
    failures: list[str] = []

    async def once(run: int) -> None:
        context = await browser.new_context(
            viewport=PHONE, locale="ru-RU", timezone_id="Europe/Moscow"
        )
        try:
            page = await context.new_page()
            cdp = await context.new_cdp_session(page)
            await cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
            app = App(context, page, backend.server.base_url)
            await app.open("#/login")
            await page.get_by_label("Логин").fill(crew["ivanov"]["login"])
            await page.get_by_label("Пароль").fill("secret-pass")
            await page.locator("#login-form button[type=submit]").click()
            row = page.locator(f"a.task-link[data-task-id='{tid}']")
            await expect(row).to_be_visible(timeout=30000)
            await row.click()
            await expect(page.locator("article.task")).to_be_visible()
            await context.set_offline(True)
            await page.reload()
            await expect(page.locator("article.task")).to_be_visible(timeout=10000)
            await expect(page.locator("#site-address")).to_have_text(SITE["address"])
            await page.locator("#nav a[href='#/queue']").click()
            await expect(row).to_be_visible(timeout=10000)
            if run == 0:
                await app.shot("i15-12-offline-after-first-login")
        finally:
            await context.close()

    async def bounded(run: int) -> None:
        try:
            await asyncio.wait_for(once(run), timeout=60)
        except Exception as exc:
            failures.append(f"run {run}: {type(exc).__name__}: {str(exc)[:200]}")

    # Two phones at a time: the server and the CPU are under load, as in the field.
    for batch in range(0, RUNS, PARALLEL):
        await asyncio.gather(*(bounded(run) for run in range(batch, min(RUNS, batch + PARALLEL))))
    elapsed = time.monotonic() - started
    assert not failures, failures
    assert elapsed < 200, f"{RUNS} runs took {elapsed:.0f} s"
