"""Editing tasks after creation (issue #13): PATCH /api/tasks/{id} with R2 re-checked, who may
change what, one history event per changed field, If-Match and Idempotency-Key, print forms
that follow the new data; and watchers, who hear what the assignee hears."""

from __future__ import annotations

import io
import uuid
from typing import Any

import pytest
from naryad_harness import Backend
from pypdf import PdfReader

from server.clients import service as clients
from server.clients.schemas import ContactIn
from server.lib import events
from server.lib.actor import Actor
from server.notifications.delivery import render
from server.notifications.tables import Notification
from server.tasks import editing
from server.tasks.events import TaskEdited
from server.tasks.schemas import TaskPatch
from server.tasks.tables import TaskEvent

pytestmark = pytest.mark.sqlite
FIELD = ("Выездные инженеры",)
REPAIR = ("Ремонт",)

# TaskEdited as a subscriber sees it (registered once for the session; cleared per test).
EDITED: list[TaskEdited] = []


@events.subscribe(TaskEdited)
async def _remember_edit(event: TaskEdited) -> None:
    EDITED.append(event)


async def _patch(b: Backend, who: dict[str, Any], tid: int, body: Any, **headers: str) -> Any:
    return await b.http.patch(f"/api/tasks/{tid}", json=body, headers={**who["headers"], **headers})


async def _get(b: Backend, who: dict[str, Any], tid: int) -> dict[str, Any]:
    resp = await b.http.get(f"/api/tasks/{tid}", headers=who["headers"])
    assert resp.status_code == 200, resp.text
    task: dict[str, Any] = resp.json()
    return task


async def _history(b: Backend, who: dict[str, Any], tid: int) -> list[dict[str, Any]]:
    resp = await b.http.get(f"/api/tasks/{tid}/history", headers=who["headers"])
    assert resp.status_code == 200, resp.text
    result: list[dict[str, Any]] = resp.json()
    return result


def _changed(history: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """field -> data of its (last) field_changed event."""
    return {e["data"]["field"]: e["data"] for e in history if e["kind"] == "field_changed"}


async def _groups(b: Backend, who: dict[str, Any]) -> dict[str, int]:
    resp = await b.http.get("/api/groups", headers=who["headers"])
    return {g["name"]: g["id"] for g in resp.json()}


@pytest.fixture
async def crew(backend: Backend) -> dict[str, Any]:
    romashka = await backend.counterparty("Ромашка")
    lutik = await backend.counterparty("Лютик")
    return {
        "romashka": romashka,
        "lutik": lutik,
        "office": await backend.user("office"),
        "admin": await backend.user("admin"),
        "ivanov": await backend.user("engineer", groups=FIELD, surname="Иванов"),
        "petrov": await backend.user("engineer", groups=FIELD, surname="Петров"),
        "checker": await backend.user("checker", groups=FIELD, surname="Кузнецов"),
        "client": await backend.user("client", counterparty_id=romashka["id"]),
    }


async def _visit(b: Backend, office: dict[str, Any], **extra: Any) -> dict[str, Any]:
    body = {"template": "field_visit", "title": "Ромашка: касса", **extra}
    resp = await b.create_task(office, **body)
    assert resp.status_code == 201, resp.text
    task: dict[str, Any] = resp.json()
    return task


# --- PATCH: fields, history, version --------------------------------------------------------


async def test_each_changed_field_is_one_history_event_and_the_version_bumps_once(backend, crew):
    office = crew["office"]
    task = await _visit(backend, office)
    tid, version = task["id"], task["version"]
    contact = await clients.create_contact(
        ContactIn(name="Анна", counterparty_id=crew["romashka"]["id"])
    )
    body = {
        "description": "Не печатает чек",
        "priority": "high",
        "requester_contact_id": contact.id,
        "due_resolution_at": "2030-01-01T12:00:00+03:00",
    }
    resp = await _patch(backend, office, tid, body)
    assert resp.status_code == 200, resp.text
    edited = resp.json()
    assert edited["version"] == version + 1
    assert edited["description"] == "Не печатает чек" and edited["priority"] == "high"
    assert edited["requester"] == {"kind": "contact", "id": contact.id, "name": "Анна"}
    assert edited["due_resolution_at"].startswith("2030-01-01T09:00:00")  # kept in UTC
    history = await _history(backend, office, tid)
    changed = [e for e in history if e["kind"] == "field_changed"]
    assert sorted(e["data"]["field"] for e in changed) == sorted(body)
    by_field = _changed(history)
    assert by_field["priority"] == {"field": "priority", "old": "normal", "new": "high"}
    assert (
        by_field["description"]["old"] == ""
        and by_field["description"]["new"] == body["description"]
    )
    assert by_field["requester_contact_id"]["new"] == contact.id
    assert by_field["requester_contact_id"]["old"] is None
    assert by_field["due_resolution_at"]["old"] is None
    assert by_field["due_resolution_at"]["new"].startswith("2030-01-01T09:00:00")
    assert all(e["actor"]["id"] == office["id"] for e in changed)

    # the same values again, or nothing at all: no change, no event, no new version
    for same in (body, {}):
        resp = await _patch(backend, office, tid, same)
        assert resp.status_code == 200 and resp.json()["version"] == version + 1
    assert len(await _history(backend, office, tid)) == len(history)

    # null clears a nullable field
    resp = await _patch(backend, office, tid, {"due_resolution_at": None})
    assert resp.status_code == 200 and resp.json()["due_resolution_at"] is None
    assert resp.json()["version"] == version + 2


async def test_a_title_only_patch_links_the_counterparty_the_new_title_names_r2(backend, crew):
    office = crew["office"]
    task = await _visit(backend, office)
    tid = task["id"]
    assert task["counterparty"]["id"] == crew["romashka"]["id"]
    resp = await _patch(backend, office, tid, {"title": "  Лютик:   касса не работает "})
    assert resp.status_code == 200, resp.text
    assert resp.json()["title"] == "Лютик: касса не работает"
    assert resp.json()["counterparty"] == {"id": crew["lutik"]["id"], "name": "Лютик"}
    assert resp.json()["version"] == task["version"] + 1
    changed = _changed(await _history(backend, office, tid))
    assert changed["counterparty_id"] == {
        "field": "counterparty_id",
        "old": crew["romashka"]["id"],
        "new": crew["lutik"]["id"],
        "found_by": "title",
    }
    assert changed["title"]["old"] == "Ромашка: касса"

    # a title naming no known counterparty is refused, and nothing changes
    before = await _get(backend, office, tid)
    resp = await _patch(backend, office, tid, {"title": "Касса не работает", "priority": "high"})
    assert resp.status_code == 422 and resp.json()["detail"].startswith("R2:"), resp.text
    assert await _get(backend, office, tid) == before

    # templates without R2 keep their counterparty when the title changes
    repair = await backend.create_task(
        office, template="repair", title="Блок питания", counterparty_id=crew["romashka"]["id"]
    )
    rid = repair.json()["id"]
    resp = await _patch(backend, office, rid, {"title": "Новый блок питания"})
    assert resp.status_code == 200 and resp.json()["counterparty"]["id"] == crew["romashka"]["id"]
    # ... and may lose it
    resp = await _patch(backend, office, rid, {"counterparty_id": None})
    assert resp.status_code == 200 and resp.json()["counterparty"] is None


async def test_title_and_counterparty_together_must_agree_r2(backend, crew):
    office = crew["office"]
    tid = (await _visit(backend, office))["id"]
    lutik, romashka = crew["lutik"]["id"], crew["romashka"]["id"]
    resp = await _patch(
        backend, office, tid, {"title": "Лютик: касса", "counterparty_id": romashka}
    )
    assert resp.status_code == 422 and resp.json()["detail"].startswith("R2:")
    # the counterparty alone must be named by the title the task has
    resp = await _patch(backend, office, tid, {"counterparty_id": lutik})
    assert resp.status_code == 422 and "Лютик" in resp.json()["detail"]
    resp = await _patch(backend, office, tid, {"counterparty_id": 999999})
    assert resp.status_code == 422 and "counterparty_id" in resp.json()["detail"]
    resp = await _patch(backend, office, tid, {"title": "Лютик: касса", "counterparty_id": lutik})
    assert resp.status_code == 200 and resp.json()["counterparty"]["id"] == lutik
    changed = _changed(await _history(backend, office, tid))
    assert changed["counterparty_id"]["found_by"] == "given"
    # clearing it on an R2 template is creation without a counterparty: the title decides
    resp = await _patch(backend, office, tid, {"counterparty_id": None})
    assert resp.status_code == 200 and resp.json()["counterparty"]["id"] == lutik


async def test_a_site_must_belong_to_the_tasks_counterparty(backend, crew):
    office = crew["office"]
    tid = (await _visit(backend, office))["id"]
    ours = await backend.site(crew["romashka"]["id"], name="Тверская")
    theirs = await backend.site(crew["lutik"]["id"], name="Арбат")
    resp = await _patch(backend, office, tid, {"site_id": theirs["id"]})
    assert resp.status_code == 422 and "another counterparty" in resp.json()["detail"]
    resp = await _patch(backend, office, tid, {"site_id": ours["id"]})
    assert resp.status_code == 200 and resp.json()["site"]["name"] == "Тверская"
    # a new counterparty with the old site: say which site (or none)
    resp = await _patch(backend, office, tid, {"title": "Лютик: касса"})
    assert resp.status_code == 422 and "site" in resp.json()["detail"]
    resp = await _patch(backend, office, tid, {"title": "Лютик: касса", "site_id": theirs["id"]})
    assert resp.status_code == 200, resp.text
    assert resp.json()["counterparty"]["id"] == crew["lutik"]["id"]
    assert resp.json()["site"]["name"] == "Арбат"


async def test_group_moves_an_unaccepted_task_to_another_queue_only(backend, crew):
    office, ivanov = crew["office"], crew["ivanov"]
    groups = await _groups(backend, office)
    repairer = await backend.user("engineer", groups=REPAIR)
    tid = (await _visit(backend, office))["id"]
    resp = await _patch(backend, office, tid, {"group_id": groups["Ремонт"]})
    assert resp.status_code == 200 and resp.json()["group"]["name"] == "Ремонт"
    assert _changed(await _history(backend, office, tid))["group_id"] == {
        "field": "group_id",
        "old": groups["Выездные инженеры"],
        "new": groups["Ремонт"],
    }
    queue = await backend.http.get("/api/tasks?queue=mine", headers=repairer["headers"])
    assert [t["id"] for t in queue.json()["items"]] == [tid]
    # Ivanov's group no longer holds it: he does not see it (issue 14), so it is a 404.
    assert (
        await backend.http.post(f"/api/tasks/{tid}/accept", headers=ivanov["headers"])
    ).status_code == 404
    resp = await _patch(backend, office, tid, {"group_id": 999999})
    assert resp.status_code == 422 and "group_id" in resp.json()["detail"]

    await _patch(backend, office, tid, {"group_id": groups["Выездные инженеры"]})
    accepted = await backend.http.post(f"/api/tasks/{tid}/accept", headers=ivanov["headers"])
    assert accepted.status_code == 200
    resp = await _patch(backend, office, tid, {"group_id": groups["Ремонт"]})
    assert resp.status_code == 409 and "Иванов" in resp.json()["detail"]
    assert (await _get(backend, office, tid))["group"]["name"] == "Выездные инженеры"


async def test_who_may_change_what(backend, crew):
    office, ivanov = crew["office"], crew["ivanov"]
    site = await backend.site(crew["romashka"]["id"], name="Тверская")
    other_site = await backend.site(crew["lutik"]["id"], name="Арбат")
    tid = (await _visit(backend, office, assignee_id=ivanov["id"]))["id"]

    for who in ("client", "petrov", "checker"):
        resp = await _patch(backend, crew[who], tid, {"description": "моё"})
        assert resp.status_code == 403, (who, resp.text)
    # the holder: description and site only
    resp = await _patch(
        backend, ivanov, tid, {"description": "Код ошибки 12", "site_id": site["id"]}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["site"]["id"] == site["id"]
    for body in ({"title": "Ромашка: другое"}, {"priority": "urgent"}, {"counterparty_id": None}):
        resp = await _patch(backend, ivanov, tid, body)
        assert resp.status_code == 403, (body, resp.text)
        assert next(iter(body)) in resp.json()["detail"]
    resp = await _patch(backend, ivanov, tid, {"site_id": other_site["id"]})
    assert resp.status_code == 422
    # sending a field unchanged is not changing it
    resp = await _patch(backend, ivanov, tid, {"title": "Ромашка: касса", "description": "Код 13"})
    assert resp.status_code == 200 and resp.json()["description"] == "Код 13"

    # a queued task is nobody's: engineers cannot edit it
    queued = (await _visit(backend, office))["id"]
    assert (await _patch(backend, ivanov, queued, {"description": "x"})).status_code == 403
    # office and admins change everything
    assert (await _patch(backend, office, tid, {"priority": "urgent"})).status_code == 200
    resp = await _patch(backend, crew["admin"], tid, {"title": "Ромашка: касса и сканер"})
    assert resp.status_code == 200

    # a finished task: the holder can no longer edit it; the office still corrects it
    for step in ("depart", "arrive"):
        await backend.http.post(f"/api/tasks/{tid}/{step}", json={}, headers=ivanov["headers"])
    await backend.http.post(
        f"/api/tasks/{tid}/done", json={"completed_works": "x"}, headers=ivanov["headers"]
    )
    await backend.http.post(f"/api/tasks/{tid}/approve", headers=crew["checker"]["headers"])
    assert (await _get(backend, office, tid))["status"] == "completed"
    assert (await _patch(backend, ivanov, tid, {"description": "поздно"})).status_code == 409
    assert (await _patch(backend, office, tid, {"description": "исправлено"})).status_code == 200
    assert (await _patch(backend, office, 999999, {"description": "x"})).status_code == 404


async def test_invalid_patches_are_422_naming_the_field_and_write_nothing(backend, crew):
    office = crew["office"]
    task = await _visit(backend, office)
    tid = task["id"]
    for body, field in (
        ({"status": "completed"}, "status"),
        ({"colour": "red"}, "colour"),
        ({"priority": "asap"}, "priority"),
        ({"title": 5}, "title"),
        ({"title": "x" * 501}, "title"),
        ({"group_id": 0}, "group_id"),
        ({"site_id": "one"}, "site_id"),
        ({"due_resolution_at": "tomorrow"}, "due_resolution_at"),
        ({"due_resolution_at": "2030-01-01T12:00:00"}, "due_resolution_at"),
        ({"title": "   "}, "title"),
    ):
        resp = await _patch(backend, office, tid, body)
        assert resp.status_code == 422, (body, resp.text)
        assert field in resp.json()["detail"], (body, resp.json()["detail"])
    resp = await backend.http.patch(
        f"/api/tasks/{tid}",
        content=b"[1, 2]",
        headers={**office["headers"], "Content-Type": "application/json"},
    )
    assert resp.status_code in (400, 422)
    # one bad field spoils the whole request: nothing half-written
    for body in (
        {"description": "новое", "site_id": 999999},
        {"description": "новое", "requester_contact_id": 999999},
        {"description": "новое", "title": "Касса"},
    ):
        resp = await _patch(backend, office, tid, body)
        assert resp.status_code == 422, (body, resp.text)
    assert await _get(backend, office, tid) == task
    assert not [e for e in await _history(backend, office, tid) if e["kind"] == "field_changed"]


async def test_if_match_stale_version_is_409_and_idempotency_key_replays(backend, crew):
    office = crew["office"]
    task = await _visit(backend, office)
    tid, v = task["id"], task["version"]
    resp = await _patch(backend, office, tid, {"priority": "high"}, **{"If-Match": f'W/"{v}"'})
    assert resp.status_code == 200 and resp.json()["version"] == v + 1
    resp = await _patch(backend, office, tid, {"priority": "low"}, **{"If-Match": str(v)})
    assert resp.status_code == 409 and resp.json()["extra"]["current_version"] == v + 1
    assert (await _get(backend, office, tid))["priority"] == "high"
    resp = await _patch(backend, office, tid, {"priority": "low"}, **{"If-Match": "abc"})
    assert resp.status_code == 422

    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = await _patch(backend, office, tid, {"description": "один раз"}, **key)
    again = await _patch(backend, office, tid, {"description": "один раз"}, **key)
    assert first.status_code == again.status_code == 200
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["version"] == first.json()["version"] == v + 2
    assert (await _get(backend, office, tid))["version"] == v + 2
    other = await _patch(backend, office, tid, {"description": "другое"}, **key)
    assert other.status_code == 422


async def test_a_new_counterparty_renders_a_new_work_order(backend, crew):
    office = crew["office"]
    tid = (await _visit(backend, office))["id"]
    url = f"/api/tasks/{tid}/work-order.pdf"
    first = await backend.http.get(url, headers=office["headers"])
    assert first.status_code == 200 and first.headers["content-type"] == "application/pdf"
    assert first.content == (await backend.http.get(url, headers=office["headers"])).content
    resp = await _patch(
        backend, office, tid, {"title": "Лютик: касса", "counterparty_id": crew["lutik"]["id"]}
    )
    assert resp.status_code == 200
    second = await backend.http.get(url, headers=office["headers"])
    assert second.status_code == 200
    assert second.content != first.content and second.headers["etag"] != first.headers["etag"]

    def text(pdf: bytes) -> str:
        return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)

    assert "Лютик" in text(second.content) and "Лютик" not in text(first.content)


async def test_the_edit_is_a_typed_event_for_subscribers(backend, crew):
    office = crew["office"]
    task = await _visit(backend, office)
    actor = Actor(
        id=office["id"],
        login=office["login"],
        full_name=office["full_name"],
        roles=frozenset({"office"}),
        group_ids=frozenset(),
        counterparty_id=None,
    )
    EDITED.clear()
    await editing.edit_task(actor, task["id"], TaskPatch(priority="urgent", description="x"))
    assert len(EDITED) == 1
    event = EDITED[0]
    assert event.task_id == task["id"] and event.actor_id == office["id"]
    assert event.version == task["version"] + 1
    assert {f: (c.old, c.new) for f, c in event.changes.items()} == {
        "priority": ("normal", "urgent"),
        "description": ("", "x"),
    }
    EDITED.clear()
    await editing.edit_task(actor, task["id"], TaskPatch(priority="urgent"))
    assert EDITED == []  # nothing changed, nothing to follow


# --- watchers --------------------------------------------------------------------------------


async def _watch(b: Backend, who: dict[str, Any], tid: int, user_id: Any) -> Any:
    return await b.http.post(
        f"/api/tasks/{tid}/watchers", json={"user_id": user_id}, headers=who["headers"]
    )


async def _unwatch(b: Backend, who: dict[str, Any], tid: int, user_id: int) -> Any:
    return await b.http.delete(f"/api/tasks/{tid}/watchers/{user_id}", headers=who["headers"])


def _ids(users: list[dict[str, Any]]) -> list[int]:
    return [u["id"] for u in users]


async def test_watchers_employees_add_themselves_office_adds_anyone(backend, crew):
    office, ivanov, petrov = crew["office"], crew["ivanov"], crew["petrov"]
    task = await _visit(backend, office)
    tid = task["id"]
    assert task["watchers"] == []
    resp = await _watch(backend, ivanov, tid, ivanov["id"])
    assert resp.status_code == 201, resp.text
    assert resp.json() == [{"id": ivanov["id"], "full_name": ivanov["full_name"]}]
    assert (await _watch(backend, ivanov, tid, petrov["id"])).status_code == 403
    resp = await _watch(backend, office, tid, petrov["id"])
    assert resp.status_code == 201 and _ids(resp.json()) == [ivanov["id"], petrov["id"]]
    # watching twice is watching: no duplicate, no second event
    resp = await _watch(backend, ivanov, tid, ivanov["id"])
    assert resp.status_code == 201 and _ids(resp.json()) == [ivanov["id"], petrov["id"]]
    got = await _get(backend, office, tid)
    assert got["watchers"] == [
        {"id": ivanov["id"], "full_name": ivanov["full_name"]},
        {"id": petrov["id"], "full_name": petrov["full_name"]},
    ]
    assert got["version"] == task["version"]  # watching does not change the task
    listed = await backend.http.get(f"/api/tasks/{tid}/watchers", headers=office["headers"])
    assert listed.status_code == 200 and _ids(listed.json()) == [ivanov["id"], petrov["id"]]

    client = crew["client"]
    assert (await _watch(backend, client, tid, client["id"])).status_code == 403
    resp = await _watch(backend, office, tid, client["id"])
    assert resp.status_code == 422 and "client" in resp.json()["detail"]
    for bad in (999999, 0, "x"):
        assert (await _watch(backend, office, tid, bad)).status_code == 422, bad
    assert (await _watch(backend, office, 999999, petrov["id"])).status_code == 404
    resp = await backend.http.post(
        f"/api/tasks/{tid}/watchers",
        json={"user_id": petrov["id"], "x": 1},
        headers=office["headers"],
    )
    assert resp.status_code == 422

    # removing: oneself, or anyone by the office
    assert (await _unwatch(backend, petrov, tid, ivanov["id"])).status_code == 403
    assert (await _unwatch(backend, client, tid, ivanov["id"])).status_code == 403
    resp = await _unwatch(backend, ivanov, tid, ivanov["id"])
    assert resp.status_code == 200 and _ids(resp.json()) == [petrov["id"]]
    resp = await _unwatch(backend, office, tid, petrov["id"])
    assert resp.status_code == 200 and resp.json() == []
    resp = await _unwatch(backend, office, tid, petrov["id"])  # not watching: nothing to do
    assert resp.status_code == 200 and resp.json() == []

    kinds = [
        (e["kind"], e["data"]["user_id"])
        for e in await _history(backend, office, tid)
        if e["kind"].startswith("watcher_")
    ]
    assert kinds == [
        ("watcher_added", ivanov["id"]),
        ("watcher_added", petrov["id"]),
        ("watcher_removed", ivanov["id"]),
        ("watcher_removed", petrov["id"]),
    ]


async def test_watchers_hear_what_the_assignee_hears(backend, crew):
    office = crew["office"]
    # not in the visit's group, so the new task in its queue tells them nothing yet
    ivanov = await backend.user("engineer", email=f"iv{uuid.uuid4().hex[:6]}@x.ru")
    watcher = await backend.user("engineer", email=f"w{uuid.uuid4().hex[:6]}@x.ru")
    also = await backend.user("office", email=f"o{uuid.uuid4().hex[:6]}@x.ru")
    tid = (await _visit(backend, office))["id"]
    # The engineer sees no task of another queue (issue 14): the office makes them a watcher.
    assert (await _watch(backend, office, tid, watcher["id"])).status_code == 201
    assert (await _watch(backend, also, tid, also["id"])).status_code == 201

    async def rows(user_id: int) -> list[dict[str, Any]]:
        return list(
            await Notification.select(Notification.kind, Notification.context)
            .where((Notification.task == tid) & (Notification.user == user_id))
            .order_by(Notification.id)
            .output(load_json=True)
        )

    # a comment does not reach the assignee, so it does not reach watchers either
    await backend.http.post(
        f"/api/tasks/{tid}/comments", json={"body": "внутреннее"}, headers=office["headers"]
    )
    assert await rows(watcher["id"]) == []
    # assigning tells the new assignee, and the watchers with them; not whoever assigned
    resp = await backend.http.post(
        f"/api/tasks/{tid}/assign", json={"user_id": ivanov["id"]}, headers=also["headers"]
    )
    assert resp.status_code == 200
    assert [r["kind"] for r in await rows(ivanov["id"])] == ["assigned"]
    watched = await rows(watcher["id"])
    assert [r["kind"] for r in watched] == ["watched"]
    assert watched[0]["context"]["event"] == "assigned"
    assert await rows(also["id"]) == []
    for language in ("ru", "en"):
        text = render("watched", language, {**watched[0]["context"], "link": "http://x/#/tasks/1"})
        assert (
            "Ромашка: касса" in text.subject
            and str(watched[0]["context"]["number"]) in text.subject
        )
        assert text.body
    # the rows are real task events: the history shows both watchers joining
    events_ = await TaskEvent.select(TaskEvent.kind).where(TaskEvent.task == tid)
    assert sum(e["kind"] == "watcher_added" for e in events_) == 2
