"""Task transitions: R7 accept and the departure lock, R8 done → check, R11 results.

Every transition is a compare-and-swap on the task's `version`: read the row, check the
rules, then `UPDATE … WHERE id = ? AND version = ? RETURNING id`. If another request
changed the task in between, the update touches nothing and the transition is decided
again from the new state — so of N engineers pressing Accept at once exactly one wins,
and the others are told who did. This holds across processes and on SQLite too.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from server import db
from server.accounts.tables import User
from server.lib import clock, events
from server.lib.actor import Actor
from server.lib.errors import Conflict, Forbidden, InvalidInput, NotFound, RuleViolation
from server.lib.geo import geodesic
from server.tasks import extensions, refusals, service
from server.tasks.events import CommentAdded, TaskTransitioned
from server.tasks.schemas import CommentOut, TaskOut, TemplateOut
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


async def _load(task_id: int) -> TaskState:
    row = (
        await Task.select(
            Task.id,
            Task.number,
            Task.status,
            Task.version,
            Task.assignee.id,
            Task.assignee.full_name,
            Task.group.id,
            Task.group.name,
            Task.site.lat,
            Task.site.lon,
            Task.postponed_from_status,
            Task.completed_works,
            Task.template.id,
            # the workflow the task was created under (templates change new tasks only)
            Task.has_departure,
            Task.requires_check,
            Task.requires_completed_works,
            Task.counterparty_in_title,
        )
        .where(Task.id == task_id)
        .first()
    )
    if row is None:
        raise NotFound("task.not_found", task_id=task_id)
    template = await service.template_of_task(row)
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
    if actor is not None:
        await service.get_task(actor, task_id)  # 404 for tasks the caller cannot see
    for _ in range(MAX_ATTEMPTS):
        task = await _load(task_id)
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
        async with db.transaction():
            won = (
                await Task.update(values)
                .where((Task.id == task_id) & (Task.version == task.version))
                .returning(Task.id)
            )
            if not won:
                continue  # someone changed it first: decide again from the new state
            final = Status(values[Task.status])
            event = {"from": task.status, "to": final, **change.event}
            await service.record_event(
                task_id,
                actor.id if actor else None,
                change.kind,
                channel if actor else Channel.SYSTEM,
                event,
                internal=not change.public,
                at=now,
            )
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
            if actor is None:
                return await service.get_task_unchecked(task_id)
            return await service.get_task(actor, task_id)
    raise Conflict("task.conflict.busy", task_id=task_id)


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


async def accept_task(actor: Actor, task_id: int, **kw: Any) -> TaskOut:
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
            values={Task.assignee: actor.id, Task.accepted_at: clock.now(), Task.call_back: False},
            event={"assignee_id": actor.id},
            kind="accepted",
            public=True,
        )

    return await transition(actor, task_id, "accept", decide, **kw)


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


async def add_comment(
    actor: Actor, task_id: int, body: str, public: bool, *, channel: str = "ui"
) -> CommentOut:
    await service.get_task(actor, task_id)  # 404 when not visible
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
        comment = Comment(
            task=task_id,
            author_user=actor.id,
            body=body,
            public=public,
            channel=channel,
            mentions=mention_ids,
            created_at=now,
        )
        await comment.save()
        await service.record_event(
            task_id,
            actor.id,
            "comment",
            channel,
            {"comment_id": comment.id, "public": public, "mentions": mention_ids},
            internal=not public,
            at=now,
        )
        await events.emit(
            CommentAdded(
                task_id=task_id,
                comment_id=comment.id,
                public=public,
                at=now,
                author_user_id=actor.id,
                by_client=actor.is_client_only,
                mentions=mention_ids,
            )
        )
        return (await service.list_comments(actor, task_id, comment_id=comment.id))[0]


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
        last = (
            await Comment.select(Comment.author_user)
            .where(
                (Comment.task == task_id)
                & Comment.public.eq(True)
                & Comment.author_user.is_not_null()
            )
            .order_by(Comment.id, ascending=False)
            .first()
        )
        assignee = await Task.select(Task.assignee).where(Task.id == task_id).first()
        employee = (last or {}).get("author_user") or (assignee or {}).get("assignee")
        # R6: the employee who last wrote to the client hears of the reply; the client is
        # never sent their own words back.
        await events.emit(
            CommentAdded(
                task_id=task_id,
                comment_id=comment.id,
                public=True,
                at=now,
                author_contact_id=contact_id,
                by_client=True,
                notify=[employee] if employee else [],
            )
        )
    return int(comment.id)
