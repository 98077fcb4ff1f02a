"""Domain events: services say what happened; subscribers decide what follows.

A service emits a typed event (a frozen msgspec Struct) inside the transaction of its
change. Subscribers are registered once, in `server/subscribers.py`, in one of two phases:

- `during`: runs inside the change's transaction, so what it writes (outbox rows, SLA
  targets) commits or rolls back with the change;
- `after_commit`: runs once the outermost transaction has committed, never after a
  rollback (`db.on_commit`): kicks of jobs, automations that are transitions of their own.

The emitting domain imports nothing of its subscribers, so the dependency graph runs one
way: notifications, SLA and documents depend on tasks, never the other way round.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Literal, TypeVar

import msgspec

from server import db

Phase = Literal["during", "after_commit"]


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """Base of every domain event."""


E = TypeVar("E", bound=Event)
Handler = Callable[[Any], Awaitable[None]]

_handlers: dict[tuple[type[Event], Phase], list[Handler]] = defaultdict(list)
_installed = False


def subscribe(
    event_type: type[E], *, phase: Phase = "during"
) -> Callable[[Callable[[E], Awaitable[None]]], Callable[[E], Awaitable[None]]]:
    """Decorator: call the function with every `event_type` event, in `phase`."""

    def register(handler: Callable[[E], Awaitable[None]]) -> Callable[[E], Awaitable[None]]:
        if handler not in _handlers[(event_type, phase)]:
            _handlers[(event_type, phase)].append(handler)
        return handler

    return register


def mark_installed() -> None:
    global _installed
    _installed = True


def handlers(event_type: type[Event], phase: Phase) -> list[Handler]:
    return list(_handlers.get((event_type, phase), ()))


async def emit(event: Event) -> None:
    """Publish `event`; call it inside the transaction of the change it reports."""
    if not _installed:
        # A process that forgot server.subscribers.install() would silently notify nobody.
        raise RuntimeError("event subscribers are not installed: call server.subscribers.install()")
    for handler in _handlers.get((type(event), "during"), ()):
        await handler(event)
    for handler in _handlers.get((type(event), "after_commit"), ()):
        name = f"{getattr(handler, '__module__', '')}.{getattr(handler, '__qualname__', '')}"
        await db.on_commit(partial(handler, event), name=name)
