"""Typed enqueue helpers: how committed notification ids reach a job.

With NARYAD_REDIS_URL the ids go to arq as one job each, with a deterministic job id
(`notify:<id>`), so a repeated kick enqueues nothing new. Without Redis the same job
function runs in this process as an asyncio task, and a periodic sweep (the in-process
twin of the arq cron job) delivers whatever a lost kick or a crash left pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Coroutine
from typing import TYPE_CHECKING, Any, cast

from jobs.documents import JOBS as DOCUMENT_JOBS
from jobs.geocoding import GEOCODING_SWEEP_SECONDS, sweep_geocoding
from jobs.geocoding import JOBS as GEOCODING_JOBS
from jobs.maintenance import MAINTENANCE_SWEEP_SECONDS, sweep_maintenance
from jobs.serializer import deserialize, serialize
from jobs.sla import SLA_SWEEP_SECONDS, sweep_sla
from server.lib.logs import get_logger
from server.notifications.delivery import Delivery, run_sweep
from server.settings import Settings

if TYPE_CHECKING:
    from arq import ArqRedis

log = get_logger("naryad.jobs")
DELIVER = "deliver_notification"
# what InProcessJobs may run by name (arq workers list them in WorkerSettings.functions)
JOBS = {**DOCUMENT_JOBS, **GEOCODING_JOBS}


def notification_job_id(notification_id: int) -> str:
    return f"notify:{notification_id}"


async def arq_pool(redis_url: str) -> ArqRedis:
    # arq and redis-py (~13 MB) are loaded only where there is a Redis.
    from arq import create_pool
    from arq.connections import RedisSettings

    return await create_pool(
        RedisSettings.from_dsn(redis_url),
        job_serializer=serialize,
        job_deserializer=deserialize,
    )


async def enqueue_notification(redis: ArqRedis, notification_id: int) -> None:
    await redis.enqueue_job(DELIVER, notification_id, _job_id=notification_job_id(notification_id))


# arq's enqueue_job for many jobs in one round trip: what it does per job under WATCH and
# MULTI (skip a job whose key or result exists; else its payload with an expiry, and its id
# in the queue scored by the enqueue time), done by one script, which Redis runs
# atomically. A create notifying two people enqueued with six round trips (issue 21).
# KEYS: the queue, then each job's key and result key; ARGV: the expiry (ms), the score,
# then each job's id and payload.
_ENQUEUE_MANY = """
local n = 0
for i = 1, (#KEYS - 1) / 2 do
    local job_key, result_key = KEYS[2 * i], KEYS[2 * i + 1]
    if redis.call('EXISTS', job_key, result_key) == 0 then
        redis.call('PSETEX', job_key, ARGV[1], ARGV[2 * i + 2])
        redis.call('ZADD', KEYS[1], ARGV[2], ARGV[2 * i + 1])
        n = n + 1
    end
end
return n
"""


async def enqueue_notifications(redis: ArqRedis, ids: list[int]) -> None:
    """One delivery job per id, as enqueue_notification() makes each, in one round trip."""
    from arq.constants import job_key_prefix, result_key_prefix
    from arq.jobs import serialize_job
    from arq.utils import timestamp_ms

    score = timestamp_ms()
    keys: list[str] = [redis.default_queue_name]
    args: list[Any] = [redis.expires_extra_ms, score]
    for nid in ids:
        job_id = notification_job_id(nid)
        keys += [job_key_prefix + job_id, result_key_prefix + job_id]
        payload = serialize_job(DELIVER, (nid,), {}, None, score, serializer=serialize)
        args += [job_id, payload]
    await cast(Awaitable[Any], redis.eval(_ENQUEUE_MANY, len(keys), *keys, *args))


class ArqDispatcher:
    """Enqueues one arq job per notification id (API processes with Redis)."""

    def __init__(self, redis_url: str) -> None:
        self.redis_url = redis_url
        self._pool: ArqRedis | None = None
        self._lock = asyncio.Lock()

    async def pool(self) -> ArqRedis:
        async with self._lock:
            if self._pool is None:
                self._pool = await arq_pool(self.redis_url)
            return self._pool

    async def __call__(self, ids: list[int]) -> None:
        redis = await self.pool()
        if len(ids) == 1:
            await enqueue_notification(redis, ids[0])
        elif ids:
            await enqueue_notifications(redis, ids)

    async def enqueue(self, function: str, *args: object, job_id: str) -> None:
        """Any other job (server.lib.background), deduplicated by its job id."""
        redis = await self.pool()
        await redis.enqueue_job(function, *args, _job_id=job_id)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()


class InProcessJobs:
    """Runs delivery jobs inside the API process (the demo: no Redis)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.delivery = Delivery(settings)
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._sla: asyncio.Task[None] | None = None
        self._maintenance: asyncio.Task[None] | None = None
        self._geocoding: asyncio.Task[None] | None = None

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        # A fresh context: a job must never inherit the caller's database transaction or
        # unit of work (it runs after the caller's commit, on connections of its own).
        task = asyncio.create_task(job, context=contextvars.Context())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def __call__(self, ids: list[int]) -> None:
        self._spawn(self.delivery.deliver_many(ids))

    async def enqueue(self, function: str, *args: object, job_id: str) -> None:
        """Any other job (server.lib.background), run here; jobs are idempotent."""
        job = JOBS[function]

        async def run() -> None:
            try:
                await job(None, *args)
            except Exception as exc:
                log.warning("background job failed", job=function, job_id=job_id, error=repr(exc))

        self._spawn(run())

    def start(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever())
        self._sla = asyncio.create_task(self._sla_forever())
        self._maintenance = asyncio.create_task(self._maintenance_forever())
        self._geocoding = asyncio.create_task(self._geocoding_forever())

    async def _sla_forever(self) -> None:
        while True:
            try:
                await sweep_sla()
            except Exception as exc:  # the next minute tries again
                log.warning("sla sweep failed", error=repr(exc))
            await asyncio.sleep(SLA_SWEEP_SECONDS)

    async def _maintenance_forever(self) -> None:
        while True:
            try:
                await sweep_maintenance()
            except Exception as exc:  # the next minute tries again
                log.warning("maintenance sweep failed", error=repr(exc))
            await asyncio.sleep(MAINTENANCE_SWEEP_SECONDS)

    async def _geocoding_forever(self) -> None:
        while True:
            try:
                await sweep_geocoding()
            except Exception as exc:  # the next minute tries again
                log.warning("geocoding sweep failed", error=repr(exc))
            await asyncio.sleep(GEOCODING_SWEEP_SECONDS)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await run_sweep(self.delivery)
            except Exception as exc:  # the next sweep tries again
                log.warning("notification sweep failed", error=repr(exc))
            await asyncio.sleep(self.settings.notify_sweep_s)

    async def close(self) -> None:
        for loop in (self._sweeper, self._sla, self._maintenance, self._geocoding):
            if loop is not None:
                loop.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loop
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=5)
        await self.delivery.close()
