from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post

from server.lib.actor import Actor
from server.lib.errors import InvalidInput
from server.lib.guards import ADMIN, ANYONE, DIRECTORY_WRITERS, EMPLOYEES
from server.lib.ids import MAX_ID
from server.settings import Settings
from server.tasks import editing, idempotency, service, transitions
from server.tasks.schemas import (
    ArriveIn,
    AssignIn,
    CommentIn,
    CommentOut,
    DoneIn,
    EventOut,
    PostponeIn,
    ReasonIn,
    RedirectIn,
    RefuseIn,
    TaskFilter,
    TaskIn,
    TaskOut,
    TaskPage,
    TaskPatch,
    TemplateOut,
    TemplatePatch,
    UserRef,
    WatcherIn,
)

TaskRequest = Request[Actor, str, Any]


async def _act(request: TaskRequest, action: Callable[[], Awaitable[TaskOut]]) -> Response[TaskOut]:
    """A state-machine action: its Idempotency-Key is not looked up before it runs (a key
    is almost always new; a replay is refused or rolled back and answered from the store,
    server/tasks/idempotency.py)."""
    return await idempotency.respond_once(request, action, look_first=False)


class TemplatesController(Controller):
    path = "/api/templates"
    tags = ["directory"]
    guards = [EMPLOYEES]

    @get("/")
    async def list_templates(self) -> list[TemplateOut]:
        return await service.list_templates()

    @get("/{code:str}")
    async def get_template(self, code: str) -> TemplateOut:
        return await editing.get_template(code)

    @patch("/{code:str}", guards=[ADMIN])
    async def edit_template(
        self, code: str, data: TemplatePatch, request: TaskRequest
    ) -> TemplateOut:
        return await editing.edit_template(request.user, code, data)


def _int_param(name: str, value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_ID:
        raise InvalidInput("task.must_integer_id_from", name=name, max_id=MAX_ID, value=value)
    return int(value)


def parse_task_filter(
    actor: Actor,
    status: str | None,
    template: str | None,
    assignee: str | None,
    group: str | None,
    queue: str | None,
    counterparty: str | None,
    q: str | None,
    limit: int,
    cursor: str | None,
    overdue: bool | None = None,
    created_from: dt.datetime | None = None,
    created_to: dt.datetime | None = None,
    sort: str | None = None,
) -> TaskFilter:
    """The query string of GET /api/tasks (also used by the exports)."""
    if queue not in (None, "", "mine"):
        raise InvalidInput("task.queue_must_mine_got", queue=queue)
    for name, value in (("created_from", created_from), ("created_to", created_to)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput("task.needs_time_zone_e", name=name)
    return TaskFilter(
        statuses=[s.strip() for s in status.split(",") if s.strip()] if status else None,
        template=template or None,
        assignee_id=actor.id if assignee == "me" else _int_param("assignee", assignee),
        group_id=_int_param("group", group),
        queue_mine=queue == "mine",
        counterparty_id=_int_param("counterparty", counterparty),
        q=q or None,
        limit=limit,
        cursor=_int_param("cursor", cursor),
        overdue=overdue,
        created_from=created_from,
        created_to=created_to,
        sort=sort or "-id",
    )


class TasksController(Controller):
    path = "/api/tasks"
    tags = ["tasks"]
    guards = [ANYONE]

    # Clients too: a portal request (server/tasks/service.py _client_request).
    @post("/", status_code=201)
    async def create_task(self, data: TaskIn, request: TaskRequest) -> Response[TaskOut]:
        return await idempotency.respond_once(
            request, lambda: service.create_task(request.user, data), 201
        )

    @get("/")
    async def list_tasks(
        self,
        request: TaskRequest,
        status: str | None = None,
        template: str | None = None,
        assignee: str | None = None,
        group: str | None = None,
        queue: str | None = None,
        counterparty: str | None = None,
        q: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        overdue: bool | None = None,
        created_from: dt.datetime | None = None,
        created_to: dt.datetime | None = None,
        sort: str | None = None,
    ) -> TaskPage:
        return await service.list_tasks(
            request.user,
            parse_task_filter(
                request.user,
                status,
                template,
                assignee,
                group,
                queue,
                counterparty,
                q,
                limit,
                cursor,
                overdue,
                created_from,
                created_to,
                sort,
            ),
        )

    @get("/{task_id:int}")
    async def get_task(self, task_id: int, request: TaskRequest) -> TaskOut:
        return await service.get_task(request.user, task_id)

    @patch("/{task_id:int}", guards=[EMPLOYEES])
    async def edit_task(
        self, task_id: int, data: TaskPatch, request: TaskRequest
    ) -> Response[TaskOut]:
        v = idempotency.expected_version(request)
        return await idempotency.respond_once(
            request, lambda: editing.edit_task(request.user, task_id, data, expected_version=v)
        )

    @get("/{task_id:int}/history")
    async def history(self, task_id: int, request: TaskRequest) -> list[EventOut]:
        return await service.task_history(request.user, task_id)

    # --- transitions (R7, R8, R11) -----------------------------------------------------

    @post("/{task_id:int}/accept", guards=[EMPLOYEES], status_code=200)
    async def accept(self, task_id: int, request: TaskRequest) -> Response[TaskOut]:
        v = idempotency.expected_version(request)
        return await _act(
            request, lambda: transitions.accept_task(request.user, task_id, expected_version=v)
        )

    @post("/{task_id:int}/assign", guards=[EMPLOYEES], status_code=200)
    async def assign(self, task_id: int, data: AssignIn, request: TaskRequest) -> Response[TaskOut]:
        v = idempotency.expected_version(request)
        return await _act(
            request,
            lambda: transitions.assign_task(
                request.user, task_id, data.user_id, expected_version=v
            ),
        )

    @post("/{task_id:int}/depart", guards=[EMPLOYEES], status_code=200)
    async def depart(self, task_id: int, request: TaskRequest) -> Response[TaskOut]:
        v = idempotency.expected_version(request)
        return await _act(
            request, lambda: transitions.depart_task(request.user, task_id, expected_version=v)
        )

    @post("/{task_id:int}/arrive", guards=[EMPLOYEES], status_code=200)
    async def arrive(
        self, task_id: int, request: TaskRequest, settings: Settings, data: ArriveIn | None = None
    ) -> Response[TaskOut]:
        v = idempotency.expected_version(request)
        body = data or ArriveIn()
        return await _act(
            request,
            lambda: transitions.arrive_task(
                request.user,
                task_id,
                body.lat,
                body.lon,
                radius_m=settings.checkin_radius_m,
                expected_version=v,
            ),
        )

    @post("/{task_id:int}/start", guards=[EMPLOYEES], status_code=200)
    async def start(self, task_id: int, request: TaskRequest) -> Response[TaskOut]:
        v = idempotency.expected_version(request)
        return await _act(
            request, lambda: transitions.start_task(request.user, task_id, expected_version=v)
        )

    @post("/{task_id:int}/done", guards=[EMPLOYEES], status_code=200)
    async def done(
        self, task_id: int, request: TaskRequest, data: DoneIn | None = None
    ) -> Response[TaskOut]:
        v = idempotency.expected_version(request)
        works = data.completed_works if data else None
        return await _act(
            request,
            lambda: transitions.done_task(request.user, task_id, works, expected_version=v),
        )

    @post("/{task_id:int}/approve", guards=[EMPLOYEES], status_code=200)
    async def approve(self, task_id: int, request: TaskRequest) -> Response[TaskOut]:
        v = idempotency.expected_version(request)
        return await _act(
            request, lambda: transitions.approve_task(request.user, task_id, expected_version=v)
        )

    @post("/{task_id:int}/return", guards=[EMPLOYEES], status_code=200)
    async def return_(
        self, task_id: int, data: ReasonIn, request: TaskRequest
    ) -> Response[TaskOut]:
        v = idempotency.expected_version(request)
        return await _act(
            request,
            lambda: transitions.return_task(request.user, task_id, data.reason, expected_version=v),
        )

    @post("/{task_id:int}/release", guards=[EMPLOYEES], status_code=200)
    async def release(self, task_id: int, request: TaskRequest) -> Response[TaskOut]:
        v = idempotency.expected_version(request)
        return await _act(
            request, lambda: transitions.release_task(request.user, task_id, expected_version=v)
        )

    @post("/{task_id:int}/postpone", guards=[EMPLOYEES], status_code=200)
    async def postpone(
        self, task_id: int, data: PostponeIn, request: TaskRequest
    ) -> Response[TaskOut]:
        v = idempotency.expected_version(request)
        return await _act(
            request,
            lambda: transitions.postpone_task(
                request.user, task_id, data.until, data.reason, expected_version=v
            ),
        )

    @post("/{task_id:int}/resume", guards=[EMPLOYEES], status_code=200)
    async def resume(self, task_id: int, request: TaskRequest) -> Response[TaskOut]:
        """R11: bring a postponed task back before its time (holder or dispatcher)."""
        v = idempotency.expected_version(request)
        return await _act(
            request, lambda: transitions.resume_task(request.user, task_id, expected_version=v)
        )

    @post("/{task_id:int}/redirect", guards=[EMPLOYEES], status_code=200)
    async def redirect(
        self, task_id: int, data: RedirectIn, request: TaskRequest
    ) -> Response[TaskOut]:
        v = idempotency.expected_version(request)
        return await _act(
            request,
            lambda: transitions.redirect_task(
                request.user, task_id, data.user_id, data.call_back, expected_version=v
            ),
        )

    @post("/{task_id:int}/refuse", guards=[EMPLOYEES], status_code=200)
    async def refuse(self, task_id: int, data: RefuseIn, request: TaskRequest) -> Response[TaskOut]:
        v = idempotency.expected_version(request)
        return await _act(
            request,
            lambda: transitions.refuse_task(
                request.user, task_id, data.reason, data.reason_id, expected_version=v
            ),
        )

    # --- watchers ----------------------------------------------------------------------

    @get("/{task_id:int}/watchers")
    async def list_watchers(self, task_id: int, request: TaskRequest) -> list[UserRef]:
        return await editing.list_watchers(request.user, task_id)

    @post("/{task_id:int}/watchers", guards=[EMPLOYEES], status_code=201)
    async def add_watcher(
        self, task_id: int, data: WatcherIn, request: TaskRequest
    ) -> Response[list[UserRef]]:
        v = idempotency.expected_version(request)
        return await idempotency.respond_once(
            request,
            lambda: editing.add_watcher(request.user, task_id, data.user_id, expected_version=v),
            201,
        )

    @delete("/{task_id:int}/watchers/{user_id:int}", guards=[EMPLOYEES], status_code=200)
    async def remove_watcher(
        self, task_id: int, user_id: int, request: TaskRequest
    ) -> Response[list[UserRef]]:
        v = idempotency.expected_version(request)
        return await idempotency.respond_once(
            request,
            lambda: editing.remove_watcher(request.user, task_id, user_id, expected_version=v),
        )

    # --- comments ----------------------------------------------------------------------

    @post("/{task_id:int}/comments", status_code=201)
    async def add_comment(
        self, task_id: int, data: CommentIn, request: TaskRequest
    ) -> Response[CommentOut]:
        return await idempotency.respond_once(
            request,
            lambda: transitions.add_comment(
                request.user, task_id, data.body, data.public, channel=data.channel
            ),
            201,
        )

    @get("/{task_id:int}/comments")
    async def list_comments(self, task_id: int, request: TaskRequest) -> list[CommentOut]:
        return await service.list_comments(request.user, task_id)


class UserTasksController(Controller):
    path = "/api/users"
    tags = ["tasks"]

    @get("/{user_id:int}/open-tasks", guards=[DIRECTORY_WRITERS])
    async def open_tasks(self, user_id: int, request: TaskRequest) -> list[TaskOut]:
        """The user's tasks that are not closed, for the office to reassign."""
        return await service.open_tasks_of(request.user, user_id)
