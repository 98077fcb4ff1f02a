"""Pure SLA helpers shared by the task view and the SLA service."""

from __future__ import annotations

import datetime as dt

# While a task waits for the client or is postponed, its SLA clock stands still.
PAUSING = frozenset({"postponed", "waiting_client"})
CLOSED = frozenset({"completed", "cancelled"})


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
