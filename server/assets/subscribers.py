"""Equipment follows tasks: what a new task names is linked in its creating transaction, and
single-task reads show it (tasks.extensions)."""

from __future__ import annotations

from server.assets import service
from server.lib.events import subscribe
from server.tasks import extensions
from server.tasks.events import TaskCreated
from server.tasks.schemas import TaskOut


@subscribe(TaskCreated)
async def link_equipment(event: TaskCreated) -> None:
    if event.equipment_ids:
        await service.link_on_creation(event.task_id, event.counterparty_id, event.equipment_ids)


@extensions.on_single_read
async def show_equipment(task: TaskOut) -> None:
    task.equipment = await service.task_equipment(task.id)


extensions.read_in_sql(show_equipment, service.TASK_EQUIPMENT_SQL, service.apply_task_equipment)
