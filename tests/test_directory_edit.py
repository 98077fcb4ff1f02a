"""Editing the directory (issue #13): PATCH counterparties, contacts and sites, archiving
instead of deleting, merging duplicate contacts, and the mail flow that links a contact to
its company once and fixes the tasks that arrived without one."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest
from naryad_harness import Backend, Server

from server.channels import service as channels
from server.channels.tables import IntakeTask
from server.clients import service as clients
from server.clients.schemas import ContactIn
from server.clients.tables import Contact, CounterpartyName
from server.notifications.tables import Notification
from server.tasks import transitions
from server.tasks.tables import Comment, Task

pytestmark = pytest.mark.sqlite

SECRET = "inbound-secret-edit"
DOMAIN = "naryad.test"


async def _patch(b: Backend, who: dict[str, Any], path: str, body: Any) -> Any:
    return await b.http.patch(path, json=body, headers=who["headers"])


async def _history(b: Backend, who: dict[str, Any], task_id: int) -> list[dict[str, Any]]:
    resp = await b.http.get(f"/api/tasks/{task_id}/history", headers=who["headers"])
    assert resp.status_code == 200, resp.text
    events: list[dict[str, Any]] = resp.json()
    return events


# --- counterparties ------------------------------------------------------------------------


async def test_patch_counterparty_fields_and_the_r2_names(backend):
    office = await backend.user("office")
    cp = await backend.counterparty("Ромашка", aliases=["Romashka"], email_domains=["romashka.ru"])
    resp = await _patch(
        backend,
        office,
        f"/api/counterparties/{cp['id']}",
        {
            "name": "ООО «Лютик»",
            "aliases": ["Lutik", "Лютик-Сервис"],
            "email_domains": ["@Lutik.RU"],
            "category": "VIP",
            "language": "en",
        },
    )
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert got["name"] == "ООО «Лютик»" and got["aliases"] == ["Lutik", "Лютик-Сервис"]
    assert got["email_domains"] == ["lutik.ru"] and got["category"] == "vip"
    assert got["language"] == "en" and got["archived"] is False
    # R2 reads the new names at once; the old ones are gone from the index.
    h = office["headers"]
    for title, expected in (
        ("Лютик: касса", cp["id"]),
        ("lutik не печатает", cp["id"]),
        ("Ромашка: касса", None),
        ("Romashka: касса", None),
    ):
        match = await backend.http.get(f"/api/counterparties/match?title={title}", headers=h)
        assert match.status_code == 200
        body = match.json()
        assert (body["counterparty_id"] if body else None) == expected, title
    # Fields not named stay as they were.
    resp = await _patch(backend, office, f"/api/counterparties/{cp['id']}", {"category": None})
    assert resp.status_code == 200
    assert resp.json()["category"] is None and resp.json()["aliases"] == ["Lutik", "Лютик-Сервис"]


async def test_patch_counterparty_parent_refuses_cycles(backend):
    office = await backend.user("office")
    chain = await backend.counterparty("Вкусно и Быстро")
    branch = await backend.counterparty("ВиБ Тверская", parent_id=chain["id"])
    leaf = await backend.counterparty("ВиБ Тверская Киоск", parent_id=branch["id"])
    for cp_id, parent_id in ((chain["id"], leaf["id"]), (chain["id"], chain["id"])):
        resp = await _patch(
            backend, office, f"/api/counterparties/{cp_id}", {"parent_id": parent_id}
        )
        assert resp.status_code == 422 and "cycle" in resp.json()["detail"], resp.text
        assert "parent_id" in resp.json()["detail"]
    # Moving a branch to another chain and unlinking it are fine.
    other = await backend.counterparty("Шоколадница")
    resp = await _patch(
        backend, office, f"/api/counterparties/{branch['id']}", {"parent_id": other["id"]}
    )
    assert resp.status_code == 200 and resp.json()["parent_id"] == other["id"]
    resp = await _patch(backend, office, f"/api/counterparties/{branch['id']}", {"parent_id": None})
    assert resp.status_code == 200 and resp.json()["parent_id"] is None


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"nickname": "x"}, "nickname"),
        ({"name": 5}, "name"),
        ({"name": ""}, "name"),
        ({"name": "ООО «»"}, "name"),
        ({"aliases": "Лютик"}, "aliases"),
        ({"aliases": ["ИП"]}, "aliases"),
        ({"email_domains": ["not a domain"]}, "email_domains"),
        ({"parent_id": 0}, "parent_id"),
        ({"parent_id": 999999}, "parent_id"),
        ({"language": "de"}, "language"),
        ({"archived": "yes"}, "archived"),
        ({"name": None}, "name"),
    ],
)
async def test_patch_counterparty_bad_input_changes_nothing(backend, body, needle):
    office = await backend.user("office")
    cp = await backend.counterparty("Ромашка", aliases=["Romashka"])
    resp = await _patch(
        backend, office, f"/api/counterparties/{cp['id']}", {"category": "vip", **body}
    )
    assert resp.status_code == 422, resp.text
    assert needle in resp.json()["detail"], resp.text
    after = await backend.http.get(f"/api/counterparties/{cp['id']}", headers=office["headers"])
    assert after.json() == {**cp, "archived": False}
    names = await CounterpartyName.select(CounterpartyName.normalized).where(
        CounterpartyName.counterparty == cp["id"]
    )
    assert sorted(r["normalized"] for r in names) == ["romashka", "ромашка"]


async def test_nothing_half_written_when_a_later_check_fails(backend):
    office = await backend.user("office")
    cp = await backend.counterparty("Ромашка")
    resp = await _patch(
        backend,
        office,
        f"/api/counterparties/{cp['id']}",
        {"name": "Лютик", "parent_id": cp["id"]},
    )
    assert resp.status_code == 422
    after = await backend.http.get(f"/api/counterparties/{cp['id']}", headers=office["headers"])
    assert after.json()["name"] == "Ромашка"
    match = await backend.http.get(
        "/api/counterparties/match?title=Лютик: касса", headers=office["headers"]
    )
    assert match.json() is None


async def test_archived_counterparty_leaves_pickers_and_r2_but_stays_on_old_tasks(backend):
    office = await backend.user("office")
    h = office["headers"]
    cp = await backend.counterparty("Ромашка")
    other = await backend.counterparty("Лютик")
    task = await backend.create_task(office, template="remote_support", title="Ромашка: касса")
    assert task.status_code == 201, task.text
    resp = await _patch(backend, office, f"/api/counterparties/{cp['id']}", {"archived": True})
    assert resp.status_code == 200 and resp.json()["archived"] is True

    listed = {c["name"] for c in (await backend.http.get("/api/counterparties", headers=h)).json()}
    assert listed == {"Лютик"}
    for query, expected in (
        ("archived=true", {"Ромашка"}),
        ("archived=all", {"Ромашка", "Лютик"}),
        ("archived=false", {"Лютик"}),
        ("archived=all&q=ромаш", {"Ромашка"}),
        ("q=ромаш", set()),
    ):
        got = (await backend.http.get(f"/api/counterparties?{query}", headers=h)).json()
        assert {c["name"] for c in got} == expected, query
    bad = await backend.http.get("/api/counterparties?archived=maybe", headers=h)
    assert bad.status_code == 422 and "archived" in bad.json()["detail"]

    # R2 no longer finds it in titles...
    match = await backend.http.get("/api/counterparties/match?title=Ромашка: касса", headers=h)
    assert match.json() is None
    refused = await backend.create_task(office, template="remote_support", title="Ромашка: чек")
    assert refused.status_code == 422 and "R2" in refused.json()["detail"]
    # ...nor can new contacts or sites be filed under it,
    resp = await backend.http.post(
        "/api/contacts", json={"name": "Анна", "counterparty_id": cp["id"]}, headers=h
    )
    assert resp.status_code == 422 and "archived" in resp.json()["detail"]
    resp = await backend.http.post(
        "/api/sites",
        json={"name": "Склад", "address": "Москва", "counterparty_id": cp["id"]},
        headers=h,
    )
    assert resp.status_code == 422 and "archived" in resp.json()["detail"]
    # ...but the old task and a direct read still show it.
    old = (await backend.http.get(f"/api/tasks/{task.json()['id']}", headers=h)).json()
    assert old["counterparty"] == {"id": cp["id"], "name": "Ромашка"}
    one = (await backend.http.get(f"/api/counterparties/{cp['id']}", headers=h)).json()
    assert one["archived"] is True and one["name"] == "Ромашка"

    # Restoring puts its names back.
    resp = await _patch(backend, office, f"/api/counterparties/{cp['id']}", {"archived": False})
    assert resp.status_code == 200 and resp.json()["archived"] is False
    match = await backend.http.get("/api/counterparties/match?title=Ромашка: касса", headers=h)
    assert match.json()["counterparty_id"] == cp["id"]
    assert other["id"] != cp["id"]


async def test_editing_an_archived_counterparty_keeps_it_out_of_r2(backend):
    office = await backend.user("office")
    cp = await backend.counterparty("Ромашка")
    assert (
        await _patch(backend, office, f"/api/counterparties/{cp['id']}", {"archived": True})
    ).status_code == 200
    resp = await _patch(backend, office, f"/api/counterparties/{cp['id']}", {"aliases": ["Лютик"]})
    assert resp.status_code == 200 and resp.json()["aliases"] == ["Лютик"]
    match = await backend.http.get(
        "/api/counterparties/match?title=Лютик: касса", headers=office["headers"]
    )
    assert match.json() is None


async def test_only_office_and_admin_edit_the_directory(backend):
    cp = await backend.counterparty("Ромашка")
    site = await backend.site(cp["id"])
    contact = await clients.create_contact(ContactIn(name="Анна", counterparty_id=cp["id"]))
    client = await backend.user("client", counterparty_id=cp["id"])
    engineer = await backend.user("engineer")
    admin = await backend.user("admin")
    for who in (client, engineer):
        for path, body in (
            (f"/api/counterparties/{cp['id']}", {"name": "Взлом"}),
            (f"/api/contacts/{contact.id}", {"name": "Взлом"}),
            (f"/api/sites/{site['id']}", {"name": "Взлом"}),
        ):
            resp = await _patch(backend, who, path, body)
            assert resp.status_code == 403, (path, resp.text)
        for path, body in (
            (f"/api/contacts/{contact.id}/merge", {"into_id": contact.id}),
            (f"/api/contacts/{contact.id}/apply-counterparty", None),
        ):
            resp = await backend.http.post(path, json=body, headers=who["headers"])
            assert resp.status_code == 403, (path, resp.text)
    resp = await _patch(backend, admin, f"/api/counterparties/{cp['id']}", {"name": "Ромашка 2"})
    assert resp.status_code == 200
    for path in ("/api/counterparties/999999", "/api/contacts/999999", "/api/sites/999999"):
        resp = await _patch(backend, admin, path, {"name": "X"})
        assert resp.status_code == 404, path


# --- contacts --------------------------------------------------------------------------------


async def test_patch_contact_fields_link_and_archive(backend):
    office = await backend.user("office")
    h = office["headers"]
    cp = await backend.counterparty("Ромашка")
    contact = await clients.create_contact(ContactIn(name="Анна", email="anna@gmail.com"))
    resp = await _patch(
        backend,
        office,
        f"/api/contacts/{contact.id}",
        {
            "name": "Анна Смирнова",
            "email": "Anna.S@Gmail.com",
            "phone": "+7 900",
            "counterparty_id": cp["id"],
        },
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "id": contact.id,
        "name": "Анна Смирнова",
        "email": "anna.s@gmail.com",
        "phone": "+7 900",
        "counterparty_id": cp["id"],
        "archived": False,
    }
    for body, needle in (
        ({"email": "nope"}, "email"),
        ({"email": 5}, "email"),
        ({"counterparty_id": 999999}, "counterparty_id"),
        ({"counterparty_id": "x"}, "counterparty_id"),
        ({"name": ""}, "name"),
        ({"phone": "9" * 51}, "phone"),
        ({"company": "x"}, "company"),
    ):
        bad = await _patch(backend, office, f"/api/contacts/{contact.id}", {"name": "Ы", **body})
        assert bad.status_code == 422 and needle in bad.json()["detail"], (body, bad.text)
    listed = (await backend.http.get(f"/api/contacts?counterparty={cp['id']}", headers=h)).json()
    assert [c["name"] for c in listed] == ["Анна Смирнова"]
    # null unlinks; archived hides it from the picker
    resp = await _patch(backend, office, f"/api/contacts/{contact.id}", {"counterparty_id": None})
    assert resp.status_code == 200 and resp.json()["counterparty_id"] is None
    resp = await _patch(backend, office, f"/api/contacts/{contact.id}", {"archived": True})
    assert resp.status_code == 200 and resp.json()["archived"] is True
    assert (await backend.http.get("/api/contacts", headers=h)).json() == []
    archived = (await backend.http.get("/api/contacts?archived=true", headers=h)).json()
    assert [c["id"] for c in archived] == [contact.id]
    assert len((await backend.http.get("/api/contacts?archived=all", headers=h)).json()) == 1


async def test_merge_contacts_moves_everything_to_the_survivor(backend):
    office = await backend.user("office")
    engineer = await backend.user("engineer", groups=("Удалённая техподдержка",))
    h = office["headers"]
    cp = await backend.counterparty("Ромашка")
    dup = await clients.create_contact(
        ContactIn(name="Анна", email="anna@romashka.ru", phone="+7 111", counterparty_id=cp["id"])
    )
    keep = await clients.create_contact(ContactIn(name="Анна Смирнова", email="anna@romashka.ru"))
    task = await backend.create_task(
        office,
        template="remote_support",
        title="Ромашка: касса",
        requester_contact_id=dup.id,
        assignee_id=engineer["id"],
    )
    assert task.status_code == 201, task.text
    task_id = task.json()["id"]
    # a reply to the client (a notification to the contact), the client's answer (a
    # comment by the contact), and the intake record of a mail task
    resp = await backend.http.post(
        f"/api/tasks/{task_id}/comments",
        json={"body": "Перезагрузите кассу.", "public": True},
        headers=engineer["headers"],
    )
    assert resp.status_code == 201
    comment_id = await transitions.add_contact_comment(dup.id, task_id, "Не помогло")
    await IntakeTask.insert(IntakeTask(task=task_id, contact=dup.id, counterparty_missing=False))
    assert await Notification.count().where(Notification.contact == dup.id) >= 1

    for body, status, needle in (
        ({"into_id": dup.id}, 422, "itself"),
        ({"into_id": 999999}, 404, "999999"),
        ({"into": keep.id}, 422, "into"),
        ({}, 422, "into_id"),
    ):
        bad = await backend.http.post(f"/api/contacts/{dup.id}/merge", json=body, headers=h)
        assert bad.status_code == status and needle in bad.json()["detail"], (body, bad.text)

    resp = await backend.http.post(
        f"/api/contacts/{dup.id}/merge", json={"into_id": keep.id}, headers=h
    )
    assert resp.status_code == 200, resp.text
    # The survivor keeps its own values and takes what it lacked.
    assert resp.json() == {
        "id": keep.id,
        "name": "Анна Смирнова",
        "email": "anna@romashka.ru",
        "phone": "+7 111",
        "counterparty_id": cp["id"],
        "archived": False,
    }
    assert not await Contact.exists().where(Contact.id == dup.id)
    row = await Task.select(Task.requester_contact).where(Task.id == task_id).first()
    assert row == {"requester_contact": keep.id}
    comment = await Comment.select(Comment.author_contact).where(Comment.id == comment_id).first()
    assert comment == {"author_contact": keep.id}
    intake = await IntakeTask.select(IntakeTask.contact).where(IntakeTask.task == task_id).first()
    assert intake == {"contact": keep.id}
    assert await Notification.count().where(Notification.contact == dup.id) == 0
    assert await Notification.count().where(Notification.contact == keep.id) >= 1
    merged = [e for e in await _history(backend, office, task_id) if e["kind"] == "contact_merged"]
    assert len(merged) == 1
    assert merged[0]["data"]["from_contact_id"] == dup.id
    assert merged[0]["data"]["into_contact_id"] == keep.id
    got = (await backend.http.get(f"/api/tasks/{task_id}", headers=h)).json()
    assert got["requester"]["id"] == keep.id
    # The merged one is gone: merging it again is a 404.
    again = await backend.http.post(
        f"/api/contacts/{dup.id}/merge", json={"into_id": keep.id}, headers=h
    )
    assert again.status_code == 404


async def test_apply_counterparty_needs_a_linked_contact(backend):
    office = await backend.user("office")
    h = office["headers"]
    contact = await clients.create_contact(ContactIn(name="Анна", email="anna@gmail.com"))
    resp = await backend.http.post(f"/api/contacts/{contact.id}/apply-counterparty", headers=h)
    assert resp.status_code == 422 and "counterparty" in resp.json()["detail"]
    cp = await backend.counterparty("Ромашка")
    await _patch(backend, office, f"/api/contacts/{contact.id}", {"counterparty_id": cp["id"]})
    resp = await backend.http.post(f"/api/contacts/{contact.id}/apply-counterparty", headers=h)
    assert resp.status_code == 200 and resp.json() == {"task_ids": []}
    resp = await backend.http.post("/api/contacts/999999/apply-counterparty", headers=h)
    assert resp.status_code == 404


# --- sites -------------------------------------------------------------------------------------


async def test_patch_site_fields_move_and_archive(backend):
    office = await backend.user("office")
    h = office["headers"]
    cp = await backend.counterparty("Ромашка")
    other = await backend.counterparty("Лютик")
    site = await backend.site(cp["id"], name="Магазин", lat=55.0, lon=37.0)
    resp = await _patch(
        backend,
        office,
        f"/api/sites/{site['id']}",
        {"name": "Магазин №2", "address": "Москва, Тверская 2", "lat": 55.75, "lon": 37.61},
    )
    assert resp.status_code == 200, resp.text
    expected = {
        "id": site["id"],
        "counterparty_id": cp["id"],
        "name": "Магазин №2",
        "address": "Москва, Тверская 2",
        "lat": 55.75,
        "lon": 37.61,
        "archived": False,
    }
    assert {k: resp.json()[k] for k in expected} == expected
    # a point set by hand is not geocoded over (server/dispatch)
    assert resp.json()["geocode_status"] == "manual"
    for body, needle in (
        ({"lat": 95}, "lat"),
        ({"lon": "east"}, "lon"),
        ({"lat": None}, "lon"),
        ({"address": ""}, "address"),
        ({"counterparty_id": None}, "counterparty_id"),
        ({"counterparty_id": 999999}, "counterparty_id"),
        ({"floor": 2}, "floor"),
    ):
        bad = await _patch(backend, office, f"/api/sites/{site['id']}", {"name": "Ы", **body})
        assert bad.status_code == 422 and needle in bad.json()["detail"], (body, bad.text)
    resp = await _patch(backend, office, f"/api/sites/{site['id']}", {"lat": None, "lon": None})
    assert resp.status_code == 200 and resp.json()["lat"] is None
    resp = await _patch(
        backend, office, f"/api/sites/{site['id']}", {"counterparty_id": other["id"]}
    )
    assert resp.status_code == 200 and resp.json()["counterparty_id"] == other["id"]
    resp = await _patch(backend, office, f"/api/sites/{site['id']}", {"archived": True})
    assert resp.status_code == 200 and resp.json()["archived"] is True
    assert (
        await backend.http.get(f"/api/sites?counterparty={other['id']}", headers=h)
    ).json() == []
    listed = (await backend.http.get("/api/sites?archived=true", headers=h)).json()
    assert [s["name"] for s in listed] == ["Магазин №2"]


# --- the mail flow ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def mail_servers() -> Iterator[dict[str, Server]]:
    started: dict[str, Server] = {}
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture
async def mb(backend: Backend, mail_servers: dict[str, Server]) -> AsyncIterator[Backend]:
    """The backend's database behind a server that takes inbound mail."""
    if backend.kind not in mail_servers:
        env = {
            "NARYAD_INBOUND_EMAIL_SECRET": SECRET,
            "NARYAD_MAIL_DOMAIN": DOMAIN,
            # Client mail goes nowhere: a closed port (delivery retries quietly).
            "NARYAD_SMTP_HOST": "127.0.0.1",
            "NARYAD_SMTP_PORT": str(_free_port()),
        }
        mail_servers[backend.kind] = await asyncio.to_thread(Server, backend.url, 1, env)
    b = Backend(backend.kind, backend.url, mail_servers[backend.kind])
    await channels.seed_default_addresses(DOMAIN)
    yield b
    await b.http.aclose()


async def _mail(b: Backend, sender: str, to: str, subject: str) -> dict[str, Any]:
    msg = EmailMessage()
    msg["From"] = f"Мария <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="client.example")
    msg.set_content("Добрый день! Касса не включается.")
    resp = await b.http.post(
        "/api/channels/email/inbound",
        content=msg.as_bytes(),
        headers={"Content-Type": "message/rfc822", "X-Naryad-Secret": SECRET},
    )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    assert body["outcome"] == "task_created", body
    return body


async def test_mail_from_an_unknown_sender_is_fixed_by_linking_its_contact(mb):
    office = await mb.user("office")
    h = office["headers"]
    sender = "maria@lutik-cafe.example"
    remote = await _mail(mb, sender, f"project+31@{DOMAIN}", "Не работает касса")
    accounting = await _mail(mb, sender, f"project+124@{DOMAIN}", "Счёт за март")
    missing = (await mb.http.get("/api/channels/email/missing-counterparty", headers=h)).json()
    assert {m["task_id"] for m in missing} == {remote["task_id"], accounting["task_id"]}
    contact_id = missing[0]["contact_id"]
    assert contact_id is not None and {m["contact_id"] for m in missing} == {contact_id}

    # The office creates the company and links the contact, once.
    cp = await mb.counterparty("Кафе Лютик")
    resp = await _patch(mb, office, f"/api/contacts/{contact_id}", {"counterparty_id": cp["id"]})
    assert resp.status_code == 200 and resp.json()["counterparty_id"] == cp["id"]
    listed = await mb.http.get(
        f"/api/channels/email/missing-counterparty?contact={contact_id}", headers=h
    )
    assert {m["task_id"] for m in listed.json()} == {remote["task_id"], accounting["task_id"]}

    resp = await mb.http.post(f"/api/contacts/{contact_id}/apply-counterparty", headers=h)
    assert resp.status_code == 200, resp.text
    assert sorted(resp.json()["task_ids"]) == sorted([remote["task_id"], accounting["task_id"]])

    fixed = (await mb.http.get(f"/api/tasks/{remote['task_id']}", headers=h)).json()
    assert fixed["counterparty"] == {"id": cp["id"], "name": "Кафе Лютик"}
    # R2: remote support shows the client in the title, as intake would have written it.
    assert fixed["title"] == "Кафе Лютик: Не работает касса"
    plain = (await mb.http.get(f"/api/tasks/{accounting['task_id']}", headers=h)).json()
    assert plain["counterparty"]["id"] == cp["id"] and plain["title"] == "Счёт за март"
    assert plain["version"] == 2
    # One edit of the task by the office: a new version, a history event per field (R12).
    assert fixed["version"] == 2
    changed = {
        e["data"]["field"]: e
        for e in await _history(mb, office, remote["task_id"])
        if e["kind"] == "field_changed"
    }
    assert set(changed) == {"counterparty_id", "title"}
    assert {e["actor"]["id"] for e in changed.values()} == {office["id"]}
    assert (
        changed["counterparty_id"]["data"]["old"],
        changed["counterparty_id"]["data"]["new"],
    ) == (
        None,
        cp["id"],
    )
    assert (changed["title"]["data"]["old"], changed["title"]["data"]["new"]) == (
        "Не работает касса",
        "Кафе Лютик: Не работает касса",
    )
    assert (await mb.http.get("/api/channels/email/missing-counterparty", headers=h)).json() == []
    flags = await IntakeTask.select(IntakeTask.counterparty_missing).where(
        IntakeTask.contact == contact_id
    )
    assert [f["counterparty_missing"] for f in flags] == [False, False]
    # A second call finds nothing left to fix.
    again = await mb.http.post(f"/api/contacts/{contact_id}/apply-counterparty", headers=h)
    assert again.json() == {"task_ids": []}

    # The next mail from that sender lands with the counterparty.
    nxt = await _mail(mb, sender, f"project+31@{DOMAIN}", "Снова касса")
    task = (await mb.http.get(f"/api/tasks/{nxt['task_id']}", headers=h)).json()
    assert task["counterparty"] == {"id": cp["id"], "name": "Кафе Лютик"}
    assert task["title"] == "Кафе Лютик: Снова касса"
    assert (await mb.http.get("/api/channels/email/missing-counterparty", headers=h)).json() == []


async def test_mail_from_a_contact_of_an_archived_counterparty_waits_for_the_office(mb):
    office = await mb.user("office")
    h = office["headers"]
    cp = await mb.counterparty("Ромашка", email_domains=["romashka.ru"])
    await clients.create_contact(
        ContactIn(name="Анна", email="anna@romashka.ru", counterparty_id=cp["id"])
    )
    assert (
        await _patch(mb, office, f"/api/counterparties/{cp['id']}", {"archived": True})
    ).status_code == 200
    for sender in ("anna@romashka.ru", "boris@romashka.ru"):
        got = await _mail(mb, sender, f"project+31@{DOMAIN}", "Не работает касса")
        task = (await mb.http.get(f"/api/tasks/{got['task_id']}", headers=h)).json()
        assert task["counterparty"] is None, sender
    missing = (await mb.http.get("/api/channels/email/missing-counterparty", headers=h)).json()
    assert len(missing) == 2
