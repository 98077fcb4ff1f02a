"""Directory API (API.md): groups, users, counterparties, contacts, sites, templates."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.sqlite


async def test_groups_create_list_and_duplicate(backend):
    office = await backend.user("office")
    h = office["headers"]
    resp = await backend.http.post("/api/groups", json={"name": "Склад"}, headers=h)
    assert resp.status_code == 201
    assert resp.json()["name"] == "Склад" and resp.json()["id"] > 0
    dup = await backend.http.post("/api/groups", json={"name": "Склад"}, headers=h)
    assert dup.status_code == 409 and "Склад" in dup.json()["detail"]
    blank = await backend.http.post("/api/groups", json={"name": "   "}, headers=h)
    assert blank.status_code == 422
    names = [g["name"] for g in (await backend.http.get("/api/groups", headers=h)).json()]
    assert "Склад" in names and "Выездные инженеры" in names


async def test_create_user_with_groups_and_contacts(backend):
    admin = await backend.user("admin")
    groups = {
        g["name"]: g["id"]
        for g in (await backend.http.get("/api/groups", headers=admin["headers"])).json()
    }
    body = {
        "login": "ivanov",
        "password": "long-enough",
        "full_name": "Иванов Пётр",
        "surname": "Иванов",
        "roles": ["engineer"],
        "group_ids": [groups["Выездные инженеры"]],
        "email": "Ivanov@Example.RU",
        "phone": "+7 900 000-00-00",
        "telegram_user_id": 12345,
        "language": "en",
    }
    resp = await backend.http.post("/api/users", json=body, headers=admin["headers"])
    assert resp.status_code == 201, resp.text
    user = resp.json()
    assert user["login"] == "ivanov" and user["roles"] == ["engineer"]
    assert user["group_ids"] == [groups["Выездные инженеры"]]
    assert user["email"] == "ivanov@example.ru" and user["language"] == "en"
    assert "password" not in user and "password_hash" not in user
    # the new user can log in
    login = await backend.http.post(
        "/api/auth/login", json={"login": "ivanov", "password": "long-enough"}
    )
    assert login.status_code == 200
    listed = await backend.http.get(
        f"/api/users?group={groups['Выездные инженеры']}", headers=admin["headers"]
    )
    assert [u["login"] for u in listed.json()] == ["ivanov"]


@pytest.mark.parametrize(
    ("patch", "status", "needle"),
    [
        ({"roles": ["client"]}, 422, "counterparty_id"),
        ({"roles": []}, 422, "roles"),
        ({"roles": ["wizard"]}, 422, "roles"),
        ({"password": "short"}, 422, "password"),
        ({"group_ids": [99999]}, 422, "99999"),
        ({"email": "not-an-email"}, 422, "e-mail"),
        ({"language": "de"}, 422, "language"),
        ({"login": "has space"}, 422, "login"),
        ({"counterparty_id": 424242, "roles": ["client"]}, 422, "counterparty"),
        ({"unexpected": 1}, 422, "unexpected"),
    ],
)
async def test_create_user_rejects_bad_input(backend, patch, status, needle):
    admin = await backend.user("admin")
    body = {
        "login": "u1",
        "password": "long-enough",
        "full_name": "U",
        "surname": "U",
        "roles": ["engineer"],
        **patch,
    }
    resp = await backend.http.post("/api/users", json=body, headers=admin["headers"])
    assert resp.status_code == status, resp.text
    assert needle in resp.json()["detail"]
    users = await backend.http.get("/api/users", headers=admin["headers"])
    assert "u1" not in [u["login"] for u in users.json()]


async def test_duplicate_login_is_409_and_office_cannot_make_admins(backend):
    office = await backend.user("office", login="office1")
    body = {
        "login": "office1",
        "password": "long-enough",
        "full_name": "X",
        "surname": "X",
        "roles": ["engineer"],
    }
    resp = await backend.http.post("/api/users", json=body, headers=office["headers"])
    assert resp.status_code == 409 and "office1" in resp.json()["detail"]
    body = {**body, "login": "newadmin", "roles": ["admin"]}
    resp = await backend.http.post("/api/users", json=body, headers=office["headers"])
    assert resp.status_code == 403


async def test_client_user_needs_and_gets_counterparty(backend):
    admin = await backend.user("admin")
    cp = await backend.counterparty("Ромашка")
    body = {
        "login": "client1",
        "password": "long-enough",
        "full_name": "Клиент",
        "surname": "Клиентов",
        "roles": ["client"],
        "counterparty_id": cp["id"],
    }
    resp = await backend.http.post("/api/users", json=body, headers=admin["headers"])
    assert resp.status_code == 201 and resp.json()["counterparty_id"] == cp["id"]


async def test_counterparties_with_aliases_domains_parent_and_search(backend):
    office = await backend.user("office")
    h = office["headers"]
    chain = await backend.http.post(
        "/api/counterparties",
        json={
            "name": "ООО «Кофе Хаус»",
            "aliases": ["Coffee House"],
            "email_domains": ["CoffeeHouse.ru", "@cofe.ru"],
        },
        headers=h,
    )
    assert chain.status_code == 201, chain.text
    assert chain.json()["email_domains"] == ["coffeehouse.ru", "cofe.ru"]
    branch = await backend.http.post(
        "/api/counterparties",
        json={"name": "Кофе Хаус Арбат", "parent_id": chain.json()["id"]},
        headers=h,
    )
    assert branch.status_code == 201 and branch.json()["parent_id"] == chain.json()["id"]
    # search is case-insensitive for Cyrillic and covers aliases
    found = (await backend.http.get("/api/counterparties?q=КОФЕ", headers=h)).json()
    assert {c["name"] for c in found} == {"ООО «Кофе Хаус»", "Кофе Хаус Арбат"}
    found = (await backend.http.get("/api/counterparties?q=coffee", headers=h)).json()
    assert [c["name"] for c in found] == ["ООО «Кофе Хаус»"]
    one = await backend.http.get(f"/api/counterparties/{chain.json()['id']}", headers=h)
    assert one.json()["aliases"] == ["Coffee House"]
    assert (await backend.http.get("/api/counterparties/999999", headers=h)).status_code == 404


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"name": "ООО «»"}, "no words"),
        ({"name": "Ромашка", "aliases": ["ИП"]}, "no words"),
        ({"name": "Ромашка", "email_domains": ["not a domain"]}, "domain"),
        ({"name": "Ромашка", "parent_id": 999999}, "parent_id"),
        ({"name": ""}, "name"),
    ],
)
async def test_counterparty_bad_input(backend, body, needle):
    office = await backend.user("office")
    resp = await backend.http.post("/api/counterparties", json=body, headers=office["headers"])
    assert resp.status_code == 422 and needle in resp.json()["detail"], resp.text
    listed = await backend.http.get("/api/counterparties", headers=office["headers"])
    assert listed.json() == []


async def test_contacts_and_sites(backend):
    office = await backend.user("office")
    h = office["headers"]
    cp = await backend.counterparty("Ромашка")
    contact = await backend.http.post(
        "/api/contacts",
        json={
            "name": "Анна",
            "email": "Anna@Romashka.ru",
            "phone": "+7",
            "counterparty_id": cp["id"],
        },
        headers=h,
    )
    assert contact.status_code == 201 and contact.json()["email"] == "anna@romashka.ru"
    site = await backend.http.post(
        "/api/sites",
        json={
            "counterparty_id": cp["id"],
            "name": "Магазин",
            "address": "Москва, Тверская 1",
            "lat": 55.75,
            "lon": 37.61,
        },
        headers=h,
    )
    assert site.status_code == 201 and site.json()["lat"] == 55.75
    listed = await backend.http.get(f"/api/sites?counterparty={cp['id']}", headers=h)
    assert [s["name"] for s in listed.json()] == ["Магазин"]
    contacts = await backend.http.get(f"/api/contacts?counterparty={cp['id']}", headers=h)
    assert [c["name"] for c in contacts.json()] == ["Анна"]
    for bad, needle in (
        ({"counterparty_id": cp["id"], "name": "S", "address": "A", "lat": 55.0}, "both"),
        ({"counterparty_id": cp["id"], "name": "S", "address": "A", "lat": 95, "lon": 1}, "lat"),
        ({"counterparty_id": 999999, "name": "S", "address": "A"}, "counterparty"),
        ({"name": "S", "address": "A"}, "counterparty_id"),
    ):
        resp = await backend.http.post("/api/sites", json=bad, headers=h)
        assert resp.status_code == 422 and needle in resp.json()["detail"], (bad, resp.text)
    bad_contact = await backend.http.post(
        "/api/contacts", json={"name": "X", "email": "nope"}, headers=h
    )
    assert bad_contact.status_code == 422


async def test_templates_are_seeded_by_migrations(backend):
    engineer = await backend.user("engineer")
    resp = await backend.http.get("/api/templates", headers=engineer["headers"])
    assert resp.status_code == 200
    templates = {t["code"]: t for t in resp.json()}
    assert set(templates) == {"accounting", "delivery", "field_visit", "repair", "remote_support"}
    groups = {
        g["id"]: g["name"]
        for g in (await backend.http.get("/api/groups", headers=engineer["headers"])).json()
    }
    expected = {
        # code: (group, channels, counterparty_in_title, requires_check, completed works)
        "accounting": ("Бухгалтерия", {"ui", "telegram", "email"}, False, False, False),
        "delivery": ("Доставка", {"ui", "telegram"}, True, False, False),
        # The client portal (issue 18) takes field visits and remote support by default.
        "field_visit": ("Выездные инженеры", {"ui", "telegram", "portal"}, True, True, True),
        "repair": ("Ремонт", {"ui"}, False, False, False),
        "remote_support": (
            "Удалённая техподдержка",
            {"ui", "telegram", "email", "phone", "portal"},
            True,
            False,
            False,
        ),
    }
    for code, (group, channels, in_title, check, works) in expected.items():
        t = templates[code]
        assert groups[t["default_group_id"]] == group
        assert set(t["channels"]) == channels
        assert (t["counterparty_in_title"], t["requires_check"], t["requires_completed_works"]) == (
            in_title,
            check,
            works,
        )
