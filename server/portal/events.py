"""What clients do in the portal, as typed events (server/lib/events.py); notifications
subscribe. Ids and plain values only."""

from __future__ import annotations

import msgspec

from server.lib.events import Event


class RatingGiven(Event, frozen=True, kw_only=True):
    """A client rated a completed task (or changed the rating); `notify` are the office
    people who hear of a low one (score ≤ 2), else []."""

    task_id: int
    actor_id: int | None
    score: int
    comment: str
    notify: list[int] = msgspec.field(default_factory=list)


class ClientSignedOff(Event, frozen=True, kw_only=True):
    """A client accepted a finished visit's completion act, or disputed it."""

    task_id: int
    actor_id: int
    decision: str  # accepted | disputed
    comment: str
    notify: list[int] = msgspec.field(default_factory=list)
