"""Notifications end to end in demo mode (no Redis: jobs run inside the API process).

A real uvicorn server on its own SQLite database talks to a real SMTP server (aiosmtpd),
a local Telegram Bot API and a local Web Push service; the test reads what they accepted."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Any

import http_ece
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from naryad_harness import Backend, Server
from notify_fakes import HttpRecorder, SmtpServer, eventually

from server import db
from server.clients import service as clients
from server.clients.schemas import ContactIn
from server.notifications import service as notifications
from server.notifications.delivery import REPLY_SEPARATOR, Delivery
from server.notifications.tables import Notification, PushSubscription
from server.settings import Settings

FIELD = ("Выездные инженеры",)
REMOTE = ("Удалённая техподдержка",)
TOKEN = "123:test-token"
VAPID_PRIVATE = "TJRrTQ5YBQ0jELO6nHBjlYNeIVxSnxNUwsI-tLwPel4"
MY_TABLES = ("notifications", "push_subscriptions", "notification_preferences")


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def http_fakes() -> Iterator[HttpRecorder]:
    recorder = HttpRecorder()
    yield recorder
    recorder.stop()


def _env(smtp: SmtpServer, fakes: HttpRecorder) -> dict[str, str]:
    return {
        "NARYAD_SMTP_HOST": "127.0.0.1",
        "NARYAD_SMTP_PORT": str(smtp.port),
        "NARYAD_SMTP_FROM": "naryad@naryad.test",
        "NARYAD_SUPPORT_ADDRESS": "support@naryad.test",
        "NARYAD_MAIL_DOMAIN": "naryad.test",
        "NARYAD_TELEGRAM_BOT_TOKEN": TOKEN,
        "NARYAD_TELEGRAM_API_BASE": fakes.base_url,
        "NARYAD_VAPID_PRIVATE_KEY": VAPID_PRIVATE,
        "NARYAD_VAPID_SUBJECT": "mailto:admin@naryad.test",
        "NARYAD_NOTIFY_SWEEP_S": "1",
        "NARYAD_NOTIFY_LEASE_S": "10",
    }


@pytest.fixture(scope="module")
async def demo_server(
    tmp_path_factory: pytest.TempPathFactory, smtp: SmtpServer, http_fakes: HttpRecorder
) -> AsyncIterator[tuple[str, Server]]:
    # Its own database, so no other test server's sweep delivers these rows elsewhere.
    url = f"sqlite:///{tmp_path_factory.mktemp('notify') / 'naryad.db'}"
    db.configure_database(url)
    await db.migrate()
    server = await asyncio.to_thread(Server, url, 1, _env(smtp, http_fakes))
    yield url, server
    server.stop()


@pytest.fixture
async def nb(demo_server: tuple[str, Server]) -> AsyncIterator[Backend]:
    from naryad_harness import DATA_TABLES, SEEDED_GROUPS

    url, server = demo_server
    engine = db.configure_database(url)
    for table in DATA_TABLES:
        await engine.run_ddl(f"DELETE FROM {table}")
    placeholders = ", ".join(f"'{g}'" for g in SEEDED_GROUPS)
    await engine.run_ddl(f"DELETE FROM work_groups WHERE name NOT IN ({placeholders})")
    b = Backend("sqlite", url, server)
    yield b
    await b.http.aclose()


def _plain(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def _html(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


async def test_public_comments_reach_the_client_threaded_and_internal_ones_never(
    nb: Backend, smtp: SmtpServer
) -> None:
    office = await nb.user("office", surname="Смирнова")
    cp = await nb.counterparty("Ромашка")
    contact = await clients.create_contact(
        ContactIn(name="Иван Клиентов", email="ivan@romashka.test", counterparty_id=cp["id"])
    )
    resp = await nb.create_task(
        office,
        template="remote_support",
        title="Ромашка: не печатает чек",
        requester_contact_id=contact.id,
        group_id=None,
    )
    assert resp.status_code == 201, resp.text
    task = resp.json()
    number = task["number"]
    path = f"/api/tasks/{task['id']}/comments"
    internal = await nb.http.post(
        path,
        json={"body": "СЕКРЕТ: клиент должен нам денег", "public": False},
        headers=office["headers"],
    )
    assert internal.status_code == 201
    first = await nb.http.post(
        path,
        json={"body": "Здравствуйте! Перезагрузите кассу.", "public": True},
        headers=office["headers"],
    )
    assert first.status_code == 201
    await eventually(lambda: smtp.sink.by_subject(f"[#{number}]"), what="first client mail")
    second = await nb.http.post(
        path, json={"body": "Помогло ли?", "public": True}, headers=office["headers"]
    )
    assert second.status_code == 201
    mails = await eventually(
        lambda: (
            len(smtp.sink.by_subject(f"[#{number}]")) >= 2 and smtp.sink.by_subject(f"[#{number}]")
        ),
        what="second client mail",
    )
    await asyncio.sleep(0.3)  # nothing more may come: the internal comment never leaves
    mails = smtp.sink.by_subject(f"[#{number}]")
    assert len(mails) == 2
    one, two = sorted(mails, key=lambda m: "Помогло" in _plain(m))
    for m in (one, two):
        assert m["To"] == "ivan@romashka.test"
        name, address = parseaddr(str(m["From"]))
        assert (name, address) == (office["full_name"], "support@naryad.test")
        # The subject went out RFC 2047-encoded and decodes back to Cyrillic.
        assert str(m["Subject"]) == f"[#{number}] Ромашка: не печатает чек"
        assert REPLY_SEPARATOR in _plain(m)
        assert "СЕКРЕТ" not in m.as_string() and "СЕКРЕТ" not in _plain(m) + _html(m)
        assert m["Message-ID"].endswith("@naryad.test>")
    raw = one.as_bytes()
    assert b"=?utf-8?" in raw.lower() or b"=?UTF-8?" in raw
    assert "Перезагрузите кассу" in _plain(one) and "Перезагрузите кассу" in _html(one)
    assert one["In-Reply-To"] is None
    assert two["In-Reply-To"] == one["Message-ID"]
    assert one["Message-ID"] in str(two["References"])
    rows = await Notification.select(Notification.message_id).where(Notification.task == task["id"])
    assert {r["message_id"] for r in rows} == {one["Message-ID"], two["Message-ID"]}


async def test_workflow_events_reach_engineers_and_checkers_by_their_channels(
    nb: Backend, smtp: SmtpServer, http_fakes: HttpRecorder
) -> None:
    office = await nb.user("office")
    eng1 = await nb.user(
        "engineer", groups=FIELD, telegram_user_id=5001, language="en", login="petrov"
    )
    eng2 = await nb.user("engineer", groups=FIELD, telegram_user_id=5002, email="eng2@naryad.test")
    checker = await nb.user("checker", groups=FIELD, email="checker@naryad.test")
    outsider = await nb.user("engineer", groups=REMOTE, telegram_user_id=5003)
    await nb.counterparty("Ромашка")
    # eng2 wants Telegram only, although the profile has an e-mail address.
    resp = await nb.http.put(
        "/api/me/notifications",
        json={"notification_channels": ["telegram"]},
        headers=eng2["headers"],
    )
    assert resp.status_code == 200 and resp.json() == {"notification_channels": ["telegram"]}
    got = await nb.http.get("/api/me/notifications", headers=eng1["headers"])
    assert got.json() == {"notification_channels": ["email", "telegram", "push"]}

    resp = await nb.create_task(office, template="field_visit", title="Ромашка: касса")
    task = resp.json()
    n, tid = task["number"], task["id"]

    def telegram_to(chat: int, fragment: str) -> list[dict[str, Any]]:
        return [m for m in http_fakes.telegram if m["chat_id"] == chat and fragment in m["text"]]

    # New task in the queue → every engineer of the group, in their language.
    await eventually(lambda: telegram_to(5001, "New task in your queue"), what="task_new en")
    await eventually(lambda: telegram_to(5002, "Новая задача в очереди"), what="task_new ru")
    assert all(m["token"] == TOKEN for m in http_fakes.telegram)

    # Redirect → the new assignee.
    r = await nb.http.post(
        f"/api/tasks/{tid}/redirect", json={"user_id": eng2["id"]}, headers=office["headers"]
    )
    assert r.status_code == 200, r.text
    await eventually(lambda: telegram_to(5002, f"[#{n}] Вам назначена задача"), what="assigned")
    for step, body in (
        ("depart", None),
        ("arrive", {}),
        ("done", {"completed_works": "Замена ФН"}),
    ):
        r = await nb.http.post(f"/api/tasks/{tid}/{step}", json=body, headers=eng2["headers"])
        assert r.status_code == 200, r.text
    # Done, awaiting check → the checkers of the group (by e-mail here).
    mail = await eventually(lambda: smtp.sink.by_subject(f"[#{n}] Ждёт проверки"), what="check")
    assert mail[0]["To"] == "checker@naryad.test"
    assert mail[0]["From"] == "naryad@naryad.test"
    # Returned → the assignee, with the reason.
    r = await nb.http.post(
        f"/api/tasks/{tid}/return", json={"reason": "нет фото акта"}, headers=checker["headers"]
    )
    assert r.status_code == 200, r.text
    returned = await eventually(lambda: telegram_to(5002, "возвращена"), what="returned")
    assert "нет фото акта" in returned[0]["text"]
    # An internal comment with a mention → the mentioned engineer only.
    r = await nb.http.post(
        f"/api/tasks/{tid}/comments",
        json={"body": "@petrov глянь, пожалуйста", "public": False},
        headers=eng2["headers"],
    )
    assert r.status_code == 201
    mention = await eventually(lambda: telegram_to(5001, "mentioned you"), what="mention")
    assert "глянь" in mention[0]["text"]

    await asyncio.sleep(0.5)
    assert not [m for m in http_fakes.telegram if m["chat_id"] == outsider["telegram_user_id"]]
    assert not smtp.sink.by_subject(f"[#{n}] Вам назначена")  # eng2 chose Telegram only
    rows = await Notification.select(Notification.status).where(Notification.task == tid)
    assert rows and {r["status"] for r in rows} == {"sent"}


async def test_permanent_failures_are_kept_and_listed_for_admins(
    nb: Backend, http_fakes: HttpRecorder
) -> None:
    admin = await nb.user("admin")
    office = await nb.user("office")
    blocked = await nb.user("engineer", groups=FIELD, telegram_user_id=403)
    await nb.counterparty("Ромашка")
    resp = await nb.create_task(
        office, template="field_visit", title="Ромашка: сеть", assignee_id=blocked["id"]
    )
    assert resp.status_code == 201

    async def failed() -> list[dict[str, Any]]:
        r = await nb.http.get("/api/notifications?status=failed", headers=admin["headers"])
        assert r.status_code == 200, r.text
        return list(r.json())

    rows = await eventually(failed, what="failed notification")
    assert rows[0]["channel"] == "telegram" and rows[0]["user_id"] == blocked["id"]
    assert "403" in rows[0]["error"] and rows[0]["attempts"] == 1
    r = await nb.http.get("/api/notifications?status=failed", headers=office["headers"])
    assert r.status_code == 403


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def test_web_push_is_encrypted_for_the_subscription_and_signed_with_vapid(
    nb: Backend, http_fakes: HttpRecorder
) -> None:
    office = await nb.user("office")
    eng = await nb.user("engineer", groups=FIELD)
    await nb.counterparty("Ромашка")
    browser_key = ec.generate_private_key(ec.SECP256R1())
    public = browser_key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    auth = os.urandom(16)
    endpoint = f"{http_fakes.base_url}/push/eng-{eng['id']}"
    sub = {"endpoint": endpoint, "keys": {"p256dh": _b64(public), "auth": _b64(auth)}}
    r = await nb.http.post("/api/push/subscriptions", json=sub, headers=eng["headers"])
    assert r.status_code == 201, r.text
    gone = {
        "endpoint": f"{http_fakes.base_url}/push/gone-{eng['id']}",
        "keys": {"p256dh": _b64(public), "auth": _b64(auth)},
    }
    r = await nb.http.post("/api/push/subscriptions", json=gone, headers=eng["headers"])
    assert r.status_code == 201
    await nb.http.put(
        "/api/me/notifications", json={"notification_channels": ["push"]}, headers=eng["headers"]
    )
    resp = await nb.create_task(
        office, template="field_visit", title="Ромашка: принтер", assignee_id=eng["id"]
    )
    number = resp.json()["number"]
    pushes = await eventually(
        lambda: [p for p in http_fakes.pushes if p["name"] == f"eng-{eng['id']}"], what="push"
    )
    push = pushes[0]
    assert push["headers"]["Content-Encoding"] == "aes128gcm"
    plain = http_ece.decrypt(
        push["body"], private_key=browser_key, auth_secret=auth, version="aes128gcm"
    )
    payload = json.loads(plain)
    assert payload["title"] == f"[#{number}] Вам назначена задача: Ромашка: принтер"
    assert payload["url"].endswith(f"/#/tasks/{resp.json()['id']}")
    # VAPID: "vapid t=<JWT>, k=<server public key>"; the JWT verifies with that key.
    scheme, _, params = push["headers"]["Authorization"].partition(" ")
    assert scheme == "vapid"
    fields = dict(p.strip().split("=", 1) for p in params.split(","))
    vapid_public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _unb64(fields["k"]))
    claims = jwt.decode(
        fields["t"], vapid_public, algorithms=["ES256"], audience=http_fakes.base_url
    )
    assert claims["sub"] == "mailto:admin@naryad.test"
    # The expired subscription (410) is removed and its row kept as failed.
    await eventually(_gone_removed(gone["endpoint"]), what="expired subscription removed")


def _gone_removed(endpoint: str) -> Any:
    async def check() -> bool:
        return not await PushSubscription.exists().where(PushSubscription.endpoint == endpoint)

    return check


async def test_rolled_back_change_notifies_nobody_and_duplicates_send_once(
    nb: Backend, smtp: SmtpServer
) -> None:
    office = await nb.user("office")
    eng = await nb.user("engineer", groups=FIELD, email="dup@naryad.test")
    await nb.counterparty("Ромашка")
    resp = await nb.create_task(office, template="field_visit", title="Ромашка: весы")
    tid = resp.json()["id"]
    await eventually(lambda: smtp.sink.by_subject(f"[#{resp.json()['number']}]"), what="mail")

    class Boom(Exception):
        pass

    before = await Notification.count()
    with pytest.raises(Boom):
        async with db.transaction():
            await notifications.notify(tid, "assigned", office["id"], {"assignee_id": eng["id"]})
            raise Boom
    assert await Notification.count() == before

    # A committed row delivered by five concurrent jobs (duplicates, retries) is sent once.
    async with db.transaction():
        ids = await notifications.notify(tid, "assigned", office["id"], {"assignee_id": eng["id"]})
    assert len(ids) == 1
    delivery = Delivery(
        Settings.from_env(
            {
                "NARYAD_SMTP_HOST": "127.0.0.1",
                "NARYAD_SMTP_PORT": str(smtp.port),
                "NARYAD_MAIL_DOMAIN": "naryad.test",
            }
        )
    )
    try:
        outcomes = await asyncio.gather(*(delivery.deliver(ids[0]) for _ in range(5)))
        # The server's own sweep may win the claim; either way at most one of us sends.
        assert outcomes.count("sent") <= 1 and set(outcomes) <= {"sent", "skipped"}
        assert await delivery.deliver(ids[0]) == "skipped"
    finally:
        await delivery.close()
    # Written with the row (every e-mail's Message-ID is fixed when it is queued).
    row = await Notification.select(Notification.message_id).where(Notification.id == ids[0])
    message_id = row[0]["message_id"]
    assert message_id
    await eventually(
        lambda: [m for m in smtp.sink.accepted if m["Message-ID"] == message_id], what="dup mail"
    )
    await asyncio.sleep(1.5)  # a sweep period: nothing re-sends it
    assert len([m for m in smtp.sink.accepted if m["Message-ID"] == message_id]) == 1
