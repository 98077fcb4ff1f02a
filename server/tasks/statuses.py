"""Task statuses and the sets of them that rules talk about, declared once."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum


class Status(StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    EN_ROUTE = "en_route"
    IN_PROGRESS = "in_progress"
    WAITING_CLIENT = "waiting_client"
    DONE = "done"
    COMPLETED = "completed"
    POSTPONED = "postponed"
    CANCELLED = "cancelled"


class Channel(StrEnum):
    """How a task or a comment came in."""

    UI = "ui"
    PHONE = "phone"
    TELEGRAM = "telegram"
    EMAIL = "email"
    SYSTEM = "system"
    # A client user through the portal (the PWA): server/portal.
    PORTAL = "portal"


STATUSES: tuple[Status, ...] = tuple(Status)
CLOSED: frozenset[Status] = frozenset({Status.COMPLETED, Status.CANCELLED})
# Someone holds the task and works on it.
OPEN_WORK: tuple[Status, ...] = (
    Status.ACCEPTED,
    Status.EN_ROUTE,
    Status.IN_PROGRESS,
    Status.WAITING_CLIENT,
)
ACTIVE: tuple[Status, ...] = (Status.NEW, *OPEN_WORK)
# While a task waits for the client or is postponed, its SLA clock stands still.
PAUSING: frozenset[Status] = frozenset({Status.POSTPONED, Status.WAITING_CLIENT})


def is_overdue(
    *,
    status: str,
    now: dt.datetime,
    due_reaction_at: dt.datetime | None,
    reacted_at: dt.datetime | None,
    due_resolution_at: dt.datetime | None,
) -> bool:
    if status in CLOSED or status in PAUSING:
        return False
    if due_reaction_at is not None and reacted_at is None and now > due_reaction_at:
        return True
    return due_resolution_at is not None and now > due_resolution_at
