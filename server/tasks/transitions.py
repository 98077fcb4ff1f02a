"""Task transitions: R7 accept and the departure lock, R8 done → check, R11 results.

Every transition is a compare-and-swap on the task's `version`: read the row, check the
rules, then `UPDATE … WHERE id = ? AND version = ? RETURNING id`. If another request
changed the task in between, the update touches nothing and the transition is decided
again from the new state — so of N engineers pressing Accept at once exactly one wins,
and the others are told who did. This holds across processes and on SQLite too.

Accept, the busiest of them, goes faster on PostgreSQL (`_accept_at_once`): one
conditional UPDATE whose WHERE holds R7's rules decides and wins at once, the same
statement writes the history event and answers with the task, so an accept is BEGIN, that
statement and COMMIT. When the UPDATE touches nothing, the general path below decides
(and tells why). Its WHERE is never looser than the general path's checks
(tests/test_query_counts.py compares the two).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import re
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import msgspec
from piccolo.columns import Column
from piccolo.query.functions import Coalesce

from server import db
from server.accounts.tables import User
from server.lib import clock, events
from server.lib.actor import EMPLOYEE_ROLES, Actor, Role
from server.lib.errors import Conflict, Forbidden, InvalidInput, NotFound, RuleViolation
from server.lib.geo import geodesic
from server.tasks import extensions, refusals, service
from server.tasks.events import CommentAdded, TaskTransitioned
from server.tasks.schemas import CommentAuthor, CommentOut, TaskOut, TemplateOut
from server.tasks.statuses import Channel, Status
from server.tasks.tables import Comment, Task, TaskEvent
from server.tasks.workflow import allowed_actions, may_work, transitions_for

MAX_ATTEMPTS = 20
_MENTION = re.compile(r"(?<![\w@])@([\w.+-]+)")


class TaskState(msgspec.Struct):
    id: int
    number: int
    status: str
    version: int
    assignee_id: int | None
    assignee_name: str | None
    group_id: int | None
    group_name: str | None
    site_lat: float | None
    site_lon: float | None
    postponed_from_status: str | None
    completed_works: str
    template: TemplateOut


class Change(msgspec.Struct):
    """What a transition writes: column values, and the history event."""

    values: dict[Any, Any]
    event: dict[str, Any]
    kind: str
    public: bool = False


Decide = Callable[[TaskState, str], Awaitable[Change]]


# --- reading the task a transition decides on -----------------------------------------

# The task, its holder, group and site, and the template it was created under: one query.
_LOAD = """
SELECT t.id, t.number, t.status, t.version, t.postponed_from_status, t.completed_works,
    t.has_departure, t.requires_check, t.requires_completed_works, t.counterparty_in_title,
    a.id AS "assignee.id", a.full_name AS "assignee.full_name",
    g.id AS "group.id", g.name AS "group.name", s.lat AS "site.lat", s.lon AS "site.lon",
    tpl.id AS "tpl.id", tpl.code AS "tpl.code", tpl.name AS "tpl.name",
    tpl.default_group AS "tpl.default_group", tpl.channels AS "tpl.channels",
    tpl.counterparty_in_title AS "tpl.counterparty_in_title",
    tpl.requires_check AS "tpl.requires_check",
    tpl.requires_completed_works AS "tpl.requires_completed_works",
    tpl.allows_completed_on_creation AS "tpl.allows_completed_on_creation",
    tpl.creator_is_default_assignee AS "tpl.creator_is_default_assignee",
    tpl.has_departure AS "tpl.has_departure"
FROM tasks t
JOIN task_templates tpl ON tpl.id = t.template
LEFT JOIN users a ON a.id = t.assignee
LEFT JOIN work_groups g ON g.id = t."group"
LEFT JOIN sites s ON s.id = t.site
"""
_TEMPLATE_FLAGS = (
    "counterparty_in_title",
    "requires_check",
    "requires_completed_works",
    "allows_completed_on_creation",
    "creator_is_default_assignee",
    "has_departure",
)


def _json(value: Any) -> Any:
    """A json column as read by raw SQL: text on both engines (None stays None)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


async def _load(task_id: int, actor: Actor | None = None) -> TaskState:
    """The task as `actor` may see it (404 otherwise, as a read would answer)."""
    query = service.TaskQuery().where("t.id = {}", task_id)
    if actor is not None:
        service._restrict_to_visible(query, actor)
    rows = await Task.raw(f"{_LOAD} WHERE {' AND '.join(query.clauses)}", *query.args)
    if not rows:
        raise NotFound("task.not_found", task_id=task_id)
    row = rows[0]
    tpl = {key[4:]: value for key, value in row.items() if key.startswith("tpl.")}
    tpl["channels"] = _json(tpl["channels"])
    for flag in _TEMPLATE_FLAGS:
        tpl[flag] = bool(tpl[flag])  # SQLite: 0/1
    # the workflow the task was created under (templates change new tasks only)
    template = service.template_as_created(service.template_out(tpl), row)
    return TaskState(
        id=row["id"],
        number=row["number"] or row["id"],
        status=row["status"],
        version=row["version"],
        assignee_id=row["assignee.id"],
        assignee_name=row["assignee.full_name"],
        group_id=row["group.id"],
        group_name=row["group.name"],
        site_lat=row["site.lat"],
        site_lon=row["site.lon"],
        postponed_from_status=row["postponed_from_status"],
        completed_works=row["completed_works"],
        template=template,
    )


def _not_allowed(task: TaskState, action: str) -> Conflict:
    allowed = allowed_actions(task.template, task.status)
    return Conflict(
        "task.conflict.transition_held" if task.assignee_name else "task.conflict.transition",
        action=action,
        task_number=task.number,
        status=task.status,
        holder=task.assignee_name,
        template=task.template.code,
        actions=allowed,
    )


# --- answering with the task (PostgreSQL: in the statement that changes it) ------------


_answer_select = service.single_read_select
_answer = service.single_read_out


async def _read_answer(task_id: int, actor: Actor | None) -> TaskOut:
    """The task after a change (and what its subscribers wrote), as a single read."""
    if db.is_sqlite():
        if actor is None:
            return await service.get_task_unchecked(task_id)
        return await service.get_task(actor, task_id)
    rows = await Task.raw(f"{_answer_select('tasks')} WHERE t.id = {{}}", task_id)
    if not rows:
        raise NotFound("task.not_found", task_id=task_id)
    return await _answer(rows[0], actor)


@functools.lru_cache(maxsize=256)
def _numbered(template: str) -> str:
    """A `{}`-placeholder statement in PostgreSQL's $1, $2… (once per statement shape)."""
    pieces = template.split("{}")
    return "".join(f"{piece}${i}" for i, piece in enumerate(pieces[:-1], 1)) + pieces[-1]


async def _fetch_in_transaction(template: str, args: list[Any]) -> list[Any]:
    """PostgreSQL, inside db.transaction(): run a statement on the transaction's own
    connection, numbered once per shape (Piccolo's raw() parses and converts every time)."""
    transaction = db.current_engine().current_transaction.get()
    assert transaction is not None, "call inside db.transaction()"
    rows: list[Any] = await transaction.connection.fetch(_numbered(template), *args)
    return rows


def _atomic() -> AbstractAsyncContextManager[None]:
    """The change's transaction. Inside a caller's (an Idempotency-Key's) no savepoint is
    taken: nothing catches a failed transition and goes on with the caller's transaction,
    which rolls back with it."""
    return contextlib.nullcontext() if db.in_transaction() else db.transaction()


_EVENT_SQL = (
    "ev AS (INSERT INTO task_events (task, at, actor, kind, data, channel, internal) "
    "SELECT won.id, {}::timestamptz, {}::integer, {}::varchar, {}::json, {}::varchar, "
    "{}::boolean FROM won RETURNING task)"
)


def _write_sql(
    values: dict[Column, Any],
    conditions: list[tuple[str, list[Any]]],
    event: list[Any],
    *,
    answer: bool,
) -> tuple[str, list[Any]]:
    """PostgreSQL: one statement that updates the task where `conditions` hold, writes
    the history event if it did, and returns the task (`answer`) or its id."""
    sets: list[str] = []
    args: list[Any] = []
    for column, value in values.items():
        name = column._meta.db_column_name
        if isinstance(value, _Stamp):
            sets.append(f'"{name}" = COALESCE(t."{name}", {{}})')
            args.append(value.at)
        elif isinstance(value, _NextVersion):
            sets.append(f'"{name}" = t."{name}" + 1')
        else:
            sets.append(f'"{name}" = {{}}')
            args.append(value)
    where = " AND ".join(c for c, _ in conditions)
    for _, condition_args in conditions:
        args.extend(condition_args)
    won = f"WITH won AS (UPDATE tasks t SET {', '.join(sets)} WHERE {where} RETURNING t.*), "
    tail = _answer_select("won") if answer else "SELECT task AS id FROM ev"
    return f"{won}{_EVENT_SQL}\n{tail}", [*args, *event]


class _Stamp(msgspec.Struct, frozen=True):
    """A column set to `at` unless already set (extensions.stamp_once)."""

    at: dt.datetime


class _NextVersion(msgspec.Struct, frozen=True):
    """version + 1, in SQL (the fast accept does not read the version first)."""


def _stamped(values: dict[Any, Any], from_status: str, now: dt.datetime) -> None:
    for column in extensions.stamps(from_status, str(values[Task.status])):
        values.setdefault(column, _Stamp(now))


def _event_args(
    actor: Actor | None, kind: str, channel: str, data: dict[str, Any], public: bool, at: Any
) -> list[Any]:
    return [
        at,
        actor.id if actor else None,
        kind,
        msgspec.json.encode(data).decode(),
        channel if actor else Channel.SYSTEM,
        not public,
    ]


async def transition(
    actor: Actor | None,
    task_id: int,
    action: str,
    decide: Decide,
    *,
    expected_version: int | None = None,
    channel: str = "ui",
) -> TaskOut:
    """Run one state-machine action with compare-and-swap on `version`."""
    for _ in range(MAX_ATTEMPTS):
        task = await _load(task_id, actor)  # 404 for tasks the caller cannot see
        if expected_version is not None and task.version != expected_version:
            raise Conflict(
                "task.conflict.version",
                task_number=task.number,
                expected_version=expected_version,
                version=task.version,
                extra={"current_version": task.version, "status": task.status},
            )
        moves = transitions_for(task.template).get(action, {})
        if task.status not in moves:
            if action in ("accept", "assign") and task.assignee_name:
                raise Conflict(
                    "task.conflict.already_accepted",
                    task_number=task.number,
                    assignee_name=task.assignee_name,
                    status=task.status,
                    extra={"assignee": {"id": task.assignee_id, "full_name": task.assignee_name}},
                )
            raise _not_allowed(task, action)
        target = moves[task.status]
        change = await decide(task, target)
        now = clock.now()
        values = {
            Task.status: target,
            Task.version: task.version + 1,
            Task.updated_at: now,
            Task.status_changed_at: now,
            **change.values,
        }
        _stamped(values, task.status, now)
        final = Status(values[Task.status])
        event = {"from": task.status, "to": final, **change.event}
        async with _atomic():
            if not await _write(task_id, task.version, values, actor, change, channel, event, now):
                continue  # someone changed it first: decide again from the new state
            # Notifications, SLA clocks and print forms follow from the event: what they
            # write commits with the change, what they send waits for the commit.
            await events.emit(
                TaskTransitioned(
                    task_id=task_id,
                    actor_id=actor.id if actor else None,
                    action=action,
                    kind=change.kind,
                    from_status=Status(task.status),
                    to_status=final,
                    version=task.version + 1,
                    has_departure=task.template.has_departure,
                    at=now,
                    data=event,
                )
            )
            return await _read_answer(task_id, actor)
    raise Conflict("task.conflict.busy", task_id=task_id)


async def _write(
    task_id: int,
    version: int,
    values: dict[Any, Any],
    actor: Actor | None,
    change: Change,
    channel: str,
    event: dict[str, Any],
    now: dt.datetime,
) -> bool:
    """The compare-and-swap and its history event; False if `version` is gone."""
    if not db.is_sqlite():
        conditions = [("t.id = {}", [task_id]), ("t.version = {}", [version])]
        event_args = _event_args(actor, change.kind, channel, event, change.public, now)
        sql, args = _write_sql(values, conditions, event_args, answer=False)
        return bool(await _fetch_in_transaction(sql, args))
    piccolo_values = {
        column: Coalesce(column, value.at) if isinstance(value, _Stamp) else value
        for column, value in values.items()
    }
    won = (
        await Task.update(piccolo_values)
        .where((Task.id == task_id) & (Task.version == version))
        .returning(Task.id)
    )
    if not won:
        return False
    await service.record_event(
        task_id,
        actor.id if actor else None,
        change.kind,
        channel if actor else Channel.SYSTEM,
        event,
        internal=not change.public,
        at=now,
    )
    return True


# --- who may act -----------------------------------------------------------------------


def _require_holder(actor: Actor, task: TaskState, action: str) -> None:
    """R7: only the accepted assignee may depart, arrive or mark done."""
    if task.assignee_id == actor.id:
        return
    if task.assignee_id is None:
        raise Conflict("task.not_accepted", task_number=task.number, action=action)
    raise Conflict(
        "r7.held_by_other",
        task_number=task.number,
        assignee_name=task.assignee_name,
        action=action,
        extra={"assignee": {"id": task.assignee_id, "full_name": task.assignee_name}},
        rule="R7",
    )


def _require_holder_or_dispatcher(actor: Actor, task: TaskState, action: str) -> None:
    if actor.is_dispatcher:
        return
    if task.assignee_id is None:
        if task.group_id is None or task.group_id in actor.group_ids:
            return
        raise Forbidden(
            "task.task_queue_which_you", task_number=task.number, group_name=task.group_name
        )
    _require_holder(actor, task, action)


async def _require_employee(user_id: int) -> dict[str, Any]:
    return await service.require_employee(user_id, "user_id")


def _require_may_work_myself(actor: Actor, task: TaskState) -> None:
    """R7: taking a task yourself follows the rule for giving it to someone."""
    if may_work(task.template, task.group_id, actor.roles, actor.group_ids):
        return
    raise Forbidden(
        "r7.cannot_take",
        actor_full_name=actor.full_name,
        task_number=task.number,
        reason=service.why_cannot_work(task.template, task.group_name),
        rule="R7",
    )


def _blank(text: str | None) -> bool:
    return text is None or not text.strip()


# --- the actions -----------------------------------------------------------------------


def _accepted(actor_id: int, now: dt.datetime) -> dict[Any, Any]:
    return {Task.assignee: actor_id, Task.accepted_at: now, Task.call_back: False}


async def accept_task(
    actor: Actor,
    task_id: int,
    *,
    expected_version: int | None = None,
    channel: str = "ui",
    at_once: bool = True,
) -> TaskOut:
    if at_once and not actor.is_client_only and not db.is_sqlite():
        accepted = await _accept_at_once(actor, task_id, expected_version, channel)
        if accepted is not None:
            return accepted

    async def decide(task: TaskState, _: str) -> Change:
        if (
            not actor.is_dispatcher
            and task.group_id is not None
            and task.group_id not in actor.group_ids
        ):
            raise Forbidden(
                "task.task_queue_which_you_2", task_number=task.number, group_name=task.group_name
            )
        _require_may_work_myself(actor, task)
        return Change(
            values=_accepted(actor.id, clock.now()),
            event={"assignee_id": actor.id},
            kind="accepted",
            public=True,
        )

    return await transition(
        actor, task_id, "accept", decide, expected_version=expected_version, channel=channel
    )


# Accept moves a task of every template from new to accepted (workflow._COMMON).
_ACCEPT_FROM, _ACCEPT_TO = Status.NEW, Status.ACCEPTED


def _may_accept(actor: Actor) -> list[tuple[str, list[Any]]]:
    """What accept_task's general path checks, as SQL over the task row `t`: seen by the
    actor (service._restrict_to_visible), in their queue unless they dispatch, and R7's
    may_work. Never looser than those checks; tighter for engineers, whose tasks outside
    their groups (seen because they worked on or watch them) are left to the general path."""
    groups = sorted(actor.group_ids)
    marks = ", ".join("{}" for _ in groups)
    in_groups: tuple[str, list[Any]] = (f't."group" IN ({marks})', [*groups])
    if not groups:
        in_groups = ("FALSE", [])
    queue: tuple[str, list[Any]] = (f'(t."group" IS NULL OR {in_groups[0]})', [*groups])
    conditions: list[tuple[str, list[Any]]] = [("t.status = {}", [str(_ACCEPT_FROM)])]
    if not actor.has_role(*service.SEES_ALL):
        conditions.append(in_groups)  # seen (their group), and in their queue
    elif not actor.is_dispatcher:
        conditions.append(queue)
    if Role.ENGINEER not in actor.roles:
        # may_work: a field visit goes to engineers; anything else to its group
        conditions += [("NOT t.has_departure", []), queue]
    return conditions


async def _accept_at_once(
    actor: Actor, task_id: int, expected_version: int | None, channel: str
) -> TaskOut | None:
    """PostgreSQL: decide, win, write the history event and answer in one statement;
    None when it touched nothing (then the general path decides and says why)."""
    now = clock.now()
    values: dict[Any, Any] = {
        Task.status: _ACCEPT_TO,
        Task.version: _NextVersion(),
        Task.updated_at: now,
        Task.status_changed_at: now,
        **_accepted(actor.id, now),
    }
    _stamped(values, _ACCEPT_FROM, now)
    conditions = [("t.id = {}", [task_id]), *_may_accept(actor)]
    if expected_version is not None:
        conditions.append(("t.version = {}", [expected_version]))
    data = {"from": _ACCEPT_FROM, "to": _ACCEPT_TO, "assignee_id": actor.id}
    event = _event_args(actor, "accepted", channel, data, True, now)
    sql, args = _write_sql(values, conditions, event, answer=True)
    async with _atomic():
        rows = await _fetch_in_transaction(sql, args)
        if not rows:
            return None
        # The answer is the row this statement wrote: an accept's subscribers write no
        # column of the task (SLA's reaction is stamped above, extensions.stamp_once).
        task = await _answer(rows[0], actor)
        await events.emit(
            TaskTransitioned(
                task_id=task_id,
                actor_id=actor.id,
                action="accept",
                kind="accepted",
                from_status=_ACCEPT_FROM,
                to_status=_ACCEPT_TO,
                version=task.version,
                has_departure=bool(rows[0]["template.has_departure"]),
                at=now,
                data=data,
            )
        )
    return task


async def assign_task(actor: Actor, task_id: int, user_id: int, **kw: Any) -> TaskOut:
    """A dispatcher gives a queued task straight to someone (R7 allows office to assign)."""
    user = await _require_employee(user_id)

    async def decide(task: TaskState, _: str) -> Change:
        if not actor.is_dispatcher:
            raise Forbidden("task.only_office_staff_admins")
        await service.require_may_work(user_id, task.template, task.group_id)
        return Change(
            values={Task.assignee: user_id, Task.accepted_at: clock.now()},
            event={"assignee_id": user_id, "assignee": user["full_name"]},
            kind="assigned",
        )

    return await transition(actor, task_id, "assign", decide, **kw)


async def depart_task(actor: Actor, task_id: int, **kw: Any) -> TaskOut:
    async def decide(task: TaskState, _: str) -> Change:
        _require_holder(actor, task, "depart")
        values = {Task.departed_at: clock.now()}
        return Change(values=values, event={}, kind="departed", public=True)

    return await transition(actor, task_id, "depart", decide, **kw)


async def arrive_task(
    actor: Actor,
    task_id: int,
    lat: float | None,
    lon: float | None,
    *,
    radius_m: float,
    **kw: Any,
) -> TaskOut:
    if (lat is None) != (lon is None):
        raise InvalidInput("task.give_both_lat_lon")

    async def decide(task: TaskState, _: str) -> Change:
        _require_holder(actor, task, "arrive")
        distance: float | None = None
        if lat is not None and lon is not None and task.site_lat is not None:
            distance = round(geodesic((lat, lon), (task.site_lat, task.site_lon)).meters, 1)
        far = distance is not None and distance > radius_m
        return Change(
            values={
                Task.arrived_at: clock.now(),
                Task.checkin_lat: lat,
                Task.checkin_lon: lon,
                Task.checkin_distance_m: distance,
                Task.checkin_far: far,
            },
            event={
                "lat": lat,
                "lon": lon,
                "distance_m": distance,
                "far_from_site": far,
                "radius_m": radius_m,
            },
            kind="arrived",
        )

    return await transition(actor, task_id, "arrive", decide, **kw)


async def start_task(actor: Actor, task_id: int, **kw: Any) -> TaskOut:
    async def decide(task: TaskState, _: str) -> Change:
        _require_holder(actor, task, "start")
        return Change(values={}, event={}, kind="started", public=True)

    return await transition(actor, task_id, "start", decide, **kw)


async def done_task(actor: Actor, task_id: int, completed_works: str | None, **kw: Any) -> TaskOut:
    async def decide(task: TaskState, target: str) -> Change:
        if task.template.has_departure or not actor.is_dispatcher:
            _require_holder(actor, task, "done")
        works = completed_works.strip() if completed_works else task.completed_works
        if task.template.requires_completed_works and _blank(works):
            raise RuleViolation(
                "r8.completed_works_missing",
                template=task.template.code,
                rule="R8",
            )
        await extensions.check_done(task.id)  # e.g. required checklist items (R8)
        now = clock.now()
        values: dict[Any, Any] = {Task.completed_works: works, Task.done_at: now}
        if target == "completed":
            values[Task.completed_at] = now
        return Change(
            values=values,
            event={"completed_works": works, "performer_id": actor.id},
            kind="done" if target == "done" else "completed",
            public=True,
        )

    return await transition(actor, task_id, "done", decide, **kw)


async def _performed(actor_id: int, task_id: int) -> bool:
    return await TaskEvent.exists().where(
        (TaskEvent.task == task_id)
        & (TaskEvent.actor == actor_id)
        & TaskEvent.kind.is_in(["accepted", "departed", "arrived", "started", "done"])
    )


async def approve_task(actor: Actor, task_id: int, **kw: Any) -> TaskOut:
    async def decide(task: TaskState, _: str) -> Change:
        if not actor.has_role("checker", "admin"):
            raise Forbidden("task.only_checker_approves_finished")
        if task.assignee_id == actor.id or await _performed(actor.id, task_id):
            raise Forbidden("r8.own_work", task_number=task.number, rule="R8")
        return Change(
            values={Task.completed_at: clock.now()}, event={}, kind="approved", public=True
        )

    return await transition(actor, task_id, "approve", decide, **kw)


async def return_task(actor: Actor, task_id: int, reason: str, **kw: Any) -> TaskOut:
    if _blank(reason):
        raise InvalidInput("task.say_why_visit_returned")

    async def decide(task: TaskState, _: str) -> Change:
        if not actor.has_role("checker", "admin"):
            raise Forbidden("task.only_checker_returns_finished")
        return Change(
            values={Task.done_at: None}, event={"reason": reason.strip()}, kind="returned"
        )

    return await transition(actor, task_id, "return", decide, **kw)


async def release_task(actor: Actor, task_id: int, **kw: Any) -> TaskOut:
    async def decide(task: TaskState, _: str) -> Change:
        _require_holder_or_dispatcher(actor, task, "release")
        return Change(
            values={Task.assignee: None, Task.accepted_at: None, Task.call_back: False},
            event={"previous_assignee_id": task.assignee_id},
            kind="released",
        )

    return await transition(actor, task_id, "release", decide, **kw)


async def postpone_task(
    actor: Actor, task_id: int, until: dt.datetime, reason: str | None, **kw: Any
) -> TaskOut:
    if until.tzinfo is None:
        raise InvalidInput("task.until_needs_timezone_e")
    if until <= clock.now():
        raise InvalidInput("task.until_must_future_got", value=until.isoformat())

    async def decide(task: TaskState, _: str) -> Change:
        _require_holder_or_dispatcher(actor, task, "postpone")
        return Change(
            values={Task.postponed_until: until, Task.postponed_from_status: task.status},
            event={"until": until.isoformat(), "reason": (reason or "").strip()},
            kind="postponed",
        )

    return await transition(actor, task_id, "postpone", decide, **kw)


def _resumed(task: TaskState, event: dict[str, Any]) -> Change:
    """R11: back from postponed to the status saved at postpone, with its assignee."""
    back = task.postponed_from_status or "new"
    if back == "new" and task.assignee_id is not None:
        back = "accepted"
    return Change(
        values={Task.status: back, Task.postponed_until: None, Task.postponed_from_status: None},
        event={"to": back, **event},
        kind="resumed",
    )


async def resume_task(actor: Actor, task_id: int, **kw: Any) -> TaskOut:
    """R11: the holder or a dispatcher brings a postponed task back before its time."""

    async def decide(task: TaskState, _: str) -> Change:
        _require_holder_or_dispatcher(actor, task, "resume")
        return _resumed(task, {"early": True})

    return await transition(actor, task_id, "resume", decide, **kw)


async def resume_due_postponed(now: dt.datetime | None = None) -> list[int]:
    """R11: bring back every postponed task whose time has come, to its previous status
    and assignee. Idempotent: a task resumed once is no longer postponed."""
    now = now or clock.now()
    rows = await Task.select(Task.id, Task.postponed_until).where(
        (Task.status == "postponed") & (Task.postponed_until <= now)
    )
    resumed = []
    for row in rows:
        reason = f"postponed until {row['postponed_until'].isoformat()}; its time has come"

        async def decide(task: TaskState, _: str, reason: str = reason) -> Change:
            return _resumed(task, {"early": False, "reason": reason})

        try:
            await transition(None, row["id"], "resume", decide)
        except Conflict:
            continue  # changed meanwhile (resumed by a parallel sweep, refused...): nothing to do
        resumed.append(row["id"])
    return resumed


async def release_unanswered(task_id: int, minutes: int) -> TaskOut:
    """R10: accepted but nobody answered the client in time — back to the queue."""

    async def decide(task: TaskState, _: str) -> Change:
        return Change(
            values={Task.assignee: None, Task.accepted_at: None, Task.call_back: False},
            event={
                "previous_assignee_id": task.assignee_id,
                "automation": "no_reply_release",
                "reason": (
                    f"no reply to the client within {minutes} min after {task.assignee_name} "
                    "accepted it (no public comment, phone call or arrival on site): "
                    "back to the queue for someone who can answer"
                ),
            },
            kind="released",
        )

    return await transition(None, task_id, "release", decide)


async def needs_check(task_id: int) -> bool:
    """R8: does the task wait for a checker when done (then no timer may complete it)?"""
    return (await _load(task_id)).template.requires_check


async def autocomplete_task(task_id: int, minutes: int) -> TaskOut:
    """R10: done but not completed in time — completed automatically. Only for tasks that
    need no check (R8): for the others the state machine has no such move (409)."""

    async def decide(task: TaskState, _: str) -> Change:
        return Change(
            values={Task.completed_at: clock.now()},
            event={
                "automation": "done_autocomplete",
                "reason": (
                    f"done {minutes} min ago and its template needs no check: "
                    "completed automatically"
                ),
            },
            kind="completed_automatically",
            public=True,
        )

    return await transition(None, task_id, "autocomplete", decide)


def _system_change(kind: str, automation: str, reason: str) -> Decide:
    async def decide(task: TaskState, _: str) -> Change:
        event = {"automation": automation, "reason": reason}
        return Change(values={}, event=event, kind=kind, public=True)

    return decide


async def wait_for_client(task_id: int) -> TaskOut:
    """R10: a public reply by staff — the task waits for the client."""
    reason = "a public reply to the client: waiting for the client's answer"
    decide = _system_change("waiting_client", "public_reply_waiting", reason)
    return await transition(None, task_id, "wait_client", decide)


async def resume_on_client_reply(task_id: int) -> TaskOut:
    """R10: the client answered — back to work."""
    reason = "the client answered: back to work"
    decide = _system_change("client_replied", "client_reply_resume", reason)
    return await transition(None, task_id, "client_replied", decide)


async def redirect_task(
    actor: Actor, task_id: int, user_id: int, call_back: bool, **kw: Any
) -> TaskOut:
    user = await _require_employee(user_id)

    async def decide(task: TaskState, _: str) -> Change:
        _require_holder_or_dispatcher(actor, task, "redirect")
        if task.assignee_id == user_id:
            raise Conflict(
                "task.conflict.already_with", task_number=task.number, full_name=user["full_name"]
            )
        await service.require_may_work(user_id, task.template, task.group_id)
        return Change(
            values={
                Task.assignee: user_id,
                Task.accepted_at: clock.now(),
                Task.call_back: call_back,
            },
            event={
                "from_assignee_id": task.assignee_id,
                "assignee_id": user_id,
                "assignee": user["full_name"],
                "call_back": call_back,
            },
            kind="redirected",
        )

    return await transition(actor, task_id, "redirect", decide, **kw)


async def refuse_task(
    actor: Actor,
    task_id: int,
    reason: str | None,
    reason_id: int | None = None,
    **kw: Any,
) -> TaskOut:
    """R11: refuse with a mandatory reason: one of the admins' list (`reason_id`, counted
    on the dashboard), in words (`reason`), or both (the words then add detail)."""
    words = (reason or "").strip()
    if reason_id is None and not words:
        raise InvalidInput(
            "r11.reason_missing",
            rule="R11",
        )
    name = await refusals.name_to_refuse_with(reason_id) if reason_id is not None else None

    async def decide(task: TaskState, _: str) -> Change:
        _require_holder_or_dispatcher(actor, task, "refuse")
        shown = ": ".join(part for part in (name, words) if part)
        event = {"reason": shown, "reason_id": reason_id, "reason_name": name}
        return Change(values={}, event=event, kind="refused")

    return await transition(actor, task_id, "refuse", decide, **kw)


# --- comments --------------------------------------------------------------------------


async def _require_visible(actor: Actor, task_id: int) -> None:
    """404 unless `actor` may read the task (service._restrict_to_visible), in one query."""
    query = service._restrict_to_visible(service.TaskQuery().where("t.id = {}", task_id), actor)
    sql = (
        "SELECT t.id FROM tasks t JOIN task_templates tpl ON tpl.id = t.template "
        f"WHERE {' AND '.join(query.clauses)}"
    )
    if not await Task.raw(sql, *query.args):
        raise NotFound("task.not_found", task_id=task_id)


# PostgreSQL: the comment and its history event in one statement.
_COMMENT_SQL = """
WITH c AS (
    INSERT INTO task_comments (task, author_user, body, public, channel, mentions, created_at)
    VALUES ({}, {}, {}, {}, {}, {}::json, {}) RETURNING id
), ev AS (
    INSERT INTO task_events (task, at, actor, kind, data, channel, internal)
    SELECT {}::integer, {}::timestamptz, {}::integer, 'comment',
        json_build_object('comment_id', c.id, 'public', {}::boolean, 'mentions', {}::json),
        {}::varchar, {}::boolean
    FROM c
)
SELECT id FROM c
"""


async def _write_comment(
    actor: Actor, task_id: int, body: str, public: bool, channel: str, mentions: list[int], at: Any
) -> int:
    if not db.is_sqlite():
        mentions_json = msgspec.json.encode(mentions).decode()
        rows = await _fetch_in_transaction(
            _COMMENT_SQL,
            [
                *(task_id, actor.id, body, public, channel, mentions_json, at),
                *(task_id, at, actor.id, public, mentions_json, channel, not public),
            ],
        )
        return int(rows[0]["id"])
    comment = Comment(
        task=task_id,
        author_user=actor.id,
        body=body,
        public=public,
        channel=channel,
        mentions=mentions,
        created_at=at,
    )
    await comment.save()
    await service.record_event(
        task_id,
        actor.id,
        "comment",
        channel,
        {"comment_id": comment.id, "public": public, "mentions": mentions},
        internal=not public,
        at=at,
    )
    return int(comment.id)


async def _employee_answering_client(task_id: int) -> int | None:
    """R6: who hears of a client's reply: the employee who last wrote to the client (a
    public comment; a client user's own comments do not count), else the assignee."""
    rows = (
        await Comment.select(Comment.author_user, Comment.author_user.roles.as_alias("roles"))
        .where(
            (Comment.task == task_id) & Comment.public.eq(True) & Comment.author_user.is_not_null()
        )
        .order_by(Comment.id, ascending=False)
        .output(load_json=True)
    )
    for row in rows:
        if set(row["roles"] or []) & EMPLOYEE_ROLES:  # as Actor.is_client_only decides
            return int(row["author_user"])
    assignee = await Task.select(Task.assignee).where(Task.id == task_id).first()
    return (assignee or {}).get("assignee")


async def add_comment(
    actor: Actor, task_id: int, body: str, public: bool, *, channel: str = "ui"
) -> CommentOut:
    await _require_visible(actor, task_id)
    body = body.strip()
    if not body:
        raise InvalidInput("task.comment_needs_text_body")
    if actor.is_client_only:
        public = True  # what a client writes is part of the client conversation
    logins = sorted(set(_MENTION.findall(body)))
    mentioned = (
        await User.select(User.id, User.login, User.roles)
        .where(User.login.is_in(logins) & User.active.eq(True))
        .output(load_json=True)
        if logins
        else []
    )
    mention_ids = sorted(r["id"] for r in mentioned if "client" not in (r["roles"] or []))
    now = clock.now()
    async with db.transaction():
        notify: list[int] = []
        if actor.is_client_only:
            # R6, as for a reply by e-mail: a client user's words (the portal, the client
            # bot) reach the employee who last wrote to them, or the assignee.
            employee = await _employee_answering_client(task_id)
            notify = [employee] if employee else []
        comment_id = await _write_comment(actor, task_id, body, public, channel, mention_ids, now)
        await events.emit(
            CommentAdded(
                task_id=task_id,
                comment_id=comment_id,
                public=public,
                at=now,
                channel=channel,
                author_user_id=actor.id,
                by_client=actor.is_client_only,
                mentions=mention_ids,
                notify=notify,
            )
        )
    # What list_comments would read back: the comment as written, its author the caller.
    return CommentOut(
        id=comment_id,
        task_id=task_id,
        body=body,
        public=public,
        author=CommentAuthor("user", actor.id, actor.full_name),
        channel=channel,
        mentions=mention_ids,
        created_at=now,
    )


async def add_contact_comment(
    contact_id: int, task_id: int, body: str, *, channel: str = "email"
) -> int:
    """A client's reply from outside (R6): a public comment by the contact, in history,
    telling the employee who last wrote to the client (else the assignee)."""
    body = body.strip()
    if not body:
        raise InvalidInput("task.comment_needs_text_reply")
    if not await Task.exists().where(Task.id == task_id):
        raise NotFound("task.not_found", task_id=task_id)
    now = clock.now()
    async with db.transaction():
        comment = Comment(
            task=task_id,
            author_contact=contact_id,
            body=body,
            public=True,
            channel=channel,
            mentions=[],
            created_at=now,
        )
        await comment.save()
        await service.record_event(
            task_id,
            None,
            "comment",
            channel,
            {"comment_id": comment.id, "public": True, "contact_id": contact_id},
            internal=False,
            at=now,
        )
        # R6: the employee who last wrote to the client hears of the reply; the client is
        # never sent their own words back.
        employee = await _employee_answering_client(task_id)
        await events.emit(
            CommentAdded(
                task_id=task_id,
                comment_id=comment.id,
                public=True,
                at=now,
                channel=channel,
                author_contact_id=contact_id,
                by_client=True,
                notify=[employee] if employee else [],
            )
        )
    return int(comment.id)
