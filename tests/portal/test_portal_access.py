"""Every endpoint the portal and the knowledge base add, called by a client of another
counterparty: not one answers 2xx (issue 18). One table, one loop."""

from __future__ import annotations

from typing import Any

from naryad_harness import Backend

from server.notifications.tables import Notification


async def test_clients_of_another_counterparty_get_no_2xx(backend: Backend) -> None:
    mine = await backend.counterparty("Ромашка")
    other = await backend.counterparty("Василёк")
    owner = await backend.user("client", counterparty_id=mine["id"], email="c@romashka.example")
    stranger = await backend.user("client", counterparty_id=other["id"])
    office = await backend.user("office")
    engineer = await backend.user("engineer", groups=("Удалённая техподдержка",))
    field = await backend.user("engineer", groups=("Выездные инженеры",))
    site = await backend.site(mine["id"])
    remote = (
        await backend.create_task(owner, template="remote_support", title="не печатает")
    ).json()
    visit = (
        await backend.create_task(
            owner, template="field_visit", title="принтер", site_id=site["id"]
        )
    ).json()
    for action in ("accept", "start", "done"):
        resp = await backend.http.post(
            f"/api/tasks/{remote['id']}/{action}", json={}, headers=engineer["headers"]
        )
        assert resp.status_code == 200, (action, resp.text)
    for action in ("accept", "depart", "arrive", "done"):
        body = {"completed_works": "x"} if action == "done" else {}
        resp = await backend.http.post(
            f"/api/tasks/{visit['id']}/{action}", json=body, headers=field["headers"]
        )
        assert resp.status_code == 200, (action, resp.text)
    internal = (
        await backend.http.post(
            "/api/kb/articles", json={"title": "Пароли", "body": "x"}, headers=office["headers"]
        )
    ).json()
    mail = (
        await Notification.select(Notification.context)
        .where((Notification.task == remote["id"]) & (Notification.kind == "completed"))
        .output(load_json=True)
        .first()
    )
    assert mail is not None
    token = mail["context"]["rate_url"].rsplit("/", 1)[1]
    r, v, a = remote["id"], visit["id"], internal["id"]

    table: list[tuple[str, str, Any]] = [
        ("POST", f"/api/tasks/{r}/rating", {"score": 5}),
        ("GET", f"/api/tasks/{r}/rating", None),
        ("POST", f"/api/tasks/{v}/sign-off", {"decision": "accept"}),
        ("POST", f"/api/tasks/{v}/sign-off", {"decision": "dispute", "comment": "плохо"}),
        ("GET", f"/api/tasks/{v}/sign-off", None),
        ("GET", f"/api/tasks/{r}", None),
        ("GET", f"/api/tasks/{r}/comments", None),
        ("POST", f"/api/tasks/{r}/comments", {"body": "чужой"}),
        ("GET", f"/api/tasks/{r}/attachments", None),
        ("GET", f"/api/tasks/{r}/specification", None),
        ("GET", f"/api/tasks/{r}/articles", None),
        ("POST", f"/api/tasks/{r}/articles", {"article_id": a}),
        ("GET", f"/api/kb/articles/{a}", None),
        ("PATCH", f"/api/kb/articles/{a}", {"public": True}),
        ("POST", "/api/kb/articles", {"title": "Моя статья"}),
        (
            "POST",
            "/api/tasks",
            {"template": "remote_support", "title": "x", "counterparty_id": mine["id"]},
        ),
        ("POST", "/api/tasks", {"template": "field_visit", "title": "x", "site_id": site["id"]}),
        # the owner's rating link, replayed for the stranger's view of another task
        ("GET", f"/rate/{v}/{token}?score=1", None),
    ]
    unexpected = []
    for method, path, body in table:
        resp = await backend.http.request(
            method, path, json=body if body is not None else None, headers=stranger["headers"]
        )
        if 200 <= resp.status_code < 300:
            unexpected.append((method, path, resp.status_code, resp.text[:200]))
    assert unexpected == []
    # ...while the owner may do what the table tried
    resp = await backend.http.post(
        f"/api/tasks/{r}/rating", json={"score": 5}, headers=owner["headers"]
    )
    assert resp.status_code == 200, resp.text
    resp = await backend.http.post(
        f"/api/tasks/{v}/sign-off", json={"decision": "accept"}, headers=owner["headers"]
    )
    assert resp.status_code == 200, resp.text
    # the search of a stranger finds no internal article either
    resp = await backend.http.get(
        "/api/kb/search", params={"q": "Пароли"}, headers=stranger["headers"]
    )
    assert resp.json() == {"items": []}
