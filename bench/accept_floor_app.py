"""The floor for accept (bench/accept_bench.py): a bare Litestar endpoint on an asyncpg pool
that runs the one conditional UPDATE an accept needs at the least — the row changes only if
the task is still new, so of concurrent callers exactly one wins — and answers with the id
and new version. No authentication, no history event, no rules, no shaping, and no reset
of the connection on its way back to the pool (asyncpg's default sends
`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` after every request, a round
trip that the best bare code for the job would not make; Naryad skips it too, server/db.py).

    BENCH_DSN=postgresql://… BENCH_ASSIGNEE=<user id> \
        uvicorn bench.accept_floor_app:create_app --factory
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from litestar import Litestar, Response, post

ACCEPT = """
UPDATE tasks SET status = 'accepted', assignee = $2, version = version + 1,
    accepted_at = now(), updated_at = now(), status_changed_at = now()
WHERE id = $1 AND status = 'new'
RETURNING id, version
"""


def create_app() -> Litestar:
    dsn = os.environ["BENCH_DSN"]
    assignee = int(os.environ["BENCH_ASSIGNEE"])
    # the same pool size and session settings as Naryad's (server/settings.py, server/db.py)
    pool_max = int(os.environ.get("NARYAD_DB_POOL_MAX", "10"))
    pools: dict[str, Any] = {}

    async def no_reset(_connection: asyncpg.Connection) -> None:
        """Nothing to reset: the floor keeps no session state."""

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        pools["pool"] = await asyncpg.create_pool(
            dsn, min_size=1, max_size=pool_max, reset=no_reset
        )
        try:
            yield
        finally:
            await pools["pool"].close()

    @post("/bare/{task_id:int}/accept", status_code=200)
    async def accept(task_id: int) -> Response[dict[str, Any]]:
        row = await pools["pool"].fetchrow(ACCEPT, task_id, assignee)
        if row is None:
            return Response({"detail": "not new"}, status_code=409)
        return Response({"id": row["id"], "version": row["version"]})

    return Litestar([accept], lifespan=[lifespan], openapi_config=None)
