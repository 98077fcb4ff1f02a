"""Checklists follow tasks: a new task gets its template's items in its creating
transaction, and R8 keeps it from being done while a required one is open."""

from __future__ import annotations

from server.lib.events import subscribe
from server.maintenance import checklists
from server.tasks import extensions
from server.tasks.events import TaskCreated

extensions.before_done(checklists.require_required_items_done)


@subscribe(TaskCreated)
async def copy_template_checklist(event: TaskCreated) -> None:
    await checklists.copy_template_items(event.task_id, event.template_id)
