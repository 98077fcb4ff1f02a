"""Task events -> feed lines, written inside the change's transaction (phase "during"):
the line exists exactly when the change does. The tasks domain knows nothing of this."""

from __future__ import annotations

from server.feed import service
from server.lib.events import subscribe
from server.tasks.events import CommentAdded, TaskCreated, TaskTransitioned
from server.tasks.statuses import Status
from server.tasks.tables import Comment


@subscribe(TaskCreated)
async def task_created(event: TaskCreated) -> None:
    # The event says what the creating statement wrote: no need to read the task back.
    task = {"id": event.task_id, "number": event.number, "title": event.title}
    if event.status == Status.NEW and event.assignee_id is None:
        engineers = await service.group_engineers(event.group_id)
        await service.add(event.task_id, "queue_new", list(engineers), event.actor_id, task=task)
    elif event.assignee_id is not None:
        await service.add(event.task_id, "assigned", [event.assignee_id], event.actor_id, task=task)


@subscribe(TaskTransitioned)
async def task_transitioned(event: TaskTransitioned) -> None:
    kind, data = event.kind, event.data
    if kind in ("assigned", "redirected"):
        await service.add(event.task_id, "assigned", [data.get("assignee_id")], event.actor_id)
    elif kind == "returned":
        task = await service.task_row(event.task_id)
        reason = {"reason": str(data.get("reason") or "")}
        await service.add(event.task_id, "returned", [task["assignee.id"]], event.actor_id, reason)
    elif kind == "released" or (kind == "resumed" and event.to_status == Status.NEW):
        task = await service.task_row(event.task_id)
        engineers = await service.group_engineers(task["group.id"])
        await service.add(event.task_id, "queue_new", list(engineers), event.actor_id)
    elif kind == "resumed":
        task = await service.task_row(event.task_id)
        await service.add(event.task_id, "resumed", [task["assignee.id"]], event.actor_id)


@subscribe(CommentAdded)
async def comment_added(event: CommentAdded) -> None:
    if not (event.by_client or event.author_contact_id is not None):
        return
    task = await service.task_row(event.task_id)
    row = await Comment.select(Comment.body).where(Comment.id == event.comment_id).first()
    text = (row["body"] if row else "")[:300]
    users = [task["assignee.id"], *event.notify]
    await service.add(event.task_id, "client_reply", users, event.author_user_id, {"text": text})
