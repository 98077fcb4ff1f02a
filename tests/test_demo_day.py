"""A scripted demo day leaves no errors in the logs (issue #11).

`naryad migrate`, `naryad seed-demo` and `naryad serve` run as real processes on (a) the
embedded default, a fresh SQLite file with jobs in-process, and (b) a fresh PostgreSQL
database with Redis and one `naryad worker`. An aiosmtpd sink on loopback is the mail
server. The day is driven over HTTP as the PWA drives it — session cookies, an
Idempotency-Key on every POST (some replayed), If-Match with the version on screen — by
every demo role, plus a client account, mail intake and an SLA sweep. Then every
notification must have ended `sent` (the sink has them), and the captured logs of every
process must hold no traceback and no ERROR line, in either log format.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import inspect
import os
import re
import struct
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from aiosmtpd.controller import Controller
from naryad_harness import PG_URL, ROOT, _free_port, _with_database

from server.demo import DEMO_PASSWORD

DOMAIN = "naryad.test"
SUPPORT = f"support@{DOMAIN}"
SECRET = "demo-day-inbound-secret"
REDIS_BASE = os.environ.get("NARYAD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_URL = REDIS_BASE.rsplit("/", 1)[0] + "/11"  # a db of its own, flushed by this test
OUT = ROOT / "test-output"
SETTLE_S = 40.0

# What an error looks like in our logs: structlog's console ("[error    ]") and JSON
# ("level": "error") renderers, stdlib/uvicorn ("ERROR:") and Python's last-resort output
# (a traceback, or asyncio's complaints about tasks and sessions).
ERROR_LINE = re.compile(
    r"Traceback \(most recent call last\)"
    r"|\[\s*(error|critical|exception)\s*\]"
    r"|\"level\":\s*\"(error|critical|exception)\""
    r"|^\s*(ERROR|CRITICAL)[: ]"
    r"|exception was never retrieved"
    r"|was destroyed but it is pending"
    r"|^Exception ignored in"
    r"|Unclosed (client session|connection)",
    re.IGNORECASE | re.MULTILINE,
)


def _error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if ERROR_LINE.search(line)]


def test_error_line_detector_knows_every_format() -> None:
    """The check below is only as good as this pattern: it must see all of these."""
    bad = [
        "2026-11-28T00:10:31Z [error    ] unhandled error            error=ValueError()",
        '{"event": "unhandled error", "level": "error", "timestamp": "2026-11-28"}',
        '{"level":"critical","event":"boom"}',
        "ERROR:    Exception in ASGI application",
        "Traceback (most recent call last):",
        "Task exception was never retrieved",
        "Task was destroyed but it is pending!",
    ]
    good = [
        "2026-11-28T00:10:31Z [info     ] notification skipped   reason='not configured'",
        "2026-11-28T00:10:31Z [info     ] notification will be retried error='SMTP 451'",
        '{"event": "request", "level": "info", "path": "/api/tasks/1/errors"}',
        "INFO:     Application startup complete.",
    ]
    assert [line for line in bad if not _error_lines(line)] == []
    assert [line for line in good if _error_lines(line)] == []


# --- the outside world ------------------------------------------------------------------


class MailSink:
    """aiosmtpd handler: every message is accepted (250) and kept with its recipients."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.mails: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        with self.lock:
            self.mails.append((list(envelope.rcpt_tos), msg))  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str, subject_fragment: str = "") -> list[EmailMessage]:
        with self.lock:
            return [
                m
                for rcpts, m in self.mails
                if address in rcpts and subject_fragment in str(m["Subject"])
            ]

    def recipients(self) -> list[str]:
        with self.lock:
            return [r for rcpts, _ in self.mails for r in rcpts]


@contextlib.contextmanager
def smtp_sink() -> Iterator[tuple[MailSink, int]]:
    sink = MailSink()
    port = _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "server.cli", *args]


class Process:
    """One long-running `naryad` process with its output in a log file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log_path = log
        self.log = log.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            args, env=env, cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.log.close()
        return self.proc.returncode


def _run_cli_sync(name: str, args: list[str], env: dict[str, str], log: Path) -> str:
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    log.write_text(done.stdout + done.stderr, encoding="utf-8")
    assert done.returncode == 0, f"`naryad {name}` failed ({done.returncode}); see {log}"
    return done.stdout


async def _run_cli(name: str, args: list[str], env: dict[str, str], log: Path) -> str:
    return await asyncio.to_thread(_run_cli_sync, name, args, env, log)


# --- the PWA's side of the conversation --------------------------------------------------


def png(width: int = 6, height: int = 4) -> bytes:
    """A real RGB PNG, drawn with zlib and struct."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    rows = b"".join(
        b"\0" + b"".join(bytes((x * 40 % 256, y * 60 % 256, 200)) for x in range(width))
        for y in range(height)
    )
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


class Day:
    """Everyone's browser: one cookie session per login, the PWA's headers."""

    def __init__(self, base_url: str, logs: str = "") -> None:
        self.base_url = base_url
        self.logs = logs  # where a 500's traceback is, for the failure message
        self.people: dict[str, httpx.AsyncClient] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.replays = 0

    async def login(self, login: str, password: str = DEMO_PASSWORD) -> None:
        http = httpx.AsyncClient(
            base_url=self.base_url, timeout=60, headers={"Accept": "application/json"}
        )
        resp = await http.post("/api/auth/login", json={"login": login, "password": password})
        assert resp.status_code == 200, (login, resp.text)
        assert "naryad_session" in resp.cookies, "the PWA authenticates with the session cookie"
        self.people[login] = http
        self.users[login] = resp.json()["user"]

    async def close(self) -> None:
        for http in self.people.values():
            await http.aclose()

    async def get(self, who: str, path: str, status: int = 200, **kw: Any) -> httpx.Response:
        resp = await self.people[who].get(path, **kw)
        assert resp.status_code == status, (
            who,
            "GET",
            path,
            resp.status_code,
            resp.text,
            self.logs,
        )
        return resp

    async def post(
        self,
        who: str,
        path: str,
        body: Any = None,
        *,
        status: int = 200,
        version: int | None = None,
        replay: bool = False,
    ) -> Any:
        """A POST as the PWA's outbox sends it; `replay` sends it again with the same key
        (a lost response) and checks the server answered with the first result."""
        headers = {"Idempotency-Key": str(uuid.uuid4())}
        if version is not None:
            headers["If-Match"] = str(version)
        http = self.people[who]
        resp = await http.post(path, json=body, headers=headers)
        assert resp.status_code == status, (
            who,
            "POST",
            path,
            resp.status_code,
            resp.text,
            self.logs,
        )
        if replay:
            again = await http.post(path, json=body, headers=headers)
            assert again.status_code == status, (who, "replay", path, again.text)
            assert again.headers.get("Idempotent-Replayed") == "true", (path, again.headers)
            assert again.json() == resp.json(), path
            self.replays += 1
        return resp.json() if resp.content else None

    async def act(
        self, who: str, task: dict[str, Any], action: str, body: Any = None, replay: bool = False
    ) -> dict[str, Any]:
        """Open the task (its version and buttons), then tap `action`."""
        shown = (await self.get(who, f"/api/tasks/{task['id']}")).json()
        assert action in shown["actions"], (
            f"{who} sees no '{action}' on #{shown['number']} ({shown['status']}): "
            f"{shown['actions']}"
        )
        return dict(
            await self.post(
                who,
                f"/api/tasks/{task['id']}/{action}",
                body,
                version=shown["version"],
                replay=replay,
            )
        )

    async def create(self, who: str, replay: bool = False, **body: Any) -> dict[str, Any]:
        task = await self.post(who, "/api/tasks", body, status=201, replay=replay)
        assert task["status"] == body.get("status", task["status"])
        return dict(task)

    async def comment(
        self, who: str, task: dict[str, Any], body: str, public: bool, replay: bool = False
    ) -> dict[str, Any]:
        return dict(
            await self.post(
                who,
                f"/api/tasks/{task['id']}/comments",
                {"body": body, "public": public},
                status=201,
                replay=replay,
            )
        )

    async def inbound(self, raw: bytes) -> dict[str, Any]:
        """The mail gateway's pipe: no session, the shared secret."""
        async with httpx.AsyncClient(base_url=self.base_url, timeout=60) as gateway:
            resp = await gateway.post(
                "/api/channels/email/inbound",
                content=raw,
                headers={"Content-Type": "message/rfc822", "X-Naryad-Secret": SECRET},
            )
        assert resp.status_code == 200, resp.text
        return dict(resp.json())


def _mail(sender: str, to: str, subject: str, text: str, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Fri, 27 Nov 2026 10:15:00 +0300"
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2])
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(text)
    return msg.as_bytes()


async def _eventually(check: Any, timeout: float, what: str) -> Any:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while True:
        result = await check() if inspect.iscoroutinefunction(check) else check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.2)


# --- the day ------------------------------------------------------------------------------


async def play_day(day: Day, sink: MailSink, logins: list[str]) -> dict[str, Any]:
    """Every action of every role, in the order a working day brings them."""
    for login in logins:
        await day.login(login)
    for login in logins:  # what the PWA loads on start
        await day.get(login, "/api/me")
        await day.get(login, "/api/templates")
        await day.get(login, "/api/tasks?queue=mine")
        await day.get(login, "/api/me/notifications")
        await day.get(login, "/api/push/vapid-public-key")
    await day.get("office", "/api/groups")
    await day.get("office", "/api/users")

    # Directory, as the office's task form looks it up.
    romashka = (await day.get("office", "/api/counterparties?q=Ромашка")).json()[0]
    hleb = (await day.get("office", "/api/counterparties?q=Хлебница")).json()[0]
    match = await day.get("office", "/api/counterparties/match", params={"title": "Ромашка: чек"})
    assert match.json()
    site = (await day.get("office", f"/api/sites?counterparty={romashka['id']}")).json()[0]
    contact = (await day.get("office", f"/api/contacts?counterparty={romashka['id']}")).json()[0]
    assert contact["email"] == "admin@romashka.ru"

    # Admin: a client account for Ромашка, and the price list.
    await day.post(
        "admin",
        "/api/users",
        {
            "login": "romashka",
            "password": DEMO_PASSWORD,
            "full_name": "Ромашкина Анна",
            "surname": "Ромашкина",
            "roles": ["client"],
            "counterparty_id": romashka["id"],
            "email": "anna@romashka.ru",
        },
        status=201,
    )
    await day.login("romashka")
    work = await day.post(
        "admin",
        "/api/price-list",
        {"code": "DEMO-VISIT", "name": "Выезд инженера", "price": "1500.00", "vat_rate": "20"},
        status=201,
    )
    part = await day.post(
        "admin",
        "/api/price-list",
        {
            "code": "DEMO-FN15",
            "name": "Фискальный накопитель ФН-15",
            "price": "9800.00",
            "unit": "шт",
            "kind": "product",
        },
        status=201,
    )
    await day.get("ivanov", "/api/price-list?q=накопитель")
    await day.post("admin", "/api/groups", {"name": "Дежурные инженеры"}, status=201)
    await day.post(
        "admin",
        "/api/channels/telegram/chats",
        {"chat_id": -1001234567, "template": "remote_support"},
        status=201,
    )
    await day.post(
        "admin",
        "/api/channels/email/addresses",
        {"address": f"kassa@{DOMAIN}", "template": "remote_support"},
        status=201,
    )

    # Office: a new client with its shop and its manager, as the directory forms do.
    lutik = await day.post(
        "office",
        "/api/counterparties",
        {"name": "ООО «Лютик»", "aliases": ["Лютик"], "email_domains": ["lutik.ru"]},
        status=201,
    )
    lutik_site = await day.post(
        "office",
        "/api/sites",
        {"counterparty_id": lutik["id"], "name": "Цветы на Мира", "address": "Москва, Мира, 10"},
        status=201,
    )
    await day.post(
        "office",
        "/api/contacts",
        {"name": "Лютикова Ольга", "email": "olga@lutik.ru", "counterparty_id": lutik["id"]},
        status=201,
    )

    # Engineers choose their channels; Петров's phone subscribes to Web Push, which the
    # demo has no keys for: those notifications end skipped, with the reason.
    resp = await day.people["volkov"].put(
        "/api/me/notifications", json={"notification_channels": ["email", "push"]}
    )
    assert resp.status_code == 200, resp.text
    browser = {
        "endpoint": "https://push.invalid/petrov-phone",
        "keys": {
            "p256dh": base64.urlsafe_b64encode(b"\x04" + os.urandom(64)).decode().rstrip("="),
            "auth": base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("="),
        },
    }
    await day.post("petrov", "/api/push/subscriptions", browser, status=201)

    # The office's morning: tasks of every template.
    t1 = await day.create(
        "office",
        replay=True,
        template="field_visit",
        title="Ромашка: не печатает чек на кассе 2",
        description="Касса 2 выдаёт ошибку 3969.",
        counterparty_id=romashka["id"],
        site_id=site["id"],
        requester_contact_id=contact["id"],
        priority="high",
    )
    t2 = await day.create(
        "office",
        template="field_visit",
        title="Хлебница: сканер не читает маркировку",
        counterparty_id=hleb["id"],
    )
    t3 = await day.create(
        "office", template="remote_support", title="Кофе Хаус Арбат: не уходят чеки в ОФД"
    )
    t4 = await day.create(
        "office", template="delivery", title="Северная звезда: привезти чековую ленту"
    )
    t5 = await day.create("office", template="repair", title="Ремонт принтера чеков Атол 30Ф")
    t6 = await day.create("buh", template="accounting", title="Сверка с поставщиком за ноябрь")
    t7 = await day.create(
        "smirnova",
        template="remote_support",
        title="Вкусно и Точка: сброс пароля кассира",
        status="completed",
        channel="phone",
        completed_works="Сбросили пароль по телефону",
    )
    assert t7["status"] == "completed"
    t8 = await day.create("office", template="field_visit", title="АптекаПлюс: проверить весы")
    t9 = await day.create(
        "office",
        template="field_visit",
        title="Лютик: не работает платёжный терминал",
        counterparty_id=lutik["id"],
        site_id=lutik_site["id"],
    )

    # Иванов's visit to Ромашка, start to finish.
    queue = (await day.get("ivanov", "/api/tasks?queue=mine")).json()["items"]
    assert t1["id"] in [t["id"] for t in queue]
    await day.act("ivanov", t1, "accept", replay=True)
    await day.act("ivanov", t1, "depart")
    await day.act("ivanov", t1, "arrive", {"lat": site["lat"], "lon": site["lon"]})
    await day.comment("ivanov", t1, "Здравствуйте! Инженер на месте, смотрю кассу.", True, True)
    await day.comment("ivanov", t1, "@petrov привези запасной ФН, пожалуйста", False)
    # A field visit mails the client only what the office says to them deliberately (R6).
    await day.comment("office", t1, "Инженер на месте, к вечеру касса заработает.", True, True)
    photo = base64.b64encode(png()).decode()
    await day.post(
        "ivanov",
        f"/api/tasks/{t1['id']}/attachments",
        {
            "filename": "касса.png",
            "content_type": "image/png",
            "data_base64": photo,
            "caption": "Ошибка на экране",
            "public": True,
        },
        status=201,
        replay=True,
    )
    await day.get("ivanov", f"/api/tasks/{t1['id']}/attachments")
    await day.post(
        "ivanov",
        f"/api/tasks/{t1['id']}/specification/lines",
        {"price_item_id": work["id"], "quantity": "1"},
        status=201,
    )
    await day.post(
        "ivanov",
        f"/api/tasks/{t1['id']}/specification/lines",
        {"price_item_id": part["id"], "quantity": "1", "discount_percent": "5"},
        status=201,
    )
    spec = (await day.get("office", f"/api/tasks/{t1['id']}/specification")).json()
    assert spec["totals"]["total"] == "10810.00", spec["totals"]

    # The client answers the office's public comment by e-mail, in its thread.
    number = t1["number"]
    ours = await _eventually(
        lambda: sink.to("admin@romashka.ru", f"[#{number}]"), 20, "the client's mail"
    )
    reply = _mail(
        "Администратор Ромашка <admin@romashka.ru>",
        SUPPORT,
        f"Re: {ours[0]['Subject']}",
        "Спасибо, ждём. Касса 1 тоже иногда зависает.\n\n> Инженер на месте, к вечеру",
        In_Reply_To=ours[0]["Message-ID"],
        References=ours[0]["Message-ID"],
    )
    got = await day.inbound(reply)
    assert got == {"outcome": "comment_added", "task_id": t1["id"]}, got

    await day.post(
        "ivanov",
        f"/api/tasks/{t1['id']}/signature",
        {"png_base64": "data:image/png;base64," + photo, "signer_name": "Ромашкина А."},
        status=201,
    )
    await day.get("office", f"/api/tasks/{t1['id']}/signature")
    await day.act("ivanov", t1, "done", {"completed_works": "Заменён ФН, касса печатает"})
    done = await day.act("checker", t1, "approve", replay=True)
    assert done["status"] == "completed"
    for doc in ("work-order.pdf", "completion-act.pdf"):
        pdf = await day.get("office", f"/api/tasks/{t1['id']}/{doc}")
        assert pdf.content.startswith(b"%PDF"), doc
        etag = pdf.headers["ETag"]
        await day.get(
            "ivanov", f"/api/tasks/{t1['id']}/{doc}", 304, headers={"If-None-Match": etag}
        )
    await day.get("office", f"/api/tasks/{t1['id']}/work-order.pdf?lang=en")
    history = (await day.get("office", f"/api/tasks/{t1['id']}/history")).json()
    assert {"accepted", "departed", "arrived", "done", "approved"} <= {e["kind"] for e in history}

    # The client looks at their own company's task and says thank you.
    mine = (await day.get("romashka", "/api/tasks")).json()["items"]
    assert t1["id"] in [t["id"] for t in mine]
    await day.get("romashka", f"/api/tasks/{t1['id']}")
    await day.get("romashka", f"/api/tasks/{t1['id']}/attachments")
    await day.get("romashka", f"/api/tasks/{t1['id']}/comments")
    await day.comment("romashka", t1, "Спасибо, всё работает!", True)

    # Петров's visit is returned by the checker once, then approved.
    await day.act("petrov", t2, "accept")
    await day.act("petrov", t2, "depart")
    await day.act("petrov", t2, "arrive", {})
    await day.act("petrov", t2, "done", {"completed_works": "Перенастроил сканер"})
    await day.act("checker", t2, "return", {"reason": "Нет фото настроек сканера"})
    await day.act("petrov", t2, "done", {"completed_works": "Перенастроил сканер, фото в ленте"})
    await day.act("checker", t2, "approve")

    # Remote support without a check; a delivery postponed, then refused.
    await day.act("volkov", t3, "accept")
    await day.act("volkov", t3, "start")
    await day.comment("volkov", t3, "Перезапустил обмен с ОФД, проверяю очередь", False)
    await day.act("volkov", t3, "done", {"completed_works": "Перезапуск обмена с ОФД"})
    await day.act("petrov", t4, "accept")
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    await day.act("petrov", t4, "postpone", {"until": tomorrow, "reason": "Клиент закрыт"})
    await day.act("petrov", t4, "refuse", {"reason": "Клиент отменил заказ"})

    # A repair released back to the queue, assigned by the office, redirected.
    await day.act("ivanov", t5, "accept")
    await day.act("ivanov", t5, "release", replay=True)
    await day.act("office", t5, "assign", {"user_id": day.users["ivanov"]["id"]})
    await day.act(
        "office", t5, "redirect", {"user_id": day.users["petrov"]["id"], "call_back": True}
    )
    await day.act("buh", t6, "accept")
    await day.act("buh", t6, "done", {"completed_works": "Акт сверки подписан"})
    await day.act("office", t8, "refuse", {"reason": "Дубль заявки"})

    # Mail intake: a new request to the support address, replayed by the gateway, and
    # one to accounting.
    request = _mail(
        "Администратор Хлебница <admin@hlebnica.ru>",
        f"project+31@{DOMAIN}",
        "Не выгружаются продажи в ЕГАИС",
        "Со вчерашнего дня не уходят продажи. Пекарня на Ленина.",
    )
    created = await day.inbound(request)
    assert created["outcome"] == "task_created", created
    assert (await day.inbound(request))["outcome"] == "duplicate"
    invoice = _mail(
        "Администратор Ромашка <admin@romashka.ru>",
        f"project+124@{DOMAIN}",
        "Ромашка: нужен счёт за ноябрь",
        "Пришлите, пожалуйста, счёт за обслуживание.",
    )
    assert (await day.inbound(invoice))["outcome"] == "task_created"
    await day.get("office", f"/api/tasks/{created['task_id']}")

    # SLA: the manager's sweep and lists.
    await day.post("admin", "/api/sla/sweep")
    await day.get("admin", "/api/sla/automations")
    await day.get("office", "/api/sla/escalations")
    await day.get("office", "/api/sla/rules")

    # Reports.
    today = dt.date.today()
    dash = await day.get("office", f"/api/dashboard?from={today - dt.timedelta(days=7)}&to={today}")
    assert dash.json()["totals"]["open"] > 0
    csv = await day.get("office", "/api/tasks/export.csv?status=completed")
    assert "Ромашка: не печатает чек на кассе 2" in csv.content.decode("utf-8-sig")
    xlsx = await day.get("buh", "/api/tasks/export.xlsx")
    assert xlsx.content.startswith(b"PK")

    # Admin's checks at the end of the day.
    await day.get("admin", "/api/channels/email/messages")
    await day.get("admin", "/api/channels/email/addresses")
    await day.get("office", "/api/channels/email/missing-counterparty")
    await day.get("admin", "/api/notifications?status=failed")
    await day.post("romashka", "/api/auth/logout", status=204)
    return {"tasks": [t1, t2, t3, t4, t5, t6, t7, t8, t9], "replays": day.replays}


async def _notifications(day: Day) -> list[dict[str, Any]]:
    resp = await day.get("admin", "/api/notifications?limit=500")
    return list(resp.json())


async def settle(day: Day) -> list[dict[str, Any]]:
    """Wait (bounded) until no notification is pending or being sent."""

    async def quiet() -> list[dict[str, Any]] | None:
        rows = await _notifications(day)
        busy = [r for r in rows if r["status"] in ("pending", "sending")]
        return None if busy else rows

    try:
        return list(await _eventually(quiet, SETTLE_S, "every notification to settle"))
    except AssertionError:
        busy = [r for r in await _notifications(day) if r["status"] in ("pending", "sending")]
        raise AssertionError(f"notifications still pending after {SETTLE_S} s: {busy}") from None


# --- the two installations ----------------------------------------------------------------


@contextlib.asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    admin = await asyncpg.connect(PG_URL, timeout=10)
    name = f"naryad_demo_day_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(PG_URL, name)
    finally:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.close()


@contextlib.asynccontextmanager
async def clean_redis() -> AsyncIterator[str]:
    redis = aioredis.from_url(REDIS_URL)
    try:
        await redis.flushdb()
        yield REDIS_URL
        await redis.flushdb()
    finally:
        await redis.aclose()


async def _wait_serving(base_url: str, serve: Process) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=2) as http:
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            assert serve.alive(), f"naryad serve exited; see {serve.log_path}"
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/schema/openapi.json")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise AssertionError(f"naryad serve did not answer in 45 s; see {serve.log_path}")


def _logins(seed_output: str) -> list[str]:
    _, _, listing = seed_output.partition("Demo logins")
    logins = [line.split()[0] for line in listing.splitlines()[1:] if line.strip()]
    assert {"admin", "office", "checker", "ivanov", "petrov", "buh"} <= set(logins), seed_output
    return logins


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_demo_day_ends_with_every_notification_sent_and_no_errors_in_the_logs(
    kind: str, tmp_path: Path
) -> None:
    OUT.mkdir(exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        sink, smtp_port = stack.enter_context(smtp_sink())
        port = _free_port()
        base_url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "NARYAD_PUBLIC_URL": base_url,
            "NARYAD_MAIL_DOMAIN": DOMAIN,
            "NARYAD_SUPPORT_ADDRESS": SUPPORT,
            "NARYAD_SMTP_HOST": "127.0.0.1",
            "NARYAD_SMTP_PORT": str(smtp_port),
            "NARYAD_SMTP_FROM": f"naryad@{DOMAIN}",
            "NARYAD_INBOUND_EMAIL_SECRET": SECRET,
            "NARYAD_TELEGRAM_BOT_TOKEN": "",
            "NARYAD_VAPID_PRIVATE_KEY": "",
            "NARYAD_NOTIFY_SWEEP_S": "2",
            "NARYAD_LOG_LEVEL": "INFO",
        }
        if kind == "sqlite":
            env["NARYAD_DATABASE_URL"] = f"sqlite:///{tmp_path / 'naryad.db'}"
            env["NARYAD_LOG_FORMAT"] = "console"
            env.pop("NARYAD_REDIS_URL", None)
        else:
            env["NARYAD_DATABASE_URL"] = await stack.enter_async_context(postgres_database())
            env["NARYAD_REDIS_URL"] = await stack.enter_async_context(clean_redis())
            env["NARYAD_LOG_FORMAT"] = "json"
        logs: list[Path] = []

        def log(name: str) -> Path:
            path = OUT / f"demo-day-{kind}-{name}.log"
            logs.append(path)
            return path

        await _run_cli("migrate", _cli("migrate"), env, log("migrate"))
        logins = _logins(await _run_cli("seed-demo", _cli("seed-demo"), env, log("seed")))
        processes = []
        serve = Process(
            "serve",
            _cli("serve", "--host", "127.0.0.1", "--port", str(port)),
            env,
            log("serve"),
        )
        processes.append(serve)
        stack.callback(serve.stop)
        if kind == "postgres":
            worker = Process("worker", _cli("worker"), env, log("worker"))
            processes.append(worker)
            stack.callback(worker.stop)
        await _wait_serving(base_url, serve)

        day = Day(base_url, f"see {serve.log_path}")
        stack.push_async_callback(day.close)
        started = time.monotonic()
        facts = await play_day(day, sink, logins)
        played = time.monotonic()
        assert facts["replays"] >= 5
        rows = await settle(day)
        by_status: dict[str, int] = {}
        for r in rows:
            by_status[f"{r['channel']}:{r['status']}"] = (
                by_status.get(f"{r['channel']}:{r['status']}", 0) + 1
            )
        print(
            f"demo day on {kind}: played in {played - started:.1f} s, settled in "
            f"{time.monotonic() - played:.1f} s; notifications {by_status}; "
            f"{len(sink.recipients())} mails received; {facts['replays']} replays"
        )

        # Every notification went out: to the sink, by e-mail (no Telegram or push is
        # configured; those would be skipped with the reason, never left pending).
        assert rows, "the day notified nobody"
        unsent = [
            r
            for r in rows
            if r["status"] != "sent"
            and not (r["status"] == "skipped" and r["channel"] != "email" and r["error"])
        ]
        assert unsent == [], f"notifications that did not end sent: {unsent}"
        skipped = {r["error"] for r in rows if r["status"] == "skipped"}
        assert skipped == {"not configured: NARYAD_VAPID_PRIVATE_KEY is unset"}, skipped
        sent_to = [r["address"] for r in rows if r["channel"] == "email"]
        received = sink.recipients()
        missing = sorted(set(sent_to) - set(received))
        assert missing == [], f"marked sent but never reached the SMTP sink: {missing}"
        assert len(received) >= len(sent_to)
        assert sink.to("admin@romashka.ru"), "the client heard nothing"
        assert sink.to("checker@naryad.local"), "the checker heard nothing"
        kinds = {(r["kind"], r["address"]) for r in rows}
        # R6: the employee who last wrote to the client (the office) hears of the reply
        assert ("client_reply", "office@naryad.local") in kinds, "the office missed the reply"
        assert ("returned", "petrov@naryad.local") in kinds, "Петров missed the return"
        for p in processes:
            assert p.alive(), f"{p.name} died during the day; see {p.log_path}"

        for p in reversed(processes):
            p.stop()
    problems = {
        path.name: _error_lines(path.read_text(encoding="utf-8")) for path in logs if path.exists()
    }
    problems = {name: lines for name, lines in problems.items() if lines}
    assert problems == {}, f"errors in the logs (see test-output/): {problems}"
