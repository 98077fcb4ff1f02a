"""Task creation rules: R1 template first, R2 counterparty in title, R3 channels,
R4 queues, R9 phone requests, R12 history; and nothing half-written on refusal."""

from __future__ import annotations

import pytest

from server.tasks.tables import Task, TaskEvent

pytestmark = pytest.mark.sqlite


async def _counts() -> tuple[int, int]:
    return await Task.count(), await TaskEvent.count()


async def test_r1_template_is_required(backend):
    office = await backend.user("office")
    before = await _counts()
    resp = await backend.create_task(office, title="Просто задача")
    assert resp.status_code == 422
    assert resp.json()["detail"].startswith("R1:")
    assert "template" in resp.json()["detail"]
    resp = await backend.create_task(office, template="teleport", title="Задача")
    assert resp.status_code == 422
    assert resp.json()["detail"].startswith("R1:") and "field_visit" in resp.json()["detail"]
    assert await _counts() == before


async def test_r2_counterparty_found_in_title_ignoring_case_quotes_and_legal_form(backend):
    office = await backend.user("office")
    cp = await backend.counterparty("ООО «Ромашка»")
    resp = await backend.create_task(
        office, template="field_visit", title="«РОМАШКА»: не печатает чек"
    )
    assert resp.status_code == 201, resp.text
    task = resp.json()
    assert task["counterparty"] == {"id": cp["id"], "name": "ООО «Ромашка»"}
    assert task["status"] == "new" and task["assignee"] is None
    assert task["group"]["name"] == "Выездные инженеры"
    assert task["number"] >= 1 and task["version"] == 1 and task["template"] == "field_visit"


async def test_r2_alias_and_longest_name_win(backend):
    office = await backend.user("office")
    chain = await backend.counterparty("Кофе Хаус", aliases=["Coffee House"])
    branch = await backend.counterparty("Кофе Хаус Арбат", parent_id=chain["id"])
    resp = await backend.create_task(
        office, template="delivery", title="Кофе Хаус Арбат: привезти ленту"
    )
    assert resp.json()["counterparty"]["id"] == branch["id"]
    resp = await backend.create_task(
        office, template="delivery", title='Доставка в "coffee house", срочно'
    )
    assert resp.json()["counterparty"]["id"] == chain["id"]


async def test_r2_missing_counterparty_is_refused_with_guidance(backend):
    office = await backend.user("office")
    await backend.counterparty("Ромашка")
    before = await _counts()
    resp = await backend.create_task(office, template="field_visit", title="Не печатает чек")
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert detail.startswith("R2:")
    assert "Ромашка: не печатает чек" in detail  # says what to write
    # a word that merely starts like the name is not the name
    resp = await backend.create_task(office, template="field_visit", title="Ромашковый чай")
    assert resp.status_code == 422 and resp.json()["detail"].startswith("R2:")
    assert await _counts() == before


async def test_r2_given_counterparty_must_be_named_in_title(backend):
    office = await backend.user("office")
    romashka = await backend.counterparty("Ромашка", aliases=["Ромашка-Центр"])
    await backend.counterparty("Лютик")
    resp = await backend.create_task(
        office, template="field_visit", title="Лютик: касса", counterparty_id=romashka["id"]
    )
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert detail.startswith("R2:") and "«Ромашка»" in detail and "«Ромашка-Центр»" in detail
    ok = await backend.create_task(
        office, template="field_visit", title="Ромашка центр: касса", counterparty_id=romashka["id"]
    )
    assert ok.status_code == 201 and ok.json()["counterparty"]["id"] == romashka["id"]
    unknown = await backend.create_task(
        office, template="field_visit", title="Ромашка: касса", counterparty_id=999999
    )
    assert unknown.status_code == 422 and "999999" in unknown.json()["detail"]


async def test_templates_without_r2_do_not_need_or_guess_a_counterparty(backend):
    office = await backend.user("office")
    await backend.counterparty("Ромашка")
    resp = await backend.create_task(office, template="repair", title="Ромашка: блок питания")
    assert resp.status_code == 201
    assert resp.json()["counterparty"] is None
    assert resp.json()["group"]["name"] == "Ремонт"


async def test_site_gives_counterparty_and_must_match_it(backend):
    office = await backend.user("office")
    romashka = await backend.counterparty("Ромашка")
    lutik = await backend.counterparty("Лютик")
    site = await backend.site(romashka["id"], name="Магазин на Тверской", address="Тверская, 1")
    resp = await backend.create_task(
        office, template="field_visit", title="Ромашка: касса", site_id=site["id"]
    )
    assert resp.status_code == 201
    assert resp.json()["site"]["address"] == "Тверская, 1"
    assert resp.json()["counterparty"]["id"] == romashka["id"]
    bad = await backend.create_task(
        office,
        template="field_visit",
        title="Лютик: касса",
        site_id=site["id"],
        counterparty_id=lutik["id"],
    )
    assert bad.status_code == 422 and "another counterparty" in bad.json()["detail"]


async def test_r3_ui_channel_refused_where_template_does_not_allow_it(backend):
    office = await backend.user("office")
    await backend.counterparty("Ромашка")
    # phone calls are logged only for remote support
    resp = await backend.create_task(
        office, template="field_visit", title="Ромашка: касса", channel="phone"
    )
    assert resp.status_code == 422
    assert resp.json()["detail"].startswith("R3:") and "the app, Telegram" in resp.json()["detail"]
    resp = await backend.create_task(
        office, template="field_visit", title="Ромашка: касса", channel="fax"
    )
    assert resp.status_code == 422


async def test_r4_queue_assignee_and_remote_engineer_default(backend):
    office = await backend.user("office")
    remote = await backend.user("engineer", groups=("Удалённая техподдержка",))
    field = await backend.user("engineer", groups=("Выездные инженеры",))
    await backend.counterparty("Ромашка")
    queued = (
        await backend.create_task(
            office, template="remote_support", title="Ромашка: не идёт оплата"
        )
    ).json()
    assert queued["status"] == "new" and queued["assignee"] is None
    assert queued["group"]["name"] == "Удалённая техподдержка"
    named = (
        await backend.create_task(
            office, template="field_visit", title="Ромашка: касса", assignee_id=field["id"]
        )
    ).json()
    assert named["status"] == "accepted" and named["assignee"]["id"] == field["id"]
    assert named["accepted_at"] is not None
    own = (
        await backend.create_task(remote, template="remote_support", title="Ромашка: звонок")
    ).json()
    assert own["assignee"]["id"] == remote["id"] and own["status"] == "accepted"
    groups = {
        g["name"]: g["id"]
        for g in (await backend.http.get("/api/groups", headers=office["headers"])).json()
    }
    to_group = (
        await backend.create_task(
            remote,
            template="remote_support",
            title="Ромашка: звонок",
            group_id=groups["Удалённая техподдержка"],
        )
    ).json()
    assert to_group["assignee"] is None and to_group["status"] == "new"
    # a field engineer creating remote support is not a remote engineer: queue
    other = (
        await backend.create_task(field, template="remote_support", title="Ромашка: звонок")
    ).json()
    assert other["assignee"] is None


@pytest.mark.parametrize(
    ("patch", "needle"),
    [
        ({"assignee_id": 999999}, "assignee_id"),
        ({"group_id": 999999}, "group_id"),
        ({"requester_contact_id": 999999}, "requester_contact_id"),
        ({"site_id": 999999}, "site_id"),
        ({"title": "   "}, "title"),
        ({"title": "x" * 501}, "title"),
        ({"status": "done"}, "status"),
        ({"assignee_id": "abc"}, "assignee_id"),
        ({"colour": "red"}, "colour"),
    ],
)
async def test_bad_task_input_is_422_and_writes_nothing(backend, patch, needle):
    office = await backend.user("office")
    await backend.counterparty("Ромашка")
    before = await _counts()
    resp = await backend.create_task(
        office, **{"template": "field_visit", "title": "Ромашка: касса", **patch}
    )
    assert resp.status_code == 422, resp.text
    assert needle in resp.json()["detail"]
    assert await _counts() == before


async def test_assignee_must_be_an_employee(backend):
    office = await backend.user("office")
    cp = await backend.counterparty("Ромашка")
    client = await backend.user("client", counterparty_id=cp["id"])
    resp = await backend.create_task(
        office, template="field_visit", title="Ромашка: касса", assignee_id=client["id"]
    )
    assert resp.status_code == 422 and "client" in resp.json()["detail"]


async def test_r9_phone_request_entered_completed(backend):
    remote = await backend.user("engineer", groups=("Удалённая техподдержка",))
    cp = await backend.counterparty("Ромашка")
    resp = await backend.create_task(
        remote,
        template="remote_support",
        title="Ромашка: сбросили пароль кассира",
        status="completed",
        channel="phone",
        completed_works="Сбросил пароль по телефону",
    )
    assert resp.status_code == 201, resp.text
    task = resp.json()
    assert task["status"] == "completed" and task["counterparty"]["id"] == cp["id"]
    assert task["assignee"]["id"] == remote["id"] and task["completed_at"] is not None
    assert task["channel"] == "phone"


async def test_r9_only_for_remote_support_and_with_counterparty(backend):
    office = await backend.user("office")
    await backend.counterparty("Ромашка")
    before = await _counts()
    resp = await backend.create_task(
        office, template="field_visit", title="Ромашка: касса", status="completed"
    )
    assert resp.status_code == 422 and resp.json()["detail"].startswith("R9:")
    resp = await backend.create_task(
        office, template="repair", title="Блок питания", status="completed"
    )
    assert resp.status_code == 422 and resp.json()["detail"].startswith("R9:")
    resp = await backend.create_task(
        office, template="remote_support", title="Сбросили пароль", status="completed"
    )
    assert resp.status_code == 422 and resp.json()["detail"].startswith("R2:")
    assert await _counts() == before


async def test_clients_create_only_through_templates_open_to_the_portal(backend):
    """Clients may file portal requests (tests/portal); a template without the portal
    channel is refused by R3, and nothing is written."""
    cp = await backend.counterparty("Ромашка")
    client = await backend.user("client", counterparty_id=cp["id"])
    before = await _counts()
    resp = await backend.create_task(client, template="repair", title="Ромашка: касса")
    assert resp.status_code == 422, resp.text
    assert resp.json()["extra"]["rule"] == "R3"
    assert await _counts() == before


async def test_r12_creation_is_recorded_with_actor_channel_time(backend):
    office = await backend.user("office")
    await backend.counterparty("Ромашка")
    task = (
        await backend.create_task(office, template="field_visit", title="Ромашка: касса")
    ).json()
    resp = await backend.http.get(f"/api/tasks/{task['id']}/history", headers=office["headers"])
    assert resp.status_code == 200
    [event] = resp.json()
    assert event["kind"] == "created"
    assert event["actor"] == {"id": office["id"], "full_name": office["full_name"]}
    assert event["channel"] == "ui"
    assert event["at"] == task["created_at"]
    assert event["data"]["template"] == "field_visit"
    assert event["data"]["counterparty_found_by"] == "title"
    assert event["data"]["counterparty_id"] == task["counterparty"]["id"]
    requester = task["requester"]
    assert requester == {"kind": "user", "id": office["id"], "name": office["full_name"]}
