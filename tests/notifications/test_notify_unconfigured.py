"""A channel nobody configured is skipped, not retried (issue #11).

The demo runs without an SMTP server, a Telegram bot or VAPID keys. Its notifications must
end `skipped` with the reason at once — no attempts, no backoff, no WARNING per retry — and
admins can list them with `GET /api/notifications?status=skipped`."""

from __future__ import annotations

import asyncio
import base64
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from naryad_harness import DATA_TABLES, SEEDED_GROUPS, Backend, Server
from notify_fakes import eventually

from server import db
from server.notifications.tables import Notification
from server.settings import Settings

FIELD = ("Выездные инженеры",)
REASONS = {
    "email": "not configured: NARYAD_SMTP_HOST is unset",
    "telegram": "not configured: NARYAD_TELEGRAM_BOT_TOKEN is unset",
    "push": "not configured: NARYAD_VAPID_PRIVATE_KEY is unset",
}
# Empty means unset, whatever the shell running the tests has exported.
UNCONFIGURED = {
    "NARYAD_SMTP_HOST": "",
    "NARYAD_TELEGRAM_BOT_TOKEN": "",
    "NARYAD_VAPID_PRIVATE_KEY": "",
    "NARYAD_VAPID_PUBLIC_KEY": "",
    "NARYAD_MAIL_DOMAIN": "naryad.test",
    "NARYAD_NOTIFY_SWEEP_S": "0.5",
    "NARYAD_LOG_LEVEL": "INFO",
}


def test_smtp_host_is_unset_by_default() -> None:
    assert Settings.from_env({}).smtp_host is None
    assert Settings.from_env({"NARYAD_SMTP_HOST": ""}).smtp_host is None
    assert Settings.from_env({"NARYAD_SMTP_HOST": "mail.example"}).smtp_host == "mail.example"


@pytest.fixture(scope="module")
async def bare_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[str, Server]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('unconfigured') / 'naryad.db'}"
    db.configure_database(url)
    await db.migrate()
    server = await asyncio.to_thread(Server, url, 1, UNCONFIGURED)
    yield url, server
    server.stop()


@pytest.fixture
async def ub(bare_server: tuple[str, Server]) -> AsyncIterator[Backend]:
    url, server = bare_server
    engine = db.configure_database(url)
    for table in DATA_TABLES:
        await engine.run_ddl(f"DELETE FROM {table}")
    placeholders = ", ".join(f"'{g}'" for g in SEEDED_GROUPS)
    await engine.run_ddl(f"DELETE FROM work_groups WHERE name NOT IN ({placeholders})")
    b = Backend("sqlite", url, server)
    yield b
    await b.http.aclose()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def _rows(task_id: int) -> list[dict[str, Any]]:
    return list(
        await Notification.select(
            Notification.id,
            Notification.channel,
            Notification.status,
            Notification.attempts,
            Notification.error,
        ).where(Notification.task == task_id)
    )


async def test_unconfigured_channels_end_skipped_with_the_reason_and_are_never_retried(
    ub: Backend,
) -> None:
    admin = await ub.user("admin")
    office = await ub.user("office")
    eng = await ub.user(
        "engineer", groups=FIELD, email="eng@naryad.test", telegram_user_id=7001, login="skipme"
    )
    sub = {
        "endpoint": "https://push.invalid/endpoint-1",
        "keys": {"p256dh": _b64(os.urandom(65)), "auth": _b64(os.urandom(16))},
    }
    r = await ub.http.post("/api/push/subscriptions", json=sub, headers=eng["headers"])
    assert r.status_code == 201, r.text
    await ub.counterparty("Ромашка")
    resp = await ub.create_task(
        office, template="field_visit", title="Ромашка: касса", assignee_id=eng["id"]
    )
    assert resp.status_code == 201, resp.text
    tid = resp.json()["id"]

    async def settled() -> list[dict[str, Any]]:
        rows = await _rows(tid)
        done = rows and all(r["status"] not in ("pending", "sending") for r in rows)
        return rows if done else []

    rows = await eventually(settled, timeout=2.0, what="notifications settled within 2 s")
    assert sorted(r["channel"] for r in rows) == ["email", "push", "telegram"]
    for row in rows:
        assert row["status"] == "skipped", row
        assert row["error"] == REASONS[row["channel"]]
        assert row["attempts"] == 0

    # Several sweep periods later nothing was retried.
    await asyncio.sleep(1.5)
    assert await _rows(tid) == rows

    listed = await ub.http.get("/api/notifications?status=skipped", headers=admin["headers"])
    assert listed.status_code == 200, listed.text
    mine = [n for n in listed.json() if n["task_id"] == tid]
    assert sorted(n["channel"] for n in mine) == ["email", "push", "telegram"]
    assert all(n["status"] == "skipped" and n["error"].startswith("not configured") for n in mine)
    forbidden = await ub.http.get("/api/notifications?status=skipped", headers=office["headers"])
    assert forbidden.status_code == 403

    # Logged once per row, at INFO: nothing for an operator to act on in the demo.
    log = await asyncio.to_thread(Path(ub.server.log.name).read_text, encoding="utf-8")
    for row in rows:
        mark = re.compile(rf"\bid={row['id']}\b")
        lines = [ln for ln in log.splitlines() if "not configured" in ln and mark.search(ln)]
        assert len(lines) == 1, lines
        assert "[info" in lines[0], lines[0]
    assert "retried" not in log and "[warning" not in log and "[error" not in log
