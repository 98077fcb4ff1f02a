"""R2 for mail, after the fact: tasks that arrived from a sender nobody knew carry no
counterparty (intake_tasks.counterparty_missing). Once the office links the contact to its
company (PATCH /api/contacts/{id}), one call gives those tasks that counterparty.

Each task changes through the task editing service (server/tasks/editing.py), as a PATCH
by the caller would: one new version, a `field_changed` history event per field, R2 checked
by creation's own rules. Where the task's template needs the counterparty in the title and
the title does not name it, the title is prefixed with the counterparty's name, exactly as
intake titles mail from a known company («Ромашка: не печатает чек»)."""

from __future__ import annotations

from server import db
from server.channels.intake import TITLE_MAX
from server.channels.tables import IntakeTask
from server.clients import service as clients
from server.clients.schemas import CounterpartyAppliedOut
from server.clients.tables import Contact
from server.lib.actor import Actor
from server.lib.errors import InvalidInput, NotFound
from server.tasks import editing as task_editing
from server.tasks.schemas import TaskPatch
from server.tasks.tables import Task


def titled(title: str, counterparty_name: str) -> str:
    """The title with the client's name in front, as mail intake writes it (R2)."""
    return f"{counterparty_name}: {title}"[:TITLE_MAX]


async def apply_contact_counterparty(actor: Actor, contact_id: int) -> CounterpartyAppliedOut:
    """Give the contact's counterparty to its mail tasks still missing one; clear their flag.
    Returns the tasks changed (none on a repeated call)."""
    contact = (
        await Contact.select(
            Contact.name,
            Contact.counterparty,
            Contact.counterparty.name.as_alias("counterparty_name"),
            Contact.counterparty.archived.as_alias("counterparty_archived"),
        )
        .where(Contact.id == contact_id)
        .first()
    )
    if contact is None:
        raise NotFound("channel.contact_not_found", contact_id=contact_id)
    counterparty_id = contact["counterparty"]
    if counterparty_id is None:
        raise InvalidInput(
            "channel.contact_no_counterparty_yet", name=contact["name"], contact_id=contact_id
        )
    if contact["counterparty_archived"]:
        raise InvalidInput(
            "channel.contact_linked_which_archived",
            name=contact["name"],
            counterparty_name=contact["counterparty_name"],
        )
    applied: list[int] = []
    async with db.transaction():
        query = IntakeTask.select(IntakeTask.id, IntakeTask.task).where(
            (IntakeTask.contact == contact_id) & IntakeTask.counterparty_missing.eq(True)
        )
        if not db.is_sqlite():
            query = query.lock_rows()  # a second call waits, then finds nothing left
        flagged = await query.order_by(IntakeTask.task)
        for flag in flagged:
            task = (
                await Task.select(Task.title, Task.counterparty, Task.counterparty_in_title)
                .where(Task.id == flag["task"])
                .first()
            )
            if task is None or task["counterparty"] is not None:
                continue  # set by hand meanwhile: only the flag is stale
            patch = TaskPatch(counterparty_id=counterparty_id)
            if task["counterparty_in_title"] and not await clients.title_names_counterparty(
                task["title"], counterparty_id
            ):
                patch = TaskPatch(
                    counterparty_id=counterparty_id,
                    title=titled(task["title"], contact["counterparty_name"]),
                )
            await task_editing.edit_task(actor, flag["task"], patch)
            applied.append(flag["task"])
        if flagged:
            await IntakeTask.update({IntakeTask.counterparty_missing: False}).where(
                IntakeTask.id.is_in([f["id"] for f in flagged])
            )
    return CounterpartyAppliedOut(task_ids=applied)
