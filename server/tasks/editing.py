"""Editing after creation (issue #13): a task's fields, a template's rules, a task's watchers.

A task edit is a compare-and-swap on `version`, like the transitions: read the task, decide,
then `UPDATE … WHERE id = ? AND version = ?`, in one transaction with its history. One PATCH
is one new version and one `field_changed` history event per field that really changed (R12);
R2 is re-checked with creation's own functions whenever the title or the counterparty
changes. A template edit applies to tasks created afterwards: a task keeps the workflow
flags of its creation (service.WORKFLOW_FLAGS, read by transitions and the task list).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from server import db
from server.accounts.tables import Group, User
from server.clients.tables import Contact, Counterparty, Site
from server.lib import clock, events
from server.lib.actor import Actor
from server.lib.errors import Conflict, Forbidden, InvalidInput, NotFound
from server.lib.logs import get_logger
from server.tasks import service
from server.tasks.events import FieldChange, TaskEdited
from server.tasks.schemas import TaskOut, TaskPatch, TemplateOut, TemplatePatch, UserRef
from server.tasks.statuses import CLOSED, Status
from server.tasks.tables import Task, TaskWatcher, Template

log = get_logger("naryad.tasks.editing")

MAX_ATTEMPTS = 20
# API field -> column; also the order of the history events of one edit.
COLUMNS: dict[str, Any] = {
    "title": Task.title,
    "description": Task.description,
    "counterparty_id": Task.counterparty,
    "site_id": Task.site,
    "requester_contact_id": Task.requester_contact,
    "priority": Task.priority,
    "group_id": Task.group,
    "due_resolution_at": Task.due_resolution_at,
}
# What the task's holder may change themselves; the rest is the office's.
HOLDER_FIELDS = frozenset({"description", "site_id"})
TEMPLATE_FLAGS = (
    "counterparty_in_title",
    "requires_check",
    "requires_completed_works",
    "allows_completed_on_creation",
    "creator_is_default_assignee",
    "has_departure",
)


class _Editable(msgspec.Struct):
    """A task as an edit sees it: who holds it, its rules, its editable fields."""

    id: int
    number: int
    version: int
    status: str
    assignee_id: int | None
    assignee_name: str | None
    template: TemplateOut
    fields: dict[str, Any]


async def _load(task_id: int) -> _Editable:
    row = (
        await Task.select(
            Task.id,
            Task.number,
            Task.version,
            Task.status,
            Task.assignee.id,
            Task.assignee.full_name,
            Task.template.id,
            *COLUMNS.values(),
            *(Task._meta.get_column_by_name(f) for f in service.WORKFLOW_FLAGS),
        )
        .where(Task.id == task_id)
        .first()
    )
    if row is None:
        raise NotFound("task.not_found", task_id=task_id)
    template = await service.template_of_task(row)
    return _Editable(
        id=row["id"],
        number=row["number"] or row["id"],
        version=row["version"],
        status=row["status"],
        assignee_id=row["assignee.id"],
        assignee_name=row["assignee.full_name"],
        template=template,
        fields={field: row[column._meta.name] for field, column in COLUMNS.items()},
    )


def _requested(patch: TaskPatch) -> dict[str, Any]:
    """The fields the PATCH names, normalised as creation normalises them."""
    wanted = {
        f: getattr(patch, f)
        for f in COLUMNS
        if not isinstance(getattr(patch, f), msgspec.UnsetType)
    }
    if "title" in wanted:
        wanted["title"] = " ".join(wanted["title"].split())
        if not wanted["title"]:
            raise InvalidInput("task.title_must_not_blank")
    if "description" in wanted:
        wanted["description"] = wanted["description"].strip()
    due = wanted.get("due_resolution_at")
    if due is not None:
        if due.tzinfo is None:
            raise InvalidInput("task.due_resolution_needs_timezone")
        wanted["due_resolution_at"] = due.astimezone(dt.UTC)
    return wanted


def _require_editor(actor: Actor, task: _Editable) -> None:
    """Office and admins edit any task; its holder edits their own (what: _require_fields)."""
    if actor.is_client_only:
        raise Forbidden("task.clients_cannot_edit_tasks")
    if actor.is_dispatcher or task.assignee_id == actor.id:
        return
    if task.assignee_id is None:
        raise Forbidden("task.task_waiting_queue_only", task_number=task.number)
    raise Forbidden(
        "task.edit.held_by_other", task_number=task.number, assignee_name=task.assignee_name
    )


def _require_fields(actor: Actor, task: _Editable, fields: list[str]) -> None:
    if actor.is_dispatcher or not fields:
        return
    if task.status in CLOSED:
        raise Conflict(
            "task.task_ask_office_correct",
            task_number=task.number,
            status=task.status,
            extra={"status": task.status},
        )
    others = [f for f in fields if f not in HOLDER_FIELDS]
    if others:
        raise Forbidden(
            "task.holder_task_you_may", task_number=task.number, others=", ".join(others)
        )


async def _counterparty(
    task: _Editable, wanted: dict[str, Any], changed: dict[str, Any]
) -> tuple[int | None, str | None]:
    """The counterparty after the edit, and how it was found: given, site or title.

    R2 with creation's own functions: a new title alone works as creation without a
    counterparty (the one the title names is linked); a counterparty is checked against the
    title; both at once must agree. A new site of a task without a counterparty brings its
    counterparty along, as at creation."""
    current = task.fields["counterparty_id"]
    title = wanted.get("title", task.fields["title"])
    site_id = wanted.get("site_id", task.fields["site_id"])
    found_by: str | None = None
    if "counterparty_id" in wanted:
        given = wanted["counterparty_id"]
        found_by = "given"
    elif "title" in changed and task.template.counterparty_in_title:
        given = None
    else:
        given = current
    if given is None and "site_id" in changed and site_id is not None:
        given = await service._site_counterparty(site_id, None)
        found_by = "site"
    if "title" in changed or given != current:
        given, how = await service._resolve_counterparty(task.template, title, given)
        found_by = how if how == "title" else found_by
    return given, found_by


async def _require_site_of(site_id: int, counterparty_id: int | None, sent: bool) -> None:
    """The task's site belongs to its counterparty."""
    if sent:
        await service._site_counterparty(site_id, counterparty_id)
        return
    site = (
        await Site.select(Site.name, Site.counterparty.id, Site.counterparty.name)
        .where(Site.id == site_id)
        .first()
    )
    assert site is not None  # sites are never deleted from under their tasks (restrict)
    if site["counterparty.id"] == counterparty_id:
        return
    owner = "no counterparty"
    if counterparty_id is not None:
        row = (
            await Counterparty.select(Counterparty.name)
            .where(Counterparty.id == counterparty_id)
            .first()
        )
        owner = repr(row["name"]) if row else f"counterparty {counterparty_id}"
    raise InvalidInput(
        "task.task_s_site_belongs",
        name=site["name"],
        counterparty_name=site["counterparty.name"],
        owner=owner,
    )


async def _decide(
    actor: Actor, task: _Editable, wanted: dict[str, Any]
) -> tuple[dict[str, FieldChange], str | None]:
    """What the edit changes (field -> old, new), refused as a whole if any part is wrong."""
    changed = {f: v for f, v in wanted.items() if v != task.fields[f]}
    _require_fields(actor, task, list(changed))
    counterparty_id, found_by = await _counterparty(task, wanted, changed)
    changed.pop("counterparty_id", None)
    if counterparty_id != task.fields["counterparty_id"]:
        changed["counterparty_id"] = counterparty_id
    site_id = wanted.get("site_id", task.fields["site_id"])
    if site_id is not None and ("site_id" in changed or "counterparty_id" in changed):
        await _require_site_of(site_id, counterparty_id, sent="site_id" in changed)
    _require_fields(actor, task, list(changed))  # a new site may bring a counterparty
    contact_id = changed.get("requester_contact_id")
    if contact_id is not None and not await Contact.exists().where(Contact.id == contact_id):
        raise InvalidInput("task.requester_contact_id_no", contact_id=contact_id)
    if "group_id" in changed:
        group_id = changed["group_id"]
        if not await Group.exists().where(Group.id == group_id):
            raise InvalidInput("task.group_id_no_such", group_id=group_id)
        if task.status != Status.NEW or task.assignee_id is not None:
            raise Conflict(
                "task.conflict.already_taken",
                task_number=task.number,
                holder=task.assignee_name or "—",
                status=task.status,
                extra={"status": task.status},
            )
    changes = {f: FieldChange(task.fields[f], changed[f]) for f in COLUMNS if f in changed}
    return changes, found_by


def _stored(value: Any) -> Any:
    """A value as the JSON history keeps it."""
    return value.isoformat() if isinstance(value, dt.datetime) else value


async def edit_task(
    actor: Actor,
    task_id: int,
    patch: TaskPatch,
    *,
    expected_version: int | None = None,
    channel: str = "ui",
) -> TaskOut:
    """PATCH /api/tasks/{id}: change the named fields, all or nothing."""
    if actor.is_client_only:
        raise Forbidden("task.clients_cannot_edit_tasks")
    wanted = _requested(patch)
    for _ in range(MAX_ATTEMPTS):
        async with db.transaction():
            task = await _load(task_id)
            if expected_version is not None and task.version != expected_version:
                raise Conflict(
                    "task.conflict.version",
                    task_number=task.number,
                    expected_version=expected_version,
                    version=task.version,
                    extra={"current_version": task.version, "status": task.status},
                )
            _require_editor(actor, task)
            changes, found_by = await _decide(actor, task, wanted)
            if not changes:
                return await service.get_task(actor, task_id)
            now = clock.now()
            values: dict[Any, Any] = {COLUMNS[f]: c.new for f, c in changes.items()}
            if "title" in changes:
                values[Task.title_search] = changes["title"].new.lower()
            values.update({Task.version: task.version + 1, Task.updated_at: now})
            won = (
                await Task.update(values)
                .where((Task.id == task_id) & (Task.version == task.version))
                .returning(Task.id)
            )
            if not won:
                continue  # changed by someone else meanwhile: decide again
            for field, change in changes.items():
                data = {"field": field, "old": _stored(change.old), "new": _stored(change.new)}
                if field == "counterparty_id":
                    data["found_by"] = found_by
                await service.record_event(
                    task_id, actor.id, "field_changed", channel, data, at=now
                )
            await events.emit(
                TaskEdited(
                    task_id=task_id,
                    actor_id=actor.id,
                    version=task.version + 1,
                    at=now,
                    changes=changes,
                )
            )
            return await service.get_task(actor, task_id)
    raise Conflict("task.conflict.busy", task_id=task_id)


# --- templates (admins) --------------------------------------------------------------------


async def get_template(code: str) -> TemplateOut:
    """One template by code; 404 when there is none (creation answers R1 instead)."""
    if not await Template.exists().where(Template.code == code):
        raise NotFound("task.template_not_found", code=code)
    return await service.get_template(code)


async def edit_template(actor: Actor, code: str, patch: TemplatePatch) -> TemplateOut:
    """PATCH /api/templates/{code}: new tasks follow the new rules; existing tasks keep the
    workflow flags of their creation."""
    before = await get_template(code)
    values: dict[Any, Any] = {}
    for flag in TEMPLATE_FLAGS:
        value = getattr(patch, flag)
        if not isinstance(value, msgspec.UnsetType):
            values[Template._meta.get_column_by_name(flag)] = value
    if not isinstance(patch.name, msgspec.UnsetType):
        name = " ".join(patch.name.split())
        if not name:
            raise InvalidInput("task.name_must_not_blank")
        values[Template.name] = name
    if not isinstance(patch.channels, msgspec.UnsetType):
        values[Template.channels] = list(dict.fromkeys(patch.channels))
    if not isinstance(patch.default_group_id, msgspec.UnsetType):
        if not await Group.exists().where(Group.id == patch.default_group_id):
            raise InvalidInput("task.default_group_id_no", default_group_id=patch.default_group_id)
        values[Template.default_group] = patch.default_group_id
    if values:
        async with db.transaction():
            await Template.update(values).where(Template.code == code)
    after = await service.get_template(code)
    changed = {
        f.name: [getattr(before, f.name), getattr(after, f.name)]
        for f in msgspec.structs.fields(after)
        if getattr(before, f.name) != getattr(after, f.name)
    }
    if changed:
        log.info("template edited", template=code, actor_id=actor.id, changes=changed)
    return after


# --- watchers ------------------------------------------------------------------------------


def _require_watch_right(actor: Actor, user_id: int, verb: str) -> None:
    if actor.is_client_only:
        raise Forbidden("task.clients_cannot_follow_tasks")
    if user_id != actor.id and not actor.is_dispatcher:
        raise Forbidden("task.you_may_only_yourself", doing=verb)


async def _visible_task(actor: Actor, task_id: int, expected_version: int | None) -> TaskOut:
    task = await service.get_task(actor, task_id)  # 404 for tasks the caller cannot see
    if expected_version is not None and task.version != expected_version:
        raise Conflict(
            "task.conflict.version",
            task_number=task.number,
            expected_version=expected_version,
            version=task.version,
            extra={"current_version": task.version, "status": task.status},
        )
    return task


async def list_watchers(actor: Actor, task_id: int) -> list[UserRef]:
    await service.get_task(actor, task_id)
    return await service.task_watchers(task_id)


async def add_watcher(
    actor: Actor,
    task_id: int,
    user_id: int,
    *,
    expected_version: int | None = None,
    channel: str = "ui",
) -> list[UserRef]:
    """`user_id` follows the task (a no-op if they already do). Watching is not a change of
    the task itself: its version stays, so nobody's pending edit turns stale over it."""
    _require_watch_right(actor, user_id, "add")
    user = await service.require_employee(user_id, "user_id")
    async with db.transaction():
        await _visible_task(actor, task_id, expected_version)
        added = (
            await TaskWatcher.insert(
                TaskWatcher(task=task_id, user=user_id, added_by=actor.id, created_at=clock.now())
            )
            .on_conflict(action="DO NOTHING")
            .returning(TaskWatcher.id)
        )
        if added:
            await service.record_event(
                task_id,
                actor.id,
                "watcher_added",
                channel,
                {"user_id": user_id, "full_name": user["full_name"]},
            )
    return await service.task_watchers(task_id)


async def remove_watcher(
    actor: Actor,
    task_id: int,
    user_id: int,
    *,
    expected_version: int | None = None,
    channel: str = "ui",
) -> list[UserRef]:
    """`user_id` stops following the task (a no-op if they did not)."""
    _require_watch_right(actor, user_id, "remove")
    async with db.transaction():
        await _visible_task(actor, task_id, expected_version)
        removed = (
            await TaskWatcher.delete()
            .where((TaskWatcher.task == task_id) & (TaskWatcher.user == user_id))
            .returning(TaskWatcher.id)
        )
        if removed:
            user = await User.select(User.full_name).where(User.id == user_id).first()
            await service.record_event(
                task_id,
                actor.id,
                "watcher_removed",
                channel,
                {"user_id": user_id, "full_name": (user or {}).get("full_name")},
            )
    return await service.task_watchers(task_id)
