"""The client portal (issue 18) over HTTP: requests, what clients see, sign-off, ratings
through the API and through the signed e-mail link, and the client Telegram bot."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any
from urllib.parse import urlsplit

import pytest
from naryad_harness import Backend

from server.channels import telegram
from server.notifications.tables import Notification
from server.portal import tokens
from server.tasks.tables import Task

SECRET = os.environ.get("NARYAD_SECRET_KEY") or "dev-insecure-secret-change-me"
pytestmark = pytest.mark.sqlite


async def _world(b: Backend) -> dict[str, Any]:
    """A chain (central office «Ромашка» with the restaurant «Лютик»), another company
    «Василёк», their client users, an office user, a remote and a field engineer."""
    romashka = await b.counterparty("Ромашка")
    lyutik = await b.counterparty("Лютик", parent_id=romashka["id"])
    vasilek = await b.counterparty("Василёк")
    return {
        "romashka": romashka,
        "lyutik": lyutik,
        "vasilek": vasilek,
        "central": await b.user(
            "client", counterparty_id=romashka["id"], email="boss@romashka.example"
        ),
        "restaurant": await b.user(
            "client", counterparty_id=lyutik["id"], email="chef@lyutik.example"
        ),
        "stranger": await b.user("client", counterparty_id=vasilek["id"]),
        "office": await b.user(
            "office", groups=("Удалённая техподдержка",), email="office@naryad.example"
        ),
        "remote": await b.user("engineer", groups=("Удалённая техподдержка",)),
        "field": await b.user("engineer", groups=("Выездные инженеры",)),
    }


async def _post(b: Backend, who: dict[str, Any], path: str, body: Any = None) -> Any:
    return await b.http.post(path, json=body or {}, headers=who["headers"])


async def _complete_remote(b: Backend, w: dict[str, Any], task_id: int) -> None:
    for action, body in (("accept", None), ("start", None), ("done", {"completed_works": "ok"})):
        resp = await _post(b, w["remote"], f"/api/tasks/{task_id}/{action}", body)
        assert resp.status_code == 200, (action, resp.text)
    assert (await b.http.get(f"/api/tasks/{task_id}", headers=w["office"]["headers"])).json()[
        "status"
    ] == "completed"


async def test_a_client_creates_a_request_for_its_company(backend: Backend) -> None:
    w = await _world(backend)
    resp = await backend.create_task(
        w["restaurant"], template="remote_support", title="не печатает чек", description="Касса 2"
    )
    assert resp.status_code == 201, resp.text
    task = resp.json()
    # R2: the counterparty is the client's and is put in front of the title.
    assert task["title"] == "Лютик: не печатает чек"
    assert task["counterparty"]["id"] == w["lyutik"]["id"]
    assert task["channel"] == "portal"
    assert task["requester"] == {
        "kind": "user",
        "id": w["restaurant"]["id"],
        "name": w["restaurant"]["full_name"],
    }
    assert task["status"] == "new" and task["assignee"] is None
    # A central office writes for a restaurant of its chain by naming it.
    resp = await backend.create_task(
        w["central"], template="field_visit", title="Лютик: сломался принтер"
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["counterparty"]["id"] == w["lyutik"]["id"]
    # the title already names it: nothing is added
    resp = await backend.create_task(w["central"], template="remote_support", title="Ромашка: VPN")
    assert resp.json()["title"] == "Ромашка: VPN"


async def test_client_requests_follow_r3_and_cannot_place_the_task(backend: Backend) -> None:
    w = await _world(backend)
    resp = await backend.create_task(w["restaurant"], template="accounting", title="акт сверки")
    assert resp.status_code == 422 and "R3" in resp.json()["detail"], resp.text
    assert "portal" in resp.json()["detail"]
    resp = await backend.create_task(
        w["restaurant"], template="remote_support", title="x", assignee_id=w["remote"]["id"]
    )
    assert resp.status_code == 403, resp.text
    resp = await backend.create_task(
        w["restaurant"], template="remote_support", title="x", counterparty_id=w["vasilek"]["id"]
    )
    assert resp.status_code == 403, resp.text
    # an admin opens the portal for repairs: PATCH the template's channels
    admin = await backend.user("admin")
    resp = await backend.http.patch(
        "/api/templates/repair", json={"channels": ["ui", "portal"]}, headers=admin["headers"]
    )
    assert resp.status_code == 200, resp.text
    resp = await backend.create_task(w["restaurant"], template="repair", title="сканер")
    assert resp.status_code == 201, resp.text
    codes = {
        t["code"]
        for t in (
            await backend.http.get("/api/portal/templates", headers=w["restaurant"]["headers"])
        ).json()
    }
    assert codes == {"remote_support", "field_visit", "repair"}


async def test_what_clients_see(backend: Backend) -> None:
    w = await _world(backend)
    office = w["office"]
    ids = {}
    for key, cp, template in (
        ("lyutik", "lyutik", "remote_support"),
        ("romashka", "romashka", "remote_support"),
        ("vasilek", "vasilek", "remote_support"),
        ("lyutik_accounting", "lyutik", "accounting"),
    ):
        name = w[cp]["name"]
        resp = await backend.create_task(
            office, template=template, title=f"{name}: дело", counterparty_id=w[cp]["id"]
        )
        assert resp.status_code == 201, resp.text
        ids[key] = resp.json()["id"]

    async def visible(who: str) -> set[int]:
        resp = await backend.http.get("/api/tasks", headers=w[who]["headers"])
        return {t["id"] for t in resp.json()["items"]}

    # the central office sees its chain's restaurants; accounting stays with the office
    assert await visible("central") == {ids["lyutik"], ids["romashka"]}
    assert await visible("restaurant") == {ids["lyutik"]}
    assert await visible("stranger") == {ids["vasilek"]}
    for who, task in (("restaurant", "lyutik_accounting"), ("restaurant", "romashka")):
        resp = await backend.http.get(f"/api/tasks/{ids[task]}", headers=w[who]["headers"])
        assert resp.status_code == 404
    # the engineer's name and public comments, never internal ones
    tid = ids["lyutik"]
    assert (await _post(backend, w["remote"], f"/api/tasks/{tid}/accept")).status_code == 200
    await _post(backend, w["remote"], f"/api/tasks/{tid}/comments", {"body": "внутр."})
    await _post(
        backend, w["remote"], f"/api/tasks/{tid}/comments", {"body": "Едем", "public": True}
    )
    task = (await backend.http.get(f"/api/tasks/{tid}", headers=w["restaurant"]["headers"])).json()
    assert task["assignee"]["full_name"] == w["remote"]["full_name"]
    comments = (
        await backend.http.get(f"/api/tasks/{tid}/comments", headers=w["restaurant"]["headers"])
    ).json()
    assert [c["body"] for c in comments] == ["Едем"]
    # a client adds a photo to its own request
    resp = await _post(
        backend,
        w["restaurant"],
        f"/api/tasks/{tid}/attachments",
        {
            "filename": "check.png",
            "content_type": "image/png",
            "data_base64": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
            "gAF/QualzQAAAABJRU5ErkJggg==",
        },
    )
    assert resp.status_code == 201, resp.text
    # prices only once the office has published (locked) the specification
    resp = await backend.http.get(
        f"/api/tasks/{tid}/specification", headers=w["restaurant"]["headers"]
    )
    assert resp.status_code == 403, resp.text


async def test_rating_in_the_portal(backend: Backend) -> None:
    w = await _world(backend)
    task = (
        await backend.create_task(w["restaurant"], template="remote_support", title="касса")
    ).json()
    tid = task["id"]
    resp = await _post(backend, w["restaurant"], f"/api/tasks/{tid}/rating", {"score": 5})
    assert resp.status_code == 409, resp.text  # not completed yet
    await _complete_remote(backend, w, tid)
    resp = await _post(backend, w["restaurant"], f"/api/tasks/{tid}/rating", {"score": 6})
    assert resp.status_code == 422
    resp = await _post(backend, w["stranger"], f"/api/tasks/{tid}/rating", {"score": 5})
    assert resp.status_code == 403, resp.text
    resp = await _post(backend, w["office"], f"/api/tasks/{tid}/rating", {"score": 5})
    assert resp.status_code == 403, resp.text
    resp = await _post(
        backend, w["restaurant"], f"/api/tasks/{tid}/rating", {"score": 2, "comment": "долго"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["score"] == 2
    # a low rating tells the group's office staff
    low = await Notification.select(Notification.user).where(
        (Notification.task == tid) & (Notification.kind == "low_rating")
    )
    assert {r["user"] for r in low} == {w["office"]["id"]}
    # a second rating changes it; the central office may rate its restaurant's task
    resp = await _post(backend, w["central"], f"/api/tasks/{tid}/rating", {"score": 4})
    assert resp.status_code == 200
    seen = (await backend.http.get(f"/api/tasks/{tid}", headers=w["office"]["headers"])).json()
    assert seen["rating"]["score"] == 4 and seen["rating"]["comment"] == "долго"
    kinds = [
        e["kind"]
        for e in (
            await backend.http.get(f"/api/tasks/{tid}/history", headers=w["office"]["headers"])
        ).json()
    ]
    assert kinds.count("rated") == 1 and kinds.count("rating_changed") == 1
    dash = await backend.http.get("/api/dashboard", headers=w["office"]["headers"])
    assert dash.status_code == 200, dash.text
    csat = dash.json()["csat"]
    assert csat["ratings"] == 1 and csat["average"] == 4
    assert csat["by_engineer"][0]["name"] == w["remote"]["full_name"]
    assert csat["by_counterparty"][0]["name"] == "Лютик"


async def test_rating_from_the_email_link(backend: Backend) -> None:
    w = await _world(backend)
    task = (
        await backend.create_task(w["restaurant"], template="remote_support", title="касса")
    ).json()
    other = (
        await backend.create_task(w["restaurant"], template="remote_support", title="сеть")
    ).json()
    await _complete_remote(backend, w, task["id"])
    mail = (
        await Notification.select(Notification.context)
        .where((Notification.task == task["id"]) & (Notification.kind == "completed"))
        .output(load_json=True)
        .first()
    )
    assert mail is not None
    url = urlsplit(mail["context"]["rate_url"])
    path = url.path
    assert path.startswith(f"/rate/{task['id']}/")
    # one click, no login
    page = await backend.http.get(f"{path}?score=5")
    assert page.status_code == 200, page.text
    assert "text/html" in page.headers["content-type"]
    assert "<script" not in page.text and "5 из 5" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    # a second click within 7 days changes it; the comment form follows
    assert (await backend.http.get(f"{path}?score=3")).status_code == 200
    form = await backend.http.post(path, data={"score": "3", "comment": "Спасибо, но долго"})
    assert form.status_code == 200, form.text
    seen = (
        await backend.http.get(f"/api/tasks/{task['id']}", headers=w["office"]["headers"])
    ).json()
    assert seen["rating"]["score"] == 3 and seen["rating"]["comment"] == "Спасибо, но долго"
    assert seen["rating"]["by"] == w["restaurant"]["full_name"]
    token = path.rsplit("/", 1)[1]
    # forged, replayed for another task, expired: readable pages, nothing recorded
    payload, _, signature = token.partition(".")
    forged = f"{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    resp = await backend.http.get(f"/rate/{task['id']}/{forged}?score=1")
    assert resp.status_code == 401 and "text/html" in resp.headers["content-type"]
    resp = await backend.http.get(f"/rate/{other['id']}/{token}?score=1")
    assert resp.status_code == 401
    old = tokens.issue(
        SECRET,
        task["id"],
        user_id=w["restaurant"]["id"],
        now=dt.datetime.now(dt.UTC) - dt.timedelta(days=8),
    )
    resp = await backend.http.get(f"/rate/{task['id']}/{old}?score=1")
    assert resp.status_code == 410 and "7" in resp.text
    resp = await backend.http.get(f"/rate/{task['id']}/{token}?score=9")
    assert resp.status_code == 422
    seen = (
        await backend.http.get(f"/api/tasks/{task['id']}", headers=w["office"]["headers"])
    ).json()
    assert seen["rating"]["score"] == 3


async def _visit_done(backend: Backend, w: dict[str, Any]) -> int:
    site = await backend.site(w["lyutik"]["id"], "Лютик на Арбате")
    resp = await backend.create_task(
        w["restaurant"], template="field_visit", title="принтер", site_id=site["id"]
    )
    assert resp.status_code == 201, resp.text
    tid = resp.json()["id"]
    for action, body in (
        ("accept", None),
        ("depart", None),
        ("arrive", {}),
        ("done", {"completed_works": "заменили принтер"}),
    ):
        resp = await _post(backend, w["field"], f"/api/tasks/{tid}/{action}", body)
        assert resp.status_code == 200, (action, resp.text)
    return int(tid)


async def test_sign_off_accept_and_dispute(backend: Backend) -> None:
    w = await _world(backend)
    tid = await _visit_done(backend, w)
    resp = await _post(
        backend, w["restaurant"], f"/api/tasks/{tid}/sign-off", {"decision": "dispute"}
    )
    assert resp.status_code == 422  # a dispute says what is wrong
    resp = await _post(
        backend,
        w["restaurant"],
        f"/api/tasks/{tid}/sign-off",
        {"decision": "dispute", "comment": "Принтер снова не печатает"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["decision"] == "disputed"
    notices = await Notification.select(Notification.user).where(
        (Notification.task == tid) & (Notification.kind == "client_disputed")
    )
    assert notices, "the office hears of a dispute"
    resp = await _post(
        backend, w["restaurant"], f"/api/tasks/{tid}/sign-off", {"decision": "accept"}
    )
    assert resp.status_code == 200 and resp.json()["decision"] == "accepted"
    history = (
        await backend.http.get(f"/api/tasks/{tid}/history", headers=w["restaurant"]["headers"])
    ).json()
    kinds = [e["kind"] for e in history]
    assert "client_disputed" in kinds and "client_accepted" in kinds
    got = await backend.http.get(f"/api/tasks/{tid}/sign-off", headers=w["office"]["headers"])
    assert got.json()["decision"] == "accepted"
    # not a visit: nothing to sign off
    remote = (
        await backend.create_task(w["restaurant"], template="remote_support", title="x")
    ).json()
    resp = await _post(
        backend, w["restaurant"], f"/api/tasks/{remote['id']}/sign-off", {"decision": "accept"}
    )
    assert resp.status_code == 409


async def test_a_client_writes_to_the_bot_and_hears_replies_there(backend: Backend) -> None:
    w = await _world(backend)
    client = await backend.user(
        "client", counterparty_id=w["lyutik"]["id"], telegram_user_id=777001
    )
    update = {
        "update_id": 9_100_001,
        "message": {
            "message_id": 5,
            "from": {"id": 777001, "is_bot": False, "first_name": "Шеф"},
            "chat": {"id": 777001, "type": "private"},
            "date": 1764000000,
            "text": "Не работает терминал\nна кассе 2",
        },
    }
    assert await telegram.handle_update(update) == "task_created"
    row = await Task.select().where(Task.requester_user == client["id"]).first()
    assert row is not None
    assert row["channel"] == "telegram" and row["title"] == "Лютик: Не работает терминал"
    assert row["counterparty"] == w["lyutik"]["id"]
    # an unknown sender's private message is not a task
    update["update_id"] += 1
    update["message"]["from"]["id"] = 777999
    assert await telegram.handle_update(update) == "ignored"
    # a public reply reaches the client in Telegram
    resp = await _post(
        backend,
        w["office"],
        f"/api/tasks/{row['id']}/comments",
        {"body": "Смотрим", "public": True},
    )
    assert resp.status_code == 201, resp.text
    sent = await Notification.select(Notification.channel, Notification.address).where(
        (Notification.task == row["id"]) & (Notification.kind == "client_comment")
    )
    assert {"channel": "telegram", "address": "777001"} in sent
