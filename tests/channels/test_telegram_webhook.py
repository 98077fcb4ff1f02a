"""Telegram intake end to end: a real server, updates in the Bot API's JSON shape, and the
bot's replies read back from a local Bot API."""

from __future__ import annotations

import asyncio
import datetime as dt
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
from server.lib import i18n
from server.tasks.tables import Comment, Task

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


# --- the client bot: a client's private messages thread into their requests -------------

CLIENT_TG = 515151
BOT = {"id": 555, "is_bot": True, "first_name": "Naryad", "username": "NaryadBot"}


def _private(
    text: str, *, user_id: int = CLIENT_TG, reply_to: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A client's private message to the bot, maybe a reply to one of the bot's."""
    update = _message(text, user_id=user_id, chat_id=user_id)
    update["message"]["chat"] = {"id": user_id, "first_name": "Шеф", "type": "private"}
    if reply_to is not None:
        update["message"]["reply_to_message"] = reply_to
    return update


def _bot_said(text: str) -> dict[str, Any]:
    """A message of the bot's in the client's chat, as Telegram quotes it in a reply."""
    return {
        "message_id": next(_seq),
        "from": BOT,
        "chat": {"id": CLIENT_TG, "first_name": "Шеф", "type": "private"},
        "date": 1764000000,
        "text": text,
    }


async def _client_world(tg: Backend, language: str = "ru") -> dict[str, Any]:
    lyutik = await tg.counterparty("Лютик")
    vasilek = await tg.counterparty("Василёк")
    return {
        "lyutik": lyutik,
        "vasilek": vasilek,
        "office": await tg.user("office", groups=("Удалённая техподдержка",)),
        "engineer": await tg.user("engineer", groups=("Удалённая техподдержка",)),
        "client": await tg.user(
            "client",
            counterparty_id=lyutik["id"],
            telegram_user_id=CLIENT_TG,
            language=language,
        ),
    }


async def _requests_of(user_id: int) -> list[dict[str, Any]]:
    return list(
        await Task.select(Task.id, Task.number, Task.title, Task.parent_task)
        .where(Task.requester_user == user_id)
        .order_by(Task.id)
    )


async def _comments_on(task_id: int) -> list[dict[str, Any]]:
    return list(
        await Comment.select(Comment.body, Comment.public, Comment.channel, Comment.author_user)
        .where(Comment.task == task_id)
        .order_by(Comment.id)
    )


async def _heard(bot_api: BotApi, words: str, chat_id: int = CLIENT_TG) -> dict[str, Any]:
    """The bot's message to `chat_id` containing `words` (notifications arrive after the
    commit, from the server's in-process jobs)."""
    for _ in range(100):
        for call in bot_api.sent(chat_id):
            if words in call["text"]:
                return call
        await asyncio.sleep(0.1)
    raise AssertionError(f"the bot never said {words!r}: {bot_api.sent(chat_id)}")


@pytest.mark.sqlite
async def test_a_clients_reply_to_the_bot_threads_into_that_request(
    tg: Backend, bot_api: BotApi
) -> None:
    w = await _client_world(tg)
    assert (await _post(tg, _private("Не печатает чек\nкасса 2")))["outcome"] == "task_created"
    [task] = await _requests_of(w["client"]["id"])
    assert task["title"] == "Лютик: Не печатает чек"
    ack = await _heard(bot_api, f"#{task['number']}")

    # a reply to the bot's answer is a public comment on that request, not a new one
    result = await _post(tg, _private("Перезагрузили, не помогло", reply_to=_bot_said(ack["text"])))
    assert result["outcome"] == "comment_added"
    assert len(await _requests_of(w["client"]["id"])) == 1
    assert await _comments_on(task["id"]) == [
        {
            "body": "Перезагрузили, не помогло",
            "public": True,
            "channel": "telegram",
            "author_user": w["client"]["id"],
        }
    ]
    said = bot_api.sent(CLIENT_TG)[-1]["text"]
    assert said.startswith(f"Добавлено к заявке #{task['number']}"), said

    # the office's public reply reaches the client in Telegram; a reply to it threads too
    resp = await tg.http.post(
        f"/api/tasks/{task['id']}/comments",
        json={"body": "Пришлите фото экрана", "public": True},
        headers=w["office"]["headers"],
    )
    assert resp.status_code == 201, resp.text
    notice = await _heard(bot_api, "Пришлите фото экрана")
    assert notice["text"].startswith(f"[#{task['number']}]")
    result = await _post(tg, _private("Вот фото", reply_to=_bot_said(notice["text"])))
    assert result["outcome"] == "comment_added"
    assert [c["body"] for c in await _comments_on(task["id"])] == [
        "Перезагрузили, не помогло",
        "Пришлите фото экрана",
        "Вот фото",
    ]
    assert len(await _requests_of(w["client"]["id"])) == 1


@pytest.mark.sqlite
async def test_a_reply_about_someone_elses_task_is_no_comment_there(
    tg: Backend, bot_api: BotApi
) -> None:
    """R6: a reply names a task by its number; a task the client may not see takes no
    comment from them — the message is read as if it were no reply (here: a new request)."""
    w = await _client_world(tg)
    theirs = (
        await tg.create_task(w["office"], template="remote_support", title="Василёк: касса")
    ).json()
    quoted = _bot_said(f"[#{theirs['number']}] Василёк: касса\n\nСмотрим")
    result = await _post(tg, _private("У нас тоже не работает", reply_to=quoted))
    assert result["outcome"] == "task_created"
    assert await _comments_on(theirs["id"]) == []
    [mine] = await _requests_of(w["client"]["id"])
    assert mine["title"] == "Лютик: У нас тоже не работает"
    # a reply to one of the client's own messages (not the bot's) names nothing either
    own = {**quoted, "from": {"id": CLIENT_TG, "is_bot": False, "first_name": "Шеф"}}
    own["text"] = f"#{mine['number']}"
    await Task.update({Task.created_at: dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}).where(
        Task.id == mine["id"]
    )
    result = await _post(tg, _private("Ещё одно", reply_to=own))
    assert result["outcome"] == "task_created"


@pytest.mark.sqlite
async def test_a_reply_about_a_finished_request_opens_a_follow_up(
    tg: Backend, bot_api: BotApi
) -> None:
    """As with e-mail (R6): a reply on a completed request is a new request following it."""
    w = await _client_world(tg)
    assert (await _post(tg, _private("Не печатает чек")))["outcome"] == "task_created"
    [task] = await _requests_of(w["client"]["id"])
    for action, body in (("accept", None), ("start", None), ("done", {"completed_works": "ok"})):
        resp = await tg.http.post(
            f"/api/tasks/{task['id']}/{action}", json=body or {}, headers=w["engineer"]["headers"]
        )
        assert resp.status_code == 200, (action, resp.text)
    done = await _heard(bot_api, f"[#{task['number']}]")
    result = await _post(tg, _private("Снова не печатает", reply_to=_bot_said(done["text"])))
    assert result["outcome"] == "task_created"
    _, second = await _requests_of(w["client"]["id"])
    assert second["parent_task"] == task["id"] and second["title"] == "Лютик: Снова не печатает"
    assert await _comments_on(task["id"]) == []
    said = bot_api.sent(CLIENT_TG)[-1]["text"]
    assert said.split("#")[1].startswith(str(second["number"])), said  # the new one first


@pytest.mark.sqlite
async def test_without_a_reply_a_message_joins_the_one_recent_open_request(
    tg: Backend, bot_api: BotApi
) -> None:
    w = await _client_world(tg)
    me = w["client"]["id"]
    assert (await _post(tg, _private("Не печатает чек")))["outcome"] == "task_created"
    [first] = await _requests_of(me)
    # one open request, talked about just now: the next message belongs to it
    assert (await _post(tg, _private("И сканер не видит")))["outcome"] == "comment_added"
    assert [c["body"] for c in await _comments_on(first["id"])] == ["И сканер не видит"]
    # /new starts a request whatever is open
    assert (await _post(tg, _private("/new Весы не включаются")))["outcome"] == "task_created"
    assert [t["title"] for t in await _requests_of(me)][1] == "Лютик: Весы не включаются"
    # two open requests: no guessing, a new one (the bot says how to add to another)
    assert (await _post(tg, _private("Роутер мигает")))["outcome"] == "task_created"
    assert len(await _requests_of(me)) == 3
    assert "ответьте" in bot_api.sent(CLIENT_TG)[-1]["text"]
    assert [c["body"] for c in await _comments_on(first["id"])] == ["И сканер не видит"]


@pytest.mark.sqlite
async def test_a_quiet_request_takes_no_message_without_a_reply(
    tg: Backend, bot_api: BotApi
) -> None:
    """The conversation on the one open request is over 72 hours old (created and last
    public comment): a message without a reply is a new request."""
    w = await _client_world(tg)
    assert (await _post(tg, _private("Не печатает чек")))["outcome"] == "task_created"
    [old] = await _requests_of(w["client"]["id"])
    assert (await _post(tg, _private("И сканер")))["outcome"] == "comment_added"
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=73)
    await Task.update({Task.created_at: long_ago}).where(Task.id == old["id"])
    await Comment.update({Comment.created_at: long_ago}).where(Comment.task == old["id"])
    assert (await _post(tg, _private("Роутер мигает")))["outcome"] == "task_created"
    assert len(await _requests_of(w["client"]["id"])) == 2
    assert len(await _comments_on(old["id"])) == 1


@pytest.mark.sqlite
async def test_start_and_help_explain_the_bot_and_create_nothing(
    tg: Backend, bot_api: BotApi
) -> None:
    w = await _client_world(tg, language="en")
    for text in ("/start", "/help"):
        assert (await _post(tg, _private(text)))["outcome"] == "help"
    assert await _requests_of(w["client"]["id"]) == []
    said = bot_api.sent(CLIENT_TG)[-1]["text"]
    assert "/new" in said and "reply" in said  # the client's language: English
    assert (await _post(tg, _private("/new")))["outcome"] == "refused"
    assert (await _post(tg, _private("Printer is broken")))["outcome"] == "task_created"
    assert bot_api.sent(CLIENT_TG)[-1]["text"].startswith("Request #")


def test_the_client_bot_has_its_words_in_both_languages() -> None:
    ru, en = i18n.labels("ru", "telegram_bot"), i18n.labels("en", "telegram_bot")
    assert ru and set(ru) == set(en)
    for key in ru:
        assert i18n.placeholders(ru[key]) == i18n.placeholders(en[key]), key
        # a reply to the bot's answer threads into the task it names first
        if "{number}" in ru[key]:
            assert ru[key].index("#{number}") == ru[key].index("#"), key
            assert en[key].index("#{number}") == en[key].index("#"), key
