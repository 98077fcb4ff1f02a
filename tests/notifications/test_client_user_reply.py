"""R6: a client's reply reaches the employee who last wrote to them, or the assignee.

A reply by e-mail (a contact) always did; a reply by a client *user* (the client portal,
the client Telegram bot) reached only the in-app feed: no e-mail, Telegram or push went
to anyone. Both paths now name the same employee, and a client user who wrote last is
never taken for that employee."""

from __future__ import annotations

from typing import Any

import pytest
from naryad_harness import Backend

from server.notifications.tables import Notification

FIELD = ("Выездные инженеры",)


async def _post(backend: Backend, who: dict[str, Any], path: str, body: Any = None) -> Any:
    resp = await backend.http.post(path, json=body or {}, headers=who["headers"])
    assert resp.status_code in (200, 201), (path, resp.status_code, resp.text)
    return resp.json()


async def _told(task_id: int, kind: str) -> list[tuple[int, str]]:
    rows = await Notification.select(Notification.user, Notification.channel).where(
        (Notification.task == task_id) & (Notification.kind == kind)
    )
    return sorted((r["user"], r["channel"]) for r in rows)


@pytest.mark.sqlite
async def test_a_client_users_comment_tells_the_employee_who_wrote_last(backend: Backend) -> None:
    romashka = await backend.counterparty("Ромашка")
    office = await backend.user("office", email="office@naryad.test")
    engineer = await backend.user("engineer", groups=FIELD, email="eng@naryad.test")
    client = await backend.user(
        "client", counterparty_id=romashka["id"], email="client@romashka.test"
    )
    task = await _post(
        backend, client, "/api/tasks", {"template": "remote_support", "title": "Не печатает чек"}
    )
    tid = task["id"]
    await _post(backend, office, f"/api/tasks/{tid}/assign", {"user_id": engineer["id"]})

    # Nobody wrote to the client yet: the assignee hears of it.
    await _post(backend, client, f"/api/tasks/{tid}/comments", {"body": "Когда приедете?"})
    assert await _told(tid, "client_reply") == [(engineer["id"], "email")]

    # The office answered publicly: the office hears the next reply, the engineer does not.
    await _post(backend, office, f"/api/tasks/{tid}/comments", {"body": "Завтра", "public": True})
    await _post(backend, client, f"/api/tasks/{tid}/comments", {"body": "Спасибо"})
    assert await _told(tid, "client_reply") == sorted(
        [(engineer["id"], "email"), (office["id"], "email")]
    )
