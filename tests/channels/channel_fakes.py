"""A local Telegram Bot API (aiohttp in a thread) recording sendMessage and setWebhook."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

from aiohttp import web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BotApi:
    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.calls: list[dict[str, Any]] = []
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
        self.calls.append({"method": method, "token": request.match_info["token"], **body})
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
