"""The client portal in the PWA (issue 18), in Debian's Chromium on a phone.

A client writes a request (with the knowledge base's hints and a photo), reads the
engineer's public reply and answers it, accepts the completion act of the finished visit and,
once the visit is completed, rates it from the link of the "completed" e-mail — taken from the
mail catcher, the demo's configuration — in the same browser the PWA's service worker runs in.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from naryad_harness import Backend, Server
from playwright.async_api import Browser, expect
from test_pwa import FIELD, PHONE, PWA, SITE, App, _expected_console_error

RATE_LINK = re.compile(r"(https?://\S+/rate/\d+/[A-Za-z0-9_\-.=]+)\?score=5")


@pytest.fixture(scope="session")
def mail_servers() -> Any:
    started: dict[str, Server] = {}
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture
async def mb(backend: Backend, mail_servers: dict[str, Server]) -> AsyncIterator[Backend]:
    """The backend's database behind a server with the mail catcher on and no SMTP host."""
    if backend.kind not in mail_servers:
        env = {"NARYAD_DEV_MAIL_CATCHER": "true", "NARYAD_SMTP_HOST": ""}
        mail_servers[backend.kind] = await asyncio.to_thread(Server, backend.url, 1, env)
    b = Backend(backend.kind, backend.url, mail_servers[backend.kind])
    yield b
    await b.http.aclose()


@pytest.fixture
async def phones(browser: Browser, mb: Backend) -> AsyncIterator[Any]:
    """phones() -> App: a phone on the mail catcher's server; no page errors allowed."""
    made: list[App] = []

    async def make() -> App:
        context = await browser.new_context(
            viewport=PHONE, locale="ru-RU", timezone_id="Europe/Moscow", has_touch=True
        )
        app = App(context, await context.new_page(), mb.server.base_url)
        made.append(app)
        return app

    yield make
    for app in made:
        await app.context.close()
    errors = [e for app in made for e in app.errors if not _expected_console_error(e)]
    assert not errors, errors


async def _ok(b: Backend, who: dict[str, Any], path: str, body: Any = None) -> Any:
    resp = await b.http.post(path, json=body, headers=who["headers"])
    assert resp.status_code in (200, 201), (path, resp.text)
    return resp.json()


async def _read(b: Backend, who: dict[str, Any], path: str) -> Any:
    resp = await b.http.get(path, headers=who["headers"])
    assert resp.status_code == 200, (path, resp.text)
    return resp.json()


async def _rate_link(b: Backend, admin: dict[str, Any], recipient: str) -> str:
    """The five-score link of the "completed" mail the catcher kept for the client."""
    for _ in range(150):
        page = await _read(b, admin, "/api/dev/mail?limit=50")
        assert page["enabled"], page
        for mail in page["items"]:
            found = RATE_LINK.search(mail["body_text"] or "")
            if recipient in mail["recipient"] and found:
                return found.group(1)
        await asyncio.sleep(0.1)
    raise AssertionError(f"no rating link mailed to {recipient}: {page['items']}")


async def test_client_requests_reads_the_reply_signs_off_and_rates_from_the_mail(
    mb: Backend, phones: Any
) -> None:
    romashka = await mb.counterparty("Ромашка")
    await mb.site(romashka["id"], name="Магазин на Профсоюзной", **SITE)
    client = await mb.user(
        "client", counterparty_id=romashka["id"], surname="Клиентова", email="anna@romashka.example"
    )
    ivanov = await mb.user("engineer", groups=FIELD, surname="Иванов")
    checker = await mb.user("checker", groups=FIELD, surname="Кузнецов")
    admin = await mb.user("admin", surname="Админов")
    article = await _ok(
        mb,
        ivanov,
        "/api/kb/articles",
        {
            "title": "Касса не печатает чек: заменить термоленту",
            "body": "1. Откройте крышку.\n2. **Замените** ленту.",
            "tags": ["касса"],
            "public": True,
        },
    )
    phone = await phones()
    page = phone.page

    # --- the client's home and a new request -------------------------------------------
    await phone.login(client)
    await expect(page.get_by_role("heading", name="Мои заявки")).to_be_visible()
    await expect(page.locator("#nav-portal")).to_have_attribute("aria-current", "page")
    await phone.shot("portal-01-home-empty")
    await phone.audit()
    await page.locator("#portal-new").click()
    await expect(page.get_by_role("heading", name="Новая заявка")).to_be_visible()
    await page.get_by_label("Вид заявки").select_option("field_visit")
    await page.get_by_label("Что случилось").fill("не печатает чек на кассе 2")
    suggestion = page.locator("#kb-suggestions a.kb-suggestion")
    await expect(suggestion).to_have_text(article["title"])
    await page.get_by_label("Подробности").fill("Лента вставлена, чек пустой.")
    await page.get_by_label("Фото или файл").set_input_files(
        files=[
            {
                "name": "check.png",
                "mimeType": "image/png",
                "buffer": (PWA / "icons" / "icon-192.png").read_bytes(),
            }
        ]
    )
    await phone.audit()
    await phone.shot("portal-02-new-request")
    await page.locator("#portal-send").click()
    article_el = page.locator("article.portal-task")
    await expect(article_el).to_have_attribute("data-status", "new")
    tid = int(re.search(r"#/portal/task/(\d+)", page.url).group(1))  # type: ignore[union-attr]
    task = await _read(mb, admin, f"/api/tasks/{tid}")
    assert task["title"] == "Ромашка: не печатает чек на кассе 2"
    assert task["channel"] == "portal" and task["counterparty"]["id"] == romashka["id"]
    assert task["description"] == "Лента вставлена, чек пустой."
    files = await _read(mb, admin, f"/api/tasks/{tid}/attachments")
    assert [(f["filename"], f["public"]) for f in files] == [("check.png", True)]
    await expect(page.locator("#portal-files")).to_contain_text("1 файл")

    # --- the engineer answers through the API; the client sees it and replies ------------
    await _ok(mb, ivanov, f"/api/tasks/{tid}/accept")
    await _ok(
        mb, ivanov, f"/api/tasks/{tid}/comments", {"body": "Буду сегодня к 15:00", "public": True}
    )
    await _ok(mb, ivanov, f"/api/tasks/{tid}/comments", {"body": "внутреннее", "public": False})
    await page.reload()
    await expect(article_el).to_have_attribute("data-status", "accepted")
    await expect(page.locator("#portal-engineer")).to_have_text("Инженер: Иванов Engineer")
    comments = page.locator("#portal-comments")
    await expect(comments).to_contain_text("Буду сегодня к 15:00")
    await expect(comments).not_to_contain_text("внутреннее")
    await page.get_by_label("Ваш ответ").fill("Ждём, вход со двора")
    await page.locator("#portal-reply-form button[type=submit]").click()
    await expect(comments).to_contain_text("Ждём, вход со двора")
    said = await _read(mb, ivanov, f"/api/tasks/{tid}/comments")
    assert [(c["body"], c["public"]) for c in said][-1] == ("Ждём, вход со двора", True)
    await phone.audit()
    await phone.shot("portal-03-reply")

    # the list shows status and engineer
    await page.locator("#nav-portal").click()
    row = page.locator(f"a.task-link[data-task-id='{tid}']")
    await expect(row).to_contain_text("Инженер: Иванов Engineer")
    await expect(row.locator(".chip")).to_have_text("Принята")
    await phone.shot("portal-04-list")

    # --- the visit is done: the client accepts the completion act -----------------------
    await _ok(mb, ivanov, f"/api/tasks/{tid}/depart")
    await _ok(mb, ivanov, f"/api/tasks/{tid}/arrive", {"lat": SITE["lat"], "lon": SITE["lon"]})
    await _ok(mb, ivanov, f"/api/tasks/{tid}/done", {"completed_works": "Заменил термоголовку"})
    await row.click()
    await expect(article_el).to_have_attribute("data-status", "done")
    await expect(page.locator("#sign-off")).to_contain_text("Заменил термоголовку")
    await expect(page.locator("#rating")).to_have_count(0)
    await page.locator("button[data-action=sign-off-accept]").click()
    await expect(page.locator("#sign-off-answer")).to_contain_text("Акт подтверждён")
    signed = await _read(mb, admin, f"/api/tasks/{tid}/sign-off")
    assert signed["decision"] == "accepted"
    await phone.shot("portal-05-act-accepted")

    # --- completed: the rating link of the e-mail, opened where the PWA runs -------------
    await _ok(mb, checker, f"/api/tasks/{tid}/approve")
    link = await _rate_link(mb, admin, "anna@romashka.example")
    assert link.startswith(f"{mb.server.base_url}/rate/{tid}/")
    await page.goto(f"{link}?score=5")
    # the server's page, not the app shell the service worker keeps
    await expect(page.locator("body")).to_contain_text("5 из 5")
    await page.locator("textarea[name=comment]").fill("Быстро и аккуратно")
    await page.locator("form button[type=submit], form input[type=submit]").first.click()
    await expect(page.locator("body")).to_contain_text("комментарий сохранён")
    await phone.shot("portal-06-rated-from-mail")
    rated = await _read(mb, admin, f"/api/tasks/{tid}")
    assert rated["rating"]["score"] == 5
    assert rated["rating"]["comment"] == "Быстро и аккуратно"
    assert rated["rating"]["by"] == client["full_name"]

    # the portal shows it, and the client may change it there
    await phone.open(f"#/portal/task/{tid}")
    await expect(article_el).to_have_attribute("data-status", "completed")
    await expect(page.locator("#rating-current")).to_have_text("Ваша оценка: 5 из 5.")
    await page.locator("button.rating-star[data-score='4']").click()
    await page.locator("#rating-form button[type=submit]").click()
    await expect(page.locator("#rating-current")).to_have_text("Ваша оценка: 4 из 5.")
    assert (await _read(mb, admin, f"/api/tasks/{tid}/rating"))["score"] == 4
    await phone.audit()
    await phone.shot("portal-07-completed")


async def test_knowledge_base_articles_written_read_and_linked_to_a_task(
    mb: Backend, phones: Any
) -> None:
    romashka = await mb.counterparty("Ромашка")
    ivanov = await mb.user("engineer", groups=FIELD, surname="Иванов")
    client = await mb.user("client", counterparty_id=romashka["id"], surname="Клиентова")
    resp = await mb.create_task(ivanov, template="field_visit", title="Ромашка: сеть")
    assert resp.status_code == 201, resp.text
    tid = resp.json()["id"]
    phone = await phones()
    page = phone.page

    await phone.login(ivanov)
    await page.locator("#nav-kb").click()
    await expect(page.get_by_role("heading", name="База знаний")).to_be_visible()
    await page.locator("#kb-new").click()
    await page.get_by_label("Заголовок").fill("Перезагрузка роутера")
    await page.get_by_label("Метки").fill("сеть, роутер")
    await page.get_by_label("Текст").fill(
        "## Шаги\n\n- Выключите **роутер**\n- <script>alert(1)</script> подождите"
    )
    await page.get_by_label("Показывать клиентам").check()
    await phone.audit()
    await page.locator("#kb-form button[type=submit]").click()
    body = page.locator("#kb-body")
    await expect(body.locator("h2")).to_have_text("Шаги")
    await expect(body.locator("strong")).to_have_text("роутер")
    await expect(body).to_contain_text("<script>alert(1)</script>")  # shown as text
    assert await body.locator("script").count() == 0
    aid = int(await page.locator("article.kb-article").get_attribute("data-article-id") or 0)
    await phone.shot("portal-08-kb-article")

    await page.locator("#kb-edit").click()
    await page.get_by_label("Заголовок").fill("Перезагрузка роутера на точке")
    await page.locator("#kb-form button[type=submit]").click()
    await expect(page.get_by_role("heading", name="Перезагрузка роутера на точке")).to_be_visible()

    # the task card: find the article and link it
    await phone.open_task(tid)
    await page.get_by_label("Найти статью, чтобы привязать").fill("роутера")
    await page.locator("#kb-task-form button[type=submit]").click()
    await page.locator("#kb-task-found button[data-action=kb-link]").first.click()
    await expect(page.locator("#kb-task-list")).to_contain_text("Перезагрузка роутера на точке")
    linked = await _read(mb, ivanov, f"/api/tasks/{tid}/articles")
    assert [a["id"] for a in linked] == [aid]
    await phone.shot("portal-09-task-article")

    # a client (another phone) searches and reads the public article
    phone = await phones()
    page = phone.page
    await phone.login(client)
    await page.locator("#nav-kb").click()
    await page.get_by_label("Поиск по статьям").fill("роутера")
    await page.locator("#kb-search button[type=submit]").click()
    await expect(page.locator("#kb-list a.kb-link")).to_have_text(
        re.compile("Перезагрузка роутера на точке")
    )
    await expect(page.locator("#kb-new")).to_have_count(0)
    await phone.audit()
    await phone.shot("portal-10-client-kb")
