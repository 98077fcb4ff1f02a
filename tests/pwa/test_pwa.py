"""The PWA in Debian's Chromium, headless, against a real server (issue 8).

Every test drives the app as a person would and checks the result through the API: the
engineer's flow on a phone, offline actions replayed exactly once, conflicts that name the
winner, the checker, the office's create with R2, installability. Screenshots of every
screen go to test-output/pwa/.
"""

from __future__ import annotations

import asyncio
import json
import re
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
from pwa_icons import ICONS, SIZES, draw

ROOT = Path(__file__).resolve().parents[2]
PWA = ROOT / "pwa"
SHOTS = ROOT / "test-output" / "pwa"
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
AUDIT_JS = """() => {
  const visible = (el) =>
    el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const problems = [];
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (!visible(el) || el.type === 'hidden') continue;
    if (!(el.labels && el.labels.length) && !el.getAttribute('aria-label')) {
      problems.push(`unlabelled ${el.tagName.toLowerCase()} ${el.name || el.id}`);
    }
  }
  for (const el of document.querySelectorAll('button, .btn, .nav-link, .task-link, .net')) {
    if (!visible(el)) continue;
    const box = el.getBoundingClientRect();
    if (box.height < 44 || box.width < 44) {
      const name = el.textContent.trim().slice(0, 30);
      problems.push(`small target ${name} ${box.width}x${box.height}`);
    }
  }
  return problems;
}"""
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 900}
FIELD = ("Выездные инженеры",)
APP_FILES = {".html", ".js", ".css", ".json", ".webmanifest", ".png"}
SITE = {"address": "Москва, ул. Профсоюзная, 56", "lat": 55.67, "lon": 37.553}


# --- browser and pages ------------------------------------------------------------------


def _chromium_installed() -> bool:
    return Path(CHROMIUM).exists()


def _photo() -> bytes:
    return (PWA / "icons" / "icon-192.png").read_bytes()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not _chromium_installed():
        pytest.fail(
            f"{CHROMIUM} is missing: run the suite with scripts/test, which installs Debian's "
            "chromium, or `apt-get install chromium`",
            pytrace=False,
        )
    SHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


class App:
    """One browser context on the server under test, with a page and the errors it logged."""

    def __init__(self, context: BrowserContext, page: Page, base_url: str):
        self.context = context
        self.page = page
        self.base_url = base_url
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: self.errors.append(f"console: {msg.text}") if msg.type == "error" else None,
        )

    async def open(self, hash_route: str = "") -> None:
        await self.page.goto(f"{self.base_url}/{hash_route}")

    async def login(self, user: dict[str, Any]) -> None:
        await self.open("#/login")
        await self.page.get_by_label("Логин").fill(user["login"])
        await self.page.get_by_label("Пароль").fill("secret-pass")
        await self.page.locator("#login-form button[type=submit]").click()
        await expect(self.page.locator("#nav")).to_be_visible()
        # The navigation shows before the login has finished: it then takes the user to
        # their home screen, which would replace a screen a test opened meanwhile.
        await self.page.wait_for_function("() => !location.hash.startsWith('#/login')")
        await expect(self.page.locator("#login-form")).to_have_count(0)

    async def shot(self, name: str) -> None:
        await self.page.evaluate("window.scrollTo(0, 0)")
        await self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    async def audit(self) -> None:
        """Every visible control has a label; every button and link-button is a 44 px target."""
        problems = await self.page.evaluate(AUDIT_JS)
        assert not problems, problems

    async def open_task(self, task_id: int) -> None:
        await self.page.evaluate("id => { location.hash = `#/task/${id}`; }", task_id)
        await expect(self.page.locator("article.task")).to_be_visible()

    def button(self, action: str):
        return self.page.locator(f"button[data-action={action}]")

    async def wait_status(self, status: str) -> None:
        await expect(self.page.locator("article.task")).to_have_attribute("data-status", status)


@pytest.fixture
async def apps(browser: Browser, backend) -> AsyncIterator[Any]:
    """apps(viewport=..., **context options) -> App; contexts are closed after the test."""
    made: list[App] = []

    async def make(viewport: dict[str, int] = PHONE, **options: Any) -> App:
        context = await browser.new_context(
            viewport=viewport, locale="ru-RU", timezone_id="Europe/Moscow", **options
        )
        app = App(context, await context.new_page(), backend.server.base_url)
        made.append(app)
        return app

    yield make
    for app in made:
        await app.context.close()
    errors = [e for app in made for e in app.errors if not _expected_console_error(e)]
    assert not errors, errors


def _expected_console_error(text: str) -> bool:
    # Offline fetches and refused requests are logged by the browser itself; the app
    # handles them (that is what the tests check).
    return (
        "net::ERR_INTERNET_DISCONNECTED" in text
        or "Failed to load resource" in text
        or "net::ERR_FAILED" in text
    )


# --- server state through the API -------------------------------------------------------


async def _task(backend, who, task_id: int) -> dict[str, Any]:
    resp = await backend.http.get(f"/api/tasks/{task_id}", headers=who["headers"])
    assert resp.status_code == 200, resp.text
    return resp.json()


async def _kinds(backend, who, task_id: int) -> list[str]:
    resp = await backend.http.get(f"/api/tasks/{task_id}/history", headers=who["headers"])
    assert resp.status_code == 200, resp.text
    return [event["kind"] for event in resp.json()]


async def _post(backend, who, path: str, body: dict[str, Any] | None = None):
    resp = await backend.http.post(path, json=body, headers=who["headers"])
    assert resp.status_code in (200, 201), resp.text
    return resp.json()


async def _visit(backend, office, title: str = "Ромашка: не печатает чек", **extra) -> int:
    resp = await backend.create_task(office, template="field_visit", title=title, **extra)
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


PEOPLE = {
    "office": ("office", (), "Соколова"),
    "ivanov": ("engineer", FIELD, "Иванов"),
    "petrov": ("engineer", FIELD, "Петров"),
    "checker": ("checker", FIELD, "Кузнецов"),
}


async def _crew(backend, *who: str) -> dict[str, Any]:
    """Ромашка with a site, and the people named (each costs a password hash and a login)."""
    romashka = await backend.counterparty("Ромашка")
    site = await backend.site(romashka["id"], name="Магазин на Профсоюзной", **SITE)
    crew: dict[str, Any] = {"romashka": romashka, "site": site}
    for name in who:
        role, groups, surname = PEOPLE[name]
        crew[name] = await backend.user(role, groups=groups, surname=surname)
    return crew


async def _done_visit(backend, crew, title: str) -> int:
    """A visit Ivanov finished through the API, waiting for a checker."""
    tid = await _visit(backend, crew["office"], title=title, site_id=crew["site"]["id"])
    for action, body in (
        ("accept", None),
        ("depart", None),
        ("arrive", {}),
        ("done", {"completed_works": "Заменил термоголовку"}),
    ):
        await _post(backend, crew["ivanov"], f"/api/tasks/{tid}/{action}", body)
    return tid


# --- the tests --------------------------------------------------------------------------


async def test_engineer_flow_on_a_phone(backend, apps):
    crew = await _crew(backend, "office", "ivanov")
    tid = await _visit(backend, crew["office"], site_id=crew["site"]["id"], description="Касса 2")
    app = await apps(
        geolocation={"latitude": 55.6701, "longitude": 37.5531}, permissions=["geolocation"]
    )
    page = app.page

    await app.open()
    await expect(page.get_by_role("heading", name="Вход")).to_be_visible()
    await app.shot("01-login")
    await app.audit()
    await app.login(crew["ivanov"])
    await expect(page.get_by_role("heading", name="Моя очередь")).to_be_visible()
    row = page.locator(f"a.task-link[data-task-id='{tid}']")
    await expect(row).to_contain_text("Ромашка: не печатает чек")
    await app.shot("02-engineer-queue")

    await row.click()
    await app.wait_status("new")
    await expect(page.locator("#site-address")).to_have_text(SITE["address"])
    href = await page.locator("#map-link").get_attribute("href")
    assert href and "mlat=55.67" in href and "mlon=37.553" in href
    await app.shot("03-engineer-task-new")

    await app.button("accept").click()
    await app.wait_status("accepted")
    task = await _task(backend, crew["office"], tid)
    assert task["status"] == "accepted" and task["assignee"]["id"] == crew["ivanov"]["id"]

    await app.button("depart").click()
    await app.wait_status("en_route")
    assert (await _task(backend, crew["office"], tid))["status"] == "en_route"

    await app.button("arrive").click()
    await app.wait_status("in_progress")
    task = await _task(backend, crew["office"], tid)
    assert task["status"] == "in_progress" and task["arrived_at"]
    assert task["checkin_distance_m"] is not None and task["checkin_distance_m"] < 100
    assert not task["checkin_far"]
    await app.shot("04-engineer-task-on-site")
    await app.audit()

    # R8 on the phone: no completed works, no Done (and nothing is sent).
    await app.button("done").click()
    await expect(page.locator("#task-feedback")).to_contain_text("R8")
    assert (await _task(backend, crew["office"], tid))["status"] == "in_progress"
    await page.get_by_label("Выполненные работы").fill("Заменил термоголовку, проверил печать")
    await app.button("done").click()
    await app.wait_status("done")
    task = await _task(backend, crew["office"], tid)
    assert task["status"] == "done"
    assert task["completed_works"] == "Заменил термоголовку, проверил печать"
    await app.shot("05-engineer-task-done")

    kinds = await _kinds(backend, crew["office"], tid)
    for kind in ("accepted", "departed", "arrived", "done"):
        assert kinds.count(kind) == 1, kinds


async def _attachments(backend, who, task_id: int) -> list[dict[str, Any]]:
    resp = await backend.http.get(f"/api/tasks/{task_id}/attachments", headers=who["headers"])
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def _attachment_bytes(backend, who, item: dict[str, Any]) -> bytes:
    resp = await backend.http.get(item["url"], headers=who["headers"])
    assert resp.status_code == 200, resp.text
    return resp.content


def _big_png(width: int, height: int) -> bytes:
    """A plain RGB PNG larger than the app sends as it is."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    row = b"\0" + bytes((30, 120, 200)) * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height, 6))
        + chunk(b"IEND", b"")
    )


async def test_signature_and_photos_reach_the_server(backend, apps):
    crew = await _crew(backend, "office", "ivanov")
    tid = await _visit(backend, crew["office"], assignee_id=crew["ivanov"]["id"])
    app = await apps()
    page = app.page
    await app.login(crew["ivanov"])
    await app.open_task(tid)

    # A small photo is uploaded as it is, shown as a thumbnail fetched from the server.
    await page.get_by_label("Подпись к фото").fill("Касса после ремонта")
    await page.get_by_label("Добавить фото").set_input_files(
        {"name": "kassa.png", "mimeType": "image/png", "buffer": _photo()}
    )
    await expect(page.locator(".photo-status")).to_contain_text("отправлено")
    await expect(page.locator(".photos li.photo:not(.waiting) img")).to_have_count(1)
    # An <img> whose thumbnail is still being fetched has no src yet and counts as
    # "complete": wait for the picture itself.
    await expect(page.locator(".photos img")).to_have_js_property("naturalWidth", 192)
    items = await _attachments(backend, crew["office"], tid)
    assert [(i["filename"], i["content_type"], i["caption"]) for i in items] == [
        ("kassa.png", "image/png", "Касса после ремонта")
    ]
    assert await _attachment_bytes(backend, crew["office"], items[0]) == _photo()
    assert (await _kinds(backend, crew["office"], tid)).count("attachment") == 1

    # A large one is reduced on the phone to 1600 px, as a JPEG.
    await page.get_by_label("Добавить фото").set_input_files(
        {"name": "wide.png", "mimeType": "image/png", "buffer": _big_png(2400, 1200)}
    )
    await expect(page.locator(".photos li.photo:not(.waiting) img")).to_have_count(2)
    items = await _attachments(backend, crew["office"], tid)
    assert (items[1]["filename"], items[1]["content_type"]) == ("wide.jpg", "image/jpeg")
    jpeg = await _attachment_bytes(backend, crew["office"], items[1])
    sof = jpeg.index(b"\xff\xc0")
    assert struct.unpack(">HH", jpeg[sof + 5 : sof + 9]) == (800, 1600)

    canvas = page.locator("#signature-canvas")
    await canvas.scroll_into_view_if_needed()
    box = await canvas.bounding_box()
    assert box
    await page.mouse.move(box["x"] + 20, box["y"] + 100)
    await page.mouse.down()
    for i in range(1, 12):
        await page.mouse.move(box["x"] + 20 + i * 20, box["y"] + 100 - (i % 3) * 25)
    await page.mouse.up()
    await page.get_by_label("ФИО подписавшего").fill("Сидорова Анна")
    await page.locator("#signature-save").click()
    schema = (await backend.http.get("/schema/openapi.json")).json()
    if "/api/tasks/{task_id}/signature" in schema["paths"]:
        await expect(page.locator("#signature-status")).to_have_text("Подпись отправлена.")
    else:
        # Not deployed yet: the signature waits in the outbox, said plainly.
        await expect(page.locator("#signature-status")).to_contain_text("сохранена на устройстве")
        await expect(page.locator("#net-status")).to_contain_text("1 отложено")
    await app.shot("06-engineer-photos-signature")
    await app.audit()


async def test_a_photo_taken_offline_is_uploaded_once_back_online(backend, apps):
    crew = await _crew(backend, "office", "ivanov")
    tid = await _visit(backend, crew["office"], assignee_id=crew["ivanov"]["id"])
    app = await apps()
    page = app.page
    await app.login(crew["ivanov"])
    await app.open_task(tid)

    await app.context.set_offline(True)
    await expect(page.locator("#net-status")).to_contain_text("Нет сети")
    await page.get_by_label("Добавить фото").set_input_files(
        {"name": "offline.png", "mimeType": "image/png", "buffer": _photo()}
    )
    await expect(page.locator(".photos li.waiting img")).to_have_count(1)
    await expect(page.locator("#net-status")).to_contain_text("1 действие ждёт")
    await app.shot("06b-photo-waiting-offline")
    assert await _attachments(backend, crew["office"], tid) == []

    await app.context.set_offline(False)
    await expect(page.locator("#outbox-count")).to_have_count(0, timeout=15000)
    await expect(page.locator(".photos li.waiting")).to_have_count(0)
    await expect(page.locator(".photos li.photo img")).to_have_count(1)
    items = await _attachments(backend, crew["office"], tid)
    assert [i["filename"] for i in items] == ["offline.png"]
    assert await _attachment_bytes(backend, crew["office"], items[0]) == _photo()
    assert (await _kinds(backend, crew["office"], tid)).count("attachment") == 1


async def test_offline_actions_are_sent_once_when_back_online(backend, apps):
    crew = await _crew(backend, "office", "ivanov")
    tid = await _visit(backend, crew["office"], site_id=crew["site"]["id"])
    app = await apps()
    page = app.page
    await app.login(crew["ivanov"])
    await app.open_task(tid)

    await app.context.set_offline(True)
    await expect(page.locator("#net-status")).to_contain_text("Нет сети")
    await app.button("accept").click()
    await expect(page.locator("#task-feedback")).to_contain_text("сохранено на устройстве")
    await app.wait_status("accepted")  # predicted locally
    # Offline, the next action builds on the predicted state (If-Match = version + 1).
    await app.button("depart").click()
    await app.wait_status("en_route")
    await page.get_by_label("Новый комментарий").fill("Еду, буду через час")
    await page.locator("#comment-form button[type=submit]").click()
    await expect(page.locator(".comment.waiting")).to_contain_text("Еду, буду через час")
    await expect(page.locator("#net-status")).to_contain_text("3 действия ждут")
    await app.shot("07-offline-outbox-waiting")

    task = await _task(backend, crew["office"], tid)
    assert task["status"] == "new" and task["assignee"] is None

    await app.context.set_offline(False)
    await expect(page.locator("#net-status")).to_contain_text("В сети")
    await expect(page.locator("#outbox-count")).to_have_count(0, timeout=15000)
    await app.wait_status("en_route")
    await expect(page.locator("#task-feedback")).to_contain_text("Отправлено")
    await expect(page.locator(".comment.waiting")).to_have_count(0)
    await expect(page.locator(".comment")).to_contain_text("Еду, буду через час")
    await app.shot("08-offline-replayed")

    task = await _task(backend, crew["office"], tid)
    assert task["status"] == "en_route" and task["assignee"]["id"] == crew["ivanov"]["id"]
    kinds = await _kinds(backend, crew["office"], tid)
    assert kinds.count("accepted") == 1 and kinds.count("departed") == 1, kinds
    assert kinds.count("comment") == 1, kinds
    comments = (
        await backend.http.get(f"/api/tasks/{tid}/comments", headers=crew["office"]["headers"])
    ).json()
    assert [c["body"] for c in comments] == ["Еду, буду через час"]


async def test_a_lost_response_is_resent_with_the_same_key_and_applied_once(backend, apps):
    crew = await _crew(backend, "office", "ivanov")
    tid = await _visit(backend, crew["office"])
    # Routing needs the requests on the page, not inside a service worker.
    app = await apps(service_workers="block")
    page = app.page
    await app.login(crew["ivanov"])
    await app.open_task(tid)

    keys: list[str] = []
    lost = asyncio.Event()

    async def lose_the_answer(route):
        keys.append(route.request.headers["idempotency-key"])
        answer = await route.fetch()  # the server does the work...
        assert answer.status == 200
        await route.abort("connectionreset")  # ...and the phone never hears back
        lost.set()

    await page.route(f"**/api/tasks/{tid}/accept", lose_the_answer)
    await app.button("accept").click()
    await asyncio.wait_for(lost.wait(), 10)
    await expect(page.locator("#net-status")).to_contain_text("1 действие ждёт")
    assert (await _task(backend, crew["office"], tid))["status"] == "accepted"

    await page.unroute(f"**/api/tasks/{tid}/accept")
    replayed: list[str] = []
    page.on(
        "response",
        lambda r: (
            replayed.append(r.headers.get("idempotent-replayed", ""))
            if r.url.endswith(f"/api/tasks/{tid}/accept")
            else None
        ),
    )
    await page.reload()  # the app sends what waits when it starts
    await expect(page.locator("#outbox-count")).to_have_count(0, timeout=15000)
    await app.wait_status("accepted")
    assert replayed == ["true"]
    assert len(keys) == 1
    kinds = await _kinds(backend, crew["office"], tid)
    assert kinds.count("accepted") == 1, kinds


async def test_accept_conflict_names_the_winner(backend, apps):
    crew = await _crew(backend, "office", "ivanov", "petrov")
    tid = await _visit(backend, crew["office"])
    app = await apps()
    page = app.page
    await app.login(crew["ivanov"])
    await app.open_task(tid)
    await _post(backend, crew["petrov"], f"/api/tasks/{tid}/accept")

    await app.button("accept").click()
    feedback = page.locator("#task-feedback")
    await expect(feedback).to_contain_text(f"Задачу уже взял: {crew['petrov']['full_name']}")
    await app.wait_status("accepted")
    await expect(app.button("depart")).to_have_count(0)  # it is Petrov's now
    await app.shot("09-conflict-online")
    task = await _task(backend, crew["office"], tid)
    assert task["assignee"]["id"] == crew["petrov"]["id"]


async def test_offline_conflict_is_kept_and_shown(backend, apps):
    crew = await _crew(backend, "office", "ivanov", "petrov")
    tid = await _visit(backend, crew["office"])
    app = await apps()
    page = app.page
    await app.login(crew["ivanov"])
    await app.open_task(tid)

    await app.context.set_offline(True)
    await app.button("accept").click()
    await expect(page.locator("#net-status")).to_contain_text("1 действие ждёт")
    await _post(backend, crew["petrov"], f"/api/tasks/{tid}/accept")
    await app.context.set_offline(False)

    await expect(page.locator("#net-status")).to_contain_text("1 конфликт", timeout=15000)
    await expect(page.locator("#task-feedback")).to_contain_text(crew["petrov"]["full_name"])
    await page.locator("#net-status").click()
    await expect(page.get_by_role("heading", name="Исходящие")).to_be_visible()
    await expect(page.locator("#outbox-list")).to_contain_text(
        f"Задачу уже взял: {crew['petrov']['full_name']}"
    )
    await app.shot("10-outbox-conflict")
    # Discarding is the user's decision; until then the conflict stays.
    await page.get_by_role("button", name="Отменить действие").click()
    await expect(page.locator("#outbox-list")).to_have_count(0)
    await expect(page.locator("#net-status")).not_to_contain_text("конфликт")
    kinds = await _kinds(backend, crew["office"], tid)
    assert kinds.count("accepted") == 1, kinds


async def test_checker_approves_one_visit_and_returns_another(backend, apps):
    crew = await _crew(backend, "office", "ivanov", "checker")
    first = await _done_visit(backend, crew, "Ромашка: замена фискального накопителя")
    second = await _done_visit(backend, crew, "Ромашка: сканер штрихкодов")
    app = await apps()
    page = app.page
    await app.login(crew["checker"])
    await expect(page.get_by_role("heading", name="На проверку")).to_be_visible()
    await expect(page.locator("a.task-link")).to_have_count(2)
    await app.shot("11-checker-list")

    await page.locator(f"a.task-link[data-task-id='{first}']").click()
    await app.wait_status("done")
    await expect(page.locator("article.task")).to_contain_text("Заменил термоголовку")
    await app.shot("12-checker-task")
    await app.audit()
    await app.button("approve").click()
    await app.wait_status("completed")
    assert (await _task(backend, crew["office"], first))["status"] == "completed"

    await page.get_by_role("link", name="На проверку").click()
    await expect(page.locator("a.task-link")).to_have_count(1)
    await page.locator(f"a.task-link[data-task-id='{second}']").click()
    await app.wait_status("done")
    await app.button("return").click()
    await expect(page.locator("#task-feedback")).to_contain_text("почему")
    assert (await _task(backend, crew["office"], second))["status"] == "done"
    await page.get_by_label("Причина возврата").fill("Нет фото чека после замены")
    await app.button("return").click()
    await app.wait_status("in_progress")
    resp = await backend.http.get(f"/api/tasks/{second}/history", headers=crew["office"]["headers"])
    returned = [e for e in resp.json() if e["kind"] == "returned"]
    assert len(returned) == 1 and returned[0]["data"]["reason"] == "Нет фото чека после замены"
    assert (await _task(backend, crew["office"], second))["status"] == "in_progress"


# The buttons on the card, whatever form they take (button, form submit, in "More").
SHOWN_ACTIONS_JS = """() => [...new Set(
  [...document.querySelectorAll('article.task [data-action]')]
    .filter((el) => !el.closest('#task-feedback'))
    .map((el) => el.dataset.action)
)].sort()"""


async def _expect_actions(app: App, expected: list[str]) -> None:
    """The card offers exactly `expected` (waits for redraws, up to 10 s)."""
    want = sorted(expected)
    shown: list[str] = []
    for _ in range(100):
        shown = await app.page.evaluate(SHOWN_ACTIONS_JS)
        if shown == want:
            return
        await asyncio.sleep(0.1)
    assert shown == want


async def test_buttons_are_the_servers_actions(backend, apps):
    crew = await _crew(backend, "office", "ivanov", "checker")
    queued = await _visit(backend, crew["office"], title="Ромашка: касса 1")
    held = await _visit(backend, crew["office"], title="Ромашка: касса 2")
    await _post(backend, crew["ivanov"], f"/api/tasks/{held}/accept")
    checked = await _done_visit(backend, crew, "Ромашка: касса 3")

    engineer = await apps()
    await engineer.login(crew["ivanov"])
    # A new task in his group's queue.
    actions = (await _task(backend, crew["ivanov"], queued))["actions"]
    assert "accept" in actions and "depart" not in actions, actions
    await engineer.open_task(queued)
    await engineer.wait_status("new")
    await _expect_actions(engineer, actions)
    # An accepted task he holds.
    actions = (await _task(backend, crew["ivanov"], held))["actions"]
    assert "depart" in actions and "accept" not in actions, actions
    await engineer.open_task(held)
    await engineer.wait_status("accepted")
    await _expect_actions(engineer, actions)

    # A checker on a done visit.
    checker = await apps()
    await checker.login(crew["checker"])
    actions = (await _task(backend, crew["checker"], checked))["actions"]
    assert "approve" in actions and "return" in actions, actions
    await checker.open_task(checked)
    await checker.wait_status("done")
    await _expect_actions(checker, actions)


async def test_no_actions_no_buttons(backend, apps):
    crew = await _crew(backend, "office", "ivanov", "petrov")
    tid = await _visit(backend, crew["office"])
    await _post(backend, crew["petrov"], f"/api/tasks/{tid}/accept")
    assert (await _task(backend, crew["ivanov"], tid))["actions"] == []

    app = await apps()
    await app.login(crew["ivanov"])
    await app.open_task(tid)
    await app.wait_status("accepted")
    await expect(app.page.locator("article.task")).to_contain_text(crew["petrov"]["full_name"])
    assert await app.page.evaluate(SHOWN_ACTIONS_JS) == []
    await expect(app.page.locator("#done-form, details.more")).to_have_count(0)


async def test_offline_prediction_lasts_until_the_server_answers(backend, apps):
    crew = await _crew(backend, "office", "ivanov")
    tid = await _visit(backend, crew["office"], site_id=crew["site"]["id"])
    await _post(backend, crew["ivanov"], f"/api/tasks/{tid}/accept")
    app = await apps()
    page = app.page
    await app.login(crew["ivanov"])
    await app.open_task(tid)
    await _expect_actions(app, (await _task(backend, crew["ivanov"], tid))["actions"])

    await app.context.set_offline(True)
    await expect(page.locator("#net-status")).to_contain_text("Нет сети")
    await app.button("depart").click()
    await expect(page.locator("#net-status")).to_contain_text("1 действие ждёт")
    await app.wait_status("en_route")  # predicted on the device
    await _expect_actions(app, ["arrive"])  # only the next step, until the server answers
    assert (await _task(backend, crew["ivanov"], tid))["status"] == "accepted"

    await app.context.set_offline(False)
    await expect(page.locator("#outbox-count")).to_have_count(0, timeout=15000)
    server = await _task(backend, crew["ivanov"], tid)
    assert server["status"] == "en_route"
    assert "arrive" in server["actions"] and len(server["actions"]) > 1, server["actions"]
    await app.wait_status("en_route")
    await _expect_actions(app, server["actions"])
    assert (await _kinds(backend, crew["office"], tid)).count("departed") == 1


async def test_office_creates_a_task_r2_error_shown_then_fixed(backend, apps):
    crew = await _crew(backend, "office")
    app = await apps(viewport=DESKTOP)
    page = app.page
    await app.login(crew["office"])
    await page.get_by_role("link", name="Новая").click()
    await expect(page.get_by_role("heading", name="Новая задача")).to_be_visible()
    title = page.get_by_label("Название")
    await expect(title).to_be_disabled()  # R1: the template comes first

    await page.get_by_label("Шаблон").select_option("field_visit")
    await expect(title).to_be_enabled()
    await title.fill("Не печатает чек на второй кассе")
    await expect(page.locator("#r2-hint")).to_contain_text("не найден известный контрагент")
    await page.get_by_role("button", name="Создать").click()
    await expect(page.locator("#new-title-error")).to_contain_text("R2:")
    await expect(page.locator("#create-result")).to_contain_text("Задача не создана")
    await expect(title).to_have_attribute("aria-invalid", "true")
    await app.shot("13-office-create-r2-error")

    await title.fill("Ромашка: не печатает чек на второй кассе")
    await expect(page.locator("#r2-hint")).to_contain_text("Контрагент найден: Ромашка")
    await expect(page.locator("#new-site option")).to_have_count(2)  # none + the site
    await page.get_by_label("Объект").select_option(str(crew["site"]["id"]))
    await app.shot("14-office-create-r2-found")
    await app.audit()
    await page.get_by_role("button", name="Создать").click()
    await expect(page.locator("article.task")).to_be_visible()
    tid = int(page.url.rsplit("/", 1)[1])
    task = await _task(backend, crew["office"], tid)
    assert task["counterparty"]["id"] == crew["romashka"]["id"]
    assert task["site"]["id"] == crew["site"]["id"]
    assert task["title"] == "Ромашка: не печатает чек на второй кассе"


async def test_office_lists_filters_assign_dashboard_and_print(backend, apps):
    crew = await _crew(backend, "office", "ivanov", "petrov")
    await backend.counterparty("Лютик")
    visit = await _visit(backend, crew["office"])
    await _visit(backend, crew["office"], title="Лютик: весы")
    resp = await backend.create_task(crew["office"], template="repair", title="Блок питания")
    assert resp.status_code == 201
    await _done_visit(backend, crew, "Ромашка: сканер")

    app = await apps(viewport=DESKTOP)
    page = app.page
    await app.login(crew["office"])
    await expect(page.get_by_role("heading", name="Задачи")).to_be_visible()
    await expect(page.locator("a.task-link")).to_have_count(4)
    await page.get_by_label("Шаблон").select_option("field_visit")
    await expect(page.locator("a.task-link")).to_have_count(3)
    await page.get_by_label("Статус").select_option("new")
    await expect(page.locator("a.task-link")).to_have_count(2)
    await page.get_by_label("Поиск").fill("лютик")
    await page.get_by_role("button", name="Найти").click()
    await expect(page.locator("a.task-link")).to_have_count(1)
    await expect(page.locator("a.task-link")).to_contain_text("Лютик: весы")
    await app.shot("15-office-tasks-filtered")
    await app.audit()

    await app.open_task(visit)
    await page.get_by_label("Назначить исполнителя").select_option(str(crew["petrov"]["id"]))
    await page.get_by_role("button", name="Назначить", exact=True).click()
    await app.wait_status("accepted")
    task = await _task(backend, crew["office"], visit)
    assert task["assignee"]["id"] == crew["petrov"]["id"]
    href = await page.locator("#print-link").get_attribute("href")
    assert href == f"/api/tasks/{visit}/work-order.pdf"
    await app.shot("16-office-task")

    await page.get_by_role("link", name="Сводка").click()
    counts = page.locator("#status-counts")
    await expect(counts).to_be_visible()
    await expect(counts.locator(".status-new .count-n")).to_have_text("2")
    await expect(counts.locator(".status-accepted .count-n")).to_have_text("1")
    await expect(counts.locator(".status-done .count-n")).to_have_text("1")
    await expect(page.locator("#chart rect.bar-created")).to_have_count(14)
    await expect(page.locator("#chart desc")).to_contain_text("создано 4")
    await app.shot("17-office-dashboard")

    # Without the server's report (not deployed), the chart comes from the task list.
    bare = await apps(viewport=DESKTOP, service_workers="block")

    async def without_dashboard(route):
        schema = await (await route.fetch()).json()
        schema["paths"].pop("/api/dashboard", None)
        await route.fulfill(json=schema)

    await bare.page.route("**/schema/openapi.json", without_dashboard)
    await bare.login(crew["office"])
    await bare.page.get_by_role("link", name="Сводка").click()
    await expect(bare.page.locator("#chart-source")).to_contain_text("ещё не развёрнут")
    await expect(bare.page.locator("#chart desc")).to_contain_text("создано 4")
    await expect(bare.page.locator("#status-counts .status-new .count-n")).to_have_text("2")


async def test_installable_and_the_shell_works_offline(backend, apps):
    crew = await _crew(backend, "office", "ivanov")
    tid = await _visit(backend, crew["office"])

    manifest = (await backend.http.get("/manifest.webmanifest")).json()
    assert manifest["name"] and manifest["short_name"]
    assert manifest["start_url"] == "/" and manifest["display"] == "standalone"
    assert manifest["theme_color"]
    sizes = {}
    for icon in manifest["icons"]:
        png = (await backend.http.get(icon["src"])).content
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
        width, height = struct.unpack(">II", png[16:24])
        assert icon["sizes"] == f"{width}x{height}"
        sizes[width] = icon["type"]
    assert sizes == {192: "image/png", 512: "image/png"}

    app = await apps()
    page = app.page
    await app.login(crew["ivanov"])
    assert await page.evaluate(
        "async () => (await navigator.serviceWorker.ready).active.state"
    ) in ("activating", "activated")
    await page.reload()
    assert await page.evaluate("() => navigator.serviceWorker.controller !== null")
    await expect(page.locator(f"a.task-link[data-task-id='{tid}']")).to_be_visible()
    await app.open_task(tid)  # opened once online: cached for later

    await app.context.set_offline(True)
    await page.reload()
    await expect(page.locator("#net-status")).to_contain_text("Нет сети")
    await expect(page.locator("article.task")).to_be_visible()
    await expect(page.locator(".note-offline")).to_be_visible()
    await page.get_by_role("link", name="Моя очередь").click()
    await expect(page.locator(f"a.task-link[data-task-id='{tid}']")).to_be_visible()
    await app.shot("18-offline-shell-queue")

    # A fresh start with no connection at all still opens the app.
    fresh = await app.context.new_page()
    await fresh.goto(f"{app.base_url}/")
    await expect(fresh.locator("#nav")).to_be_visible()
    await fresh.close()


async def test_language_switch_is_remembered(backend, apps):
    crew = await _crew(backend, "office", "ivanov")
    await _visit(backend, crew["office"])
    app = await apps()
    page = app.page
    await app.login(crew["ivanov"])
    await page.locator("#lang-switch").click()
    await expect(page.get_by_role("heading", name="My queue")).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await page.reload()
    await expect(page.get_by_role("heading", name="My queue")).to_be_visible()
    await app.shot("19-engineer-queue-en")
    await page.get_by_role("link", name="Profile").click()
    await expect(page.locator("#me-name")).to_have_text(crew["ivanov"]["full_name"])
    await app.shot("20-profile-en")
    await app.audit()
    await page.get_by_role("radio", name="Русский").check()
    await expect(page.get_by_role("heading", name="Профиль")).to_be_visible()


def test_every_shell_file_is_precached():
    """The service worker's list names every file of the shell, so none is missing offline."""
    sw = (PWA / "sw.js").read_text()
    listed = set(re.findall(r"'(/[^']*)'", sw.split("const SHELL = [", 1)[1].split("];", 1)[0]))
    on_disk = {
        "/" + str(p.relative_to(PWA))
        for p in PWA.rglob("*")
        if p.is_file() and p.name != "sw.js" and p.suffix in APP_FILES
    }
    assert on_disk <= listed, sorted(on_disk - listed)


def _keys(node: Any, prefix: str = "") -> set[str]:
    # Plural forms ({"one", "few", "many", "other"}) differ by language: a leaf here.
    if not isinstance(node, dict) or "other" in node:
        return {prefix}
    return {k for name, child in node.items() for k in _keys(child, f"{prefix}.{name}")}


def test_both_languages_have_every_text():
    ru = json.loads((PWA / "i18n" / "ru.json").read_text())
    en = json.loads((PWA / "i18n" / "en.json").read_text())
    assert _keys(ru) == _keys(en), sorted(_keys(ru) ^ _keys(en))
    used = set()
    for path in (PWA / "js").glob("*.js"):
        used |= set(re.findall(r"\bt\('([a-z_]+\.[a-z_.]+)'", path.read_text()))
    assert {f".{key}" for key in used} <= _keys(ru), sorted({f".{k}" for k in used} - _keys(ru))


def test_icons_are_what_the_generator_draws():
    for size in SIZES:
        assert (ICONS / f"icon-{size}.png").read_bytes() == draw(size), (
            f"icon-{size}.png differs: run python tests/pwa/pwa_icons.py"
        )
