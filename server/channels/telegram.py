"""Telegram intake: `/task <title>` in a mapped chat creates a task (R3), and the bot says
what happened in the chat; a client user's private messages are their requests and the
conversation on them (the client bot, below). Everything else is acknowledged and
ignored."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from functools import partial
from typing import Annotated, Any

import asyncpg
import msgspec

from server import db
from server.accounts import service as accounts
from server.accounts.tables import User
from server.channels.tables import TelegramChat, TelegramUpdate
from server.lib import clock, http_client, i18n
from server.lib.actor import Actor
from server.lib.errors import DomainError, NotFound
from server.lib.logs import get_logger
from server.settings import Settings
from server.settings import current as current_settings
from server.tasks import service as tasks
from server.tasks import transitions
from server.tasks.schemas import TaskIn, TaskOut
from server.tasks.statuses import CLOSED, Channel
from server.tasks.tables import Comment, Task

log = get_logger("naryad.channels.telegram")
# Telegram's ids are 64-bit integers (chat ids negative for groups); anything larger would
# overflow the BIGINT columns they are compared with.
_Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
_UpdateId = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]


class _Sender(msgspec.Struct):
    id: _Int64


class _Chat(msgspec.Struct):
    id: _Int64
    type: str = ""


class _Message(msgspec.Struct):
    """The fields of a message the handlers read; the rest of Telegram's shape is ignored."""

    chat: _Chat
    message_id: _Int64 | None = None
    sender: _Sender | None = msgspec.field(default=None, name="from")
    text: str | None = None
    migrate_to_chat_id: _Int64 | None = None


class _Update(msgspec.Struct):
    update_id: _UpdateId
    message: _Message | None = None


def malformed(update: dict[str, Any]) -> str | None:
    """Why an update cannot be handled (a field of the wrong type, an id beyond 64 bits),
    or None. Checked before the update is claimed: a malformed delivery spends nothing."""
    try:
        msgspec.convert(update, _Update)
    except msgspec.ValidationError as exc:
        return str(exc)
    return None


_COMMAND = re.compile(r"^/task(?:@[A-Za-z0-9_]+)?(?=\s|$)", re.I)
TITLE_MAX = 500


def parse_task_command(text: str) -> tuple[str, str] | None:
    """'/task@Bot Title\\nmore' -> ('Title', 'more'); None when it is not /task."""
    match = _COMMAND.match(text)
    if not match:
        return None
    rest = text[match.end() :]
    first, _, description = rest.lstrip(" \t").partition("\n")
    return " ".join(first.split()), description.strip()


async def _claim_update(update_id: int) -> bool:
    """True the first time an update id is seen; the unique column decides races."""
    if await TelegramUpdate.exists().where(TelegramUpdate.update_id == update_id):
        return False
    try:
        async with db.transaction():  # a savepoint: a lost claim undoes only itself
            await TelegramUpdate.insert(
                TelegramUpdate(update_id=update_id, received_at=clock.now())
            )
    except (asyncpg.UniqueViolationError, sqlite3.IntegrityError):
        return False  # a parallel delivery of the same update won
    return True


async def _decide(message: dict[str, Any], settings: Settings) -> tuple[str, str, int | None]:
    """(outcome, reply text, task id) for a /task message."""
    parsed = parse_task_command(message.get("text") or "")
    assert parsed is not None
    title, description = parsed
    chat_id = message["chat"]["id"]
    chat = (
        await TelegramChat.select(TelegramChat.template.code)
        .where(TelegramChat.chat_id == chat_id)
        .first()
    )
    if chat is None:
        return (
            "refused",
            "Этот чат не подключён к Naryad: администратор должен привязать его к шаблону "
            f"задач (chat_id {chat_id}). / This chat is not mapped to a task template.",
            None,
        )
    sender = message.get("from") or {}
    user = (
        await User.select(User.id, User.active)
        .where(User.telegram_user_id == sender.get("id"))
        .first()
        if sender.get("id")
        else None
    )
    actor = await accounts.actor_for_user(user["id"]) if user and user["active"] else None
    if actor is None or actor.is_client_only:
        return (
            "refused",
            "Вы не известны Naryad как сотрудник: попросите администратора указать ваш "
            f"Telegram id ({sender.get('id')}) в профиле. / Unknown Telegram user.",
            None,
        )
    if not title:
        return (
            "refused",
            "Пустое название: напишите «/task Ромашка: не печатает чек» — первая строка "
            "станет названием, остальные — описанием. / The title is empty.",
            None,
        )
    try:
        # R3 and every other rule: create_task's own checks (require_channel); its
        # transaction is a savepoint here, so a refusal undoes only the task.
        task = await tasks.create_task(
            actor,
            TaskIn(
                title=title[:TITLE_MAX], template=chat["template.code"], description=description
            ),
            channel=Channel.TELEGRAM,
        )
    except DomainError as exc:
        return "refused", f"Задача не создана. {exc.message('ru')}", None
    link = f"{settings.public_url.rstrip('/')}/#/tasks/{task.id}"
    return "task_created", f"Создана задача #{task.number}: {task.title}\n{link}", task.id


# --- the client bot ---------------------------------------------------------------------
#
# A client user's private message (their `telegram_user_id`) is, in this order:
# 1. a reply to one of the bot's messages about a task (it names the task first, «#N»:
#    the bot's answers, the notifications' «[#N] …»), when the client may see that task:
#    a public comment on it — or, the task being completed or cancelled, a new request that
#    follows it (R6, as with e-mail);
# 2. with no such reply, when exactly one of the client's own requests is open and its
#    conversation (its creation, its last public comment) is at most RECENT old: a public
#    comment on that request;
# 3. else a new request of CLIENT_BOT_TEMPLATE (R3: create_task checks it takes Telegram).
# `/new …` is always a new request; /start and /help explain this. Replies on the task
# reach the client here (notifications, Telegram).

CLIENT_BOT_TEMPLATE = "remote_support"
RECENT = dt.timedelta(hours=72)  # a Friday evening's answer, read on Monday morning
QUOTE_MAX = 1000
_TASK_NUMBER = re.compile(r"#(\d{1,18})")
_NEW = re.compile(r"^/new(?:@[A-Za-z0-9_]+)?(?=\s|$)", re.I)
_HELP = re.compile(r"^/(?:start|help)(?:@[A-Za-z0-9_]+)?(?=\s|$)", re.I)


def _is_private_text(message: dict[str, Any]) -> bool:
    chat = message.get("chat") or {}
    return chat.get("type") == "private" and bool((message.get("text") or "").strip())


def _say(language: str, key: str, **params: Any) -> str:
    text = i18n.labels(i18n.pick(language), "telegram_bot")[key]
    for name, value in params.items():
        text = text.replace(f"{{{name}}}", str(value))
    return text


async def _client_actor(message: dict[str, Any]) -> Actor | None:
    sender = message.get("from") or {}
    user = (
        await User.select(User.id, User.active)
        .where(User.telegram_user_id == sender.get("id"))
        .first()
        if sender.get("id")
        else None
    )
    actor = await accounts.actor_for_user(user["id"]) if user and user["active"] else None
    return actor if actor is not None and actor.is_client_only else None


async def _visible(actor: Actor, task_id: int) -> TaskOut | None:
    """The task as the client sees it; None when they may not see it (R6)."""
    try:
        return await tasks.get_task(actor, task_id)
    except NotFound:
        return None


async def _replied_task(actor: Actor, message: dict[str, Any]) -> TaskOut | None:
    """Rule 1: the task the bot's message the client replies to is about."""
    replied = message.get("reply_to_message")
    if not isinstance(replied, dict):
        return None
    author, text = replied.get("from"), replied.get("text")
    if not (isinstance(author, dict) and author.get("is_bot") is True and isinstance(text, str)):
        return None
    found = _TASK_NUMBER.search(text)
    if found is None:
        return None
    row = await Task.select(Task.id).where(Task.number == int(found.group(1))).first()
    return await _visible(actor, row["id"]) if row else None


async def _open_requests(actor: Actor) -> list[dict[str, Any]]:
    return list(
        await Task.select(Task.id, Task.created_at).where(
            (Task.requester_user == actor.id) & Task.status.not_in(sorted(CLOSED))
        )
    )


async def _recent_request(actor: Actor, open_requests: list[dict[str, Any]]) -> TaskOut | None:
    """Rule 2: the client's one open request, when its conversation is recent."""
    if len(open_requests) != 1:
        return None
    task_id = open_requests[0]["id"]
    last = db.stored_datetime(open_requests[0]["created_at"])
    comment = (
        await Comment.select(Comment.created_at)
        .where((Comment.task == task_id) & Comment.public.eq(True))
        .order_by(Comment.created_at, ascending=False)
        .first()
    )
    if comment is not None:
        last = max(last, db.stored_datetime(comment["created_at"]))
    if clock.now() - last > RECENT:
        return None
    return await _visible(actor, task_id)


async def _new_request(
    actor: Actor, text: str, lang: str, *, follows: TaskOut | None = None, others_open: bool
) -> tuple[str, str, int | None]:
    first, _, description = text.partition("\n")
    try:
        task = await tasks.create_task(
            actor,
            TaskIn(
                title=" ".join(first.split())[:TITLE_MAX],
                template=CLIENT_BOT_TEMPLATE,
                description=description.strip(),
            ),
            channel=Channel.TELEGRAM,
            parent_task_id=follows.id if follows else None,
            event_data={"parent_number": follows.number, "quote": text[:QUOTE_MAX]}
            if follows
            else None,
        )
    except DomainError as exc:
        return "refused", _say(lang, "not_created", reason=exc.message(lang)), None
    if follows is not None:
        reply = _say(
            lang, "follow_up", number=task.number, title=task.title, parent_number=follows.number
        )
    else:
        key = "created_others_open" if others_open else "created"
        reply = _say(lang, key, number=task.number, title=task.title)
    return "task_created", reply, task.id


async def _add_to(actor: Actor, task: TaskOut, text: str, lang: str) -> tuple[str, str, int | None]:
    if task.status in CLOSED:
        return await _new_request(actor, text, lang, follows=task, others_open=False)
    try:
        await transitions.add_comment(actor, task.id, text, True, channel=Channel.TELEGRAM)
    except DomainError as exc:
        reply = _say(lang, "not_added", number=task.number, reason=exc.message(lang))
        return "refused", reply, task.id
    return (
        "comment_added",
        _say(lang, "comment_added", number=task.number, title=task.title),
        task.id,
    )


async def _decide_client(message: dict[str, Any]) -> tuple[str, str, int | None]:
    """(outcome, reply, task id) for a private message that is no /task command."""
    actor = await _client_actor(message)
    if actor is None:
        return "ignored", "", None
    lang = i18n.pick(actor.language)
    text = (message.get("text") or "").strip()
    if _HELP.match(text):
        return "help", _say(lang, "help"), None
    forced = _NEW.match(text)
    if forced is not None:
        text = text[forced.end() :].strip()
        if not text:
            return "refused", _say(lang, "new_empty"), None
        others = await _open_requests(actor)
        return await _new_request(actor, text, lang, others_open=bool(others))
    replied = await _replied_task(actor, message)
    if replied is not None:
        return await _add_to(actor, replied, text, lang)
    others = await _open_requests(actor)
    recent = await _recent_request(actor, others)
    if recent is not None:
        return await _add_to(actor, recent, text, lang)
    return await _new_request(actor, text, lang, others_open=bool(others))


async def send_message(settings: Settings, chat_id: int, text: str, reply_to: int | None) -> None:
    if not settings.telegram_bot_token:
        log.warning("no NARYAD_TELEGRAM_BOT_TOKEN: the reply is not sent", chat_id=chat_id)
        return
    url = f"{settings.telegram_api_base.rstrip('/')}/bot{settings.telegram_bot_token}/sendMessage"
    body: dict[str, Any] = {"chat_id": chat_id, "text": text}
    if reply_to is not None:
        body["reply_parameters"] = {"message_id": reply_to, "allow_sending_without_reply": True}
    import httpx  # on first use: a process that never talks to Telegram does not load it

    try:
        # The process's keep-alive client (server/lib/http_client.py), not one per reply.
        resp = await http_client.shared().post(url, json=body, timeout=10)
        if resp.status_code != 200:
            log.warning("telegram reply refused", status=resp.status_code, body=resp.text[:300])
    except httpx.HTTPError as exc:  # the task exists; a lost reply must not fail the update
        log.warning("telegram reply failed", error=repr(exc))


async def handle_update(update: dict[str, Any]) -> str:
    """One authenticated update, as one unit of work: its claim, the task and the recorded
    outcome commit together, and the bot's reply is sent only after that commit. A failure
    rolls everything back (no task, no reply) and answers 500, so Telegram retries."""
    settings = current_settings()
    reason = malformed(update)
    if reason is not None:
        # Acknowledged (200) all the same, or Telegram re-sends it forever.
        log.warning("telegram update ignored: malformed", reason=reason[:300])
        return "ignored"
    update_id = update["update_id"]
    async with db.transaction():
        if not await _claim_update(update_id):
            return "duplicate"
        message = update.get("message")
        outcome, task_id = "ignored", None
        if (
            isinstance(message, dict)
            and isinstance(message.get("chat"), dict)
            and not message.get("migrate_to_chat_id")
            and parse_task_command(message.get("text") or "") is not None
        ):
            outcome, reply, task_id = await _decide(message, settings)
            await db.on_commit(
                partial(
                    send_message, settings, message["chat"]["id"], reply, message.get("message_id")
                ),
                name="telegram reply",
            )
        elif isinstance(message, dict) and _is_private_text(message):
            outcome, reply, task_id = await _decide_client(message)
            if reply:
                await db.on_commit(
                    partial(
                        send_message,
                        settings,
                        message["chat"]["id"],
                        reply,
                        message.get("message_id"),
                    ),
                    name="telegram reply",
                )
        await TelegramUpdate.update(
            {TelegramUpdate.outcome: outcome, TelegramUpdate.task: task_id}
        ).where(TelegramUpdate.update_id == update_id)
    return outcome


async def set_webhook(settings: Settings) -> dict[str, Any]:
    """Register {public_url}/api/channels/telegram/webhook with the Bot API."""
    if not settings.telegram_bot_token:
        raise ValueError("NARYAD_TELEGRAM_BOT_TOKEN is not set")
    if not settings.telegram_webhook_secret:
        raise ValueError("NARYAD_TELEGRAM_WEBHOOK_SECRET is not set")
    import httpx

    base = settings.telegram_api_base.rstrip("/")
    async with httpx.AsyncClient(timeout=30) as http:
        resp = await http.post(
            f"{base}/bot{settings.telegram_bot_token}/setWebhook",
            json={
                "url": f"{settings.public_url.rstrip('/')}/api/channels/telegram/webhook",
                "secret_token": settings.telegram_webhook_secret,
                "allowed_updates": ["message"],
            },
        )
    result: dict[str, Any] = resp.json()
    if resp.status_code != 200 or not result.get("ok"):
        raise ValueError(f"setWebhook failed: {resp.status_code} {resp.text[:300]}")
    return result
