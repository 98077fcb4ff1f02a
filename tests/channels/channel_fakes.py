"""Fakes and helpers for the channel tests: a local Telegram Bot API, database faults on
demand, and mail as an MTA delivers it."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

import httpx
from aiohttp import web
from naryad_harness import Backend

from server import db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BotApi:
    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.calls: list[dict[str, Any]] = []
        # Run on every sendMessage, in the fake's loop, before it answers; its result is
        # kept in the call as "probe" (what the database looked like when the bot spoke).
        self.probe: Callable[[], Awaitable[Any]] | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    def sent(self, chat_id: int) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["method"] == "sendMessage" and c["chat_id"] == chat_id]

    async def _method(self, request: web.Request) -> web.Response:
        body = await request.json()
        method = request.match_info["method"]
        call = {"method": method, "token": request.match_info["token"], **body}
        if method == "sendMessage" and self.probe is not None:
            call["probe"] = await self.probe()
        self.calls.append(call)
        if method == "setWebhook":
            return web.json_response({"ok": True, "result": True, "description": "Webhook was set"})
        return web.json_response(
            {
                "ok": True,
                "result": {
                    "message_id": len(self.calls),
                    "date": 1764000000,
                    "chat": {"id": body.get("chat_id"), "type": "supergroup"},
                    "text": body.get("text"),
                },
            }
        )

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._method)
        self._runner = web.AppRunner(app)
        loop.run_until_complete(self._runner.setup())
        loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._ready.set()
        loop.run_forever()

    def stop(self) -> None:
        assert self._loop is not None and self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class DbFault:
    """A real database failure on demand: a trigger on `table` raises while the fault is
    armed (a row in naryad_test_faults), in whatever process writes the row."""

    def __init__(self, url: str) -> None:
        self.engine = db.configure_database(url)
        self.sqlite = db.is_sqlite(self.engine)
        self.triggers: list[tuple[str, str]] = []

    async def install(self, table: str, op: str = "INSERT") -> None:
        """A trigger on `op` ("INSERT" or "UPDATE") of `table`, disarmed."""
        name = f"naryad_test_fault_{table}_{op.lower()}"
        await self.engine.run_ddl(
            "CREATE TABLE IF NOT EXISTS naryad_test_faults (tablename VARCHAR(100) PRIMARY KEY)"
        )
        if self.sqlite:
            await self.engine.run_ddl(
                f"CREATE TRIGGER {name} BEFORE {op} ON {table} WHEN EXISTS "
                f"(SELECT 1 FROM naryad_test_faults WHERE tablename = '{table}') "
                f"BEGIN SELECT RAISE(ABORT, 'injected fault on {table}'); END"
            )
        else:
            await self.engine.run_ddl(
                "CREATE OR REPLACE FUNCTION naryad_test_fault() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ BEGIN "
                "IF EXISTS (SELECT 1 FROM naryad_test_faults WHERE tablename = TG_TABLE_NAME) "
                "THEN RAISE EXCEPTION 'injected fault on %', TG_TABLE_NAME; END IF; "
                "RETURN NEW; END $$"
            )
            await self.engine.run_ddl(
                f"CREATE TRIGGER {name} BEFORE {op} ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION naryad_test_fault()"
            )
        self.triggers.append((name, table))

    async def arm(self, table: str) -> None:
        await self.engine.run_ddl(f"INSERT INTO naryad_test_faults (tablename) VALUES ('{table}')")

    async def disarm(self) -> None:
        await self.engine.run_ddl("DELETE FROM naryad_test_faults")

    async def remove(self) -> None:
        for name, table in self.triggers:
            if self.sqlite:
                await self.engine.run_ddl(f"DROP TRIGGER IF EXISTS {name}")
            else:
                await self.engine.run_ddl(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        await self.engine.run_ddl("DROP TABLE IF EXISTS naryad_test_faults")
        self.triggers.clear()


MAIL_SECRET = "inbound-secret-1"
MAIL_DOMAIN = "naryad.test"


def mail_env() -> dict[str, str]:
    """The environment of a Naryad that takes mail (server and `naryad mail-intake`)."""
    return {
        "NARYAD_INBOUND_EMAIL_SECRET": MAIL_SECRET,
        "NARYAD_MAIL_DOMAIN": MAIL_DOMAIN,
        "NARYAD_MAIL_MAX_BYTES": "200000",
        "NARYAD_MAIL_MAX_ATTACHMENT_BYTES": "20000",
        # Client mail goes nowhere: a closed port (delivery retries quietly).
        "NARYAD_SMTP_HOST": "127.0.0.1",
        "NARYAD_SMTP_PORT": str(free_port()),
        "NARYAD_SMTP_FROM": f"Naryad <noreply@{MAIL_DOMAIN}>",
        "NARYAD_SUPPORT_ADDRESS": f"support@{MAIL_DOMAIN}",
    }


async def post_mail(b: Backend, raw: bytes, secret: str | None = MAIL_SECRET) -> httpx.Response:
    """POST /api/channels/email/inbound, as an MTA pipe does."""
    headers = {"Content-Type": "message/rfc822"}
    if secret is not None:
        headers["X-Naryad-Secret"] = secret
    return await b.http.post("/api/channels/email/inbound", content=raw, headers=headers)


def client_mail(
    subject: str,
    body: str,
    *,
    sender: str = "Анна Смирнова <anna@romashka.ru>",
    to: str = f"project+31@{MAIL_DOMAIN}",
    attachment: tuple[str, bytes] | None = None,
    **headers: str,
) -> bytes:
    """A client's message as an MTA hands it over (extra headers by keyword: In_Reply_To)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Mon, 24 Nov 2026 10:00:00 +0300"
    msg["Message-ID"] = f"<t.{next(_msgids)}@mail.example.net>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    if attachment is not None:
        msg.add_attachment(
            attachment[1], maintype="application", subtype="pdf", filename=attachment[0]
        )
    return msg.as_bytes()


_msgids = itertools.count(int(time.time() * 1000))
