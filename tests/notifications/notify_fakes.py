"""Real local stand-ins for the outside world: an SMTP server (aiosmtpd), a Telegram Bot API
and a Web Push service (aiohttp), each recording what it accepted."""

from __future__ import annotations

import asyncio
import socket
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class MailSink:
    """aiosmtpd handler. `accepted` holds only messages answered with 250.

    With `hold_after` set, every message after that many is held before its answer until
    `release` is set; if the client has gone meanwhile (worker killed), the message is
    answered 451 to nobody and not counted: it was never accepted."""

    def __init__(self) -> None:
        self.accepted: list[EmailMessage] = []
        self.rcpts: list[list[str]] = []
        self.lock = threading.Lock()
        self.hold_after: int | None = None
        self.held = threading.Event()
        self.release = threading.Event()
        self.reject_with: str | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reject_with:
            return self.reject_with
        with self.lock:
            hold = self.hold_after is not None and len(self.accepted) >= self.hold_after
        if hold:
            self.held.set()
            while not self.release.is_set():  # noqa: ASYNC110 (a threading.Event)
                await asyncio.sleep(0.02)
            transport = getattr(server, "transport", None)
            if transport is None or transport.is_closing():
                return "451 client went away"
        msg = message_from_bytes(envelope.original_content, policy=policy.default)
        with self.lock:
            self.accepted.append(msg)  # type: ignore[arg-type]
            self.rcpts.append(list(envelope.rcpt_tos))
        return "250 OK"

    def by_subject(self, fragment: str) -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.accepted if fragment in str(m["Subject"])]


class SmtpServer:
    def __init__(self) -> None:
        self.sink = MailSink()
        self.port = free_port()
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


class HttpRecorder:
    """One aiohttp app in a thread: Telegram sendMessage and Web Push endpoints."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.telegram: list[dict[str, Any]] = []
        self.pushes: list[dict[str, Any]] = []
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    async def _send_message(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("chat_id") == 403:
            return web.json_response(
                {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked"},
                status=403,
            )
        self.telegram.append({"token": request.match_info["token"], **body})
        return web.json_response({"ok": True, "result": {"message_id": len(self.telegram)}})

    async def _push(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name.startswith("gone"):
            return web.Response(status=410)
        self.pushes.append(
            {"name": name, "headers": dict(request.headers), "body": await request.read()}
        )
        return web.Response(status=201)

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        app = web.Application()
        app.router.add_post("/bot{token}/sendMessage", self._send_message)
        app.router.add_post("/push/{name}", self._push)
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


async def eventually(check: Any, timeout: float = 20.0, what: str = "condition") -> Any:  # noqa: ASYNC109
    """Poll `check()` (sync or async) until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
