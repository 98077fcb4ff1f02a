"""Print forms follow task events: a visit's work order and completion act are rendered
and kept as it finishes (a background job, after the commit, so it renders the new data)."""

from __future__ import annotations

from server.lib import background
from server.lib.events import subscribe
from server.tasks.events import TaskTransitioned
from server.tasks.statuses import Status


@subscribe(TaskTransitioned, phase="after_commit")
async def render_finished_visit(event: TaskTransitioned) -> None:
    if event.has_departure and event.to_status in (Status.DONE, Status.COMPLETED):
        await background.enqueue(
            "render_documents", event.task_id, job_id=f"docs:{event.task_id}:{event.version}"
        )
