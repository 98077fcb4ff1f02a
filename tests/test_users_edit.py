"""Editing users (issue #13): PATCH /api/users/{id}, deactivation that ends every session at
once, the deactivated user's open tasks, and the two password changes."""

from __future__ import annotations

from typing import Any

import pytest

from server.accounts.tables import AuthToken, User

pytestmark = pytest.mark.sqlite

REMOTE = ("Удалённая техподдержка",)


async def _login(backend, login: str, password: str = "secret-pass") -> Any:
    return await backend.http.post("/api/auth/login", json={"login": login, "password": password})


async def _groups(backend, who) -> dict[str, int]:
    resp = await backend.http.get("/api/groups", headers=who["headers"])
    return {g["name"]: g["id"] for g in resp.json()}


async def test_admin_edits_every_field(backend):
    admin = await backend.user("admin")
    engineer = await backend.user("engineer", login="petrov", surname="Петров", groups=REMOTE)
    groups = await _groups(backend, admin)
    resp = await backend.http.patch(
        f"/api/users/{engineer['id']}",
        json={
            "full_name": "Сидоров Пётр",
            "surname": "Сидоров",
            "roles": ["engineer", "checker"],
            "group_ids": [groups["Выездные инженеры"], groups["Ремонт"]],
            "email": "Sidorov@Naryad.Test",
            "phone": "+7 900",
            "telegram_user_id": 777,
            "language": "en",
        },
        headers=admin["headers"],
    )
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert got["full_name"] == "Сидоров Пётр" and got["surname"] == "Сидоров"
    assert got["roles"] == ["checker", "engineer"]
    assert got["group_ids"] == sorted([groups["Выездные инженеры"], groups["Ремонт"]])
    assert got["email"] == "sidorov@naryad.test" and got["phone"] == "+7 900"
    assert got["telegram_user_id"] == 777 and got["language"] == "en" and got["active"] is True
    assert got["login"] == "petrov"
    # R5 routes "*Сидоров" by the lower-cased surname
    row = await User.select(User.surname_key).where(User.id == engineer["id"]).first()
    assert row == {"surname_key": "сидоров"}
    # the session in use sees the new roles and groups at once
    me = await backend.http.get("/api/me", headers=engineer["headers"])
    assert me.json()["roles"] == ["checker", "engineer"]
    # null clears the optional fields; group_ids [] leaves every group
    resp = await backend.http.patch(
        f"/api/users/{engineer['id']}",
        json={"email": None, "phone": None, "telegram_user_id": None, "group_ids": []},
        headers=admin["headers"],
    )
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert (got["email"], got["phone"], got["telegram_user_id"], got["group_ids"]) == (
        None,
        None,
        None,
        [],
    )


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"nickname": "x"}, 422, "nickname"),
        ({"login": "other"}, 422, "login"),
        ({"full_name": 5}, 422, "full_name"),
        ({"surname": ""}, 422, "surname"),
        ({"surname": "   "}, 422, "surname"),
        ({"roles": []}, 422, "roles"),
        ({"roles": ["wizard"]}, 422, "roles"),
        ({"roles": ["client"]}, 422, "counterparty_id"),
        ({"roles": ["client", "engineer"], "counterparty_id": None}, 422, "client"),
        ({"group_ids": [999999]}, 422, "999999"),
        ({"group_ids": "all"}, 422, "group_ids"),
        ({"email": "not-an-email"}, 422, "email"),
        ({"telegram_user_id": "abc"}, 422, "telegram_user_id"),
        ({"telegram_user_id": 0}, 422, "telegram_user_id"),
        ({"language": "de"}, 422, "language"),
        ({"active": "no"}, 422, "active"),
        ({"counterparty_id": 999999}, 422, "counterparty_id"),
        ({"password": "long-enough-1"}, 422, "password"),
    ],
)
async def test_bad_input_is_422_and_changes_nothing(backend, body, status, needle):
    admin = await backend.user("admin")
    engineer = await backend.user("engineer", groups=REMOTE)
    before = (
        await backend.http.get(f"/api/users/{engineer['id']}", headers=admin["headers"])
    ).json()
    resp = await backend.http.patch(
        f"/api/users/{engineer['id']}",
        json={"full_name": "Изменено", **body},
        headers=admin["headers"],
    )
    assert resp.status_code == status, resp.text
    assert needle in resp.json()["detail"], resp.text
    after = (
        await backend.http.get(f"/api/users/{engineer['id']}", headers=admin["headers"])
    ).json()
    assert after == before


async def test_telegram_id_of_another_user_is_409(backend):
    admin = await backend.user("admin")
    await backend.user("engineer", telegram_user_id=555)
    other = await backend.user("engineer")
    resp = await backend.http.patch(
        f"/api/users/{other['id']}", json={"telegram_user_id": 555}, headers=admin["headers"]
    )
    assert resp.status_code == 409 and "555" in resp.json()["detail"]


async def test_office_edits_staff_but_not_roles_nor_admins(backend):
    office = await backend.user("office")
    admin = await backend.user("admin")
    engineer = await backend.user("engineer")
    h = office["headers"]
    resp = await backend.http.patch(
        f"/api/users/{engineer['id']}", json={"phone": "+7 111", "language": "en"}, headers=h
    )
    assert resp.status_code == 200 and resp.json()["phone"] == "+7 111"
    # roles are the admin's, even unchanged ones
    for roles in (["engineer", "office"], ["engineer"]):
        resp = await backend.http.patch(
            f"/api/users/{engineer['id']}", json={"roles": roles, "phone": "+7 222"}, headers=h
        )
        assert resp.status_code == 403 and "admin" in resp.json()["detail"], resp.text
    resp = await backend.http.patch(
        f"/api/users/{admin['id']}", json={"phone": "+7 333"}, headers=h
    )
    assert resp.status_code == 403
    resp = await backend.http.patch(f"/api/users/{admin['id']}", json={"active": False}, headers=h)
    assert resp.status_code == 403
    got = (await backend.http.get(f"/api/users/{engineer['id']}", headers=h)).json()
    assert got["phone"] == "+7 111" and got["roles"] == ["engineer"]
    # an office user may fix their own details
    resp = await backend.http.patch(
        f"/api/users/{office['id']}", json={"phone": "+7 444"}, headers=h
    )
    assert resp.status_code == 200
    # clients and engineers edit nobody, not even themselves
    cp = await backend.counterparty("Ромашка")
    client = await backend.user("client", counterparty_id=cp["id"])
    for who in (client, engineer):
        resp = await backend.http.patch(
            f"/api/users/{who['id']}", json={"phone": "+7 555"}, headers=who["headers"]
        )
        assert resp.status_code == 403
    resp = await backend.http.patch(
        "/api/users/999999", json={"phone": "1"}, headers=admin["headers"]
    )
    assert resp.status_code == 404


async def test_deactivation_ends_every_session_at_once(backend):
    office = await backend.user("office")
    engineer = await backend.user("engineer", login="leaver", groups=REMOTE)
    second = await _login(backend, "leaver")
    cookie = {"Cookie": f"naryad_session={second.cookies['naryad_session']}"}
    assert (await backend.http.get("/api/me", headers=cookie)).status_code == 200
    resp = await backend.http.patch(
        f"/api/users/{engineer['id']}", json={"active": False}, headers=office["headers"]
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["active"] is False
    for headers in (engineer["headers"], cookie):
        assert (await backend.http.get("/api/me", headers=headers)).status_code == 401
    assert await AuthToken.count().where(AuthToken.user == engineer["id"]) == 0
    assert (await _login(backend, "leaver")).status_code == 401
    # gone from pickers, still readable
    h = office["headers"]
    listed = [u["id"] for u in (await backend.http.get("/api/users", headers=h)).json()]
    assert engineer["id"] not in listed
    inactive = (await backend.http.get("/api/users?archived=true", headers=h)).json()
    assert [u["id"] for u in inactive] == [engineer["id"]]
    every = [u["id"] for u in (await backend.http.get("/api/users?archived=all", headers=h)).json()]
    assert engineer["id"] in every and office["id"] in every
    one = await backend.http.get(f"/api/users/{engineer['id']}", headers=h)
    assert one.status_code == 200 and one.json()["active"] is False
    # back again: they log in as before
    resp = await backend.http.patch(
        f"/api/users/{engineer['id']}", json={"active": True}, headers=h
    )
    assert resp.status_code == 200 and resp.json()["active"] is True
    assert (await _login(backend, "leaver")).status_code == 200


async def test_open_tasks_of_a_user_for_the_office_to_reassign(backend):
    office = await backend.user("office")
    engineer = await backend.user("engineer", groups=REMOTE)
    await backend.counterparty("Ромашка")
    open_ids = []
    for title in ("Ромашка: касса", "Ромашка: сеть"):
        resp = await backend.create_task(
            office, template="remote_support", title=title, assignee_id=engineer["id"]
        )
        assert resp.status_code == 201, resp.text
        open_ids.append(resp.json()["id"])
    done = await backend.create_task(
        office,
        template="remote_support",
        title="Ромашка: по телефону",
        assignee_id=engineer["id"],
        status="completed",
        channel="phone",
    )
    assert done.status_code == 201, done.text
    await backend.create_task(office, template="remote_support", title="Ромашка: в очереди")
    resp = await backend.http.patch(
        f"/api/users/{engineer['id']}", json={"active": False}, headers=office["headers"]
    )
    assert resp.status_code == 200
    listed = await backend.http.get(
        f"/api/users/{engineer['id']}/open-tasks", headers=office["headers"]
    )
    assert listed.status_code == 200, listed.text
    assert sorted(t["id"] for t in listed.json()) == sorted(open_ids)
    assert (
        await backend.http.get(
            f"/api/users/{engineer['id']}/open-tasks", headers=engineer["headers"]
        )
    ).status_code == 401
    other = await backend.user("engineer")
    resp = await backend.http.get(
        f"/api/users/{engineer['id']}/open-tasks", headers=other["headers"]
    )
    assert resp.status_code == 403
    resp = await backend.http.get("/api/users/999999/open-tasks", headers=office["headers"])
    assert resp.status_code == 404
    # the office hands them to someone else
    colleague = await backend.user("engineer", groups=REMOTE)
    for task_id in open_ids:
        resp = await backend.http.post(
            f"/api/tasks/{task_id}/redirect",
            json={"user_id": colleague["id"]},
            headers=office["headers"],
        )
        assert resp.status_code == 200, resp.text
    listed = await backend.http.get(
        f"/api/users/{engineer['id']}/open-tasks", headers=office["headers"]
    )
    assert listed.json() == []


async def test_the_last_admin_stays(backend):
    admin = await backend.user("admin")
    for body in ({"active": False}, {"roles": ["office"]}):
        resp = await backend.http.patch(
            f"/api/users/{admin['id']}", json=body, headers=admin["headers"]
        )
        assert resp.status_code == 409 and "admin" in resp.json()["detail"], resp.text
    second = await backend.user("admin")
    resp = await backend.http.patch(
        f"/api/users/{admin['id']}", json={"roles": ["office"]}, headers=second["headers"]
    )
    assert resp.status_code == 200 and resp.json()["roles"] == ["office"]


async def test_roles_changed_by_an_admin_and_a_client_needs_a_company(backend):
    admin = await backend.user("admin")
    engineer = await backend.user("engineer")
    cp = await backend.counterparty("Ромашка")
    resp = await backend.http.patch(
        f"/api/users/{engineer['id']}",
        json={"roles": ["client"], "counterparty_id": cp["id"], "group_ids": []},
        headers=admin["headers"],
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["roles"] == ["client"] and resp.json()["counterparty_id"] == cp["id"]
    # now a client: the directory is closed to them
    resp = await backend.http.get("/api/users", headers=engineer["headers"])
    assert resp.status_code == 403


async def test_admin_resets_a_password(backend):
    admin = await backend.user("admin")
    office = await backend.user("office")
    engineer = await backend.user("engineer", login="forgetful")
    url = f"/api/users/{engineer['id']}/password"
    resp = await backend.http.post(url, json={"password": "short"}, headers=admin["headers"])
    assert resp.status_code == 422 and "password" in resp.json()["detail"]
    resp = await backend.http.post(
        url, json={"password": "brand-new-pass", "x": 1}, headers=admin["headers"]
    )
    assert resp.status_code == 422 and "x" in resp.json()["detail"]
    resp = await backend.http.post(
        url, json={"password": "brand-new-pass"}, headers=office["headers"]
    )
    assert resp.status_code == 403
    resp = await backend.http.post(
        url, json={"password": "brand-new-pass"}, headers=admin["headers"]
    )
    assert resp.status_code == 204, resp.text
    assert (await backend.http.get("/api/me", headers=engineer["headers"])).status_code == 401
    assert (await _login(backend, "forgetful")).status_code == 401
    assert (await _login(backend, "forgetful", "brand-new-pass")).status_code == 200
    resp = await backend.http.post(
        "/api/users/999999/password", json={"password": "brand-new-pass"}, headers=admin["headers"]
    )
    assert resp.status_code == 404


async def test_me_password_keeps_this_session_and_ends_the_others(backend):
    cp = await backend.counterparty("Ромашка")
    for roles, login in ((("engineer",), "walker"), (("client",), "buyer")):
        user = await backend.user(
            *roles, login=login, counterparty_id=cp["id"] if "client" in roles else None
        )
        other = await _login(backend, login)
        other_headers = {"Authorization": f"Bearer {other.json()['token']}"}
        resp = await backend.http.post(
            "/api/me/password",
            json={"old_password": "wrong-one", "new_password": "another-pass"},
            headers=user["headers"],
        )
        assert resp.status_code == 403 and "password" in resp.json()["detail"]
        resp = await backend.http.post(
            "/api/me/password",
            json={"old_password": "secret-pass", "new_password": "short"},
            headers=user["headers"],
        )
        assert resp.status_code == 422 and "new_password" in resp.json()["detail"]
        resp = await backend.http.post(
            "/api/me/password",
            json={"old_password": "secret-pass", "new_password": "another-pass"},
            headers=user["headers"],
        )
        assert resp.status_code == 204, resp.text
        assert (await backend.http.get("/api/me", headers=user["headers"])).status_code == 200
        assert (await backend.http.get("/api/me", headers=other_headers)).status_code == 401
        assert (await _login(backend, login)).status_code == 401
        assert (await _login(backend, login, "another-pass")).status_code == 200
