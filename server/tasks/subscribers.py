"""What tasks do when the directory changes under them."""

from __future__ import annotations

from server.clients.events import ContactsMerged
from server.lib import clock
from server.lib.events import subscribe
from server.tasks import service
from server.tasks.statuses import Channel
from server.tasks.tables import Comment, Task


@subscribe(ContactsMerged)
async def contact_merged(event: ContactsMerged) -> None:
    """The survivor becomes the requester and the author of the duplicate's comments; each
    task touched records it (R12). A new requester is a new version of the task."""
    old, new = event.from_contact_id, event.into_contact_id
    requested = await Task.select(Task.id, Task.version).where(Task.requester_contact == old)
    for row in requested:
        await Task.update(
            {
                Task.requester_contact: new,
                Task.version: row["version"] + 1,
                Task.updated_at: clock.now(),
            }
        ).where(Task.id == row["id"])
    commented: dict[int, int] = {}
    for row in await Comment.select(Comment.task).where(Comment.author_contact == old):
        commented[row["task"]] = commented.get(row["task"], 0) + 1
    await Comment.update({Comment.author_contact: new}).where(Comment.author_contact == old)
    requester_of = {r["id"] for r in requested}
    for task_id in sorted(requester_of | commented.keys()):
        await service.record_event(
            task_id,
            event.actor_id,
            "contact_merged",
            Channel.UI,
            {
                "from_contact_id": old,
                "into_contact_id": new,
                "from_name": event.from_name,
                "from_email": event.from_email,
                "requester": task_id in requester_of,
                "comments": commented.get(task_id, 0),
            },
            at=event.at,
        )
