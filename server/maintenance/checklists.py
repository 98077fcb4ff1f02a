"""Checklists (issue 16): items a template or a maintenance plan carries are copied onto each
new task; the engineer fills them on the phone; R8 keeps the task from being done while a
required one is open.

A value has the item's kind: `check` true (false or null: open), `number` a number,
`text` a non-blank text, `photo` the id of one of the task's attachments (upload the photo
first, POST /api/tasks/{id}/attachments).
"""

from __future__ import annotations

from typing import Any

import msgspec

from server import db
from server.attachments.tables import TaskAttachment
from server.lib import clock
from server.lib.actor import Actor
from server.lib.errors import Conflict, Forbidden, InvalidInput, NotFound, RuleViolation
from server.maintenance.schemas import (
    ChecklistItemIn,
    ChecklistItemOut,
    TaskChecklist,
    TemplateChecklistOut,
    UserRef,
)
from server.maintenance.tables import TaskChecklistItem, TemplateChecklistItem
from server.tasks import service as tasks
from server.tasks.statuses import CLOSED, Channel, Status

MAX_TEXT = 2000
# A finished task's checklist is what was printed and checked; reopen the task to change it.
FROZEN = CLOSED | {Status.DONE}


def stored(value: Any) -> str | None:
    """As JSON text of an object: Piccolo hands a bare number to the driver as it is, and
    SQLite's JSON column (numeric affinity) would turn the text "221.5" into a REAL."""
    return None if value is None else msgspec.json.encode({"v": value}).decode()


def loaded(raw: Any) -> Any:
    return raw.get("v") if isinstance(raw, dict) else raw


def is_open(kind: str, value: Any) -> bool:
    return value is None or (kind == "check" and value is not True)


async def template_checklist(code: str) -> TemplateChecklistOut:
    template = await tasks.get_template(code)
    rows = (
        await TemplateChecklistItem.select()
        .where(TemplateChecklistItem.template == template.id)
        .order_by(TemplateChecklistItem.position)
        .order_by(TemplateChecklistItem.id)
    )
    return TemplateChecklistOut(
        template=code,
        items=[ChecklistItemIn(r["text"], bool(r["required"]), r["kind"]) for r in rows],
    )


def _clean(items: list[ChecklistItemIn], field: str = "items") -> list[ChecklistItemIn]:
    result = []
    for n, item in enumerate(items):
        text = " ".join(item.text.split())
        if not text:
            raise InvalidInput("maintenance.text_must_not_blank", field=field, n=n)
        result.append(ChecklistItemIn(text, item.required, item.kind))
    return result


def clean_checklist(
    items: list[ChecklistItemIn], field: str = "checklist"
) -> list[ChecklistItemIn]:
    return _clean(items, field)


async def set_template_checklist(code: str, items: list[ChecklistItemIn]) -> TemplateChecklistOut:
    """Replaces the template's items; tasks created afterwards get them."""
    template = await tasks.get_template(code)
    items = _clean(items)
    async with db.transaction():
        await TemplateChecklistItem.delete().where(TemplateChecklistItem.template == template.id)
        if items:
            await TemplateChecklistItem.insert(
                *[
                    TemplateChecklistItem(
                        template=template.id,
                        position=n,
                        text=i.text,
                        required=i.required,
                        kind=i.kind,
                    )
                    for n, i in enumerate(items)
                ]
            )
    return await template_checklist(code)


async def add_items(task_id: int, items: list[ChecklistItemIn], source: str) -> None:
    """Append items to a task's checklist (inside its creating transaction)."""
    if not items:
        return
    last = (
        await TaskChecklistItem.select(TaskChecklistItem.position)
        .where(TaskChecklistItem.task == task_id)
        .order_by(TaskChecklistItem.position, ascending=False)
        .first()
    )
    start = (last["position"] + 1) if last else 0
    await TaskChecklistItem.insert(
        *[
            TaskChecklistItem(
                task=task_id,
                position=start + n,
                text=i.text,
                required=i.required,
                kind=i.kind,
                source=source,
            )
            for n, i in enumerate(items)
        ]
    )


# Every create asks (issue 21): written SQL, not Piccolo's query building.
_TEMPLATE_ITEMS = (
    "SELECT text, required, kind FROM template_checklist_items WHERE template = {} "
    "ORDER BY position, id"
)


async def copy_template_items(task_id: int, template_id: int) -> None:
    rows = await db.fetch_rows(_TEMPLATE_ITEMS, template_id)
    await add_items(
        task_id,
        [ChecklistItemIn(r["text"], bool(r["required"]), r["kind"]) for r in rows],
        "template",
    )


async def _items(task_id: int) -> list[ChecklistItemOut]:
    rows = (
        await TaskChecklistItem.select(
            TaskChecklistItem.id,
            TaskChecklistItem.position,
            TaskChecklistItem.text,
            TaskChecklistItem.required,
            TaskChecklistItem.kind,
            TaskChecklistItem.value,
            TaskChecklistItem.done_at,
            TaskChecklistItem.done_by.id,
            TaskChecklistItem.done_by.full_name,
        )
        .where(TaskChecklistItem.task == task_id)
        .order_by(TaskChecklistItem.position)
        .order_by(TaskChecklistItem.id)
        .output(load_json=True)
    )
    return [
        ChecklistItemOut(
            id=r["id"],
            position=r["position"],
            text=r["text"],
            required=bool(r["required"]),
            kind=r["kind"],
            value=loaded(r["value"]),
            done=not is_open(r["kind"], loaded(r["value"])),
            done_by=UserRef(r["done_by.id"], r["done_by.full_name"])
            if r["done_by.id"] is not None
            else None,
            done_at=r["done_at"],
        )
        for r in rows
    ]


async def task_checklist_unchecked(task_id: int) -> TaskChecklist:
    items = await _items(task_id)
    return TaskChecklist(
        task_id=task_id,
        items=items,
        open_required=sum(1 for i in items if i.required and not i.done),
    )


async def task_checklist(actor: Actor, task_id: int) -> TaskChecklist:
    await tasks.get_task(actor, task_id)  # 404 for tasks the caller cannot see
    return await task_checklist_unchecked(task_id)


async def _checked_value(task_id: int, item: dict[str, Any], value: Any) -> Any:
    """The value in the item's kind, or InvalidInput naming `value`."""
    if value is None:
        return None
    kind, label = item["kind"], f"checklist item {item['id']} («{item['text']}»)"
    if kind == "check":
        if not isinstance(value, bool):
            raise InvalidInput("maintenance.value_check_send_true", label=label, value=value)
        return value
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput("maintenance.value_takes_number_got", label=label, value=value)
        return value
    if kind == "text":
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput("maintenance.value_takes_non_blank", label=label, value=value)
        if len(value) > MAX_TEXT:
            raise InvalidInput(
                "maintenance.value_takes_most_characters", label=label, max_text=MAX_TEXT
            )
        return value.strip()
    # photo: one of the task's attachments
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("maintenance.value_takes_photo_id", label=label, value=value)
    row = (
        await TaskAttachment.select(TaskAttachment.content_type)
        .where((TaskAttachment.id == value) & (TaskAttachment.task == task_id))
        .first()
    )
    if row is None:
        raise InvalidInput("maintenance.value_attachment_not_one", label=label, value=value)
    if not str(row["content_type"]).startswith("image/"):
        raise InvalidInput("maintenance.value_attachment_not_photo", label=label, value=value)
    return value


async def set_item(actor: Actor, task_id: int, item_id: int, value: Any) -> ChecklistItemOut:
    """Fill (or clear, with null) one item: the engineer holding the task, or the office."""
    task = await tasks.get_task(actor, task_id)
    if actor.is_client_only:
        raise Forbidden("maintenance.clients_do_not_fill")
    holder = task.assignee is not None and task.assignee.id == actor.id
    if not (holder or actor.is_dispatcher):
        raise Forbidden(
            "maintenance.checklist_held_by_other"
            if task.assignee
            else "maintenance.checklist_not_accepted",
            task_number=task.number,
            holder=task.assignee.full_name if task.assignee else None,
        )
    if task.status in FROZEN:
        raise Conflict(
            "maintenance.task_checklist_kept_returned", task_number=task.number, status=task.status
        )
    row = (
        await TaskChecklistItem.select()
        .where((TaskChecklistItem.id == item_id) & (TaskChecklistItem.task == task_id))
        .first()
        .output(load_json=True)
    )
    if row is None:
        raise NotFound("maintenance.task_no_checklist_item", task_id=task_id, item_id=item_id)
    checked = await _checked_value(task_id, row, value)
    done = not is_open(row["kind"], checked)
    now = clock.now()
    async with db.transaction():
        await TaskChecklistItem.update(
            {
                TaskChecklistItem.value: stored(checked),
                TaskChecklistItem.done_by: actor.id if done else None,
                TaskChecklistItem.done_at: now if done else None,
            }
        ).where(TaskChecklistItem.id == item_id)
        await tasks.record_event(
            task_id,
            actor.id,
            "checklist_item_set",
            Channel.UI,
            {"item_id": item_id, "text": row["text"], "old": loaded(row["value"]), "new": checked},
            at=now,
        )
    items = await _items(task_id)
    return next(i for i in items if i.id == item_id)


async def require_required_items_done(task_id: int) -> None:
    """R8 (registered with tasks.extensions.before_done)."""
    rows = (
        await TaskChecklistItem.select(
            TaskChecklistItem.text, TaskChecklistItem.kind, TaskChecklistItem.value
        )
        .where((TaskChecklistItem.task == task_id) & TaskChecklistItem.required.eq(True))
        .order_by(TaskChecklistItem.position)
        .output(load_json=True)
    )
    still_open = [r["text"] for r in rows if is_open(r["kind"], loaded(r["value"]))]
    if still_open:
        raise RuleViolation(
            "r8.checklist_open",
            n=len(still_open),
            items=", ".join(f"«{t}»" for t in still_open),
            rule="R8",
            extra={"rule": "R8", "open_items": still_open},
        )


def to_builtins(items: list[ChecklistItemIn]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = msgspec.to_builtins(items)
    return result
