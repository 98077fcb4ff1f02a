"""The arq worker against real Redis and PostgreSQL: `naryad worker` is killed with SIGKILL
mid-batch, restarted, and every notification still arrives exactly once.

Why "exactly once" holds here, and where it would not: a delivery claims its row
(pending → sending), talks SMTP, and only then marks it sent. The SMTP server below holds
every message after the first ten *before* answering 250, and the worker is killed only
when every message that did get its 250 is already marked sent in the database. So at the
kill no message sits between "accepted by SMTP" and "marked sent"; the held ones were never
accepted (their connection died; the server counts only what it answered 250) and are
re-delivered after the lease. The remaining window is real but narrow: a worker killed
after the server's 250 and before the UPDATE that marks the row sent re-sends that message
after restart (at-least-once). The re-sent mail carries the same Message-ID, so mail
clients and our intake treat it as one message.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiosmtpd.controller import Controller
from naryad_harness import PG_URL, ROOT
from notify_fakes import MailSink, SmtpServer, eventually, free_port

from jobs.dispatch import ArqDispatcher
from server import db
from server import settings as process_settings
from server.accounts import service as accounts
from server.accounts.schemas import UserIn
from server.clients import service as clients
from server.clients.schemas import ContactIn, CounterpartyIn
from server.lib import clock
from server.lib.actor import Actor
from server.notifications import service as notifications
from server.notifications.tables import Notification
from server.settings import Settings
from server.tasks import service as tasks
from server.tasks import transitions
from server.tasks.schemas import TaskIn

REDIS_BASE = os.environ.get("NARYAD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_URL = REDIS_BASE.rsplit("/", 1)[0] + "/13"  # a db of its own, flushed by the test
MESSAGES = 30
ACCEPTED_BEFORE_KILL = 10


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def worker_db() -> AsyncIterator[str]:
    """A PostgreSQL database of its own: no API server of another test sweeps it."""
    admin = await asyncpg.connect(PG_URL, timeout=10)
    name = f"naryad_notify_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG_URL.rpartition('/')[0]}/{name}"
    try:
        engine = db.configure_database(url)
        await db.migrate()
        # The services in this process read through the pool, as in a server process.
        await engine.start_connection_pool(min_size=1, max_size=5)  # type: ignore[attr-defined]
        yield url
    finally:
        engine = db.configure_database(url)
        if engine.pool is not None:  # type: ignore[attr-defined]
            await engine.close_connection_pool()  # type: ignore[attr-defined]
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.close()


class WorkerProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = open(log, "a")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from server.cli import main; main()", "worker"],
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if not self.log.closed:
            self.log.close()


async def test_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(
    worker_db: str, smtp: SmtpServer
) -> None:
    redis = aioredis.from_url(REDIS_URL)
    await redis.flushdb()
    db.configure_database(worker_db)
    settings = Settings.from_env(
        {
            "NARYAD_DATABASE_URL": worker_db,
            "NARYAD_REDIS_URL": REDIS_URL,
            "NARYAD_MAIL_DOMAIN": "naryad.test",
        }
    )
    dispatcher = ArqDispatcher(REDIS_URL)
    process_settings.install(settings)
    notifications.configure(dispatcher)
    env = {
        **os.environ,
        "NARYAD_DATABASE_URL": worker_db,
        "NARYAD_REDIS_URL": REDIS_URL,
        "NARYAD_SMTP_HOST": "127.0.0.1",
        "NARYAD_SMTP_PORT": str(smtp.port),
        "NARYAD_SMTP_FROM": "naryad@naryad.test",
        "NARYAD_MAIL_DOMAIN": "naryad.test",
        "NARYAD_NOTIFY_LEASE_S": "3",
        "NARYAD_NOTIFY_SWEEP_S": "1",
        "NARYAD_LOG_LEVEL": "INFO",
    }
    log = ROOT / "test-output" / "notify-worker.log"
    log.parent.mkdir(exist_ok=True)
    workers: list[WorkerProcess] = []
    try:
        # Events through the real services: each public comment → one client e-mail,
        # enqueued to arq after its transaction commits.
        office = await accounts.create_user(
            UserIn(
                login=f"office{uuid.uuid4().hex[:6]}",
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
        cp = await clients.create_counterparty(CounterpartyIn(name="Ромашка"))
        contact = await clients.create_contact(
            ContactIn(name="Клиент", email="client@romashka.test", counterparty_id=cp.id)
        )
        task = await tasks.create_task(
            actor,
            TaskIn(
                title="Ромашка: касса",
                template="remote_support",
                requester_contact_id=contact.id,
            ),
        )
        smtp.sink.hold_after = ACCEPTED_BEFORE_KILL
        for i in range(MESSAGES):
            await transitions.add_comment(actor, task.id, f"Ответ номер {i}", True)
        expected = {
            r["message_id"]
            for r in await Notification.select(Notification.message_id).where(
                Notification.task == task.id
            )
        }
        assert len(expected) == MESSAGES
        assert await redis.zcard("arq:queue") == MESSAGES  # one job per id, ids only

        workers.append(WorkerProcess(env, log))

        async def sent() -> int:
            return int(await Notification.count().where(Notification.status == "sent"))

        await eventually(smtp.sink.held.is_set, timeout=30, what="a held message")
        await eventually(
            lambda: len(smtp.sink.accepted) == ACCEPTED_BEFORE_KILL, what="first ten accepted"
        )
        # Every accepted message is marked sent: nothing is between 250 and the mark.
        await eventually(
            lambda: _eq(sent(), ACCEPTED_BEFORE_KILL), timeout=15, what="first ten marked"
        )
        in_flight = await Notification.count().where(Notification.status == "sending")
        assert in_flight >= 1
        workers[0].kill9()
        await asyncio.sleep(0.5)  # let the SMTP server see the connections drop
        smtp.sink.hold_after = None
        smtp.sink.release.set()
        assert len(smtp.sink.accepted) == ACCEPTED_BEFORE_KILL

        workers.append(WorkerProcess(env, log))
        await eventually(lambda: _eq(sent(), MESSAGES), timeout=60, what="all sent")
        await asyncio.sleep(2)  # a couple of sweeps more: nothing is sent again
        ids = [str(m["Message-ID"]) for m in smtp.sink.accepted]
        assert len(ids) == MESSAGES, f"{len(ids)} messages for {MESSAGES} notifications"
        assert set(ids) == expected
        assert all(m["To"] == "client@romashka.test" for m in smtp.sink.accepted)
    finally:
        smtp.sink.release.set()
        for w in workers:
            w.stop()
        notifications.configure(None)
        await dispatcher.close()
        await redis.flushdb()
        await redis.aclose()


async def _eq(value: object, expected: int) -> bool:
    return await value == expected  # type: ignore[misc]


# --- repeated kills: duplicates stay rare -------------------------------------------------

KILL_MESSAGES = 300
REAL_COMMENTS = 10
KILLS = 6


class SlowMta(MailSink):
    """A mail server that takes its time, as real ones do: a moment to queue each message
    before its 250 (a client gone by then is answered 451 to nobody and the message is not
    kept), and longer to say goodbye (221 to QUIT). A worker killed while it waits for
    the goodbye holds a message the server already has: were rows marked sent only after
    QUIT, every one of those would be sent again.

    The moment varies (accept_s/2 to 3·accept_s/2), so the answers to the messages on a
    worker's pooled connections do not all come in step. A server learns that a client is
    gone when the client's sockets close, which on a busy machine comes up to a tenth of a
    second after SIGKILL; while the test kills a worker (`killing`), answers wait until
    its connections have closed, as they would had the kill been instant. What remains is
    what the test is about: a 250 the worker read (or had yet to read) when it died."""

    def __init__(self, accept_s: float, goodbye_s: float) -> None:
        super().__init__()
        self.accept_s = accept_s
        self.goodbye_s = goodbye_s
        self.times: list[float] = []
        self.killing = threading.Event()
        self.rng = random.Random(7)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.rng.uniform(self.accept_s / 2, self.accept_s * 1.5))
        while self.killing.is_set():  # noqa: ASYNC110 (a threading.Event)
            await asyncio.sleep(0.01)
        transport = getattr(server, "transport", None)
        if transport is None or transport.is_closing():
            return "451 client went away"
        self.times.append(time.monotonic())
        return await super().handle_DATA(server, session, envelope)

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.goodbye_s)
        return "221 Bye"


async def test_repeated_worker_kills_lose_nothing_and_duplicate_at_most_once_per_kill(
    worker_db: str,
) -> None:
    """SIGKILL `naryad worker` several times while it delivers (ten messages in flight at
    each kill), restarting it each time: every notification arrives (0 lost), and the
    copies sent twice are at most one per kill, each with the Message-ID of the first, so
    mail clients fold them. Employee and client mail alike carry a Message-ID fixed when
    the row was written."""
    started = time.monotonic()
    # A fifth of a second per message: the worker's pooled connections would otherwise
    # deliver all 300 between two kills.
    sink = SlowMta(accept_s=0.2, goodbye_s=0.1)
    port = free_port()
    mta = Controller(sink, hostname="127.0.0.1", port=port)
    mta.start()
    redis = aioredis.from_url(REDIS_URL)
    await redis.flushdb()
    db.configure_database(worker_db)
    settings = Settings.from_env(
        {
            "NARYAD_DATABASE_URL": worker_db,
            "NARYAD_REDIS_URL": REDIS_URL,
            "NARYAD_MAIL_DOMAIN": "naryad.test",
        }
    )
    dispatcher = ArqDispatcher(REDIS_URL)
    process_settings.install(settings)
    notifications.configure(dispatcher)
    env = {
        **os.environ,
        "NARYAD_DATABASE_URL": worker_db,
        "NARYAD_REDIS_URL": REDIS_URL,
        "NARYAD_SMTP_HOST": "127.0.0.1",
        "NARYAD_SMTP_PORT": str(port),
        "NARYAD_SMTP_FROM": "naryad@naryad.test",
        "NARYAD_MAIL_DOMAIN": "naryad.test",
        # A short lease, so a killed worker's rows come back quickly; sends (a third of
        # it) still end well inside it.
        "NARYAD_NOTIFY_LEASE_S": "4",
        "NARYAD_NOTIFY_SWEEP_S": "1",
        "NARYAD_LOG_LEVEL": "INFO",
    }
    log = ROOT / "test-output" / "notify-worker-kills.log"
    log.parent.mkdir(exist_ok=True)
    worker: WorkerProcess | None = None
    try:
        tag = uuid.uuid4().hex[:6]
        office = await accounts.create_user(
            UserIn(
                login=f"office{tag}",
                password="secret-pass",
                full_name="Смирнова Анна",
                surname="Смирнова",
                roles=["office"],
            )
        )
        engineer = await accounts.create_user(
            UserIn(
                login=f"eng{tag}",
                password="secret-pass",
                full_name="Петров Пётр",
                surname="Петров",
                roles=["engineer"],
                email=f"eng{tag}@naryad.test",
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
        cp = await clients.create_counterparty(CounterpartyIn(name=f"Лютик {tag}"))
        contact = await clients.create_contact(
            ContactIn(name="Клиент", email=f"client{tag}@lyutik.test", counterparty_id=cp.id)
        )
        task = await tasks.create_task(
            actor,
            TaskIn(
                title=f"Лютик {tag}: касса",
                template="remote_support",
                requester_contact_id=contact.id,
                assignee_id=engineer.id,
            ),
        )
        # Through the real services: the assignee's "assigned" mail and the client's
        # replies (public comments); both kinds of row get their Message-ID when written.
        for i in range(REAL_COMMENTS):
            await transitions.add_comment(actor, task.id, f"Сообщение {i}", True)
        rows = await Notification.select().where(
            (Notification.task == task.id) & (Notification.channel == "email")
        )
        assert len(rows) == REAL_COMMENTS + 1
        assert {r["address"] for r in rows} == {engineer.email, contact.email}
        assert all(r["message_id"] for r in rows)
        # The rest of the outbox in one statement (the services take seconds per hundred
        # on a busy machine): copies of those rows, each with a Message-ID of its own.
        now = clock.now()
        copies = [
            Notification(
                **{
                    k: v
                    for k, v in rows[i % len(rows)].items()
                    if k not in ("id", "message_id", "created_at", "next_attempt_at")
                },
                next_attempt_at=now,
                created_at=now,
            )
            for i in range(KILL_MESSAGES - len(rows))
        ]
        new_ids = [r["id"] for r in await Notification.insert(*copies).returning(Notification.id)]
        for nid in new_ids:
            await Notification.update(
                {Notification.message_id: notifications.message_id_for(nid, now, "naryad.test")}
            ).where(Notification.id == nid)
        await dispatcher(new_ids)
        expected = {
            r["message_id"]
            for r in await Notification.select(Notification.message_id).where(
                Notification.task == task.id
            )
        }
        assert len(expected) == KILL_MESSAGES and None not in expected

        async def sent() -> int:
            return int(
                await Notification.count().where(
                    (Notification.task == task.id) & (Notification.status == "sent")
                )
            )

        def accepted() -> int:
            with sink.lock:
                return len(sink.accepted)

        rng = random.Random(14)
        kills: list[float] = []
        for _ in range(KILLS):
            worker = WorkerProcess(env, log)
            # Kill while it delivers: it has taken some messages and is sending more.
            floor = accepted()
            await eventually(
                lambda floor=floor: accepted() >= floor + 8, timeout=30, what="deliveries"
            )
            await asyncio.sleep(rng.uniform(0.05, 0.4))
            kills.append(time.monotonic())
            sink.killing.set()
            worker.kill9()
            worker = None
            await asyncio.sleep(0.3)  # the server sees the connections drop
            sink.killing.clear()
        worker = WorkerProcess(env, log)
        await eventually(lambda: _eq(sent(), KILL_MESSAGES), timeout=60, what="all sent")
        await asyncio.sleep(1.5)  # a sweep more: nothing is sent again
        with sink.lock:
            ids = [str(m["Message-ID"]) for m in sink.accepted]
        lost = expected - set(ids)
        duplicates = len(ids) - len(set(ids))
        print(
            f"\n{KILL_MESSAGES} mails, {KILLS} kills: {len(lost)} lost, {duplicates} duplicates, "
            f"{time.monotonic() - started:.1f} s"
        )
        assert not lost
        assert set(ids) == expected, f"mail for rows not in this test: {set(ids) - expected}"
        assert len(sink.times) == len(ids), (len(sink.times), len(ids))
        copies_at: dict[str, list[float]] = {}
        for mid, at in zip(ids, sink.times, strict=True):
            copies_at.setdefault(mid, []).append(round(at - started, 2))
        twice = {m: t for m, t in copies_at.items() if len(t) > 1}
        assert duplicates <= KILLS, (
            f"{duplicates} duplicates for {KILLS} kills at {[round(k - started, 2) for k in kills]}"
            f": {twice}"
        )
        assert time.monotonic() - started < 90
    finally:
        if worker is not None:
            worker.stop()
        notifications.configure(None)
        await dispatcher.close()
        await redis.flushdb()
        await redis.aclose()
        mta.stop()
