"""Print forms as a job: when a visit is done or completed, render and keep its work order
and completion act. ensure_documents renders only what changed, so a repeated or late job
adds nothing; the PDF endpoints also regenerate on demand when data have moved on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from server.pricing.documents import ensure_documents


async def render_documents(ctx: dict[str, Any] | None, task_id: int) -> int:
    stored = await ensure_documents(task_id)
    return len(stored)


# what InProcessJobs may run by name (arq workers list them in WorkerSettings.functions)
JOBS: dict[str, Callable[..., Awaitable[Any]]] = {"render_documents": render_documents}
