"""`naryad telegram poll`: getUpdates long polling against a local fake Bot API that keeps
Telegram's offset rules, answers 502 and 429, cuts a long poll and lets one hang; the same
handler as the webhook; exactly once across a kill -9 (the offset lives in the database)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiohttp import web
from channel_fakes import DbFault, free_port
from naryad_harness import ROOT, Backend

from server import settings as process_settings
from server.channels import telegram_poll
from server.channels.tables import TelegramPollOffset, TelegramUpdate
from server.settings import Settings
from server.tasks.tables import Task

TOKEN = "777:poll-token"
CHAT = -1009876543210
USER = 4343


class PollingBotApi:
    """A Bot API for getUpdates: updates are confirmed by a later call's offset; without
    one, the unconfirmed ones come back. `faults` are what the next getUpdates calls do
    instead of answering: "502", "429", "cut" (the connection closes), "hang" (no answer)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.updates: list[dict[str, Any]] = []
        self.confirmed = 0
        self.calls: list[dict[str, Any]] = []
        self.faults: list[str] = []
        self.webhook_url = ""
        self.replay_once = False
        self._next_id = 500000
        self._ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._ready.wait(10)

    def add(self, text: str, *, user_id: int = USER) -> int:
        self._next_id += 1
        update = {
            "update_id": self._next_id,
            "message": {
                "message_id": self._next_id,
                "from": {"id": user_id, "is_bot": False, "first_name": "Пётр"},
                "chat": {"id": CHAT, "type": "supergroup", "title": "Доставка"},
                "date": 1764000000,
                "text": text,
            },
        }
        self._loop.call_soon_threadsafe(self.updates.append, update)
        return self._next_id

    def polls(self) -> list[dict[str, Any]]:
        return [c for c in self.calls if c["method"] == "getUpdates"]

    def replies(self) -> list[str]:
        return [c["text"] for c in self.calls if c["method"] == "sendMessage"]

    async def _method(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        body = await request.json() if request.can_read_body else {}
        self.calls.append({"method": method, **body})
        if request.match_info["token"] != TOKEN:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401
            )
        if method == "getWebhookInfo":
            return web.json_response({"ok": True, "result": {"url": self.webhook_url}})
        if method == "deleteWebhook":
            self.webhook_url = ""
            return web.json_response({"ok": True, "result": True})
        if method == "sendMessage":
            return web.json_response({"ok": True, "result": {"message_id": len(self.calls)}})
        if method != "getUpdates":
            return web.json_response({"ok": False, "description": "no such method"}, status=404)
        if self.webhook_url:
            return web.json_response(
                {
                    "ok": False,
                    "error_code": 409,
                    "description": "Conflict: can't use getUpdates method while webhook is active",
                },
                status=409,
            )
        if self.faults:
            fault = self.faults.pop(0)
            if fault == "502":
                return web.json_response(
                    {"ok": False, "error_code": 502, "description": "Bad Gateway"}, status=502
                )
            if fault == "429":
                return web.json_response(
                    {
                        "ok": False,
                        "error_code": 429,
                        "description": "Too Many Requests: retry after 1",
                        "parameters": {"retry_after": 1},
                    },
                    status=429,
                )
            if fault == "cut":
                assert request.transport is not None
                request.transport.close()
                return web.Response()
            await asyncio.sleep(3600)  # "hang": the client must give up by itself
        offset = body.get("offset")
        if offset is not None:
            self.confirmed = max(self.confirmed, int(offset))
        deadline = time.monotonic() + float(body.get("timeout") or 0)
        while True:
            if self.replay_once:  # a confirmation lost on Telegram's side
                self.replay_once = False
                waiting = list(self.updates)
            else:
                waiting = [u for u in self.updates if u["update_id"] >= self.confirmed]
            if waiting or time.monotonic() >= deadline:
                return web.json_response({"ok": True, "result": waiting[:100]})
            await asyncio.sleep(0.05)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._method)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        async def down() -> None:
            current = asyncio.current_task()
            pending = [t for t in asyncio.all_tasks() if t is not current]
            for task in pending:  # a hanging long poll, among others
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            await self._runner.cleanup()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(down(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def bot() -> Iterator[PollingBotApi]:
    api = PollingBotApi()
    yield api
    api.stop()


def _env(api: PollingBotApi, b: Backend) -> dict[str, str]:
    return {
        "NARYAD_DATABASE_URL": b.url,
        "NARYAD_TELEGRAM_BOT_TOKEN": TOKEN,
        "NARYAD_TELEGRAM_API_BASE": api.base_url,
        "NARYAD_TELEGRAM_POLL_TIMEOUT_S": "1",
    }


@contextlib.contextmanager
def _installed(settings: Settings) -> Iterator[Settings]:
    before = process_settings.current()
    process_settings.install(settings)
    try:
        yield settings
    finally:
        process_settings.install(before)


async def _setup(b: Backend) -> None:
    admin = await b.user("admin")
    await b.user("engineer", groups=("Доставка",), telegram_user_id=USER)
    await b.counterparty("Ромашка", aliases=["Romashka"])
    resp = await b.http.post(
        "/api/channels/telegram/chats",
        json={"chat_id": CHAT, "template": "delivery"},
        headers=admin["headers"],
    )
    assert resp.status_code == 201, resp.text


async def _until(what: str, check: Callable[[], Any], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.1)


async def test_polling_handles_each_update_once_through_faults(
    backend: Backend, bot: PollingBotApi
) -> None:
    await _setup(backend)
    settings = Settings.from_env(_env(bot, backend))
    first = bot.add("/task Ромашка: привезти ленту")
    bot.add("привет всем")  # not a command: acknowledged and ignored
    bot.faults = ["502", "429", "cut", "hang"]
    with _installed(settings):
        poller = asyncio.create_task(telegram_poll.poll(settings))
        try:
            await _until("the first task", lambda: Task.count().run(), 40)
            await _until("both updates", lambda: TelegramUpdate.count().run(), 10)
            # a lost confirmation: Telegram sends both again; the claim makes them duplicates
            bot.replay_once = True
            last = bot.add("/task Ромашка: забрать принтер")
            await _until("the second task", lambda: _count_is(Task, 2), 20)
            await _until("the offset after it", lambda: _offset_is(last + 1), 10)
            await _until("its confirmation", lambda: bot.polls()[-1].get("offset") == last + 1)
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller
    faulted = bot.polls()[:5]
    assert len(faulted) == 5 and all(p["allowed_updates"] == ["message"] for p in faulted)
    assert await Task.count() == 2
    outcomes = await TelegramUpdate.select(TelegramUpdate.update_id, TelegramUpdate.outcome)
    assert sorted((r["update_id"], r["outcome"]) for r in outcomes) == [
        (first, "task_created"),
        (first + 1, "ignored"),
        (last, "task_created"),
    ]
    assert len(bot.replies()) == 2  # one reply per task, none for the replayed updates
    offsets = [p.get("offset") for p in bot.polls()]
    assert offsets[0] is None and offsets[-1] == last + 1
    assert offsets == sorted(offsets, key=lambda o: o or 0), "the offset never goes back"


async def _count_is(table: Any, n: int) -> bool:
    return bool(await table.count() == n)


async def _offset_is(n: int) -> bool:
    row = await TelegramPollOffset.select(TelegramPollOffset.next_offset).first()
    return row is not None and row["next_offset"] == n


@pytest.mark.sqlite
async def test_a_failing_update_is_tried_three_times_then_skipped(
    backend: Backend, bot: PollingBotApi
) -> None:
    await _setup(backend)
    settings = Settings.from_env(_env(bot, backend))
    poison = bot.add("/task Ромашка: привезти ленту")
    fault = DbFault(backend.url)
    try:
        await fault.install("tasks")
        await fault.arm("tasks")
        with _installed(settings):
            counts = await telegram_poll.poll(settings, once=True)
            assert counts == {"error": 1}
            await fault.disarm()
            good = bot.add("/task Ромашка: забрать принтер")
            assert await telegram_poll.poll(settings, once=True) == {"task_created": 1}
    finally:
        await fault.remove()
    rows = await TelegramUpdate.select(TelegramUpdate.update_id, TelegramUpdate.outcome)
    assert sorted((r["update_id"], r["outcome"]) for r in rows) == [
        (poison, "error"),
        (good, "task_created"),
    ]
    assert await Task.count() == 1
    # three tries from the same place, then on past it
    assert [p.get("offset") for p in bot.polls()][:4] == [None, None, None, poison + 1]


async def test_a_webhook_must_be_deleted_before_polling(
    backend: Backend, bot: PollingBotApi
) -> None:
    await _setup(backend)
    settings = Settings.from_env(_env(bot, backend))
    bot.webhook_url = "https://naryad.example.com/api/channels/telegram/webhook"
    bot.add("/task Ромашка: привезти ленту")
    with _installed(settings):
        with pytest.raises(telegram_poll.PollError, match="--delete-webhook"):
            await telegram_poll.poll(settings, once=True)
        assert await Task.count() == 0
        assert await telegram_poll.poll(settings, once=True, delete_webhook=True) == {
            "task_created": 1
        }
    assert "deleteWebhook" in [c["method"] for c in bot.calls]
    wrong = Settings.from_env({**_env(bot, backend), "NARYAD_TELEGRAM_BOT_TOKEN": "777:wrong"})
    with _installed(wrong), pytest.raises(telegram_poll.PollError, match="refused the token"):
        await telegram_poll.poll(wrong, once=True)


async def test_the_command_survives_kill_9_with_the_offset_in_the_database(
    backend: Backend, bot: PollingBotApi
) -> None:
    await _setup(backend)
    env = {**os.environ, **_env(bot, backend), "NARYAD_LOG_LEVEL": "INFO"}
    env.pop("NARYAD_REDIS_URL", None)
    ids = [bot.add(f"/task Ромашка: доставка {n}") for n in range(3)]

    def start() -> tuple[subprocess.Popen[bytes], Any]:
        log = open(ROOT / "test-output" / f"telegram-poll-{free_port()}.log", "w")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "telegram", "poll"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return proc, log

    (ROOT / "test-output").mkdir(exist_ok=True)
    proc, log = start()
    try:
        await _until("three tasks", lambda: _count_is(Task, 3), 40)
        # (a reply goes out after its commit: a kill in between loses it, as with the webhook)
        await _until("their replies", lambda: len(bot.replies()) == 3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        log.close()
        bot.confirmed = 0  # Telegram forgot our confirmations: only the stored offset helps
        polls_before = len(bot.polls())
        ids += [bot.add(f"/task Ромашка: доставка {n}") for n in range(3, 5)]
        proc, log = start()
        await _until("five tasks", lambda: _count_is(Task, 5), 40)
        await _until("the offset after the last", lambda: _offset_is(ids[-1] + 1), 10)
    finally:
        if proc.poll() is None:
            proc.terminate()  # a clean stop: the update in hand is finished, replies sent
            proc.wait(15)
        log.close()
    assert proc.returncode == 0
    assert bot.polls()[polls_before]["offset"] == ids[2] + 1, "restarted from the stored offset"
    rows = await TelegramUpdate.select(TelegramUpdate.update_id, TelegramUpdate.outcome)
    assert sorted((r["update_id"], r["outcome"]) for r in rows) == [
        (i, "task_created") for i in ids
    ]
    assert len(bot.replies()) == 5


def test_poll_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "telegram", "poll", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0
    for word in ("getUpdates", "--delete-webhook", "--once", "exactly once"):
        assert word in out.stdout
