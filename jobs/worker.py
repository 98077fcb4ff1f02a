"""`naryad worker`: the arq worker on NARYAD_REDIS_URL."""

from __future__ import annotations

import asyncio
from typing import Any

from arq import Worker, cron
from arq.connections import RedisSettings

from jobs.dispatch import ArqDispatcher
from jobs.documents import render_documents
from jobs.geocoding import geocode_site, sweep_geocoding
from jobs.imap import poll_mailboxes
from jobs.maintenance import sweep_maintenance
from jobs.notify import deliver_notification, sweep_notifications
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


def _sweep_seconds(settings: Settings) -> set[int]:
    step = max(1, min(60, int(settings.notify_sweep_s)))
    return set(range(0, 60, step))


def build_worker(settings: Settings, *, burst: bool = False) -> Worker:
    if not settings.redis_url:
        raise SettingsError("naryad worker needs NARYAD_REDIS_URL (without it jobs run in serve)")
    process_settings.install(settings)
    subscribers.install()
    engine = db.configure_database(settings.database_url)
    dispatcher = ArqDispatcher(settings.redis_url)
    pool_cm = db.connection_pool(engine, max_size=max(2, settings.notify_concurrency))

    async def startup(ctx: dict[str, Any]) -> None:
        await pool_cm.__aenter__()
        ctx["delivery"] = Delivery(settings)
        notifications.configure(dispatcher)
        background.configure(dispatcher.enqueue)
        # A restarted worker does not wait for the next cron tick to pick up what is due.
        ctx["startup_sweep"] = asyncio.create_task(sweep_notifications(ctx))
        log.info("jobs: arq", redis=settings.redis_url, database=engine.engine_type)

    async def shutdown(ctx: dict[str, Any]) -> None:
        ctx["startup_sweep"].cancel()
        await ctx["delivery"].close()
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
            cron(
                sweep_notifications,
                second=_sweep_seconds(settings),
                unique=True,
                run_at_startup=False,
            ),
        ],
        redis_settings=RedisSettings.from_dsn(settings.redis_url),
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
        handle_signals=True,
    )


def run_worker(settings: Settings) -> None:
    configure_logging(settings.log_level, settings.log_format)
    worker = build_worker(settings)
    worker.run()
