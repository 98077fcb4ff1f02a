from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post

from server.accounts.schemas import Actor
from server.lib.auth import ANYONE, EMPLOYEES
from server.lib.errors import InvalidInput
from server.tasks import service
from server.tasks.schemas import EventOut, TaskFilter, TaskIn, TaskOut, TaskPage, TemplateOut


class TemplatesController(Controller):
    path = "/api/templates"
    tags = ["directory"]
    guards = [EMPLOYEES]

    @get("/")
    async def list_templates(self) -> list[TemplateOut]:
        return await service.list_templates()


def _int_param(name: str, value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise InvalidInput(f"{name} must be a positive integer id, got {value!r}")
    return int(value)


class TasksController(Controller):
    path = "/api/tasks"
    tags = ["tasks"]
    guards = [ANYONE]

    @post("/", guards=[EMPLOYEES])
    async def create_task(self, data: TaskIn, request: Request[Actor, str, Any]) -> TaskOut:
        return await service.create_task(request.user, data)

    @get("/")
    async def list_tasks(
        self,
        request: Request[Actor, str, Any],
        status: str | None = None,
        template: str | None = None,
        assignee: str | None = None,
        group: str | None = None,
        queue: str | None = None,
        counterparty: str | None = None,
        q: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> TaskPage:
        actor = request.user
        if queue not in (None, "", "mine"):
            raise InvalidInput(f"queue must be 'mine', got {queue!r}")
        assignee_id = actor.id if assignee == "me" else _int_param("assignee", assignee)
        return await service.list_tasks(
            actor,
            TaskFilter(
                statuses=[s.strip() for s in status.split(",") if s.strip()] if status else None,
                template=template or None,
                assignee_id=assignee_id,
                group_id=_int_param("group", group),
                queue_mine=queue == "mine",
                counterparty_id=_int_param("counterparty", counterparty),
                q=q or None,
                limit=limit,
                cursor=_int_param("cursor", cursor),
            ),
        )

    @get("/{task_id:int}")
    async def get_task(self, task_id: int, request: Request[Actor, str, Any]) -> TaskOut:
        return await service.get_task(request.user, task_id)

    @get("/{task_id:int}/history")
    async def history(self, task_id: int, request: Request[Actor, str, Any]) -> list[EventOut]:
        return await service.task_history(request.user, task_id)
