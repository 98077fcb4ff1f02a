"""After-commit kicks for background jobs other than notification delivery.

Services call `enqueue("job_name", *args, job_id=...)` after their change commits. The
process decides at start-up where jobs run (`configure`): an arq queue on Redis, or an
asyncio task in this process (the demo). A job id makes repeats harmless, and a kick that
is lost (no runner, Redis down) costs nothing the job's own idempotence and the on-demand
paths do not recover.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from server.lib.logs import get_logger

log = get_logger("naryad.background")

Enqueue = Callable[..., Awaitable[None]]
_enqueue: Enqueue | None = None


def configure(enqueue: Enqueue | None) -> None:
    global _enqueue
    _enqueue = enqueue


async def enqueue(function: str, *args: Any, job_id: str) -> None:
    """Never raises: the change that asked for the job is already committed."""
    if _enqueue is None:
        return
    try:
        await _enqueue(function, *args, job_id=job_id)
    except Exception as exc:
        log.warning("could not start a background job", job=function, error=repr(exc))
