"""Notification deliveries per second: one `naryad worker` against a default arq worker.

    .venv/bin/python bench/notify_bench.py [--messages 3000] [--arq-messages 500]
        [--rounds 3] [--events 300] [--pg postgresql://postgres@127.0.0.1:5432/test]

Processes, on this 2-CPU machine:
* `naryad worker` (defaults: 10 senders, so a pool of at most 10 SMTP connections),
  pinned to CPU 0 (`taskset -c 0`);
* the baseline, a default arq worker (bench/notify_arq_baseline.py: plain WorkerSettings,
  a job that builds one mail and sends it with `aiosmtplib.send`), also on CPU 0;
* the floor (bench/smtp_floor.py): aiosmtplib alone sending one prebuilt naryad mail N
  times over 10 kept connections, no database — what the transport itself allows a
  process on CPU 0 here and now; also pinned to CPU 0;
* the SMTP sink (bench/smtp_sink.py, aiosmtpd, 250 at once), pinned to CPU 1.
PostgreSQL (a fresh database, dropped at the end) and Redis (dbs 14 and 15) run unpinned.

Rounds, interleaved (naryad, arq, floor, naryad, arq, floor …):
* naryad: `--messages` client e-mails already in the outbox — copies of a row a real
  public comment wrote, inserted in one statement (so the writer is not what is measured)
  — then the one job a commit enqueues wakes the worker. Clock: from that enqueue to the
  sink's last 250; the round ends when every row is marked sent, and checks that the sink
  saw each Message-ID once.
* arq: `--arq-messages` jobs enqueued as fast as Redis takes them; clock from the first
  enqueue to the sink's last 250.
* floor: `--messages` mails; clock from its first send to the sink's last 250.
The ratio is naryad's deliveries/s over arq's, per pair of rounds.

Then, once, end to end: `--events` public comments through the real service
(transitions.add_comment, 20 at a time from this process), each enqueued to arq after its
commit; the clock runs from the first event to the last 250.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from arq import create_pool
from arq.connections import RedisSettings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jobs.dispatch import ArqDispatcher  # noqa: E402
from server import db, subscribers  # noqa: E402
from server import settings as process_settings  # noqa: E402
from server.accounts import service as accounts  # noqa: E402
from server.accounts.schemas import UserIn  # noqa: E402
from server.clients import service as clients  # noqa: E402
from server.clients.schemas import ContactIn, CounterpartyIn  # noqa: E402
from server.lib.actor import Actor  # noqa: E402
from server.notifications import mailwriter  # noqa: E402
from server.notifications import service as notifications  # noqa: E402
from server.notifications.delivery import Delivery  # noqa: E402
from server.notifications.tables import Notification  # noqa: E402
from server.settings import Settings  # noqa: E402
from server.tasks import service as tasks  # noqa: E402
from server.tasks import transitions  # noqa: E402
from server.tasks.schemas import TaskIn  # noqa: E402

NARYAD_REDIS = "redis://127.0.0.1:6379/14"
# (naryad, arq, floor, load average) per round
Round = tuple[dict[str, float], dict[str, float], dict[str, float], str]
ARQ_REDIS = "redis://127.0.0.1:6379/15"
TICK = os.sysconf("SC_CLK_TCK")
PIN_WORKER = ["taskset", "-c", "0"]
PIN_SINK = ["taskset", "-c", "1"]
ARQ_SETTINGS = "bench.notify_arq_baseline.WorkerSettings"
SINK = ROOT / "bench" / "smtp_sink.py"
FLOOR = ROOT / "bench" / "smtp_floor.py"
MESSAGE = ROOT / "test-output" / "bench-notify-message.eml"


def log(msg: str) -> None:
    print(msg, flush=True)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Sink:
    """bench/smtp_sink.py in its own process on CPU 1, and its control connection."""

    def __init__(self) -> None:
        self.port, self.control = free_port(), free_port()
        self.proc = subprocess.Popen(
            [*PIN_SINK, sys.executable, str(SINK), str(self.port), str(self.control)],
            stdout=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == b"ready"

    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.control)

    async def _ask(self, command: str) -> list[str]:
        self.writer.write(f"{command}\n".encode())
        await self.writer.drain()
        return (await self.reader.readline()).decode().split()

    async def reset(self) -> None:
        await self._ask("reset")

    async def stats(self) -> dict[str, float]:
        a, d, c, b, first, last = await self._ask("stats")
        return {
            "accepted": int(a),
            "distinct": int(d),
            "connections": int(c),
            "bytes": int(b),
            "first": float(first),
            "last": float(last),
        }

    async def wait_for(self, n: int, timeout: float = 900) -> dict[str, float]:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while True:
            stats = await self.stats()
            if stats["accepted"] >= n:
                return stats
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {stats['accepted']} of {n} mails arrived")
            await asyncio.sleep(0.02)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def start_naryad_worker(url: str, sink: Sink) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "NARYAD_DATABASE_URL": url,
        "NARYAD_REDIS_URL": NARYAD_REDIS,
        "NARYAD_SMTP_HOST": "127.0.0.1",
        "NARYAD_SMTP_PORT": str(sink.port),
        "NARYAD_SMTP_FROM": "naryad@naryad.test",
        "NARYAD_SUPPORT_ADDRESS": "support@naryad.test",
        "NARYAD_MAIL_DOMAIN": "naryad.test",
        "NARYAD_LOG_LEVEL": "WARNING",
    }
    (ROOT / "test-output").mkdir(exist_ok=True)
    out = open(ROOT / "test-output" / "bench-notify-worker.log", "wb")  # noqa: SIM115
    return subprocess.Popen(
        [*PIN_WORKER, sys.executable, "-c", "from server.cli import main; main()", "worker"],
        env=env,
        cwd=ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
    )


def start_arq_worker(sink: Sink) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BENCH_SMTP_PORT": str(sink.port), "BENCH_ARQ_REDIS": ARQ_REDIS}
    out = open(ROOT / "test-output" / "bench-notify-arq.log", "wb")  # noqa: SIM115
    return subprocess.Popen(
        [*PIN_WORKER, str(Path(sys.executable).parent / "arq"), ARQ_SETTINGS],
        env=env,
        cwd=ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
    )


async def fixture(url: str) -> tuple[Actor, int, int]:
    """An office user, a client contact and a task; one public comment wrote the outbox
    row the rounds copy (a client e-mail, Cyrillic subject and body)."""
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
            title=f"Ромашка {tag}: касса не печатает чек",
            template="remote_support",
            requester_contact_id=contact.id,
        ),
    )
    notifications.configure(None)
    await transitions.add_comment(
        actor, task.id, "Здравствуйте! Перезагрузите кассу и пришлите фото чека.", True
    )
    conn = await asyncpg.connect(url)
    try:
        template = await conn.fetchval(
            "SELECT max(id) FROM notifications WHERE task = $1 AND channel = 'email'", task.id
        )
    finally:
        await conn.close()
    return actor, task.id, int(template)


async def write_outbox(conn: asyncpg.Connection, template: int, n: int) -> list[int]:
    """n copies of the template row, pending and due, each with a Message-ID of its own."""
    rows = await conn.fetch(
        """
        INSERT INTO notifications (task, kind, channel, "user", contact, address, language,
            context, status, attempts, next_attempt_at, error, in_reply_to,
            thread_references, created_at)
        SELECT task, kind, channel, "user", contact, address, language, context, 'pending',
            0, now(), '', in_reply_to, thread_references, now()
        FROM notifications, generate_series(1, $2) WHERE id = $1
        RETURNING id
        """,
        template,
        n,
    )
    ids = [r["id"] for r in rows]
    await conn.execute(
        "UPDATE notifications SET message_id = '<naryad.' || id || '.bench@naryad.test>' "
        "WHERE id = ANY($1::int[])",
        ids,
    )
    return ids


async def naryad_round(
    conn: asyncpg.Connection,
    sink: Sink,
    dispatcher: ArqDispatcher,
    template: int,
    n: int,
    worker_pid: int,
) -> dict[str, float]:
    await sink.reset()
    ids = await write_outbox(conn, template, n)
    cpu = cpu_seconds(worker_pid)
    start = time.monotonic()
    await dispatcher([ids[0]])  # what a commit does: one job (per row; one is enough here)
    stats = await sink.wait_for(n)
    deadline = time.monotonic() + 120
    while (
        await conn.fetchval(
            "SELECT count(*) FROM notifications WHERE id = ANY($1::int[]) AND status = 'sent'", ids
        )
        < n
    ):
        if time.monotonic() > deadline:
            raise RuntimeError("rows not all marked sent")
        await asyncio.sleep(0.02)
    marked = time.monotonic()
    used = cpu_seconds(worker_pid) - cpu
    stats = await sink.stats()
    if stats["accepted"] != n or stats["distinct"] != n:
        raise RuntimeError(f"{stats['accepted']} mails, {stats['distinct']} distinct, for {n}")
    return {
        "rate": n / (stats["last"] - start),
        "marked_s": marked - start,
        "connections": stats["connections"],
        "bytes": stats["bytes"] / n,
        "cpu_ms": used * 1000 / n,
    }


async def arq_round(redis: Any, sink: Sink, n: int, worker_pid: int) -> dict[str, float]:
    await sink.reset()
    cpu = cpu_seconds(worker_pid)
    start = time.monotonic()
    for i in range(n):
        await redis.enqueue_job("send_mail", i)
    stats = await sink.wait_for(n)
    await asyncio.sleep(0.5)  # jobs finish writing their results
    used = cpu_seconds(worker_pid) - cpu
    return {
        "rate": n / (stats["last"] - start),
        "connections": stats["connections"],
        "bytes": stats["bytes"] / n,
        "cpu_ms": used * 1000 / n,
    }


async def floor_round(sink: Sink, n: int) -> dict[str, float]:
    await sink.reset()
    proc = await asyncio.create_subprocess_exec(
        *PIN_WORKER,
        sys.executable,
        str(FLOOR),
        str(sink.port),
        str(n),
        str(MESSAGE),
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    start = float(await proc.stdout.readline())
    stats = await sink.wait_for(n)
    used = float(await proc.stdout.readline())
    await proc.wait()
    return {"rate": n / (stats["last"] - start), "cpu_ms": used * 1000 / n}


async def write_message(template: int) -> None:
    """One of the mails the naryad rounds send, for the floor to send as it is."""
    row = (
        await Notification.select()
        .where(Notification.id == template)
        .first()
        .output(load_json=True)
    )
    assert row is not None
    delivery = Delivery(process_settings.current())
    MESSAGE.write_bytes(mailwriter.as_bytes(delivery.mail_parts(row)))


async def end_to_end(actor: Actor, task_id: int, sink: Sink, events: int) -> tuple[float, float]:
    """Public comments through the service, 20 at a time, each enqueued after its commit."""
    await sink.reset()
    dispatcher = ArqDispatcher(NARYAD_REDIS)
    notifications.configure(dispatcher)
    semaphore = asyncio.Semaphore(20)

    async def event(i: int) -> None:
        async with semaphore:
            await transitions.add_comment(actor, task_id, f"Ещё ответ {i}", True)

    try:
        start = time.monotonic()
        await asyncio.gather(*(event(i) for i in range(events)))
        written = time.monotonic()
        stats = await sink.wait_for(events)
    finally:
        notifications.configure(None)
        await dispatcher.close()
    return events / (written - start), events / (stats["last"] - start)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=3000, help="per naryad round")
    parser.add_argument("--arq-messages", type=int, default=500, help="per arq round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--events", type=int, default=300, help="end to end, 0 to skip")
    parser.add_argument(
        "--pg",
        default=os.environ.get(
            "NARYAD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    admin = await asyncpg.connect(args.pg)
    name = f"naryad_bench_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{args.pg.rpartition('/')[0]}/{name}"
    for dsn in (NARYAD_REDIS, ARQ_REDIS):
        r = aioredis.from_url(dsn)
        await r.flushdb()
        await r.aclose()
    sink = Sink()
    procs: list[subprocess.Popen[bytes]] = []
    log(f"load average at the start: {loadavg()}")
    try:
        engine = db.configure_database(url)
        await db.migrate()
        process_settings.install(
            Settings.from_env(
                {
                    "NARYAD_DATABASE_URL": url,
                    "NARYAD_MAIL_DOMAIN": "naryad.test",
                    "NARYAD_SMTP_FROM": "naryad@naryad.test",
                    "NARYAD_SUPPORT_ADDRESS": "support@naryad.test",
                }
            )
        )
        subscribers.install()
        async with db.connection_pool(engine):
            actor, task_id, template = await fixture(url)
            await sink.connect()
            naryad = start_naryad_worker(url, sink)
            arq_worker = start_arq_worker(sink)
            procs += [naryad, arq_worker]
            dispatcher = ArqDispatcher(NARYAD_REDIS)
            arq_redis = await create_pool(RedisSettings.from_dsn(ARQ_REDIS))
            conn = await asyncpg.connect(url)
            try:
                # The naryad worker is up when it has sent the template row (its loop
                # claims what is due at start); then both idle a moment.
                deadline = time.monotonic() + 120
                while (
                    await conn.fetchval("SELECT status FROM notifications WHERE id = $1", template)
                    != "sent"
                ):
                    if time.monotonic() > deadline or naryad.poll() is not None:
                        raise RuntimeError("the naryad worker did not start")
                    await asyncio.sleep(0.1)
                await asyncio.sleep(2)
                await write_message(template)
                # Warm-up (not counted): a small round each.
                await naryad_round(conn, sink, dispatcher, template, 50, naryad.pid)
                await arq_round(arq_redis, sink, 20, arq_worker.pid)
                await floor_round(sink, 50)
                results: list[Round] = []
                for r in range(args.rounds):
                    a = await naryad_round(
                        conn, sink, dispatcher, template, args.messages, naryad.pid
                    )
                    b = await arq_round(arq_redis, sink, args.arq_messages, arq_worker.pid)
                    f = await floor_round(sink, args.messages)
                    results.append((a, b, f, loadavg()))
                    log(
                        f"round {r + 1}: naryad {a['rate']:7.1f}/s  arq {b['rate']:6.1f}/s  "
                        f"floor {f['rate']:7.1f}/s  (load {results[-1][3]})"
                    )
                e2e = await end_to_end(actor, task_id, sink, args.events) if args.events else None
            finally:
                await conn.close()
                await dispatcher.close()
                await arq_redis.aclose()
        print_results(args, results, e2e)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        sink.stop()
        engine = db.configure_database(url)
        if getattr(engine, "pool", None) is not None:
            await engine.close_connection_pool()  # type: ignore[attr-defined]
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.close()


def print_results(
    args: argparse.Namespace, results: list[Round], e2e: tuple[float, float] | None
) -> None:
    log("")
    log(
        f"naryad worker and floor: {args.messages} mails per round; arq: {args.arq_messages} "
        f"jobs per round; {args.rounds} rounds, interleaved"
    )
    log(
        "round  naryad/s   arq/s  floor/s  naryad/arq  naryad/floor | naryad: all marked  "
        "conns  CPU ms/mail | arq: conns  CPU ms/mail | floor: CPU ms/mail | load"
    )
    for i, (a, b, f, load) in enumerate(results, 1):
        log(
            f"{i:5}  {a['rate']:8.1f}  {b['rate']:6.1f}  {f['rate']:7.1f}  "
            f"{a['rate'] / b['rate']:9.1f}x  {a['rate'] / f['rate']:11.2f}x | "
            f"{a['marked_s']:16.2f} s  {a['connections']:5.0f}  {a['cpu_ms']:11.2f} | "
            f"{b['connections']:10.0f}  {b['cpu_ms']:11.2f} | {f['cpu_ms']:18.2f} | {load}"
        )

    def median(values: list[float]) -> float:
        return statistics.median(values)

    ratios = [a["rate"] / b["rate"] for a, b, _, _ in results]
    log(
        f"median: naryad {median([a['rate'] for a, _, _, _ in results]):.1f}/s, "
        f"arq {median([b['rate'] for _, b, _, _ in results]):.1f}/s, "
        f"floor {median([f['rate'] for _, _, f, _ in results]):.1f}/s; "
        f"naryad/arq {median(ratios):.1f}x (min {min(ratios):.1f}x), naryad/floor "
        f"{median([a['rate'] / f['rate'] for a, _, f, _ in results]):.2f}x"
    )
    log(f"message size: naryad {results[0][0]['bytes']:.0f} B, arq {results[0][1]['bytes']:.0f} B")
    if e2e is not None:
        log(
            f"end to end, {args.events} public comments through transitions.add_comment "
            f"(20 at a time): events written {e2e[0]:.1f}/s, delivered {e2e[1]:.1f}/s"
        )
    log(f"load average at the end: {loadavg()}")


if __name__ == "__main__":
    asyncio.run(main())
