"""Telegram intake end to end: a real server, updates in the Bot API's JSON shape, and the
bot's replies read back from a local Bot API."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from channel_fakes import BotApi, DbFault
from naryad_harness import ROOT, Backend, Server

from server.channels.tables import TelegramUpdate
from server.tasks.tables import Task

TOKEN = "555:channels-token"
SECRET = "tg-secret-1"
CHAT = -1001234567890
HEADERS = {"X-Telegram-Bot-Api-Secret-Token": SECRET}


@pytest.fixture(scope="module")
def bot_api() -> Iterator[BotApi]:
    api = BotApi()
    yield api
    api.stop()


def _env(api: BotApi) -> dict[str, str]:
    return {
        "NARYAD_TELEGRAM_BOT_TOKEN": TOKEN,
        "NARYAD_TELEGRAM_API_BASE": api.base_url,
        "NARYAD_TELEGRAM_WEBHOOK_SECRET": SECRET,
    }


@pytest.fixture(scope="module")
def tg_servers() -> Iterator[dict[str, Server]]:
    started: dict[str, Server] = {}
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture
async def tg(
    backend: Backend, tg_servers: dict[str, Server], bot_api: BotApi
) -> AsyncIterator[Backend]:
    if backend.kind not in tg_servers:
        tg_servers[backend.kind] = await asyncio.to_thread(Server, backend.url, 1, _env(bot_api))
    bot_api.calls.clear()
    bot_api.probe = None
    b = Backend(backend.kind, backend.url, tg_servers[backend.kind])
    yield b
    bot_api.probe = None
    await b.http.aclose()


_seq = iter(range(700000, 800000))


def _message(
    text: str, *, user_id: int = 4242, chat_id: int = CHAT, **extra: Any
) -> dict[str, Any]:
    """An update as Telegram sends it, with bot_command entities for commands."""
    message: dict[str, Any] = {
        "message_id": next(_seq),
        "from": {
            "id": user_id,
            "is_bot": False,
            "first_name": "Пётр",
            "last_name": "Иванов",
            "username": "pivanov",
            "language_code": "ru",
        },
        "chat": {"id": chat_id, "title": "Доставка — заявки", "type": "supergroup"},
        "date": 1764000000,
        "text": text,
        **extra,
    }
    if text.startswith("/"):
        length = len(text.split()[0]) if text.split() else len(text)
        message["entities"] = [{"offset": 0, "length": length, "type": "bot_command"}]
    return {"update_id": next(_seq), "message": message}


async def _post(b: Backend, update: dict[str, Any]) -> dict[str, Any]:
    resp = await b.http.post("/api/channels/telegram/webhook", json=update, headers=HEADERS)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def _setup(tg: Backend) -> tuple[dict[str, Any], dict[str, Any]]:
    admin = await tg.user("admin")
    engineer = await tg.user("engineer", groups=("Доставка",), telegram_user_id=4242)
    await tg.counterparty("Ромашка", aliases=["Romashka"])
    resp = await tg.http.post(
        "/api/channels/telegram/chats",
        json={"chat_id": CHAT, "template": "delivery"},
        headers=admin["headers"],
    )
    assert resp.status_code == 201, resp.text
    return admin, engineer


async def test_webhook_needs_the_secret_header(tg: Backend) -> None:
    update = _message("/task Ромашка: привезти ленту")
    resp = await tg.http.post("/api/channels/telegram/webhook", json=update)
    assert resp.status_code == 401
    resp = await tg.http.post(
        "/api/channels/telegram/webhook",
        json=update,
        headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"},
    )
    assert resp.status_code == 401


async def test_chat_mapping_refuses_templates_without_telegram(tg: Backend) -> None:
    admin = await tg.user("admin")
    office = await tg.user("office")
    resp = await tg.http.post(
        "/api/channels/telegram/chats",
        json={"chat_id": CHAT, "template": "repair"},
        headers=admin["headers"],
    )
    assert resp.status_code == 422 and "R3" in resp.json()["detail"]
    resp = await tg.http.post(
        "/api/channels/telegram/chats",
        json={"chat_id": CHAT, "template": "delivery"},
        headers=office["headers"],
    )
    assert resp.status_code == 403
    resp = await tg.http.post(
        "/api/channels/telegram/chats",
        json={"chat_id": CHAT, "template": "delivery"},
        headers=admin["headers"],
    )
    assert resp.status_code == 201
    listed = (await tg.http.get("/api/channels/telegram/chats", headers=admin["headers"])).json()
    assert [(c["chat_id"], c["template"]) for c in listed] == [(CHAT, "delivery")]


@pytest.mark.sqlite
async def test_task_command_creates_a_task_and_replies_with_number_and_link(
    tg: Backend, bot_api: BotApi
) -> None:
    _, engineer = await _setup(tg)
    update = _message("/task@NaryadBot Ромашка: привезти чековую ленту\n10 рулонов\nдо обеда")
    assert (await _post(tg, update))["outcome"] == "task_created"
    task = await Task.select().where(Task.channel == "telegram").first()
    assert task is not None
    assert task["title"] == "Ромашка: привезти чековую ленту"
    assert task["description"] == "10 рулонов\nдо обеда"
    assert task["requester_user"] == engineer["id"] and task["counterparty"] is not None
    replies = bot_api.sent(CHAT)
    assert len(replies) == 1
    assert replies[0]["token"] == TOKEN
    assert f"#{task['number']}" in replies[0]["text"]
    assert f"{tg.server.base_url}/#/tasks/{task['id']}" in replies[0]["text"]
    assert replies[0]["reply_parameters"]["message_id"] == update["message"]["message_id"]

    # Telegram re-delivers the same update: nothing new happens, still 200.
    assert (await _post(tg, update))["outcome"] == "duplicate"
    assert await Task.count().where(Task.channel == "telegram") == 1
    assert len(bot_api.sent(CHAT)) == 1
    assert await TelegramUpdate.count() == 1


@pytest.mark.parametrize(
    ("text", "user_id", "chat_id", "expected"),
    [
        ("/task привезти ленту", 4242, CHAT, "R2"),
        ("/task Ромашка: привезти ленту", 99999, CHAT, "Unknown Telegram user"),
        ("/task", 4242, CHAT, "The title is empty"),
        ("/task@NaryadBot   \nтолько описание", 4242, CHAT, "The title is empty"),
        ("/task Ромашка: привезти ленту", 4242, -100777, "not mapped"),
    ],
)
async def test_refusals_are_explained_in_the_chat(
    tg: Backend, bot_api: BotApi, text: str, user_id: int, chat_id: int, expected: str
) -> None:
    await _setup(tg)
    result = await _post(tg, _message(text, user_id=user_id, chat_id=chat_id))
    assert result["outcome"] == "refused"
    replies = bot_api.sent(chat_id)
    assert len(replies) == 1 and expected in replies[0]["text"], replies
    if expected == "R2":
        assert "Ромашка: не печатает чек" in replies[0]["text"]  # how to write the title
    assert await Task.count() == 0


@pytest.mark.sqlite
async def test_other_updates_are_acknowledged_and_ignored(tg: Backend, bot_api: BotApi) -> None:
    await _setup(tg)
    edited = _message("/task Ромашка: исправленный текст")
    edited["edited_message"] = {**edited.pop("message"), "edit_date": 1764000100}
    sticker = _message("")
    del sticker["message"]["text"]
    sticker["message"]["sticker"] = {
        "file_id": "CAACAgIAAxkBAAE",
        "file_unique_id": "AgAD",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": "👍",
    }
    migrate = _message("")
    del migrate["message"]["text"]
    migrate["message"]["chat"] = {"id": -4242, "title": "old group", "type": "group"}
    migrate["message"]["migrate_to_chat_id"] = CHAT
    updates = [
        edited,
        sticker,
        migrate,
        _message("просто сообщение в чате"),
        _message("/start"),
        _message("/tasks Ромашка: не та команда"),
        {"update_id": next(_seq), "my_chat_member": {"chat": {"id": CHAT}}},
    ]
    for update in updates:
        assert (await _post(tg, update))["outcome"] == "ignored", update
    assert bot_api.calls == []
    assert await Task.count() == 0


def _committed_tasks(b: Backend) -> Any:
    """A probe for the fake Bot API: how many tasks another connection sees committed."""

    async def count() -> int:
        if b.kind == "postgres":
            conn = await asyncpg.connect(b.url)
            try:
                return int(await conn.fetchval("SELECT count(*) FROM tasks"))
            finally:
                await conn.close()
        with sqlite3.connect(b.url.removeprefix("sqlite:///"), timeout=30) as conn:
            return int(conn.execute("SELECT count(*) FROM tasks").fetchone()[0])

    return count


@pytest.mark.sqlite
async def test_the_reply_is_sent_after_the_task_committed(tg: Backend, bot_api: BotApi) -> None:
    await _setup(tg)
    bot_api.probe = _committed_tasks(tg)
    assert (await _post(tg, _message("/task Ромашка: привезти ленту")))["outcome"] == "task_created"
    [reply] = bot_api.sent(CHAT)
    assert "Создана задача" in reply["text"]
    assert reply["probe"] == 1  # the bot spoke of a task the database already had


@pytest.fixture
async def fault(tg: Backend) -> AsyncIterator[DbFault]:
    f = DbFault(tg.url)
    yield f
    await f.remove()


@pytest.mark.sqlite
async def test_a_failed_update_says_nothing_and_its_retry_creates_one_task(
    tg: Backend, bot_api: BotApi, fault: DbFault
) -> None:
    """One update is one unit: a failure after the task was written (recording the
    update's outcome) leaves no task and no reply; Telegram's retry is processed anew."""
    await _setup(tg)
    await fault.install("telegram_updates", "UPDATE")
    await fault.arm("telegram_updates")
    update = _message("/task Ромашка: привезти ленту")
    resp = await tg.http.post("/api/channels/telegram/webhook", json=update, headers=HEADERS)
    assert resp.status_code == 500  # not acknowledged: Telegram delivers it again
    await asyncio.sleep(0.3)  # a reply sent after the response would show up here
    assert bot_api.sent(CHAT) == []
    assert await Task.count() == 0 and await TelegramUpdate.count() == 0

    await fault.disarm()
    assert (await _post(tg, update))["outcome"] == "task_created"
    assert (await _post(tg, update))["outcome"] == "duplicate"
    assert await Task.count() == 1
    [reply] = bot_api.sent(CHAT)
    assert "Создана задача" in reply["text"]


async def test_set_webhook_command_registers_url_and_secret(tg: Backend, bot_api: BotApi) -> None:
    env = {
        **os.environ,
        **_env(bot_api),
        "NARYAD_DATABASE_URL": tg.url,
        "NARYAD_PUBLIC_URL": "https://naryad.example.ru",
    }
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "server.cli", "telegram", "set-webhook"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    [call] = [c for c in bot_api.calls if c["method"] == "setWebhook"]
    assert call["url"] == "https://naryad.example.ru/api/channels/telegram/webhook"
    assert call["secret_token"] == SECRET and call["token"] == TOKEN


@pytest.mark.sqlite
async def test_malformed_updates_are_acknowledged_and_their_id_is_not_spent(
    tg: Backend, bot_api: BotApi
) -> None:
    """Every authenticated update is answered 200 (API.md), however odd its shape: a text
    that is no string, ids beyond 64 bits. A malformed update is ignored before it is
    claimed, so a later good delivery of the same update id is still handled."""
    await _setup(tg)
    not_text = _message("/task Ромашка: привезти ленту")
    not_text["message"]["text"] = {"oops": 1}
    numeric_text = _message("/task Ромашка: привезти ленту")
    numeric_text["message"]["text"] = 12345
    private_numeric = _message("x", chat_id=4242)
    private_numeric["message"]["chat"]["type"] = "private"
    private_numeric["message"]["text"] = ["список"]
    huge_update = _message("/task Ромашка: привезти ленту")
    huge_update["update_id"] = 10**30
    huge_sender = _message("/task Ромашка: привезти ленту", user_id=10**30)
    huge_chat = _message("/task Ромашка: привезти ленту", chat_id=-(10**30))
    no_chat = _message("/task Ромашка: привезти ленту")
    del no_chat["message"]["chat"]
    for update in (
        not_text,
        numeric_text,
        private_numeric,
        huge_update,
        huge_sender,
        huge_chat,
        no_chat,
        {"update_id": "7", "message": {}},
        {"update_id": -5},
        {"message": {"text": "/task x"}},
    ):
        assert (await _post(tg, update))["outcome"] == "ignored", update
    assert bot_api.calls == []
    assert await Task.count() == 0 and await TelegramUpdate.count() == 0

    # The same update id, delivered whole (the first delivery's body was cut): handled.
    fixed = {**not_text, "message": {**not_text["message"], "text": "/task Ромашка: ленту"}}
    assert (await _post(tg, fixed))["outcome"] == "task_created"
    assert (await _post(tg, fixed))["outcome"] == "duplicate"
    assert await Task.count() == 1
