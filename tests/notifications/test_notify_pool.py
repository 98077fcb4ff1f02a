"""Delivery at volume: kept SMTP connections, batch claims, group-committed marks.

Real PostgreSQL (a database of this module's own: no test server's sweep may take these
rows) and SQLite, real aiosmtpd servers on loopback that note which connection each
message came on. The outbox rows are written straight into the table, as the services
would have written them."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import email
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from email import policy
from typing import Any

import asyncpg
import pytest
from aiosmtpd.controller import Controller
from naryad_harness import PG_URL
from notify_fakes import MailSink, eventually, free_port

from server import db
from server.lib import clock
from server.notifications import mailwriter, service
from server.notifications.delivery import Delivery
from server.notifications.tables import Notification
from server.settings import Settings


class PeerSink(MailSink):
    """Also notes the connection (client address and port) of every accepted message,
    keeps the server side of each connection so a test can drop them all, and can answer
    MAIL on connections it saw before `refuse_old()` with 421 ("closing the channel")."""

    def __init__(self) -> None:
        super().__init__()
        self.peers: list[Any] = []
        self.transports: dict[Any, Any] = {}
        self.old: set[Any] = set()
        self.refusing = False
        self.delay_s = 0.0

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.refusing and session.peer in self.old:
            return "421 4.4.2 closing the channel, idle too long"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith("gone"):
            return "550 5.1.1 no such mailbox"
        if address.startswith("full"):
            return "452 4.2.2 mailbox full, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        answer = await super().handle_DATA(server, session, envelope)
        with self.lock:
            self.peers.append(session.peer)
            self.transports[session.peer] = server.transport
        return answer

    def connections(self) -> int:
        with self.lock:
            return len(set(self.peers))

    def refuse_old(self) -> None:
        with self.lock:
            self.old = set(self.peers)
        self.refusing = True

    def message_ids(self) -> list[str]:
        with self.lock:
            return [str(m["Message-ID"]) for m in self.accepted]


class PeerServer:
    def __init__(self) -> None:
        self.sink = PeerSink()
        self.port = free_port()
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    def drop_connections(self) -> None:
        """The server closes every connection it has (a restart, an idle timeout)."""
        loop = self.controller.loop

        def close_all() -> None:
            for transport in self.sink.transports.values():
                if transport is not None:
                    transport.close()

        loop.call_soon_threadsafe(close_all)


@pytest.fixture
def smtp() -> Iterator[PeerServer]:
    server = PeerServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def own_pg() -> AsyncIterator[str]:
    admin = await asyncpg.connect(PG_URL, timeout=10)
    name = f"naryad_pool_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG_URL.rpartition('/')[0]}/{name}"
    try:
        db.configure_database(url)
        await db.migrate()
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


@pytest.fixture(scope="module")
async def own_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('pool') / 'naryad.db'}"
    db.configure_database(url)
    await db.migrate()
    return url


@pytest.fixture(params=["postgres", "sqlite"])
async def outbox(request: pytest.FixtureRequest, own_pg: str, own_sqlite: str) -> str:
    url = own_pg if request.param == "postgres" else own_sqlite
    db.configure_database(url)
    await Notification.delete(force=True)
    return url


def _settings(smtp: PeerServer, concurrency: int, **extra: str) -> Settings:
    return Settings.from_env(
        {
            "NARYAD_SMTP_HOST": "127.0.0.1",
            "NARYAD_SMTP_PORT": str(smtp.port),
            "NARYAD_SMTP_FROM": "naryad@naryad.test",
            "NARYAD_MAIL_DOMAIN": "naryad.test",
            "NARYAD_NOTIFY_CONCURRENCY": str(concurrency),
            "NARYAD_NOTIFY_SWEEP_S": "0.2",
            "NARYAD_NOTIFY_LEASE_S": "30",
            **extra,
        }
    )


async def _write_outbox(n: int, tag: str = "") -> set[str]:
    """n employee e-mails, pending and due; returns their Message-IDs."""
    now = clock.now()
    rows = [
        Notification(
            kind="assigned",
            channel="email",
            address=f"eng{i}@naryad.test",
            language="ru",
            context={
                "task_id": 1000 + i,
                "number": 1000 + i,
                "title": f"Ромашка: касса {tag}{i}",
                "actor": "Смирнова Анна",
            },
            status="pending",
            next_attempt_at=now,
            created_at=now,
        )
        for i in range(n)
    ]
    ids = [r["id"] for r in await Notification.insert(*rows).returning(Notification.id)]
    expected = set()
    for nid in ids:
        mid = service.message_id_for(nid, now, "naryad.test")
        await Notification.update({Notification.message_id: mid}).where(Notification.id == nid)
        expected.add(mid)
    return expected


async def _all_sent(ids: set[str]) -> bool:
    rows = await Notification.select(Notification.status, Notification.attempts).where(
        Notification.message_id.is_in(list(ids))
    )
    return len(rows) == len(ids) and all(r["status"] == "sent" and r["attempts"] == 0 for r in rows)


async def test_200_mails_travel_on_at_most_pool_size_connections(
    outbox: str, smtp: PeerServer
) -> None:
    """The worker's loop (batch claims, marks in batches) sends 200 mails over its pool
    of 4 connections: the server sees at most 4, each message once, every row sent."""
    expected = await _write_outbox(200)
    delivery = Delivery(_settings(smtp, concurrency=4))
    delivery.start_pump()
    try:
        await eventually(lambda: len(smtp.sink.accepted) >= 200, timeout=60, what="200 mails")
        await eventually(lambda: _all_sent(expected), timeout=20, what="200 rows marked sent")
    finally:
        await delivery.close()
    ids = smtp.sink.message_ids()
    assert len(ids) == 200 and set(ids) == expected
    assert 1 <= smtp.sink.connections() <= 4, smtp.sink.connections()
    assert delivery.smtp.opened == smtp.sink.connections()


async def test_a_sweep_reuses_the_pool_between_batches(outbox: str, smtp: PeerServer) -> None:
    """In-process jobs (no Redis): the sweep and the after-commit kicks share one pool."""
    delivery = Delivery(_settings(smtp, concurrency=3))
    try:
        first = await _write_outbox(50, "a")
        assert await delivery.run_sweep() == 50
        second = await _write_outbox(50, "b")
        ids = [
            r["id"]
            for r in await Notification.select(Notification.id).where(
                Notification.message_id.is_in(list(second))
            )
        ]
        await delivery.deliver_many(ids)
    finally:
        await delivery.close()
    assert await _all_sent(first | second)
    assert set(smtp.sink.message_ids()) == first | second and len(smtp.sink.accepted) == 100
    assert smtp.sink.connections() <= 3


async def test_a_broken_pooled_connection_is_replaced_and_no_mail_is_lost(
    outbox: str, smtp: PeerServer
) -> None:
    """The server drops every connection while the pool holds them idle, then (after a
    restart, say) answers 421 on the old ones it still has: each mail goes out on a fresh
    connection at once — sent on its first attempt, none lost, none twice."""
    delivery = Delivery(_settings(smtp, concurrency=2))
    try:
        first = await _write_outbox(20, "a")
        assert await delivery.run_sweep() == 20
        before = smtp.sink.connections()
        assert before <= 2

        smtp.drop_connections()
        await asyncio.sleep(0.2)
        second = await _write_outbox(20, "b")
        assert await delivery.run_sweep() == 20
        after_drop = smtp.sink.connections()
        assert before < after_drop <= before + 2

        # Connections the client still holds, refused at MAIL with 421: replaced too.
        smtp.sink.refuse_old()
        third = await _write_outbox(20, "c")
        assert await delivery.run_sweep() == 20
    finally:
        await delivery.close()
    everything = first | second | third
    assert await _all_sent(everything)
    ids = smtp.sink.message_ids()
    assert len(ids) == 60 and set(ids) == everything
    assert after_drop < smtp.sink.connections() <= after_drop + 2


async def test_a_stopping_worker_gives_back_what_it_claimed_but_did_not_start(
    outbox: str, smtp: PeerServer
) -> None:
    """A slow server; the loop has claimed a batch and is sending two at a time when it
    is told to stop: the two in flight finish (sent, marked), the rest go back to pending
    at once — the next worker takes them without waiting for the lease to run out."""
    smtp.sink.delay_s = 0.3
    expected = await _write_outbox(30)
    first = Delivery(_settings(smtp, concurrency=2))
    first.start_pump()
    await eventually(lambda: len(smtp.sink.accepted) >= 2, timeout=20, what="two mails")
    await first.close()
    rows = await Notification.select(Notification.status, Notification.claimed_at)
    statuses = sorted(r["status"] for r in rows)
    sent = statuses.count("sent")
    assert sent == len(smtp.sink.accepted) and 2 <= sent < 30
    assert statuses.count("pending") == 30 - sent, statuses
    assert all(r["claimed_at"] is None for r in rows if r["status"] == "pending")

    smtp.sink.delay_s = 0.0
    second = Delivery(_settings(smtp, concurrency=2))
    try:
        assert await second.run_sweep() == 30 - sent  # (the lease is 30 s)
    finally:
        await second.close()
    assert await _all_sent(expected)
    ids = smtp.sink.message_ids()
    assert len(ids) == 30 and set(ids) == expected


async def test_a_refused_recipient_fails_or_waits_and_the_connection_stays(
    outbox: str, smtp: PeerServer
) -> None:
    """550 to RCPT: the row fails for good; 452: it is retried later; the envelope is
    reset (RSET) and the same connection carries the next mail."""
    delivery = Delivery(_settings(smtp, concurrency=1))
    try:
        good = await _write_outbox(3, "a")
        await Notification.update({Notification.address: "gone@romashka.test"}).where(
            Notification.message_id == min(good)
        )
        await Notification.update({Notification.address: "full@romashka.test"}).where(
            Notification.message_id == max(good)
        )
        assert await delivery.run_sweep() == 3
    finally:
        await delivery.close()
    rows = {
        r["address"]: r
        for r in await Notification.select(
            Notification.address, Notification.status, Notification.attempts, Notification.error
        )
    }
    assert rows["gone@romashka.test"]["status"] == "failed"
    assert "550" in rows["gone@romashka.test"]["error"]
    assert rows["full@romashka.test"]["status"] == "pending"
    assert rows["full@romashka.test"]["attempts"] == 1
    assert [r["status"] for a, r in rows.items() if a.startswith("eng")] == ["sent"]
    assert len(smtp.sink.accepted) == 1 and delivery.smtp.opened == 1


async def test_batch_claims_by_concurrent_claimers_never_overlap(own_pg: str) -> None:
    """FOR UPDATE SKIP LOCKED: twelve claimers on connections of their own take batches
    of 7 from 600 due rows until none is left; every row is taken exactly once."""
    db.configure_database(own_pg)
    await Notification.delete(force=True)
    await _write_outbox(600)
    conns = [await service.open_outbox_connection() for _ in range(12)]
    try:

        async def claimer(conn: Any) -> list[int]:
            taken: list[int] = []
            while rows := await service.claim_batch(7, 30, conn=conn):
                assert all(r["status"] == "sending" for r in rows)
                assert len({r["claimed_at"] for r in rows}) == 1
                taken += [r["id"] for r in rows]
            return taken

        claimed = await asyncio.gather(*(claimer(c) for c in conns))
    finally:
        for conn in conns:
            await conn.close()
    everything = [nid for taken in claimed for nid in taken]
    assert len(everything) == 600 and len(set(everything)) == 600
    assert sum(1 for taken in claimed if taken) > 1  # they really did share the work
    assert await Notification.count().where(Notification.status == "sending") == 600


def _nodes(plan: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    found = [plan] if plan["Node Type"] == kind else []
    for child in plan.get("Plans", []):
        found += _nodes(child, kind)
    return found


async def test_a_claim_reads_the_unsettled_rows_only_however_many_were_sent(
    own_pg: str,
) -> None:
    """50 000 rows sent long ago, 200 due: a claim walks the partial index of unsettled
    rows, not the primary key from the oldest row (which read every sent row), with the
    custom plan and with the generic one PostgreSQL switches a prepared statement to."""
    db.configure_database(own_pg)
    await Notification.delete(force=True)
    conn = await service.open_outbox_connection()
    try:
        await conn.execute(
            """
            INSERT INTO notifications (kind, channel, address, language, context, status,
                attempts, next_attempt_at, error, thread_references, created_at, sent_at)
            SELECT 'assigned', 'email', 'a@naryad.test', 'ru', '{}', 'sent', 0,
                now() - interval '1 day', '', '', now() - interval '1 day', now()
            FROM generate_series(1, 50000)
            """
        )
        await _write_outbox(200)
        # (The other tests' rows, deleted above, leave dead index entries until a vacuum.)
        await conn.execute("VACUUM (ANALYZE) notifications")
        now = clock.now()
        for mode in ("force_custom_plan", "force_generic_plan"):
            await conn.execute("BEGIN")  # the claims are undone below
            try:
                await conn.execute(f"SET LOCAL plan_cache_mode = {mode}")
                explained = await conn.fetchval(
                    f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {service._CLAIM_DUE}",
                    now,
                    now - dt.timedelta(seconds=30),
                    40,
                )
            finally:
                await conn.execute("ROLLBACK")
            plan = json.loads(explained)[0]["Plan"]
            assert plan["Actual Rows"] == 40
            # What the claim reads to find its rows (below LockRows); the UPDATE above
            # it writes those 40 rows and their index entries.
            (scan,) = _nodes(plan, "LockRows")
            assert "notifications_unsettled" in json.dumps(scan), (mode, explained)
            buffers = scan["Shared Hit Blocks"] + scan["Shared Read Blocks"]
            assert buffers < 200, (mode, buffers)
    finally:
        await conn.close()


async def test_two_workers_batch_claiming_never_send_a_row_twice(
    own_pg: str, smtp: PeerServer
) -> None:
    """Two delivering loops (each with its own claim and mark connections and its own
    SMTP pool), 1000 rows, small batches so their claims interleave: every message
    reaches the server once, both loops sent some, every row ends sent."""
    db.configure_database(own_pg)
    await Notification.delete(force=True)
    expected = await _write_outbox(1000)
    workers = [Delivery(_settings(smtp, concurrency=2)) for _ in range(2)]
    sends = [0, 0]
    for i, worker in enumerate(workers):
        original = worker.smtp.send

        async def counting(*args: Any, _i: int = i, _send: Any = original) -> None:
            await _send(*args)
            sends[_i] += 1

        worker.smtp.send = counting  # type: ignore[method-assign]
        worker.start_pump()
    try:
        await eventually(lambda: len(smtp.sink.accepted) >= 1000, timeout=120, what="mails")
        await eventually(lambda: _all_sent(expected), timeout=30, what="rows marked sent")
        await asyncio.sleep(0.5)  # a couple of idle polls more: nothing is sent again
    finally:
        for worker in workers:
            await worker.close()
    ids = smtp.sink.message_ids()
    assert len(ids) == 1000 and set(ids) == expected
    assert sends[0] > 0 and sends[1] > 0 and sum(sends) == 1000, sends


# --- the message itself: written directly, or by the standard library ----------------------


def _parts(**changes: Any) -> mailwriter.MailParts:
    parts = mailwriter.MailParts(
        from_addr="support@naryad.test",
        from_name="Смирнова Анна",
        reply_to="support@naryad.test",
        to="ivan@romashka.test",
        subject="[#42] Ромашка: не печатает чек",
        date="Sat, 28 Nov 2026 03:41:54 +0000",
        message_id="<naryad.5.20261128034154000000@naryad.test>",
        in_reply_to="<naryad.4.20261128034000000000@naryad.test>",
        references="<naryad.3.x@naryad.test> <naryad.4.20261128034000000000@naryad.test>",
        auto_submitted="no",
        plain="-- Ответьте выше этой строки --\n\nЗдравствуйте!\n\nПерезагрузите кассу.\n",
        html="<!doctype html>\n<p>Здравствуйте!</p>\n<p>Перезагрузите кассу.</p>",
    )
    return dataclasses.replace(parts, **changes)


def _read(raw: bytes) -> dict[str, Any]:
    msg = email.message_from_bytes(raw, policy=policy.default)
    plain, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None and html is not None
    return {
        "headers": [(k, str(v)) for k, v in msg.items() if k not in ("Content-Type",)],
        "type": msg.get_content_type(),
        "plain": (
            plain.get_content(),
            plain.get_content_charset(),
            plain["Content-Transfer-Encoding"],
        ),
        "html": (html.get_content(), html.get_content_charset(), html["Content-Transfer-Encoding"]),
    }


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"from_name": None, "reply_to": None, "auto_submitted": "auto-generated"},
        {"in_reply_to": None, "references": None},
        {"subject": "[#7] Plain ASCII subject", "plain": "ascii only\n", "html": "<p>x</p>"},
        {"from_name": 'O\'Brien, "Ann"'},
        {"from_name": "Naryad"},
        {"plain": "строка\r\nс CRLF\rи CR\n.точка в начале\nFrom в начале\n"},
        {"subject": "Ёлки: " + "ж" * 190 + "…"},
        {"plain": ""},
    ],
)
def test_a_mail_written_directly_reads_as_the_standard_librarys(changes: dict[str, Any]) -> None:
    parts = _parts(**changes)
    direct = mailwriter.write(parts)
    assert direct is not None
    stdlib = mailwriter.build(parts).as_bytes(policy=mailwriter.mail_policy())
    assert _read(direct) == _read(stdlib)
    assert all(len(line) <= 998 for line in direct.split(b"\r\n"))
    assert b"\n" not in direct.replace(b"\r\n", b"")


@pytest.mark.parametrize(
    "changes",
    [
        {"plain": "x" * 1200 + "\n"},  # a line too long for 8bit: quoted-printable or base64
        {"to": "иван@ромашка.рф"},  # a non-ASCII address
        {"subject": "=?utf-8?q?looks_encoded?="},
        {
            "references": " ".join(
                f"<naryad.{i}.20261128034000000000@naryad.test>" for i in range(40)
            )
        },
    ],
)
def test_what_the_direct_writer_does_not_handle_goes_to_the_standard_library(
    changes: dict[str, Any],
) -> None:
    parts = _parts(**changes)
    assert mailwriter.write(parts) is None
    raw = mailwriter.as_bytes(parts)
    assert _read(raw) == _read(mailwriter.build(parts).as_bytes(policy=mailwriter.mail_policy()))
