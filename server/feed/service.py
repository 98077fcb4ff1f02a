"""Who gets which feed line, and reading one's feed.

The audience follows the engineer's day: new work in my queue (created or released into
a group I am in), a task given to me (assigned, redirected, created for me), a visit the
checker returned (with the reason), a client's reply on my task, and a postponed task back.
Nobody is told of what they did themselves."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from piccolo.utils.encoding import dump_json

from server import db
from server.accounts import service as accounts
from server.feed.tables import FeedItem
from server.lib import clock
from server.lib.errors import InvalidInput
from server.tasks.tables import Task

KINDS = ("queue_new", "assigned", "returned", "client_reply", "resumed")
MAX_PAGE = 200


class FeedItemOut(msgspec.Struct):
    id: int
    kind: str
    task_id: int
    number: int
    title: str
    created_at: dt.datetime
    read: bool
    # the checker's reason (returned), who did it, the client's words (client_reply)
    reason: str = ""
    actor: str = ""
    text: str = ""


class FeedOut(msgspec.Struct):
    items: list[FeedItemOut]
    unread: int


class MarkReadIn(msgspec.Struct, forbid_unknown_fields=True):
    ids: list[int] | None = None  # none: everything up to now


class MarkReadOut(msgspec.Struct):
    marked: int
    unread: int


async def _task(task_id: int) -> dict[str, Any]:
    row = (
        await Task.select(
            Task.id, Task.number, Task.title, Task.group.id, Task.assignee.id, Task.status
        )
        .where(Task.id == task_id)
        .first()
    )
    assert row is not None, f"task {task_id} vanished inside its own transaction"
    return row


async def group_engineers(group_id: int | None) -> list[int]:
    if group_id is None:
        return []
    members = await accounts.group_members(group_id)
    return [uid for uid, roles, active in members if active and "engineer" in roles]


async def _name(user_id: int | None) -> str:
    if user_id is None:
        return ""
    return await accounts.full_name(user_id)


async def add(
    task_id: int,
    kind: str,
    users: list[int | None],
    actor_id: int | None,
    data: dict[str, Any] | None = None,
    *,
    task: dict[str, Any] | None = None,
) -> int:
    """Write one line per person (inside the caller's transaction). Returns how many.
    `task` (id, number, title) spares reading the task when the caller knows them."""
    recipients = [u for u in dict.fromkeys(users) if u is not None and u != actor_id]
    if not recipients:
        return 0
    if task is None:
        task = await _task(task_id)
    payload = {
        "number": task["number"] or task["id"],
        "title": task["title"],
        "actor": await _name(actor_id),
        **(data or {}),
    }
    now = clock.now()
    if db.is_sqlite():
        await FeedItem.insert(
            *[
                FeedItem(user=u, task=task_id, kind=kind, data=payload, created_at=now)
                for u in recipients
            ]
        )
    else:  # written SQL on PostgreSQL: the same rows, in the same order, in one statement
        await db.fetch_rows(_INSERT_PG, task_id, kind, dump_json(payload), now, recipients)
    return len(recipients)


_INSERT_PG = """
INSERT INTO feed_items ("user", task, kind, data, created_at, read_at)
SELECT r.uid, {}, {}, {}::json, {}, NULL
FROM unnest({}::integer[]) WITH ORDINALITY AS r(uid, n) ORDER BY r.n
"""


async def task_row(task_id: int) -> dict[str, Any]:
    return await _task(task_id)


def _out(row: dict[str, Any]) -> FeedItemOut:
    data = row["data"] or {}
    return FeedItemOut(
        id=row["id"],
        kind=row["kind"],
        task_id=row["task"],
        number=int(data.get("number") or row["task"]),
        title=str(data.get("title") or ""),
        created_at=db.stored_datetime(row["created_at"]),
        read=row["read_at"] is not None,
        reason=str(data.get("reason") or ""),
        actor=str(data.get("actor") or ""),
        text=str(data.get("text") or ""),
    )


async def unread_count(user_id: int) -> int:
    return int(await FeedItem.count().where(FeedItem.user == user_id, FeedItem.read_at.is_null()))


async def feed(user_id: int, limit: int = 50, unread_only: bool = False) -> FeedOut:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput("feed.limit_must_between", max_page=MAX_PAGE)
    query = FeedItem.select().where(FeedItem.user == user_id)
    if unread_only:
        query = query.where(FeedItem.read_at.is_null())
    rows = await query.order_by(FeedItem.id, ascending=False).limit(limit).output(load_json=True)
    return FeedOut(items=[_out(r) for r in rows], unread=await unread_count(user_id))


async def mark_read(user_id: int, data: MarkReadIn) -> MarkReadOut:
    async with db.transaction():
        where = [FeedItem.user == user_id, FeedItem.read_at.is_null()]
        if data.ids is not None:
            if not data.ids:
                return MarkReadOut(marked=0, unread=await unread_count(user_id))
            where.append(FeedItem.id.is_in(data.ids))
        marked = await FeedItem.count().where(*where)
        await FeedItem.update({FeedItem.read_at: clock.now()}).where(*where)
        return MarkReadOut(marked=marked, unread=await unread_count(user_id))
