"""Notifications: who hears about which task event, the outbox, and its delivery states.

The subscribers (server/notifications/subscribers.py) call `notify()` inside the
transaction of the change an event reports; it writes one outbox row per recipient ×
channel, so a change that rolls back notifies nobody, and registers the delivery kick with
`db.on_commit`, so the process's dispatcher (arq jobs, or asyncio tasks when there is no
Redis) sees only committed rows. Deliveries claim rows in batches with one conditional
UPDATE (`claim_batch`; FOR UPDATE SKIP LOCKED on PostgreSQL), so a duplicate job, a retry,
a parallel sweep or a second worker never takes a row another one holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import msgspec
from piccolo.columns.combination import Or
from piccolo.utils.encoding import dump_json

from server import db
from server.accounts import service as accounts
from server.accounts.tables import User
from server.clients.tables import Contact
from server.lib import clock
from server.lib.errors import InvalidInput
from server.lib.logs import get_logger
from server.notifications.schemas import (
    CHANNELS,
    NotificationOut,
    PreferencesIn,
    PreferencesOut,
    PushSubscriptionIn,
    PushSubscriptionOut,
)
from server.notifications.tables import Notification, NotificationPreference, PushSubscription
from server.portal import service as portal
from server.settings import Settings
from server.settings import current as current_settings
from server.tasks.statuses import Status
from server.tasks.tables import Comment, TaskWatcher

log = get_logger("naryad.notifications")

# What a process does with freshly committed notification ids (set at start-up).
Dispatcher = Callable[[list[int]], Awaitable[None]]
_dispatcher: Dispatcher | None = None


def configure(dispatcher: Dispatcher | None) -> None:
    """Called once at start-up by the API process, the worker or a test."""
    global _dispatcher
    _dispatcher = dispatcher


def mail_domain(s: Settings) -> str:
    return s.mail_domain or urlsplit(s.public_url).hostname or "localhost"


def message_id_for(notification_id: int, created_at: dt.datetime, domain: str) -> str:
    """Deterministic per row; the creation time keeps it unique even where SQLite reuses
    the ids of deleted rows."""
    stamp = created_at.strftime("%Y%m%d%H%M%S%f")
    return f"<naryad.{notification_id}.{stamp}@{domain}>"


async def _deliver_soon(ids: list[int]) -> None:
    """Kick delivery of committed rows (runs after the commit). Never raises: the periodic
    sweep delivers anything a lost kick (no dispatcher, Redis down, process killed) leaves
    pending."""
    if not ids or _dispatcher is None:
        return
    try:
        await _dispatcher(ids)
    except Exception as exc:  # the change is committed; the sweep will deliver
        log.warning("could not hand notifications to the job queue", ids=ids, error=repr(exc))


# --- who hears about what ---------------------------------------------------------------


class TaskFacts(msgspec.Struct):
    """What a notification says about its task, and who is around it."""

    id: int
    number: int
    title: str
    status: str
    template: str
    counterparty: str | None
    group_id: int | None
    assignee_id: int | None
    requester_user_id: int | None
    requester_contact_id: int | None
    has_departure: bool = False
    # Read with the task on PostgreSQL (None: not read, ask when needed): the group's
    # members as (id, roles), and the acting user's name.
    members: list[tuple[int, list[str]]] | None = None
    actor_name: str | None = None


class Audience(msgspec.Struct):
    """Who hears of one event, and which message they get."""

    message: str
    users: list[int] = msgspec.field(default_factory=list)
    contacts: list[int] = msgspec.field(default_factory=list)


# Every task event that notifies reads these (issue 21: ~a third of a create's Python was
# Piccolo building queries here): written SQL through db.fetch_rows on both engines.
_TASK_FACTS = """
SELECT t.id, t.number, t.title, t.status, t."group" AS group_id, t.assignee AS assignee_id,
    t.requester_user AS requester_user_id, t.requester_contact AS requester_contact_id,
    tpl.code AS template, cp.name AS counterparty, t.has_departure
FROM tasks t
JOIN task_templates tpl ON tpl.id = t.template
LEFT JOIN counterparties cp ON cp.id = t.counterparty
WHERE t.id = {}
"""
# On PostgreSQL the same row with what most events need next: the group's members and
# the actor's name (issue 21: three statements in one).
_TASK_FACTS_PG = _TASK_FACTS.replace(
    "\nFROM tasks t",
    """,
    (SELECT full_name FROM users WHERE id = {}) AS actor_name,
    (SELECT json_agg(json_build_array(u.id, u.roles) ORDER BY m.id)
        FROM group_memberships m JOIN users u ON u.id = m."user"
        WHERE m."group" = t."group") AS members
FROM tasks t""",
    1,
)


def _json(value: Any) -> Any:
    """A JSON column as raw SQL returns it (text on asyncpg without a codec, and SQLite)."""
    return msgspec.json.decode(value) if isinstance(value, str | bytes) else value


async def _task_facts(task_id: int, actor_id: int | None) -> TaskFacts:
    sqlite = db.is_sqlite()
    if sqlite:
        rows = await db.fetch_rows(_TASK_FACTS, task_id)
    else:
        rows = await db.fetch_rows(_TASK_FACTS_PG, actor_id, task_id)
    assert rows, f"task {task_id} vanished inside its own transaction"
    row = rows[0]
    members = None
    if not sqlite:
        members = [(m[0], m[1] or []) for m in _json(row["members"]) or []]
    return TaskFacts(
        members=members,
        actor_name=None if sqlite else (row["actor_name"] or ""),
        id=row["id"],
        number=row["number"] or row["id"],
        title=row["title"],
        status=row["status"],
        template=row["template"],
        counterparty=row["counterparty"],
        group_id=row["group_id"],
        assignee_id=row["assignee_id"],
        requester_user_id=row["requester_user_id"],
        requester_contact_id=row["requester_contact_id"],
        has_departure=bool(row["has_departure"]),
    )


async def _group_members(task: TaskFacts, role: str | None = None) -> list[int]:
    if task.group_id is None:
        return []
    members = task.members
    if members is None:
        members = [(uid, roles) for uid, roles, _ in await accounts.group_members(task.group_id)]
    return [uid for uid, roles in members if role is None or role in roles]


async def _full_name(user_id: int) -> str:
    return await accounts.full_name(user_id)


async def _created(task: TaskFacts, _: dict[str, Any]) -> Audience:
    if task.status == Status.NEW:
        return Audience("task_new", users=await _group_members(task, "engineer"))
    if task.status == Status.ACCEPTED and task.assignee_id:
        return Audience("assigned", users=[task.assignee_id])
    return Audience("created")


async def _assigned(_: TaskFacts, data: dict[str, Any]) -> Audience:
    return Audience("assigned", users=[data["assignee_id"]])


async def _done(task: TaskFacts, _: dict[str, Any]) -> Audience:
    return Audience("done_check", users=await _group_members(task, "checker"))


async def _returned(task: TaskFacts, _: dict[str, Any]) -> Audience:
    return Audience("returned", users=[task.assignee_id] if task.assignee_id else [])


def _to_named(kind: str) -> Callable[[TaskFacts, dict[str, Any]], Awaitable[Audience]]:
    """Events that name their recipients: a client's reply (the employee who last wrote),
    SLA automations (the manager, or the assignee)."""

    async def audience(_: TaskFacts, data: dict[str, Any]) -> Audience:
        return Audience(kind, users=list(data.get("notify") or []))

    return audience


async def _completed(task: TaskFacts, _: dict[str, Any]) -> Audience:
    if task.requester_contact_id:
        return Audience("completed", contacts=[task.requester_contact_id])
    if task.requester_user_id:
        return Audience("completed", users=[task.requester_user_id])
    return Audience("completed")


async def _comment(task: TaskFacts, data: dict[str, Any]) -> Audience:
    # Only public comments reach clients (R6).
    if data.get("public") and task.requester_contact_id and await _mails_client(task, data):
        return Audience("client_comment", contacts=[task.requester_contact_id])
    if data.get("public") and task.requester_user_id and await _mails_client(task, data):
        # A client user's request (the portal, the client bot): the reply reaches them by
        # their own channels (e-mail, Telegram, push); an employee requester hears nothing.
        query = User.select(User.roles).where(User.id == task.requester_user_id)
        row = await query.first().output(load_json=True)
        roles = set((row or {}).get("roles") or [])
        if row and roles and roles <= {"client"}:
            return Audience("client_comment", users=[task.requester_user_id])
    return Audience("comment")


async def _mails_client(task: TaskFacts, data: dict[str, Any]) -> bool:
    """A field visit never mails the client on its own: an engineer's public comment on
    site stays on the task (clients see it in the portal); only what the office or an admin
    makes public is e-mailed."""
    if not task.has_departure:
        return True
    author = data.get("author_user_id")
    if author is None:
        return False
    row = await User.select(User.roles).where(User.id == author).first().output(load_json=True)
    return bool(row) and bool(set(row["roles"] or []) & {"office", "admin"})


async def _follow_up(task: TaskFacts, _: dict[str, Any]) -> Audience:
    """R6: a client wrote again after completion; the task's whole group hears of it."""
    return Audience("follow_up", users=await _group_members(task))


_AUDIENCES: dict[str, Callable[[TaskFacts, dict[str, Any]], Awaitable[Audience]]] = {
    "created": _created,
    "assigned": _assigned,
    "redirected": _assigned,
    "done": _done,
    "returned": _returned,
    "client_reply": _to_named("client_reply"),
    "escalated": _to_named("escalated"),
    "reminded": _to_named("reminded"),
    "completed": _completed,
    "approved": _completed,
    "completed_automatically": _completed,
    "comment": _comment,
    "follow_up": _follow_up,
    # the client portal (server/portal): a low rating, a disputed completion act
    "low_rating": _to_named("low_rating"),
    "client_disputed": _to_named("client_disputed"),
}


async def _recipients(
    task: TaskFacts, kind: str, actor_id: int | None, data: dict[str, Any]
) -> Audience:
    """Who hears of one task event; nobody is told of what they did themselves."""
    pick = _AUDIENCES.get(kind)
    if pick is None:
        return Audience(kind)
    audience = await pick(task, data)
    audience.users = [u for u in dict.fromkeys(audience.users) if u and u != actor_id]
    return audience


async def _watchers_hearing(task: TaskFacts, audience: Audience, actor_id: int | None) -> list[int]:
    """A task's watchers hear what its assignee hears (as a "watched" message of their own:
    "assigned to you" would be false for them); nobody hears twice or of their own act."""
    if task.assignee_id is None or task.assignee_id not in audience.users:
        return []
    heard = {*audience.users, actor_id}
    return [uid for uid, _ in await TaskWatcher.users_of(task.id) if uid not in heard]


async def _comment_body(kind: str, data: dict[str, Any]) -> str:
    if kind not in ("comment", "client_reply"):
        return ""
    comment = await Comment.select(Comment.body).where(Comment.id == data["comment_id"]).first()
    return comment["body"] if comment else ""


async def notify(task_id: int, kind: str, actor_id: int | None, data: dict[str, Any]) -> list[int]:
    """Write the outbox rows for one task event, inside the change's transaction; their
    delivery is kicked after the commit. Returns the new notification ids."""
    if kind not in _AUDIENCES:
        return []  # nobody hears of it (accepted, departed…): no audience, no watchers
    task = await _task_facts(task_id, actor_id)
    audience = await _recipients(task, kind, actor_id, data)
    mentioned = [u for u in data.get("mentions") or [] if u != actor_id and u not in audience.users]
    watchers = await _watchers_hearing(task, audience, actor_id)
    if not (audience.users or audience.contacts or watchers or (kind == "comment" and mentioned)):
        return []
    actor_name = task.actor_name
    if actor_name is None:
        actor_name = "" if actor_id is None else await _full_name(actor_id)
    context: dict[str, Any] = {
        "task_id": task_id,
        "number": task.number,
        "title": task.title,
        "template": task.template,
        "counterparty": task.counterparty,
        "status": task.status,
        "actor": actor_name,
        "actor_id": actor_id,
        "reason": data.get("reason", ""),
        # R11: a redirect asks the new assignee to call the client back
        "call_back": bool(data.get("call_back")),
        # SLA automations: which one fired and its timer, worded by each template's language
        "automation": data.get("automation", ""),
        "minutes": data.get("minutes", ""),
        "body": data.get("quote") or await _comment_body(kind, data),
        # a follow-up: the completed task it continues
        "parent_number": data.get("parent_number", ""),
        "score": data.get("score", ""),
    }
    if audience.message == "completed":
        # CSAT: the requester rates with one click, no login (a signed, expiring link).
        context["rate_url"] = portal.rating_link(
            task_id,
            user_id=next(iter(audience.users), None),
            contact_id=next(iter(audience.contacts), None),
        )
    ids: list[int] = []
    if audience.contacts:
        ids += await _to_contacts(task_id, audience.message, audience.contacts, context)
    if audience.users:
        ids += await _to_users(task_id, audience.message, audience.users, context)
    if kind == "comment" and mentioned:
        ids += await _to_users(task_id, "mention", mentioned, context)
    if watchers:
        ids += await _to_users(task_id, "watched", watchers, {**context, "event": audience.message})
    if ids:
        await db.on_commit(partial(_deliver_soon, ids), name="deliver notifications")
    return ids


async def _insert(row: Notification) -> int:
    result = await Notification.insert(row).returning(Notification.id)
    return int(result[0]["id"])


# A user's channels, Telegram id and push subscriptions with the user, in one statement.
_RECIPIENTS_PG = """
SELECT u.id, u.email, u.telegram_user_id, u.language, u.active,
    (SELECT p.notification_channels FROM notification_preferences p WHERE p."user" = u.id)
        AS channels,
    (SELECT json_agg(json_build_array(s.id, s.endpoint) ORDER BY s.id)
        FROM push_subscriptions s WHERE s."user" = u.id) AS subs
FROM users u
WHERE u.id = ANY({}::integer[])
"""
# Every outbox row of one _to_users call in one statement: ids drawn from the sequence in
# row order, so an e-mail's Message-ID (which names its id) is written with the row.
_INSERT_PG = """
WITH v AS (
    SELECT nextval(pg_get_serial_sequence('notifications', 'id'))::integer AS id, r.*
    FROM unnest({}::varchar[], {}::integer[], {}::integer[], {}::text[], {}::varchar[],
        {}::boolean[]) WITH ORDINALITY AS r(channel, uid, sub, address, language, mail, n)
    ORDER BY r.n
)
INSERT INTO notifications (id, task, kind, channel, "user", contact, push_subscription,
    address, language, context, status, attempts, next_attempt_at, claimed_at, sent_at,
    error, message_id, in_reply_to, thread_references, created_at)
SELECT v.id, {}, {}, v.channel, v.uid, NULL, v.sub, v.address, v.language, {}::json,
    'pending', 0, {}, NULL, NULL, '',
    CASE WHEN v.mail THEN '<naryad.' || v.id || '.' || {} || '@' || {} || '>' END,
    NULL, '', {}
FROM v ORDER BY v.n
RETURNING id
"""


class _Row(msgspec.Struct):
    """One outbox row to write for a user."""

    user: int
    language: str
    channel: str
    address: str
    push_subscription: int | None = None


async def _user_rows(user_ids: list[int]) -> list[_Row]:
    """The rows for `user_ids` over their channels: e-mail, Telegram, each push
    subscription; inactive users and channels they left out get none."""
    if db.is_sqlite():
        return await _user_rows_sqlite(user_ids)
    rows: list[_Row] = []
    for user in await db.fetch_rows(_RECIPIENTS_PG, user_ids):
        if not user["active"]:
            continue
        channels = _json(user["channels"]) if user["channels"] is not None else list(CHANNELS)
        subs = [] if user["subs"] is None else _json(user["subs"])
        rows += _rows_of(user, channels, [(s[0], s[1]) for s in subs])
    return rows


def _rows_of(
    user: Mapping[str, Any], channels: list[str], subs: list[tuple[int, str]]
) -> list[_Row]:
    language = user["language"] or "ru"
    rows = []
    if "email" in channels and user["email"]:
        rows.append(_Row(user["id"], language, "email", user["email"]))
    if "telegram" in channels and user["telegram_user_id"]:
        rows.append(_Row(user["id"], language, "telegram", str(user["telegram_user_id"])))
    if "push" in channels:
        rows += [_Row(user["id"], language, "push", endpoint, sub) for sub, endpoint in subs]
    return rows


async def _user_rows_sqlite(user_ids: list[int]) -> list[_Row]:
    users = await User.select(
        User.id, User.email, User.telegram_user_id, User.language, User.active
    ).where(User.id.is_in(user_ids))
    prefs = {
        r["user"]: r["notification_channels"]
        for r in await NotificationPreference.select()
        .where(NotificationPreference.user.is_in(user_ids))
        .output(load_json=True)
    }
    subs: dict[int, list[tuple[int, str]]] = {}
    for s in await PushSubscription.select(
        PushSubscription.id, PushSubscription.user, PushSubscription.endpoint
    ).where(PushSubscription.user.is_in(user_ids)):
        subs.setdefault(s["user"], []).append((s["id"], s["endpoint"]))
    rows: list[_Row] = []
    for user in users:
        if user["active"]:
            channels = prefs.get(user["id"], list(CHANNELS))
            rows += _rows_of(user, channels, subs.get(user["id"], []))
    return rows


async def _to_users(
    task_id: int, message: str, user_ids: list[int], context: dict[str, Any]
) -> list[int]:
    rows = await _user_rows(user_ids)
    if not rows:
        return []
    now = clock.now()
    mails = any(r.channel == "email" for r in rows)
    domain = mail_domain(current_settings()) if mails else ""
    if not db.is_sqlite():
        stamp = now.strftime("%Y%m%d%H%M%S%f")  # as message_id_for() writes it
        inserted = await db.fetch_rows(
            _INSERT_PG,
            [r.channel for r in rows],
            [r.user for r in rows],
            [r.push_subscription for r in rows],
            [r.address for r in rows],
            [r.language for r in rows],
            [r.channel == "email" for r in rows],
            task_id,
            message,
            dump_json(context),
            now,
            stamp,
            domain,
            now,
        )
        return sorted(int(r["id"]) for r in inserted)
    ids = []
    for r in rows:
        nid = await _insert(
            Notification(
                task=task_id,
                kind=message,
                user=r.user,
                language=r.language,
                context=context,
                status="pending",
                next_attempt_at=now,
                created_at=now,
                channel=r.channel,
                address=r.address,
                push_subscription=r.push_subscription,
            )
        )
        if r.channel == "email":
            # Fixed when written, like a client's: every copy of this mail has one Message-ID.
            await Notification.update(
                {Notification.message_id: message_id_for(nid, now, domain)}
            ).where(Notification.id == nid)
        ids.append(nid)
    return ids


async def _to_contacts(
    task_id: int, message: str, contact_ids: list[int], context: dict[str, Any]
) -> list[int]:
    """Client e-mail: each message answers the previous one of the task's client thread."""
    contacts = await Contact.select(Contact.id, Contact.email).where(Contact.id.is_in(contact_ids))
    domain = mail_domain(current_settings())
    now = clock.now()
    ids = []
    for contact in contacts:
        if not contact["email"]:
            continue
        previous = (
            await Notification.select(Notification.message_id, Notification.thread_references)
            .where(
                (Notification.task == task_id)
                & Notification.contact.is_not_null()
                & Notification.message_id.is_not_null()
            )
            .order_by(Notification.id, ascending=False)
            .first()
        )
        in_reply_to = previous["message_id"] if previous else None
        references = (
            " ".join(filter(None, [previous["thread_references"], in_reply_to])) if previous else ""
        )
        nid = await _insert(
            Notification(
                task=task_id,
                kind=message,
                channel="email",
                contact=contact["id"],
                address=contact["email"],
                language="ru",
                context=context,
                status="pending",
                next_attempt_at=now,
                created_at=now,
                in_reply_to=in_reply_to,
                thread_references=references,
            )
        )
        # Deterministic: a re-sent row carries the same Message-ID, so mail clients and
        # intake see one message.
        await Notification.update(
            {Notification.message_id: message_id_for(nid, now, domain)}
        ).where(Notification.id == nid)
        ids.append(nid)
    return ids


# --- delivery states --------------------------------------------------------------------


# What a claim returns: every column the delivery needs, in one round trip.
_ROW = (
    'id, task, kind, channel, "user", contact, push_subscription, address, language, '
    "context, status, attempts, next_attempt_at, claimed_at, message_id, in_reply_to, "
    "thread_references, created_at"
)
# Due: pending and its time has come, or 'sending' past the lease (its worker died).
_DUE = (
    "((status = 'pending' AND next_attempt_at <= $1) OR (status = 'sending' AND claimed_at < $2))"
)
# A claim and a mark are leases and progress notes, not records: their commits need not
# wait for the WAL flush (a claim a database crash loses leaves its rows pending, to be sent
# again — at-least-once, as ever). The disk is shared: while another database wrote, a
# worker whose claims waited for the flush sat idle at ~240 mails/s with the bare transport
# doing 1 800–2 600 (bench/README.md). set_config(…, true) sets synchronous_commit for the
# statement's own transaction, so each stays one prepared statement and one round trip.
_ASYNC_COMMIT = "(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit"
_CLAIM = f"""
UPDATE notifications SET status = 'sending', claimed_at = $1
FROM {_ASYNC_COMMIT}
WHERE id IN (
    SELECT id FROM notifications WHERE {_DUE} {{only}}
    ORDER BY id LIMIT $3
    FOR UPDATE SKIP LOCKED
)
RETURNING {_ROW}
"""
_CLAIM_DUE = _CLAIM.format(only="")
_CLAIM_IDS = _CLAIM.format(only="AND id = ANY($4::int[])")


@contextlib.asynccontextmanager
async def outbox_connection() -> AsyncIterator[Any]:
    """A PostgreSQL connection for the outbox statements below: from the process's pool
    when one runs, else a new one."""
    engine = db.current_engine()
    pool = getattr(engine, "pool", None)
    if pool is not None:
        async with pool.acquire() as conn:
            yield conn
        return
    conn = await engine.get_new_connection()  # type: ignore[attr-defined]
    try:
        yield conn
    finally:
        await conn.close()


async def open_outbox_connection() -> Any:
    """A connection of its own for a delivering loop (closed by the caller)."""
    return await db.current_engine().get_new_connection()  # type: ignore[attr-defined]


async def claim_batch(
    limit: int, lease_s: float, ids: list[int] | None = None, conn: Any = None
) -> list[dict[str, Any]]:
    """Take up to `limit` due rows for delivery (only among `ids` if given), oldest first:
    pending → sending, stamped with one claimed_at. One statement on PostgreSQL (rows
    another claimer holds are skipped, FOR UPDATE SKIP LOCKED, and a row it has just
    claimed no longer qualifies), so any number of workers never take the same row; on
    SQLite under the write lock, which has one holder at a time."""
    if limit <= 0 or ids == []:
        return []
    now = clock.now()
    stale = now - dt.timedelta(seconds=lease_s)
    if db.is_sqlite():
        return await _claim_sqlite(limit, now, stale, ids)
    args: list[Any] = [now, stale, limit]
    if ids is not None:
        args.append(ids)
    sql = _CLAIM_DUE if ids is None else _CLAIM_IDS
    if conn is None:
        async with outbox_connection() as own:
            records = await own.fetch(sql, *args)
    else:
        records = await conn.fetch(sql, *args)
    rows = [dict(r) for r in records]
    for row in rows:
        if isinstance(row["context"], str):
            row["context"] = msgspec.json.decode(row["context"])
    rows.sort(key=lambda r: int(r["id"]))
    return rows


async def _claim_sqlite(
    limit: int, now: dt.datetime, stale: dt.datetime, ids: list[int] | None
) -> list[dict[str, Any]]:
    due: Any = Or(
        (Notification.status == "pending") & (Notification.next_attempt_at <= now),
        (Notification.status == "sending") & (Notification.claimed_at < stale),
    )
    if ids is not None:
        due = due & Notification.id.is_in(ids)
    async with db.transaction():  # IMMEDIATE: the one writer until it ends
        picked = [
            r["id"]
            for r in await Notification.select(Notification.id)
            .where(due)
            .order_by(Notification.id)
            .limit(limit)
        ]
        if not picked:
            return []
        await Notification.update(
            {Notification.status: "sending", Notification.claimed_at: now}
        ).where(Notification.id.is_in(picked))
        rows = (
            await Notification.select()
            .where(Notification.id.is_in(picked))
            .order_by(Notification.id)
            .output(load_json=True)
        )
    return rows


_MARK_SENT = f"""
UPDATE notifications AS n SET status = 'sent', sent_at = $3, error = ''
FROM unnest($1::int[], $2::timestamptz[]) AS m(id, claimed_at), {_ASYNC_COMMIT}
WHERE n.id = ANY($1::int[]) AND n.id = m.id AND n.status = 'sending'
    AND n.claimed_at = m.claimed_at
"""


async def mark_sent_many(conn: Any, rows: list[tuple[int, dt.datetime]]) -> None:
    """Mark (id, claimed_at) rows sent on PostgreSQL in one statement, written to the
    socket before this awaits anything (a row another delivery has taken over since, its
    claimed_at different, is left alone). Its commit does not wait for the WAL flush
    (`_ASYNC_COMMIT`): a mark lost in a database crash only sends the message again."""
    if rows:
        await conn.execute(_MARK_SENT, [r[0] for r in rows], [r[1] for r in rows], clock.now())


def _mine(row: dict[str, Any]) -> Any:
    return (
        (Notification.id == row["id"])
        & (Notification.status == "sending")
        & (Notification.claimed_at == row["claimed_at"])
    )


async def mark_sent(row: dict[str, Any]) -> None:
    """Delivery marks a row sent the moment the other side has it (SMTP's 250): one
    statement, written to PostgreSQL as soon as the answer is read. A worker killed after
    that point has nothing to send again (the server commits a statement it has received),
    so what remains between the 250 and the mark is the time to write one message to a
    socket. Delivering loops mark many rows per statement instead (`mark_sent_many`)."""
    if db.is_sqlite():
        await Notification.update(
            {Notification.status: "sent", Notification.sent_at: clock.now(), Notification.error: ""}
        ).where(_mine(row))
        return
    async with outbox_connection() as conn:
        await mark_sent_many(conn, [(row["id"], row["claimed_at"])])


async def mark_failed(row: dict[str, Any], error: str) -> None:
    await Notification.update(
        {
            Notification.status: "failed",
            Notification.attempts: row["attempts"] + 1,
            Notification.error: error[:2000],
        }
    ).where(_mine(row))


async def mark_skipped(row: dict[str, Any], reason: str) -> None:
    """Not sent and never retried: the channel is not configured (no SMTP host, bot token or
    VAPID key). Nothing was attempted, so attempts stay as they are."""
    await Notification.update(
        {Notification.status: "skipped", Notification.error: reason[:2000]}
    ).where(_mine(row))


async def release(row: dict[str, Any]) -> None:
    """Give back a claimed row that was not attempted (its lease was running out before
    its turn, or the worker is stopping): due again at once, for any worker."""
    await Notification.update(
        {Notification.status: "pending", Notification.claimed_at: None}
    ).where(_mine(row))


def backoff(attempts: int) -> dt.timedelta:
    """5 s, 10 s, 20 s … capped at an hour."""
    return dt.timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 3600))


async def mark_retry(row: dict[str, Any], error: str, max_attempts: int) -> None:
    attempts = row["attempts"] + 1
    if attempts >= max_attempts:
        await mark_failed(row, f"gave up after {attempts} attempts: {error}")
        return
    await Notification.update(
        {
            Notification.status: "pending",
            Notification.attempts: attempts,
            Notification.next_attempt_at: clock.now() + backoff(attempts),
            Notification.error: error[:2000],
        }
    ).where(_mine(row))


async def delete_push_subscription(subscription_id: int) -> None:
    await PushSubscription.delete().where(PushSubscription.id == subscription_id)


async def gather_limited(
    limit: int, items: Iterable[int], fn: Callable[[int], Awaitable[None]]
) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def one(item: int) -> None:
        async with semaphore:
            await fn(item)

    await asyncio.gather(*(one(i) for i in items))


# --- preferences, subscriptions, admin list ---------------------------------------------


async def get_preferences(user_id: int) -> PreferencesOut:
    row = (
        await NotificationPreference.select()
        .where(NotificationPreference.user == user_id)
        .first()
        .output(load_json=True)
    )
    channels = row["notification_channels"] if row else list(CHANNELS)
    return PreferencesOut(notification_channels=list(channels))


async def set_preferences(user_id: int, data: PreferencesIn) -> PreferencesOut:
    unknown = sorted(set(data.notification_channels) - set(CHANNELS))
    if unknown:
        raise InvalidInput(
            "notification.unknown_channels_choose_from",
            unknown=", ".join(unknown),
            channels=", ".join(CHANNELS),
        )
    channels: list[str] = [c for c in CHANNELS if c in data.notification_channels]
    async with db.transaction():
        updated = (
            await NotificationPreference.update(
                {NotificationPreference.notification_channels: channels}
            )
            .where(NotificationPreference.user == user_id)
            .returning(NotificationPreference.id)
        )
        if not updated:
            await NotificationPreference.insert(
                NotificationPreference(user=user_id, notification_channels=channels)
            )
    return PreferencesOut(notification_channels=channels)


async def add_push_subscription(user_id: int, data: PushSubscriptionIn) -> PushSubscriptionOut:
    if not data.endpoint.startswith(("https://", "http://")):
        raise InvalidInput("notification.endpoint_must_push_service")
    async with db.transaction():
        # The same browser re-subscribing (or another user on it) replaces the old row.
        await PushSubscription.delete().where(PushSubscription.endpoint == data.endpoint)
        result = await PushSubscription.insert(
            PushSubscription(
                user=user_id,
                endpoint=data.endpoint,
                p256dh=data.keys.p256dh,
                auth=data.keys.auth,
                created_at=clock.now(),
            )
        ).returning(PushSubscription.id)
    return PushSubscriptionOut(id=result[0]["id"], endpoint=data.endpoint)


async def list_notifications(
    status: str | None, task_id: int | None, limit: int = 100
) -> list[NotificationOut]:
    query = Notification.select().order_by(Notification.id, ascending=False).limit(limit)
    if status is not None:
        query = query.where(Notification.status == status)
    if task_id is not None:
        query = query.where(Notification.task == task_id)
    rows = await query
    return [
        NotificationOut(
            id=r["id"],
            task_id=r["task"],
            kind=r["kind"],
            channel=r["channel"],
            user_id=r["user"],
            contact_id=r["contact"],
            address=r["address"],
            status=r["status"],
            attempts=r["attempts"],
            error=r["error"],
            created_at=r["created_at"],
            sent_at=r["sent_at"],
        )
        for r in rows
    ]
