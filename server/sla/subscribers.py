"""How SLA follows task events: targets at creation, the paused clock, answers to the
client (R10's 15 minutes), and the R10 conversation automations (a public reply waits for
the client; the client's reply resumes work)."""

from __future__ import annotations

from server.lib.events import subscribe
from server.lib.logs import get_logger
from server.sla import service as sla
from server.tasks import extensions, transitions
from server.tasks.events import CommentAdded, TaskCreated, TaskTransitioned
from server.tasks.statuses import PAUSING, Channel, Status
from server.tasks.tables import Task

log = get_logger("naryad.sla")

# The reaction ends when the task is accepted (assigned, redirected...): the transition's
# own UPDATE stamps reacted_at, unless already set. Coming back from a pause is left to
# on_status_changed, which moves the due times by the paused span before it stamps.
extensions.stamp_once(Task.reacted_at, entering=Status.ACCEPTED, unless_from=PAUSING)


@subscribe(TaskCreated)
async def set_targets(event: TaskCreated) -> None:
    await sla.set_targets(
        event.task_id, event.template_id, event.priority, event.counterparty_id, event.at
    )


@subscribe(TaskTransitioned)
async def follow_status(event: TaskTransitioned) -> None:
    if event.to_status != event.from_status:
        await sla.on_status_changed(event.task_id, event.from_status, event.to_status, event.at)
    if event.action == "arrive":
        await sla.on_client_contact(event.task_id, event.at)  # on site: the client is answered


@subscribe(CommentAdded)
async def count_answer_to_client(event: CommentAdded) -> None:
    """A public reply, or a call with the client noted as a phone comment, answers them."""
    if event.by_client:
        return
    if event.public or event.channel == Channel.PHONE:
        await sla.on_client_contact(event.task_id, event.at)


@subscribe(CommentAdded, phase="after_commit")
async def follow_conversation(event: CommentAdded) -> None:
    """R10 reacts to the committed comment with a transition of its own."""
    if not (event.by_client or event.public):
        return  # an internal note: the conversation with the client has not moved
    row = await Task.select(Task.status, Task.template).where(Task.id == event.task_id).first()
    if row is None:
        return
    if event.by_client:
        if row["status"] == Status.WAITING_CLIENT and await sla.automation_enabled(
            row["template"], "client_reply_resume"
        ):
            await transitions.resume_on_client_reply(event.task_id)
    elif (
        event.public
        and row["status"] in (Status.ACCEPTED, Status.IN_PROGRESS)
        and await sla.automation_enabled(row["template"], "public_reply_waiting")
    ):
        await transitions.wait_for_client(event.task_id)
