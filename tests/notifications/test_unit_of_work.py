"""The unit of work: side effects run after the outermost commit, never after a rollback.

Two layers. In this process, db.transaction()/db.on_commit() on PostgreSQL and SQLite: a
callback sees the committed rows from a second connection, is dropped on rollback, and a
failed savepoint drops only its own callbacks. Through HTTP, against a real server with
in-process jobs and the notification sweep switched far off (600 s): every side-effecting
action, with and without an Idempotency-Key (the PWA sends one with every action), reaches
the SMTP sink within seconds — which only happens when the delivery job is kicked after the
commit, since a job started before it finds no row and leaves it to the sweep.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from naryad_harness import PG_URL, ROOT, Backend, Server, _clean, _with_database
from notify_fakes import SmtpServer

from server import db
from server.clients.tables import Counterparty
from server.notifications.tables import Notification
from server.pricing.tables import StoredDocument

DELIVERED_WITHIN_S = 5.0


# --- db.transaction() and db.on_commit() in this process ----------------------------------


async def _visible_elsewhere(url: str, name: str) -> bool:
    """Whether a second connection (not the one that wrote) sees the counterparty."""
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        with sqlite3.connect(path, timeout=5) as conn:
            row = conn.execute("SELECT 1 FROM counterparties WHERE name = ?", (name,)).fetchone()
        return row is not None
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval("SELECT 1 FROM counterparties WHERE name = $1", name) == 1
    finally:
        await conn.close()


async def _add_counterparty(name: str) -> None:
    await Counterparty.insert(Counterparty(name=name, aliases=[], email_domains=[]))


@pytest.fixture(params=["postgres", "sqlite"])
async def engine_url(request: pytest.FixtureRequest, pg_url: str, sqlite_url: str) -> str:
    url = pg_url if request.param == "postgres" else sqlite_url
    await _clean(url)
    return url


async def test_after_commit_sees_the_committed_rows_from_another_connection(
    engine_url: str,
) -> None:
    seen: list[bool] = []
    name = f"Ромашка {uuid.uuid4().hex[:6]}"

    async def look() -> None:
        seen.append(await _visible_elsewhere(engine_url, name))

    async with db.transaction():
        await _add_counterparty(name)
        async with db.transaction():  # a service's own transaction, nested: a savepoint
            await db.on_commit(look)
        assert seen == []  # not while the unit is open
    assert seen == [True]


async def test_nothing_runs_after_a_rollback(engine_url: str) -> None:
    ran: list[str] = []

    async def side_effect() -> None:
        ran.append("sent")

    name = f"Откат {uuid.uuid4().hex[:6]}"
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await _add_counterparty(name)
            async with db.transaction():
                await db.on_commit(side_effect)
            raise RuntimeError("the change fails after its side effect was registered")
    assert ran == []
    assert not await _visible_elsewhere(engine_url, name)


async def test_a_failed_savepoint_undoes_only_itself(engine_url: str) -> None:
    ran: list[str] = []

    def mark(what: str) -> Any:
        async def callback() -> None:
            ran.append(what)

        return callback

    kept, undone = f"Оставить {uuid.uuid4().hex[:6]}", f"Убрать {uuid.uuid4().hex[:6]}"
    async with db.transaction():
        await _add_counterparty(kept)
        await db.on_commit(mark("outer"))
        with pytest.raises(ValueError):
            async with db.transaction():
                await _add_counterparty(undone)
                await db.on_commit(mark("inner"))
                raise ValueError("a rule refused the inner step; the caller goes on")
    assert ran == ["outer"]
    assert await _visible_elsewhere(engine_url, kept)
    assert not await _visible_elsewhere(engine_url, undone)


async def test_outside_a_transaction_the_callback_runs_at_once(engine_url: str) -> None:
    ran: list[str] = []

    async def now() -> None:
        ran.append("now")

    await db.on_commit(now)
    assert ran == ["now"]


async def test_a_failing_callback_does_not_stop_the_others(engine_url: str) -> None:
    ran: list[str] = []

    async def broken() -> None:
        raise OSError("job queue down")

    async def fine() -> None:
        ran.append("fine")

    async with db.transaction():
        await db.on_commit(broken)
        await db.on_commit(fine)
    assert ran == ["fine"]


# --- every side-effecting action through HTTP ---------------------------------------------


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def uow_servers(
    tmp_path_factory: pytest.TempPathFactory, smtp: SmtpServer
) -> AsyncIterator[dict[str, tuple[str, Server]]]:
    """A server per engine on a database of its own (no other server's sweep may deliver
    its rows), jobs in-process, the sweep far away."""
    env = {
        "NARYAD_SMTP_HOST": "127.0.0.1",
        "NARYAD_SMTP_PORT": str(smtp.port),
        "NARYAD_SMTP_FROM": "naryad@naryad.test",
        "NARYAD_MAIL_DOMAIN": "naryad.test",
        "NARYAD_NOTIFY_SWEEP_S": "600",
    }
    (ROOT / "test-output").mkdir(exist_ok=True)
    admin = await asyncpg.connect(PG_URL)
    pg_name = f"naryad_uow_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{pg_name}"')
    pg = _with_database(PG_URL, pg_name)
    sqlite = f"sqlite:///{Path(tmp_path_factory.mktemp('uow')) / 'naryad.db'}"
    servers: dict[str, tuple[str, Server]] = {}
    try:
        for kind, url in (("postgres", pg), ("sqlite", sqlite)):
            db.configure_database(url)
            await db.migrate()
            servers[kind] = (url, await asyncio.to_thread(Server, url, 1, env))
        yield servers
    finally:
        for _, server in servers.values():
            server.stop()
        engine = db.configure_database(pg)
        if getattr(engine, "pool", None) is not None:
            await engine.close_connection_pool()  # type: ignore[attr-defined]
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", pg_name
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{pg_name}"')
        await admin.close()


@pytest.fixture(params=["postgres", "sqlite"])
async def uow(
    request: pytest.FixtureRequest, uow_servers: dict[str, tuple[str, Server]]
) -> AsyncIterator[Backend]:
    url, server = uow_servers[request.param]
    await _clean(url)
    b = Backend(request.param, url, server)
    yield b
    await b.http.aclose()


async def _eventually(check: Any, within: float = DELIVERED_WITHIN_S) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.05)


class Actions:
    """Posts actions as the PWA does: optionally with an Idempotency-Key, then a replay."""

    def __init__(self, b: Backend, with_key: bool) -> None:
        self.b, self.with_key = b, with_key

    async def post(self, who: dict[str, Any], path: str, body: dict[str, Any]) -> Any:
        headers = dict(who["headers"])
        if self.with_key:
            headers["Idempotency-Key"] = uuid.uuid4().hex
        resp = await self.b.http.post(path, json=body, headers=headers)
        assert resp.status_code in (200, 201), resp.text
        if self.with_key:  # a replay changes nothing and sends nothing new
            again = await self.b.http.post(path, json=body, headers=headers)
            assert again.headers.get("idempotent-replayed") == "true"
            assert again.json() == resp.json()
        return resp.json()


def _mails_to(smtp: SmtpServer, address: str) -> list[Any]:
    with smtp.sink.lock:
        return [
            m
            for m, rcpts in zip(smtp.sink.accepted, smtp.sink.rcpts, strict=True)
            if address in rcpts
        ]


@pytest.mark.parametrize("with_key", [False, True], ids=["plain", "idempotency-key"])
async def test_every_side_effect_runs_right_after_the_commit(
    uow: Backend, smtp: SmtpServer, with_key: bool
) -> None:
    act = Actions(uow, with_key)
    tag = uuid.uuid4().hex[:6]
    office = await uow.user("office", email=f"office-{tag}@naryad.test")
    engineer = await uow.user(
        "engineer", groups=("Выездные инженеры",), email=f"eng-{tag}@naryad.test"
    )
    other = await uow.user("engineer", groups=("Выездные инженеры",), email=f"o-{tag}@naryad.test")
    checker = await uow.user(
        "checker", groups=("Выездные инженеры",), email=f"check-{tag}@naryad.test"
    )
    cp = await uow.counterparty(f"Ромашка{tag}")
    site = await uow.site(cp["id"], lat=55.75, lon=37.61)

    async def arrives(address: str, count: int) -> None:
        async def enough() -> bool:
            return len(_mails_to(smtp, address)) >= count

        assert await _eventually(enough), (
            f"{address} got {len(_mails_to(smtp, address))} of {count} mails within "
            f"{DELIVERED_WITHIN_S} s (the sweep is 600 s away: the kick ran before the commit)"
        )

    # created → the group's engineers
    task = await act.post(
        office,
        "/api/tasks",
        {"template": "field_visit", "title": f"Ромашка{tag}: касса", "site_id": site["id"]},
    )
    await arrives(engineer["email"], 1)
    tid = task["id"]
    # accept, depart, arrive, done → the checkers; the visit's documents are rendered
    for step, body in (("accept", {}), ("depart", {}), ("arrive", {"lat": 55.75, "lon": 37.61})):
        await act.post(engineer, f"/api/tasks/{tid}/{step}", body)
    await act.post(engineer, f"/api/tasks/{tid}/done", {"completed_works": "Заменён блок"})
    await arrives(checker["email"], 1)

    async def documents() -> bool:
        return await StoredDocument.exists().where(StoredDocument.task == tid)

    db.configure_database(uow.url)
    assert await _eventually(documents, 30), "the work order was not rendered after done"
    # return → the engineer hears the reason
    await act.post(checker, f"/api/tasks/{tid}/return", {"reason": "Нет фото"})
    await arrives(engineer["email"], 2)
    # assign and redirect → the new assignee
    second = await act.post(
        office,
        "/api/tasks",
        {"template": "field_visit", "title": f"Ромашка{tag}: принтер", "site_id": site["id"]},
    )
    await arrives(other["email"], 2)  # task_new for both field visits
    await act.post(office, f"/api/tasks/{second['id']}/assign", {"user_id": other["id"]})
    await arrives(other["email"], 3)
    await act.post(office, f"/api/tasks/{second['id']}/redirect", {"user_id": engineer["id"]})
    await arrives(engineer["email"], 4)  # task_new ×2, returned, assigned
    # a mention in an internal comment
    await act.post(
        engineer,
        f"/api/tasks/{second['id']}/comments",
        {"body": f"@{checker['login']} посмотрите", "public": False},
    )
    await arrives(checker["email"], 2)

    async def settled() -> bool:
        return not await Notification.exists().where(
            Notification.status.is_in(["pending", "sending"])
        )

    assert await _eventually(settled), "deliveries still pending"
    rows = await Notification.select(
        Notification.kind, Notification.status, Notification.attempts, Notification.error
    )
    unsent = [r for r in rows if r["status"] != "sent" or r["attempts"] != 0]
    assert rows and unsent == [], unsent


@pytest.mark.parametrize("with_key", [False, True], ids=["plain", "idempotency-key"])
async def test_a_refused_action_notifies_nobody(
    uow: Backend, smtp: SmtpServer, with_key: bool
) -> None:
    tag = uuid.uuid4().hex[:6]
    engineer = await uow.user(
        "engineer", groups=("Выездные инженеры",), email=f"e-{tag}@naryad.test"
    )
    checker = await uow.user("checker", groups=("Выездные инженеры",), email=f"c-{tag}@naryad.test")
    cp = await uow.counterparty(f"Хлебница{tag}")
    created = await uow.create_task(
        engineer, template="field_visit", title=f"Хлебница{tag}: весы", counterparty_id=cp["id"]
    )
    tid = created.json()["id"]
    for step in ("accept", "depart", "arrive"):
        assert (
            await uow.http.post(f"/api/tasks/{tid}/{step}", headers=engineer["headers"])
        ).is_success
    headers = dict(engineer["headers"])
    if with_key:
        headers["Idempotency-Key"] = uuid.uuid4().hex
    refused = await uow.http.post(
        f"/api/tasks/{tid}/done", json={"completed_works": "  "}, headers=headers
    )
    assert refused.status_code == 422, refused.text
    db.configure_database(uow.url)
    assert not await Notification.exists().where(
        (Notification.task == tid) & (Notification.kind == "done_check")
    )
    await asyncio.sleep(1)
    assert _mails_to(smtp, checker["email"]) == []
