"""Notifications per second, end to end: event → message accepted by a local SMTP server.

    .venv/bin/python bench/notify_bench.py [--messages 300] [--pg postgresql://postgres@127.0.0.1:5432/test]

Events go through the real service (public comments on one task, each one client e-mail,
enqueued to arq after its commit) into a fresh PostgreSQL database; then 1 and 2
`naryad worker` processes deliver them to an aiosmtpd server on loopback. The clock runs
from the first enqueued event to the last message answered 250. Baseline in the same run:
the same number of messages sent straight with aiosmtplib (one connection per message,
as the worker does), 10 at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import asyncpg
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "notifications"))

from notify_fakes import SmtpServer  # noqa: E402

from jobs.dispatch import ArqDispatcher  # noqa: E402
from server import db, subscribers  # noqa: E402
from server import settings as process_settings  # noqa: E402
from server.accounts import service as accounts  # noqa: E402
from server.accounts.schemas import UserIn  # noqa: E402
from server.clients import service as clients  # noqa: E402
from server.clients.schemas import ContactIn, CounterpartyIn  # noqa: E402
from server.lib.actor import Actor  # noqa: E402
from server.notifications import service as notifications  # noqa: E402
from server.notifications.tables import Notification  # noqa: E402
from server.settings import Settings  # noqa: E402
from server.tasks import service as tasks  # noqa: E402
from server.tasks import transitions  # noqa: E402
from server.tasks.schemas import TaskIn  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/14"


async def _wait_accepted(smtp: SmtpServer, n: int) -> float:
    deadline = time.perf_counter() + 600
    while len(smtp.sink.accepted) < n:
        if time.perf_counter() > deadline:
            raise RuntimeError(f"only {len(smtp.sink.accepted)} of {n} arrived")
        await asyncio.sleep(0.005)
    return time.perf_counter()


async def run_workers(
    url: str, smtp: SmtpServer, n: int, workers: int
) -> tuple[float, float, float]:
    redis = aioredis.from_url(REDIS_URL)
    await redis.flushdb()
    smtp.sink.accepted.clear()
    env = {
        **os.environ,
        "NARYAD_DATABASE_URL": url,
        "NARYAD_REDIS_URL": REDIS_URL,
        "NARYAD_SMTP_HOST": "127.0.0.1",
        "NARYAD_SMTP_PORT": str(smtp.port),
        "NARYAD_SMTP_FROM": "naryad@naryad.test",
        "NARYAD_MAIL_DOMAIN": "naryad.test",
        "NARYAD_LOG_LEVEL": "WARNING",
    }
    procs = [
        subprocess.Popen(  # noqa: ASYNC220 (start-up is not timed)
            [sys.executable, "-c", "from server.cli import main; main()", "worker"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    await asyncio.sleep(3)  # workers connected and idle: measure delivery, not start-up
    process_settings.install(
        Settings.from_env({"NARYAD_REDIS_URL": REDIS_URL, "NARYAD_MAIL_DOMAIN": "x.test"})
    )
    subscribers.install()
    dispatcher = ArqDispatcher(REDIS_URL)
    notifications.configure(dispatcher)
    actor, task_id = await _fixture()
    try:
        # Backlog: events committed with no dispatcher (rows pending), then every id
        # enqueued at once; measures the job path claim → SMTP 250 → mark sent.
        notifications.configure(None)
        ids: list[int] = []
        for i in range(n):
            await transitions.add_comment(actor, task_id, f"Ответ {i}", True)
        ids = [
            r["id"]
            for r in await Notification.select(Notification.id).where(
                (Notification.task == task_id) & (Notification.status == "pending")
            )
        ]
        start = time.perf_counter()
        await dispatcher(ids)
        end = await _wait_accepted(smtp, n)
        backlog = n / (end - start)
        # End to end: events through the service, 20 writers at once, each enqueued
        # after its commit; clock from the first event to the last 250.
        smtp.sink.accepted.clear()
        notifications.configure(dispatcher)
        semaphore = asyncio.Semaphore(20)

        async def event(i: int) -> None:
            async with semaphore:
                await transitions.add_comment(actor, task_id, f"Ещё ответ {i}", True)

        start = time.perf_counter()
        await asyncio.gather(*(event(i) for i in range(n)))
        produced = time.perf_counter()
        end = await _wait_accepted(smtp, n)
        return backlog, n / (produced - start), n / (end - start)
    finally:
        notifications.configure(None)
        await dispatcher.close()
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(15)
        await redis.flushdb()
        await redis.aclose()


async def _fixture() -> tuple[Actor, int]:
    tag = uuid.uuid4().hex[:6]
    office = await accounts.create_user(
        UserIn(
            login=f"bench{tag}",
            password="secret-pass",
            full_name="Смирнова Анна",
            surname="Смирнова",
            roles=["office"],
        )
    )
    actor = Actor(
        id=office.id,
        login=office.login,
        full_name=office.full_name,
        roles=frozenset({"office"}),
        group_ids=frozenset(),
        counterparty_id=None,
    )
    cp = await clients.create_counterparty(CounterpartyIn(name=f"Ромашка {tag}"))
    contact = await clients.create_contact(
        ContactIn(name="Клиент", email="client@romashka.test", counterparty_id=cp.id)
    )
    task = await tasks.create_task(
        actor,
        TaskIn(
            title=f"Ромашка {tag}: касса",
            template="remote_support",
            requester_contact_id=contact.id,
        ),
    )
    return actor, task.id


async def baseline(smtp: SmtpServer, n: int) -> float:
    smtp.sink.accepted.clear()
    semaphore = asyncio.Semaphore(10)

    async def one(i: int) -> None:
        msg = EmailMessage()
        msg["From"] = "naryad@naryad.test"
        msg["To"] = "client@romashka.test"
        msg["Subject"] = f"[#1] Ромашка: касса {i}"
        msg.set_content(f"Ответ {i}")
        msg.add_alternative(f"<p>Ответ {i}</p>", subtype="html")
        async with semaphore:
            await aiosmtplib.send(msg, hostname="127.0.0.1", port=smtp.port)

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    end = await _wait_accepted(smtp, n)
    return n / (end - start)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    admin = await asyncpg.connect(args.pg)
    name = f"naryad_bench_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{args.pg.rpartition('/')[0]}/{name}"
    smtp = SmtpServer()
    try:
        engine = db.configure_database(url)
        await db.migrate()
        async with db.connection_pool(engine):
            base = await baseline(smtp, args.messages)
            one = await run_workers(url, smtp, args.messages, 1)
            two = await run_workers(url, smtp, args.messages, 2)
        print(f"messages: {args.messages}")
        print(f"direct aiosmtplib (baseline, 10 at a time): {base:8.1f} msg/s")
        for label, (backlog, events, e2e) in (("1 worker ", one), ("2 workers", two)):
            print(
                f"{label}: backlog {backlog:7.1f}/s · events written {events:7.1f}/s · "
                f"end to end {e2e:7.1f} notifications/s"
            )
    finally:
        smtp.stop()
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
