"""Workflow rules: R7 departure lock, check-in distance, R8 done → check, R11 results,
comments and client visibility, If-Match and Idempotency-Key (issue: task workflows)."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

from server.notifications.delivery import render
from server.notifications.tables import Notification
from server.tasks import transitions
from server.tasks.tables import Task, TaskEvent

pytestmark = pytest.mark.sqlite
FIELD = ("Выездные инженеры",)


async def _post(backend, who, path, body=None, **headers):
    return await backend.http.post(path, json=body, headers={**who["headers"], **headers})


async def _visit(backend, office, **extra):
    resp = await backend.create_task(
        office, template="field_visit", title="Ромашка: касса", **extra
    )
    assert resp.status_code == 201, resp.text
    return resp.json()


async def _events(backend, who, task_id):
    resp = await backend.http.get(f"/api/tasks/{task_id}/history", headers=who["headers"])
    assert resp.status_code == 200
    return resp.json()


@pytest.fixture
async def crew(backend):
    await backend.counterparty("Ромашка")
    return {
        "office": await backend.user("office"),
        "ivanov": await backend.user("engineer", groups=FIELD, surname="Иванов"),
        "petrov": await backend.user("engineer", groups=FIELD, surname="Петров"),
        "checker": await backend.user("checker", groups=FIELD, surname="Кузнецов"),
    }


async def test_r7_only_the_holder_departs_arrives_and_finishes(backend, crew):
    task = await _visit(backend, crew["office"])
    tid = task["id"]
    resp = await _post(backend, crew["ivanov"], f"/api/tasks/{tid}/accept")
    assert resp.status_code == 200 and resp.json()["assignee"]["id"] == crew["ivanov"]["id"]
    for action, body in (("depart", None), ("arrive", {}), ("done", {"completed_works": "x"})):
        resp = await _post(backend, crew["petrov"], f"/api/tasks/{tid}/{action}", body)
        assert resp.status_code == 409, (action, resp.text)
        assert "Иванов" in resp.json()["detail"]
    cp = (await backend.http.get(f"/api/tasks/{tid}", headers=crew["office"]["headers"])).json()
    client = await backend.user("client", counterparty_id=cp["counterparty"]["id"])
    assert (await _post(backend, client, f"/api/tasks/{tid}/depart")).status_code == 403
    assert (await _post(backend, crew["ivanov"], f"/api/tasks/{tid}/depart")).status_code == 200
    # nobody accepted: depart says to accept first
    fresh = await _visit(backend, crew["office"])
    resp = await _post(backend, crew["ivanov"], f"/api/tasks/{fresh['id']}/depart")
    assert resp.status_code == 409 and "“New”" in resp.json()["detail"]


async def test_accept_conflict_names_the_winner_and_other_groups_cannot_accept(backend, crew):
    task = await _visit(backend, crew["office"])
    assert (
        await _post(backend, crew["ivanov"], f"/api/tasks/{task['id']}/accept")
    ).status_code == 200
    resp = await _post(backend, crew["petrov"], f"/api/tasks/{task['id']}/accept")
    assert resp.status_code == 409
    assert "already accepted by" in resp.json()["detail"] and "Иванов" in resp.json()["detail"]
    assert resp.json()["extra"]["assignee"]["id"] == crew["ivanov"]["id"]
    # another group's queue: an engineer does not even see it (issue 14), a checker who
    # sees everything is told whose queue it is
    stranger = await backend.user("engineer", groups=("Бухгалтерия",))
    other = (
        await backend.create_task(crew["office"], template="repair", title="Блок питания")
    ).json()
    resp = await _post(backend, stranger, f"/api/tasks/{other['id']}/accept")
    assert resp.status_code == 404
    resp = await _post(backend, crew["checker"], f"/api/tasks/{other['id']}/accept")
    assert resp.status_code == 403 and "Ремонт" in resp.json()["detail"]


async def test_office_assigns_directly_engineers_cannot(backend, crew):
    task = await _visit(backend, crew["office"])
    resp = await _post(
        backend,
        crew["ivanov"],
        f"/api/tasks/{task['id']}/assign",
        {"user_id": crew["petrov"]["id"]},
    )
    assert resp.status_code == 403
    resp = await _post(
        backend,
        crew["office"],
        f"/api/tasks/{task['id']}/assign",
        {"user_id": crew["petrov"]["id"]},
    )
    assert resp.status_code == 200 and resp.json()["status"] == "accepted"
    assert resp.json()["assignee"]["id"] == crew["petrov"]["id"]


async def test_check_in_distance_is_stored_and_far_check_ins_flagged(backend, crew):
    cp = await backend.counterparty("Лютик")
    site = await backend.site(
        cp["id"], name="Тверская", address="Москва, Тверская, 1", lat=55.7575, lon=37.6130
    )
    for lat, lon, far in ((55.7580, 37.6135, False), (55.8000, 37.7000, True)):
        task = (
            await backend.create_task(
                crew["office"], template="field_visit", title="Лютик: касса", site_id=site["id"]
            )
        ).json()
        await _post(backend, crew["ivanov"], f"/api/tasks/{task['id']}/accept")
        await _post(backend, crew["ivanov"], f"/api/tasks/{task['id']}/depart")
        resp = await _post(
            backend, crew["ivanov"], f"/api/tasks/{task['id']}/arrive", {"lat": lat, "lon": lon}
        )
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["status"] == "in_progress" and body["arrived_at"]
        assert body["checkin_far"] is far
        assert (body["checkin_distance_m"] > 500) is far
        event = (await _events(backend, crew["office"], task["id"]))[-1]
        assert event["kind"] == "arrived" and event["data"]["far_from_site"] is far
        assert event["data"]["distance_m"] == body["checkin_distance_m"]
    # ~65 m apart: geodesic distance, not a placeholder
    assert (
        40
        < (await Task.select(Task.checkin_distance_m).order_by(Task.id).first())[
            "checkin_distance_m"
        ]
        < 90
    )
    task = await _visit(backend, crew["office"])
    await _post(backend, crew["ivanov"], f"/api/tasks/{task['id']}/accept")
    await _post(backend, crew["ivanov"], f"/api/tasks/{task['id']}/depart")
    resp = await _post(backend, crew["ivanov"], f"/api/tasks/{task['id']}/arrive", {"lat": 55.7})
    assert resp.status_code == 422 and "lat and lon" in resp.json()["detail"]
    resp = await _post(
        backend, crew["ivanov"], f"/api/tasks/{task['id']}/arrive", {"lat": 123, "lon": 1}
    )
    assert resp.status_code == 422


async def test_r8_done_needs_works_then_checker_approves_or_returns(backend, crew):
    task = await _visit(backend, crew["office"])
    tid = task["id"]
    iv = crew["ivanov"]
    await _post(backend, iv, f"/api/tasks/{tid}/accept")
    await _post(backend, iv, f"/api/tasks/{tid}/depart")
    await _post(backend, iv, f"/api/tasks/{tid}/arrive", {})
    for body in ({"completed_works": "   "}, {}, None):
        resp = await _post(backend, iv, f"/api/tasks/{tid}/done", body)
        assert resp.status_code == 422 and resp.json()["detail"].startswith("R8:"), resp.text
    resp = await _post(backend, iv, f"/api/tasks/{tid}/done", {"completed_works": "Заменил ФН"})
    assert resp.status_code == 200 and resp.json()["status"] == "done"
    assert resp.json()["completed_works"] == "Заменил ФН"
    # the engineer cannot approve, neither as a checker-engineer
    assert (await _post(backend, iv, f"/api/tasks/{tid}/approve")).status_code == 403
    resp = await _post(backend, crew["checker"], f"/api/tasks/{tid}/return", {"reason": " "})
    assert resp.status_code == 422 and "reason" in resp.json()["detail"]
    resp = await _post(backend, crew["checker"], f"/api/tasks/{tid}/return", {"reason": "Нет фото"})
    assert resp.status_code == 200 and resp.json()["status"] == "in_progress"
    assert resp.json()["assignee"]["id"] == iv["id"]
    returned = [e for e in await _events(backend, crew["office"], tid) if e["kind"] == "returned"]
    assert returned[0]["data"]["reason"] == "Нет фото"
    await _post(backend, iv, f"/api/tasks/{tid}/done", {"completed_works": "Заменил ФН, фото"})
    resp = await _post(backend, crew["checker"], f"/api/tasks/{tid}/approve")
    assert resp.status_code == 200 and resp.json()["status"] == "completed"
    assert resp.json()["completed_at"]


async def test_nobody_approves_a_visit_they_performed(backend, crew):
    both = await backend.user("engineer", "checker", groups=FIELD)
    task = await _visit(backend, crew["office"])
    tid = task["id"]
    await _post(backend, both, f"/api/tasks/{tid}/accept")
    await _post(backend, both, f"/api/tasks/{tid}/depart")
    await _post(backend, both, f"/api/tasks/{tid}/arrive", {})
    await _post(backend, both, f"/api/tasks/{tid}/done", {"completed_works": "Сделано"})
    resp = await _post(backend, both, f"/api/tasks/{tid}/approve")
    assert resp.status_code == 403 and "another checker" in resp.json()["detail"]
    # after redirecting away, the first engineer still performed it
    task2 = await _visit(backend, crew["office"])
    await _post(backend, both, f"/api/tasks/{task2['id']}/accept")
    await _post(
        backend, both, f"/api/tasks/{task2['id']}/redirect", {"user_id": crew["ivanov"]["id"]}
    )
    await _post(backend, crew["ivanov"], f"/api/tasks/{task2['id']}/depart")
    await _post(backend, crew["ivanov"], f"/api/tasks/{task2['id']}/arrive", {})
    await _post(backend, crew["ivanov"], f"/api/tasks/{task2['id']}/done", {"completed_works": "x"})
    assert (await _post(backend, both, f"/api/tasks/{task2['id']}/approve")).status_code == 403
    assert (
        await _post(backend, crew["checker"], f"/api/tasks/{task2['id']}/approve")
    ).status_code == 200


async def test_templates_without_check_complete_on_done(backend, crew):
    remote = await backend.user("engineer", groups=("Удалённая техподдержка",))
    task = (
        await backend.create_task(
            crew["office"], template="remote_support", title="Ромашка: оплата"
        )
    ).json()
    await _post(backend, remote, f"/api/tasks/{task['id']}/accept")
    resp = await _post(backend, remote, f"/api/tasks/{task['id']}/done", {})
    assert resp.status_code == 200 and resp.json()["status"] == "completed"
    resp = await _post(backend, remote, f"/api/tasks/{task['id']}/depart")
    assert resp.status_code == 409
    assert "“Completed”" in resp.json()["detail"] and "allows: nothing" in resp.json()["detail"]


async def test_invalid_transitions_name_status_and_allowed_actions(backend, crew):
    task = await _visit(backend, crew["office"])
    resp = await _post(backend, crew["checker"], f"/api/tasks/{task['id']}/approve")
    assert resp.status_code == 409
    detail = resp.json()["detail"]
    assert "“New”" in detail and "Accept" in detail and "Assign" in detail
    remote = (
        await backend.create_task(
            crew["office"], template="remote_support", title="Ромашка: оплата"
        )
    ).json()
    resp = await _post(backend, crew["office"], f"/api/tasks/{remote['id']}/depart")
    assert resp.status_code == 409 and "Remote support" in resp.json()["detail"]
    assert (await _post(backend, crew["office"], "/api/tasks/999999/accept")).status_code == 404


async def test_r11_postpone_and_timed_return(backend, crew):
    task = await _visit(backend, crew["office"])
    tid = task["id"]
    iv = crew["ivanov"]
    await _post(backend, iv, f"/api/tasks/{tid}/accept")
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()
    resp = await _post(backend, iv, f"/api/tasks/{tid}/postpone", {"until": past})
    assert resp.status_code == 422 and "future" in resp.json()["detail"]
    resp = await _post(backend, iv, f"/api/tasks/{tid}/postpone", {"until": "2099-01-01T10:00:00"})
    assert resp.status_code == 422 and "timezone" in resp.json()["detail"]
    resp = await _post(backend, iv, f"/api/tasks/{tid}/postpone", {"until": "tomorrow"})
    assert resp.status_code == 422
    until = dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)
    resp = await _post(
        backend,
        iv,
        f"/api/tasks/{tid}/postpone",
        {"until": until.isoformat(), "reason": "Клиент в отпуске"},
    )
    assert resp.status_code == 200 and resp.json()["status"] == "postponed"
    assert resp.json()["postponed_until"] is not None
    event = (await _events(backend, iv, tid))[-1]
    assert event["kind"] == "postponed" and event["data"]["reason"] == "Клиент в отпуске"
    # an injected clock, no sleeping: before `until` nothing returns, after it the task does
    assert await transitions.resume_due_postponed(until - dt.timedelta(minutes=1)) == []
    assert await transitions.resume_due_postponed(until + dt.timedelta(seconds=1)) == [tid]
    assert await transitions.resume_due_postponed(until + dt.timedelta(seconds=2)) == []
    back = (await backend.http.get(f"/api/tasks/{tid}", headers=iv["headers"])).json()
    assert back["status"] == "accepted" and back["assignee"]["id"] == iv["id"]
    assert back["postponed_until"] is None
    resumed = (await _events(backend, iv, tid))[-1]
    assert resumed["kind"] == "resumed" and resumed["actor"] is None
    assert resumed["channel"] == "system"


async def test_r11_redirect_refuse_and_release(backend, crew):
    iv, pt = crew["ivanov"], crew["petrov"]
    task = await _visit(backend, crew["office"])
    tid = task["id"]
    await _post(backend, iv, f"/api/tasks/{tid}/accept")
    resp = await _post(
        backend, iv, f"/api/tasks/{tid}/redirect", {"user_id": pt["id"], "call_back": True}
    )
    assert resp.status_code == 200
    assert resp.json()["assignee"]["id"] == pt["id"] and resp.json()["call_back"] is True
    resp = await _post(backend, pt, f"/api/tasks/{tid}/redirect", {"user_id": pt["id"]})
    assert resp.status_code == 409
    resp = await _post(backend, pt, f"/api/tasks/{tid}/redirect", {"user_id": 999999})
    assert resp.status_code == 422
    resp = await _post(backend, pt, f"/api/tasks/{tid}/release")
    assert resp.status_code == 200 and resp.json()["status"] == "new"
    assert resp.json()["assignee"] is None
    queue = (await backend.http.get("/api/tasks?queue=mine", headers=iv["headers"])).json()
    assert tid in [t["id"] for t in queue["items"]]
    for body in ({"reason": ""}, {}):
        resp = await _post(backend, iv, f"/api/tasks/{tid}/refuse", body)
        assert resp.status_code == 422
    resp = await _post(backend, iv, f"/api/tasks/{tid}/refuse", {"reason": "Дубль заявки #1"})
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    kinds = [e["kind"] for e in await _events(backend, crew["office"], tid)]
    assert kinds == ["created", "accepted", "redirected", "released", "refused"]


async def test_every_transition_writes_history_with_actor_channel_and_version(backend, crew):
    task = await _visit(backend, crew["office"])
    tid = task["id"]
    iv = crew["ivanov"]
    versions = [task["version"]]
    for action, body in (
        ("accept", None),
        ("depart", None),
        ("arrive", {}),
        ("done", {"completed_works": "ok"}),
    ):
        resp = await _post(backend, iv, f"/api/tasks/{tid}/{action}", body)
        versions.append(resp.json()["version"])
    assert versions == [1, 2, 3, 4, 5]
    events = await _events(backend, crew["office"], tid)
    assert [e["kind"] for e in events] == ["created", "accepted", "departed", "arrived", "done"]
    for e in events[1:]:
        assert e["actor"]["id"] == iv["id"] and e["channel"] == "ui" and e["at"]
    assert [e["data"]["to"] for e in events[1:]] == ["accepted", "en_route", "in_progress", "done"]


async def test_comments_public_internal_mentions_and_client_visibility(backend, crew):
    task = await _visit(backend, crew["office"])
    tid = task["id"]
    cp_id = (await backend.http.get(f"/api/tasks/{tid}", headers=crew["office"]["headers"])).json()[
        "counterparty"
    ]["id"]
    client = await backend.user("client", counterparty_id=cp_id)
    iv = crew["ivanov"]
    pub = await _post(
        backend, iv, f"/api/tasks/{tid}/comments", {"body": "Будем у вас в 15:00", "public": True}
    )
    assert pub.status_code == 201 and pub.json()["public"] is True
    internal = await _post(
        backend,
        iv,
        f"/api/tasks/{tid}/comments",
        {"body": f"@{crew['petrov']['login']} возьми запасной ФН, @nobody", "public": False},
    )
    assert internal.status_code == 201
    assert internal.json()["mentions"] == [crew["petrov"]["id"]]
    blank = await _post(backend, iv, f"/api/tasks/{tid}/comments", {"body": "  ", "public": True})
    assert blank.status_code == 422
    staff_view = (
        await backend.http.get(f"/api/tasks/{tid}/comments", headers=iv["headers"])
    ).json()
    assert [c["public"] for c in staff_view] == [True, False]
    client_view = await backend.http.get(f"/api/tasks/{tid}/comments", headers=client["headers"])
    assert [c["body"] for c in client_view.json()] == ["Будем у вас в 15:00"]
    # the client's own comment is public, whatever it asked for
    mine = await _post(
        backend, client, f"/api/tasks/{tid}/comments", {"body": "Ждём", "public": False}
    )
    assert mine.status_code == 201 and mine.json()["public"] is True
    history = await _events(backend, client, tid)
    text = str(history)
    assert "возьми запасной" not in text
    assert all(e["kind"] != "comment" or e["data"]["public"] for e in history)
    # a client of another company sees nothing of it
    stranger_cp = await backend.counterparty("Лютик")
    stranger = await backend.user("client", counterparty_id=stranger_cp["id"])
    for path in (f"/api/tasks/{tid}", f"/api/tasks/{tid}/comments", f"/api/tasks/{tid}/history"):
        assert (await backend.http.get(path, headers=stranger["headers"])).status_code == 404
    resp = await _post(backend, stranger, f"/api/tasks/{tid}/comments", {"body": "x"})
    assert resp.status_code == 404


async def test_if_match_rejects_stale_versions(backend, crew):
    task = await _visit(backend, crew["office"])
    tid = task["id"]
    iv = crew["ivanov"]
    resp = await _post(backend, iv, f"/api/tasks/{tid}/accept", **{"If-Match": "7"})
    assert resp.status_code == 409 and "version" in resp.json()["detail"]
    assert resp.json()["extra"]["current_version"] == 1
    resp = await _post(backend, iv, f"/api/tasks/{tid}/accept", **{"If-Match": '"1"'})
    assert resp.status_code == 200 and resp.json()["version"] == 2
    resp = await _post(backend, iv, f"/api/tasks/{tid}/depart", **{"If-Match": "1"})
    assert resp.status_code == 409
    resp = await _post(backend, iv, f"/api/tasks/{tid}/depart", **{"If-Match": "two"})
    assert resp.status_code == 422
    assert (await Task.select(Task.status).where(Task.id == tid).first())["status"] == "accepted"


async def test_idempotency_key_replays_the_first_response(backend, crew):
    task = await _visit(backend, crew["office"])
    tid = task["id"]
    iv = crew["ivanov"]
    key = str(uuid.uuid4())
    first = await _post(backend, iv, f"/api/tasks/{tid}/accept", **{"Idempotency-Key": key})
    again = await _post(backend, iv, f"/api/tasks/{tid}/accept", **{"Idempotency-Key": key})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert again.headers.get("idempotent-replayed") == "true"
    # the same key for another request is a client bug: say so
    other = await _post(backend, iv, f"/api/tasks/{tid}/depart", **{"Idempotency-Key": key})
    assert other.status_code == 422 and "different request" in other.json()["detail"]
    # creation too, and concurrent copies make one task
    ckey = str(uuid.uuid4())
    body = {"template": "field_visit", "title": "Ромашка: сканер"}
    copies = await asyncio.gather(
        *[
            _post(backend, crew["office"], "/api/tasks", body, **{"Idempotency-Key": ckey})
            for _ in range(5)
        ]
    )
    assert {c.status_code for c in copies} == {201}
    assert len({c.json()["id"] for c in copies}) == 1
    assert await Task.count().where(Task.title == "Ромашка: сканер") == 1
    comment_key = str(uuid.uuid4())
    for _ in range(3):
        resp = await _post(
            backend,
            iv,
            f"/api/tasks/{tid}/comments",
            {"body": "Выезжаю", "public": True},
            **{"Idempotency-Key": comment_key},
        )
        assert resp.status_code == 201
    assert (
        await TaskEvent.count().where((TaskEvent.task == tid) & (TaskEvent.kind == "comment")) == 1
    )
    # keys are per user: the same key from someone else is a new request
    resp = await _post(
        backend,
        crew["petrov"],
        f"/api/tasks/{tid}/comments",
        {"body": "Выезжаю", "public": True},
        **{"Idempotency-Key": comment_key},
    )
    assert resp.status_code == 201 and "idempotent-replayed" not in resp.headers


# --- issue #12: R7 departure order, who may work a template, far check-ins -------------


async def _task(backend, who, task_id):
    resp = await backend.http.get(f"/api/tasks/{task_id}", headers=who["headers"])
    assert resp.status_code == 200, resp.text
    return resp.json()


async def test_r7_arrive_only_after_departing_and_no_departing_after_arriving(backend, crew):
    iv = crew["ivanov"]
    tid = (await _visit(backend, crew["office"]))["id"]
    assert (await _post(backend, iv, f"/api/tasks/{tid}/accept")).status_code == 200
    actions = (await _task(backend, iv, tid))["actions"]
    assert "depart" in actions and "arrive" not in actions
    resp = await _post(backend, iv, f"/api/tasks/{tid}/arrive", {})
    assert resp.status_code == 409, resp.text
    assert "“Accepted”" in resp.json()["detail"] and "Depart" in resp.json()["detail"]
    resp = await _post(backend, iv, f"/api/tasks/{tid}/depart")
    assert resp.status_code == 200 and resp.json()["status"] == "en_route"
    assert "arrive" in resp.json()["actions"] and "depart" not in resp.json()["actions"]
    resp = await _post(backend, iv, f"/api/tasks/{tid}/arrive", {})
    assert resp.status_code == 200 and resp.json()["status"] == "in_progress"
    assert "depart" not in resp.json()["actions"] and "done" in resp.json()["actions"]
    resp = await _post(backend, iv, f"/api/tasks/{tid}/depart")
    assert resp.status_code == 409 and "“In progress”" in resp.json()["detail"]
    # a returned visit is finished on site too: no second departure after arriving
    await _post(backend, iv, f"/api/tasks/{tid}/done", {"completed_works": "Заменил ФН"})
    await _post(backend, crew["checker"], f"/api/tasks/{tid}/return", {"reason": "Нет фото"})
    assert (await _post(backend, iv, f"/api/tasks/{tid}/depart")).status_code == 409


async def test_r7_field_visits_go_only_to_engineers_others_to_their_group(backend, crew):
    office, iv = crew["office"], crew["ivanov"]
    accountant = await backend.user("office", groups=("Бухгалтерия",), surname="Счётова")
    remote = await backend.user("engineer", groups=("Удалённая техподдержка",), surname="Смирнов")
    visit = (await _visit(backend, office))["id"]
    # an office accountant cannot receive a field visit: assigned, redirected or at creation
    resp = await _post(backend, office, f"/api/tasks/{visit}/assign", {"user_id": accountant["id"]})
    assert resp.status_code == 422, resp.text
    detail = resp.json()["detail"]
    assert detail.startswith("R7:") and "Счётова" in detail and "engineer" in detail
    assert (await _task(backend, office, visit))["status"] == "new"
    resp = await backend.create_task(
        office, template="field_visit", title="Ромашка: касса", assignee_id=accountant["id"]
    )
    assert resp.status_code == 422 and "Счётова" in resp.json()["detail"]
    await _post(backend, iv, f"/api/tasks/{visit}/accept")
    resp = await _post(backend, iv, f"/api/tasks/{visit}/redirect", {"user_id": accountant["id"]})
    assert resp.status_code == 422 and "Счётова" in resp.json()["detail"]
    # nor take one herself: it is not offered, and accepting is refused with the reason
    queued = (await _visit(backend, office))["id"]
    assert "accept" not in (await _task(backend, accountant, queued))["actions"]
    resp = await _post(backend, accountant, f"/api/tasks/{queued}/accept")
    assert resp.status_code == 403 and "engineer" in resp.json()["detail"]
    # any engineer goes on site, whichever group they are in
    resp = await _post(backend, iv, f"/api/tasks/{visit}/redirect", {"user_id": remote["id"]})
    assert resp.status_code == 200 and resp.json()["assignee"]["id"] == remote["id"]
    # other templates: the members of the task's group, or an engineer
    bill = (await backend.create_task(office, template="accounting", title="Счёт")).json()["id"]
    resp = await _post(
        backend, office, f"/api/tasks/{bill}/assign", {"user_id": crew["checker"]["id"]}
    )
    assert resp.status_code == 422, resp.text
    assert "Кузнецов" in resp.json()["detail"] and "Бухгалтерия" in resp.json()["detail"]
    resp = await _post(backend, office, f"/api/tasks/{bill}/assign", {"user_id": accountant["id"]})
    assert resp.status_code == 200 and resp.json()["assignee"]["id"] == accountant["id"]
    resp = await _post(backend, accountant, f"/api/tasks/{bill}/redirect", {"user_id": iv["id"]})
    assert resp.status_code == 200 and resp.json()["assignee"]["id"] == iv["id"]


async def test_a_far_check_in_is_answered_with_a_warning(backend, crew):
    iv = crew["ivanov"]
    cp = await backend.counterparty("Лютик")
    site = await backend.site(cp["id"], name="Тверская", lat=55.7575, lon=37.6130)
    for lat, lon, far in ((55.7580, 37.6135, False), (55.8000, 37.7000, True)):
        task = (
            await backend.create_task(
                crew["office"], template="field_visit", title="Лютик: касса", site_id=site["id"]
            )
        ).json()
        await _post(backend, iv, f"/api/tasks/{task['id']}/accept")
        await _post(backend, iv, f"/api/tasks/{task['id']}/depart")
        resp = await _post(backend, iv, f"/api/tasks/{task['id']}/arrive", {"lat": lat, "lon": lon})
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["checkin_far"] is far
        if far:
            warning = body["checkin_warning"]
            assert warning and "from the site" in warning and "500 m" in warning
            assert str(round(body["checkin_distance_m"])) in warning.replace(" ", "")
            # the card keeps saying so
            assert (await _task(backend, crew["office"], task["id"]))["checkin_warning"] == warning
        else:
            assert body["checkin_warning"] is None


# --- issue #12: R11 results --------------------------------------------------------------


async def test_r11_resume_brings_a_postponed_task_back_early(backend, crew):
    iv, pt, office = crew["ivanov"], crew["petrov"], crew["office"]
    tid = (await _visit(backend, office))["id"]
    for action, body in (("accept", None), ("depart", None), ("arrive", {})):
        await _post(backend, iv, f"/api/tasks/{tid}/{action}", body)
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    resp = await _post(backend, iv, f"/api/tasks/{tid}/resume")
    assert resp.status_code == 409 and "“In progress”" in resp.json()["detail"]
    await _post(backend, iv, f"/api/tasks/{tid}/postpone", {"until": until, "reason": "Запчасть"})
    assert "resume" in (await _task(backend, iv, tid))["actions"]
    assert "resume" not in (await _task(backend, pt, tid))["actions"]
    resp = await _post(backend, pt, f"/api/tasks/{tid}/resume")
    assert resp.status_code == 409 and "Иванов" in resp.json()["detail"]
    resp = await _post(backend, iv, f"/api/tasks/{tid}/resume")
    assert resp.status_code == 200, resp.text
    back = resp.json()
    assert back["status"] == "in_progress" and back["assignee"]["id"] == iv["id"]
    assert back["postponed_until"] is None
    event = (await _events(backend, office, tid))[-1]
    assert event["kind"] == "resumed" and event["actor"]["id"] == iv["id"]
    assert event["data"]["from"] == "postponed" and event["data"]["to"] == "in_progress"
    assert event["data"]["early"] is True
    # a dispatcher may bring it back too; the timed return then has nothing to do
    await _post(backend, iv, f"/api/tasks/{tid}/postpone", {"until": until})
    resp = await _post(backend, office, f"/api/tasks/{tid}/resume")
    assert resp.status_code == 200 and resp.json()["status"] == "in_progress"
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    assert await transitions.resume_due_postponed(later) == []


async def _admin(backend):
    return await backend.user("admin")


async def test_r11_refusal_reasons_are_an_admin_list(backend, crew):
    admin = await _admin(backend)
    iv = crew["ivanov"]
    seeded = (await backend.http.get("/api/refusal-reasons", headers=iv["headers"])).json()
    assert len(seeded) >= 3 and all(r["active"] for r in seeded)
    assert all({"id", "name", "active"} <= set(r) for r in seeded)
    name = f"Клиент закрылся {uuid.uuid4().hex[:6]}"
    resp = await _post(backend, iv, "/api/refusal-reasons", {"name": name})
    assert resp.status_code == 403
    resp = await _post(backend, admin, "/api/refusal-reasons", {"name": f"  {name} "})
    assert resp.status_code == 201, resp.text
    reason = resp.json()
    assert reason["name"] == name and reason["active"] is True
    assert (await _post(backend, admin, "/api/refusal-reasons", {"name": name})).status_code == 409
    assert (await _post(backend, admin, "/api/refusal-reasons", {"name": " "})).status_code == 422
    path = f"/api/refusal-reasons/{reason['id']}"
    resp = await backend.http.patch(path, json={"active": False}, headers=iv["headers"])
    assert resp.status_code == 403
    resp = await backend.http.patch(path, json={"active": False}, headers=admin["headers"])
    assert resp.status_code == 200 and resp.json()["active"] is False
    resp = await backend.http.patch(
        "/api/refusal-reasons/999999", json={"active": False}, headers=admin["headers"]
    )
    assert resp.status_code == 404
    listed = (await backend.http.get("/api/refusal-reasons", headers=iv["headers"])).json()
    assert {r["id"]: r["active"] for r in listed}[reason["id"]] is False
    active = await backend.http.get("/api/refusal-reasons?active=true", headers=iv["headers"])
    assert reason["id"] not in [r["id"] for r in active.json()]


async def test_r11_refuse_takes_a_reason_from_the_list_or_in_words(backend, crew):
    admin = await _admin(backend)
    iv, office = crew["ivanov"], crew["office"]
    reason = (
        await _post(
            backend, admin, "/api/refusal-reasons", {"name": f"Дубль {uuid.uuid4().hex[:6]}"}
        )
    ).json()
    retired = (
        await _post(
            backend, admin, "/api/refusal-reasons", {"name": f"Старое {uuid.uuid4().hex[:6]}"}
        )
    ).json()
    await backend.http.patch(
        f"/api/refusal-reasons/{retired['id']}", json={"active": False}, headers=admin["headers"]
    )
    tid = (await _visit(backend, office))["id"]
    for body, needle in (
        ({}, "reason"),
        ({"reason": "  "}, "reason"),
        ({"reason_id": 999999}, "999999"),
        ({"reason_id": retired["id"]}, retired["name"]),
    ):
        resp = await _post(backend, iv, f"/api/tasks/{tid}/refuse", body)
        assert resp.status_code == 422 and needle in resp.json()["detail"], (body, resp.text)
    resp = await _post(
        backend, iv, f"/api/tasks/{tid}/refuse", {"reason_id": reason["id"], "reason": "см. #1"}
    )
    assert resp.status_code == 200 and resp.json()["status"] == "cancelled"
    event = (await _events(backend, office, tid))[-1]
    assert event["kind"] == "refused"
    assert event["data"]["reason_id"] == reason["id"]
    assert event["data"]["reason_name"] == reason["name"]
    assert reason["name"] in event["data"]["reason"] and "см. #1" in event["data"]["reason"]
    # free text alone still works
    other = (await _visit(backend, office))["id"]
    resp = await _post(backend, iv, f"/api/tasks/{other}/refuse", {"reason": "Клиент передумал"})
    assert resp.status_code == 200
    event = (await _events(backend, office, other))[-1]
    assert event["data"]["reason"] == "Клиент передумал" and event["data"]["reason_id"] is None


async def test_r11_redirect_with_call_back_tells_the_new_assignee(backend, crew):
    iv = crew["ivanov"]
    sidorov = await backend.user(
        "engineer", groups=FIELD, surname="Сидоров", email="sidorov@naryad.test"
    )
    tid = (await _visit(backend, crew["office"]))["id"]
    await _post(backend, iv, f"/api/tasks/{tid}/accept")
    resp = await _post(
        backend, iv, f"/api/tasks/{tid}/redirect", {"user_id": sidorov["id"], "call_back": True}
    )
    assert resp.status_code == 200 and resp.json()["call_back"] is True
    row = (
        await Notification.select(Notification.context, Notification.kind)
        .where(
            (Notification.task == tid)
            & (Notification.user == sidorov["id"])
            & (Notification.kind == "assigned")
        )
        .first()
        .output(load_json=True)
    )
    assert row is not None and row["context"]["call_back"] is True
    ru = render("assigned", "ru", row["context"])
    assert "перезвонить клиенту" in ru.body.lower()
    assert "call the client back" in render("assigned", "en", row["context"]).body.lower()
    # without call_back the message says nothing of it
    plain = {**row["context"], "call_back": False}
    assert "перезвон" not in render("assigned", "ru", plain).body.lower()
    # accepting again clears the flag: the call-back was for the redirect
    await _post(backend, sidorov, f"/api/tasks/{tid}/release")
    resp = await _post(backend, iv, f"/api/tasks/{tid}/accept")
    assert resp.json()["call_back"] is False


async def test_ids_no_row_can_have_are_refused_not_crashed_on(backend, crew):
    """A reason_id or user_id beyond the database's integer range is a 422, not a 500."""
    office = crew["office"]
    tid = (await _visit(backend, office))["id"]
    for action, body in (
        ("refuse", {"reason_id": 2**40}),
        ("assign", {"user_id": 2**40}),
        ("redirect", {"user_id": 2**40}),
    ):
        resp = await _post(backend, office, f"/api/tasks/{tid}/{action}", body)
        assert resp.status_code == 422, (action, resp.text)
    assert (await _task(backend, office, tid))["status"] == "new"
