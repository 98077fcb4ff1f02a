"""What happens to tasks, as typed events (see server/lib/events.py).

The task services emit these inside the change's transaction; notifications, SLA and
print forms subscribe to them (server/subscribers.py). Ids and plain values only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec

from server.lib.events import Event
from server.tasks.statuses import Status


class TaskCreated(Event, frozen=True, kw_only=True):
    task_id: int
    actor_id: int | None
    channel: str
    template_id: int
    priority: str
    counterparty_id: int | None
    status: Status
    at: dt.datetime
    # What the creating statement wrote, so the subscribers need not read the task back
    # inside the same transaction (issue 21): its number (the id), title, queue, holder,
    # site and whether it is a field visit (the template's flag, kept on the task).
    number: int
    title: str
    group_id: int | None
    assignee_id: int | None
    site_id: int | None
    has_departure: bool
    # Equipment named at creation (TaskIn.equipment_ids); server/assets links it.
    equipment_ids: list[int] = msgspec.field(default_factory=list)
    # A follow-up of a completed task (R6); `data` carries what the channel adds, e.g.
    # the parent's number and the client's words for the notice.
    parent_task_id: int | None = None
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class TaskTransitioned(Event, frozen=True, kw_only=True):
    """One state-machine action (accept, depart, done, approve, release, …)."""

    task_id: int
    actor_id: int | None
    action: str
    kind: str  # the history event's kind: accepted, returned, completed_automatically…
    from_status: Status
    to_status: Status
    version: int
    has_departure: bool
    at: dt.datetime
    data: dict[str, Any] = msgspec.field(default_factory=dict)


class FieldChange(msgspec.Struct, frozen=True):
    old: Any
    new: Any


class TaskEdited(Event, frozen=True, kw_only=True):
    """PATCH /api/tasks/{id} changed fields (one history event each, one new version).

    `changes` maps the API field name (title, counterparty_id, priority, group_id,
    due_resolution_at…) to its old and new value."""

    task_id: int
    actor_id: int | None
    version: int
    at: dt.datetime
    changes: dict[str, FieldChange]


class CommentAdded(Event, frozen=True, kw_only=True):
    """A comment by an employee or a client user (`author_user_id`), or a client's reply
    from outside (`author_contact_id`, e.g. e-mail; `notify` names who hears of it)."""

    task_id: int
    comment_id: int
    public: bool
    at: dt.datetime
    channel: str  # the comment's: ui, phone (a call noted), email, telegram…
    author_user_id: int | None = None
    author_contact_id: int | None = None
    by_client: bool = False
    mentions: list[int] = msgspec.field(default_factory=list)
    notify: list[int] = msgspec.field(default_factory=list)


class AutomationSignalled(Event, frozen=True, kw_only=True):
    """An SLA automation (R10) asks someone to look at a task: escalated or reminded."""

    task_id: int
    kind: str  # escalated | reminded
    automation: str
    notify: list[int]
    minutes: int
    at: dt.datetime
