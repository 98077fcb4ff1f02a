"""Which task events notify whom: every event writes its outbox rows inside the change's
transaction (server/notifications/service.py decides the audience)."""

from __future__ import annotations

from server.clients.events import ContactsMerged
from server.lib.events import subscribe
from server.notifications.service import notify
from server.notifications.tables import Notification
from server.portal.events import ClientSignedOff, RatingGiven
from server.tasks.events import AutomationSignalled, CommentAdded, TaskCreated, TaskTransitioned


@subscribe(TaskCreated)
async def task_created(event: TaskCreated) -> None:
    if event.parent_task_id is not None:
        # R6: a client wrote again after completion; the data names the task and quotes them.
        await notify(event.task_id, "follow_up", event.actor_id, dict(event.data))
        return
    await notify(event.task_id, "created", event.actor_id, {})


@subscribe(TaskTransitioned)
async def task_transitioned(event: TaskTransitioned) -> None:
    await notify(event.task_id, event.kind, event.actor_id, event.data)


@subscribe(CommentAdded)
async def comment_added(event: CommentAdded) -> None:
    if event.author_contact_id is not None or event.by_client:
        # R6: a client's reply (by e-mail, or as a client user in the portal or the client
        # bot) tells the employee who last wrote to them (the event names them).
        data = {"comment_id": event.comment_id, "notify": event.notify}
        await notify(event.task_id, "client_reply", event.author_user_id, data)
        return
    data = {
        "comment_id": event.comment_id,
        "public": event.public,
        "mentions": event.mentions,
        "author_user_id": event.author_user_id,
    }
    await notify(event.task_id, "comment", event.author_user_id, data)


@subscribe(AutomationSignalled)
async def automation_signalled(event: AutomationSignalled) -> None:
    data = {"automation": event.automation, "minutes": event.minutes, "notify": event.notify}
    await notify(event.task_id, event.kind, None, data)


@subscribe(ContactsMerged)
async def contact_merged(event: ContactsMerged) -> None:
    """Mail to the duplicate is the survivor's: R6 threads replies through these rows."""
    await Notification.update({Notification.contact: event.into_contact_id}).where(
        Notification.contact == event.from_contact_id
    )


@subscribe(RatingGiven)
async def rating_given(event: RatingGiven) -> None:
    """A low rating (the event names the office people when it is one) tells them."""
    if event.notify:
        data = {"notify": event.notify, "score": event.score, "quote": event.comment}
        await notify(event.task_id, "low_rating", event.actor_id, data)


@subscribe(ClientSignedOff)
async def client_signed_off(event: ClientSignedOff) -> None:
    """A disputed completion act goes back to the office."""
    if event.notify:
        data = {"notify": event.notify, "quote": event.comment}
        await notify(event.task_id, "client_disputed", event.actor_id, data)
