"""`naryad worker`: the arq worker on NARYAD_REDIS_URL."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Coroutine
from typing import Any

from arq import Worker, cron
from arq.connections import RedisSettings
from redis.exceptions import RedisError

from jobs.dispatch import ArqDispatcher
from jobs.documents import render_documents
from jobs.geocoding import geocode_site, sweep_geocoding
from jobs.imap import poll_mailboxes
from jobs.maintenance import sweep_maintenance
from jobs.notify import deliver_notification
from jobs.serializer import deserialize, serialize
from jobs.sla import sweep_sla
from server import db, subscribers
from server import settings as process_settings
from server.lib import background
from server.lib.logs import configure_logging, get_logger
from server.notifications import service as notifications
from server.notifications.delivery import Delivery
from server.settings import Settings, SettingsError

log = get_logger("naryad.worker")

# Redis unreachable (connect refused or timed out, connection dropped): wait and start again.
REDIS_DOWN = (OSError, RedisError, asyncio.TimeoutError)
RECONNECT_FIRST_S = 1.0
RECONNECT_MAX_S = 30.0


def build_worker(settings: Settings, *, burst: bool = False, handle_signals: bool = True) -> Worker:
    if not settings.redis_url:
        raise SettingsError("naryad worker needs NARYAD_REDIS_URL (without it jobs run in serve)")
    process_settings.install(settings)
    subscribers.install()
    engine = db.configure_database(settings.database_url)
    dispatcher = ArqDispatcher(settings.redis_url)
    # The delivering loop claims and marks on two connections of its own (delivery.py);
    # the pool serves the rest (retries, failures, the other jobs).
    pool_cm = db.connection_pool(engine, max_size=settings.db_pool_max)

    async def startup(ctx: dict[str, Any]) -> None:
        await pool_cm.__aenter__()
        delivery = ctx["delivery"] = Delivery(settings)
        notifications.configure(dispatcher)
        background.configure(dispatcher.enqueue)
        # The delivering loop: claims due rows in batches from the start (a restarted
        # worker picks up what is due at once), woken by the jobs commits enqueue.
        delivery.start_pump()
        log.info("jobs: arq", redis=settings.redis_url, database=engine.engine_type)

    async def shutdown(ctx: dict[str, Any]) -> None:
        if "delivery" not in ctx:
            return  # never started, or already shut down
        await ctx.pop("delivery").close()
        with contextlib.suppress(*REDIS_DOWN):
            await dispatcher.close()
        await pool_cm.__aexit__(None, None, None)

    # Job timeout above the SMTP/HTTP timeouts (a third of the lease), below the lease.
    return Worker(
        functions=[deliver_notification, render_documents, geocode_site],
        cron_jobs=[
            # every minute, once across all workers (unique): SLA automations and returns
            cron(sweep_sla, second={0}, unique=True, run_at_startup=True),
            # every minute when NARYAD_IMAP_URL is set: client mail waiting at the provider
            *([cron(poll_mailboxes, second={15}, unique=True)] if settings.imap_url else []),
            # every minute: tasks of planned maintenance (exactly once per occurrence)
            cron(sweep_maintenance, second={30}, unique=True, run_at_startup=True),
            # every minute: geocoding retries after an outage, kicks lost before the queue
            cron(sweep_geocoding, second={45}, unique=True, run_at_startup=False),
        ],
        # arq tries a few times itself; run_worker() retries for as long as it takes.
        redis_settings=_redis_settings(settings.redis_url),
        on_startup=startup,
        on_shutdown=shutdown,
        max_jobs=settings.notify_concurrency,
        job_timeout=max(5, int(settings.notify_lease_s * 0.9)),
        keep_result=3600,
        # arq starts at most max_jobs jobs per poll; at its default 0.5 s that caps a worker
        # at ~20 deliveries/s (bench/README.md). 50 ms costs Redis little.
        poll_delay=0.05,
        burst=burst,
        job_serializer=serialize,
        job_deserializer=deserialize,
        handle_signals=handle_signals,
    )


def _redis_settings(url: str) -> RedisSettings:
    redis = RedisSettings.from_dsn(url)
    redis.conn_retries, redis.conn_retry_delay = 2, 1
    return redis


async def _close(worker: Worker) -> None:
    """arq's close, and our shutdown even when Redis is gone and arq cannot say goodbye."""
    try:
        await worker.close()
    except (*REDIS_DOWN, asyncio.CancelledError) as exc:
        log.debug("worker closed without Redis", error=repr(exc))
    if worker.on_shutdown is not None:
        await worker.on_shutdown(worker.ctx)


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Run the worker until `stop` is set. When Redis cannot be reached — at start or later —
    log it, wait (1 s, doubling up to 30 s) and start again instead of exiting."""
    delay = RECONNECT_FIRST_S
    attempt = 0
    while not stop.is_set():
        worker = build_worker(settings, handle_signals=False)
        started = time.monotonic()
        running = asyncio.ensure_future(worker.async_run())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not running.done():
            running.cancel()
        with contextlib.suppress(asyncio.CancelledError, *REDIS_DOWN):
            await running
        failure = None if running.cancelled() else running.exception()
        await _close(worker)
        if stop.is_set() or (failure is None and not running.cancelled()):
            return
        if not isinstance(failure, REDIS_DOWN):
            raise failure if failure else RuntimeError("the worker stopped unexpectedly")
        if time.monotonic() - started > 60:
            delay, attempt = RECONNECT_FIRST_S, 0  # it had been running: a fresh outage
        attempt += 1
        log.warning(
            "redis unreachable; the worker starts again",
            redis=settings.redis_url,
            attempt=attempt,
            in_s=delay,
            error=repr(failure),
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), delay)
        delay = min(delay * 2, RECONNECT_MAX_S)


def run_worker(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop)

    _run(main())


def _run(main: Coroutine[Any, Any, None]) -> None:
    """uvloop when it is installed (it comes with uvicorn[standard], which `naryad serve`
    runs on): a delivering worker spends most of its time in the event loop, and uvloop
    takes about a tenth less CPU per mail (bench/README.md)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)
