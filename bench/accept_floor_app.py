"""The floor for accept (bench/accept_bench.py): a bare Litestar endpoint on an asyncpg pool
that runs the one conditional UPDATE an accept needs at the least — the row changes only if
the task is still new, so of concurrent callers exactly one wins — and answers with the id
and new version. No authentication, no history event, no rules, no shaping, and no reset
of the connection on its way back to the pool (asyncpg's default sends
`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` after every request, a round
trip that the best bare code for the job would not make; Naryad skips it too, server/db.py).

A second endpoint, `POST /job/{id}/accept`, is the same job as Naryad's accept done with
bare code: the change only if the task is new and in one of the engineer's groups, the
history event, and the whole task back (names of template, counterparty, site, group,
assignee and requester; watchers, follow-ups, equipment, contract, rating), shaped into
Naryad's own response struct and encoded with msgspec. One autocommit statement (atomic on
its own: bare code has no subscribers that write with it), no authentication (the
engineer and their groups are fixed at start), no idempotency, no middleware.

    BENCH_DSN=postgresql://… BENCH_ASSIGNEE=<user id> \
        uvicorn bench.accept_floor_app:create_app --factory
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import msgspec
from litestar import Litestar, Response, post

from bench.baseline_app import _COLUMNS, NAME_JOINS, _task
from server import settings as process_settings
from server.lib.actor import Actor
from server.settings import Settings
from server.tasks.schemas import ContractRef, EquipmentRef, TaskRating, UserRef

_encoder = msgspec.json.Encoder()

ACCEPT = """
UPDATE tasks SET status = 'accepted', assignee = $2, version = version + 1,
    accepted_at = now(), updated_at = now(), status_changed_at = now()
WHERE id = $1 AND status = 'new'
RETURNING id, version
"""


# The same columns, joins and shaping as the list floor (bench/baseline_app.py), over the
# row the UPDATE returned, plus what a single-task answer carries besides.
JOB = f"""
WITH won AS (
    UPDATE tasks SET status = 'accepted', assignee = $2, version = version + 1,
        accepted_at = now(), updated_at = now(), status_changed_at = now(),
        reacted_at = coalesce(reacted_at, now()), call_back = false
    WHERE id = $1 AND status = 'new' AND "group" = ANY($3::integer[])
    RETURNING *
), ev AS (
    INSERT INTO task_events (task, at, actor, kind, data, channel, internal)
    SELECT id, now(), $2, 'accepted',
        json_build_object('from', 'new', 'to', 'accepted', 'assignee_id', $2), 'ui', false
    FROM won
)
SELECT {_COLUMNS},
    (SELECT coalesce(json_agg(json_build_array(u.id, u.full_name) ORDER BY w.id), '[]')
     FROM task_watchers w JOIN users u ON u.id = w."user" WHERE w.task = t.id) AS watchers,
    ARRAY(SELECT f.id FROM tasks f WHERE f.parent_task = t.id ORDER BY f.id) AS follow_ups,
    (SELECT coalesce(json_agg(json_build_array(e.id, k.code, e.model, e.serial)
        ORDER BY te.id), '[]')
     FROM task_equipment te JOIN equipment e ON e.id = te.equipment
     JOIN equipment_kinds k ON k.id = e.kind WHERE te.task = t.id) AS equipment,
    (SELECT json_build_array(ct.outside_contract, c.id, c.number) FROM contract_tasks ct
     LEFT JOIN contracts c ON c.id = ct.contract WHERE ct.task = t.id LIMIT 1) AS contract,
    (SELECT json_build_array(r.score, r.comment, r.rated_at, r.rated_by) FROM task_ratings r
     WHERE r.task = t.id LIMIT 1) AS rating
FROM won t
{NAME_JOINS}
"""


def _job_answer(r: asyncpg.Record, actor: Actor) -> bytes:
    """The row as the TaskOut Naryad answers (the same struct, so the same JSON work)."""
    task = _task(r, actor, dt.datetime.now(dt.UTC))
    task.follow_ups = list(r["follow_ups"])
    task.watchers = [UserRef(i, n) for i, n in json.loads(r["watchers"])]
    task.equipment = [
        EquipmentRef(id=i, kind=k, model=m, serial=s) for i, k, m, s in json.loads(r["equipment"])
    ]
    contract = json.loads(r["contract"]) if r["contract"] is not None else None
    if contract:
        task.outside_contract = bool(contract[0])
        task.contract = ContractRef(contract[1], contract[2]) if contract[1] else None
    rating = json.loads(r["rating"]) if r["rating"] is not None else None
    if rating:
        score, comment, rated_at, by = rating
        at = dt.datetime.fromisoformat(rated_at).astimezone(dt.UTC)
        task.rating = TaskRating(score=score, comment=comment, rated_at=at, by=by)
    return _encoder.encode(task)


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
        # the check-in radius a far check-in's warning names (server/settings.py)
        process_settings.install(Settings.from_env(dict(os.environ)))
        pools["pool"] = await asyncpg.create_pool(
            dsn, min_size=1, max_size=pool_max, reset=no_reset
        )
        user = await pools["pool"].fetchrow(
            "SELECT id, login, full_name, roles::text FROM users WHERE id = $1", assignee
        )
        groups = await pools["pool"].fetch(
            'SELECT "group" FROM group_memberships WHERE "user" = $1', assignee
        )
        pools["actor"] = Actor(
            id=user["id"],
            login=user["login"],
            full_name=user["full_name"],
            roles=frozenset(json.loads(user["roles"])),
            group_ids=frozenset(g["group"] for g in groups),
            counterparty_id=None,
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

    @post("/job/{task_id:int}/accept", status_code=200)
    async def accept_job(task_id: int) -> Response[bytes]:
        actor: Actor = pools["actor"]
        row = await pools["pool"].fetchrow(JOB, task_id, actor.id, sorted(actor.group_ids))
        if row is None:
            return Response(b'{"detail":"not new"}', status_code=409)
        return Response(_job_answer(row, actor), media_type="application/json")

    return Litestar([accept, accept_job], lifespan=[lifespan], openapi_config=None)
