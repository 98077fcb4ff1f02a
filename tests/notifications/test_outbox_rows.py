"""The outbox rows a create writes, on both engines alike (issue 21).

PostgreSQL writes every row of one event in one INSERT, its ids drawn from the sequence
so each e-mail's Message-ID goes in with the row; SQLite inserts row by row and stamps
the Message-ID after. Both must leave the same rows: one per recipient × channel the
recipient keeps, in the order of the group's members and of e-mail, Telegram, push; an
e-mail's Message-ID as message_id_for() makes it, none on other channels."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from naryad_harness import Backend

from server.notifications import service as notifications
from server.notifications.schemas import PreferencesIn, PushKeys, PushSubscriptionIn
from server.notifications.tables import Notification

FIELD = ("Выездные инженеры",)


@pytest.mark.sqlite
async def test_a_create_writes_one_row_per_recipient_and_channel(backend: Backend) -> None:
    office = await backend.user("office")
    both = await backend.user(
        "engineer", groups=FIELD, email="both@naryad.test", telegram_user_id=7001
    )
    telegram_only = await backend.user(
        "engineer", groups=FIELD, email="tg@naryad.test", telegram_user_id=7002
    )
    await notifications.set_preferences(telegram_only["id"], PreferencesIn(["telegram"]))
    pushed = await backend.user("engineer", groups=FIELD, email="push@naryad.test")
    sub = await notifications.add_push_subscription(
        pushed["id"],
        PushSubscriptionIn("https://push.example/abc", PushKeys(p256dh="k" * 20, auth="a" * 10)),
    )
    await backend.user("checker", groups=FIELD, email="checker@naryad.test")  # not an engineer
    await backend.counterparty("Ромашка")

    resp = await backend.create_task(office, template="field_visit", title="Ромашка: касса")
    assert resp.status_code == 201, resp.text
    task = resp.json()

    rows: list[dict[str, Any]] = (
        await Notification.select()
        .where(Notification.task == task["id"])
        .order_by(Notification.id)
        .output(load_json=True)
    )
    got = [(r["user"], r["channel"], r["address"], r["push_subscription"]) for r in rows]
    assert got == [
        (both["id"], "email", "both@naryad.test", None),
        (both["id"], "telegram", "7001", None),
        (telegram_only["id"], "telegram", "7002", None),
        (pushed["id"], "email", "push@naryad.test", None),
        (pushed["id"], "push", "https://push.example/abc", sub.id),
    ]
    created = rows[0]["created_at"]
    for r in rows:
        # Delivery starts right after the commit (the server's own jobs): a row is either as
        # the create wrote it or already taken by a sender; what the create wrote is kept.
        if r["status"] == "pending" and r["attempts"] == 0 and r["claimed_at"] is None:
            assert (r["error"], r["sent_at"]) == ("", None)
            assert r["next_attempt_at"] == created
        else:
            assert r["status"] in ("sending", "sent", "failed", "pending"), r["status"]
            assert r["attempts"] > 0 or r["claimed_at"] is not None
        assert r["kind"] == "task_new"
        assert (r["contact"], r["in_reply_to"], r["thread_references"]) == (None, None, "")
        assert r["language"] == "ru"
        assert r["created_at"] == created
        assert r["context"]["task_id"] == task["id"]
        assert r["context"]["number"] == task["number"]
        assert r["context"]["actor"] == office["full_name"]
        if r["channel"] != "email":
            assert r["message_id"] is None
            continue
        domain = r["message_id"].rsplit("@", 1)[1].rstrip(">")
        at = created.astimezone(dt.UTC)
        assert r["message_id"] == notifications.message_id_for(r["id"], at, domain)
