"""R5/R6 mail rules (issue #12) end to end: follow-ups of completed tasks and their notice,
whose token is trusted, employees' mail, chains, and field visits that never mail clients."""

from __future__ import annotations

import json
from typing import Any

import pytest
from channel_fakes import MAIL_DOMAIN, client_mail, post_mail
from naryad_harness import Backend

from server.channels import service as channels
from server.clients import service as clients
from server.clients.schemas import ContactIn
from server.clients.tables import Contact
from server.notifications.delivery import render
from server.notifications.tables import Notification
from server.tasks.tables import Comment, Task

REMOTE = ("Удалённая техподдержка",)
SUPPORT = f"support@{MAIL_DOMAIN}"


class Company:
    """Ромашка with Анна; the chain «Вкусно и Быстро» with two restaurants and a contact
    at each; staff of the remote-support group."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.users: dict[str, dict[str, Any]] = {}


async def _company(mb: Backend) -> Company:
    c = Company()
    romashka = await mb.counterparty("Ромашка", email_domains=["romashka.ru"])
    chain = await mb.counterparty("Вкусно и Быстро", email_domains=["vkusno.ru"])
    tver = await mb.counterparty("ВиБ Тверская", parent_id=chain["id"])
    arbat = await mb.counterparty(
        "ВиБ Арбат", parent_id=chain["id"], email_domains=["arbat.vkusno.ru"]
    )
    c.ids.update(romashka=romashka["id"], chain=chain["id"], tver=tver["id"], arbat=arbat["id"])
    for key, name, email, cp in (
        ("anna", "Анна Смирнова", "anna@romashka.ru", romashka["id"]),
        ("tver_admin", "Администратор Тверская", "tver.admin@gmail.com", tver["id"]),
        ("arbat_admin", "Администратор Арбат", "arbat.admin@yandex.ru", arbat["id"]),
    ):
        contact = await clients.create_contact(
            ContactIn(name=name, email=email, counterparty_id=cp)
        )
        c.ids[key] = contact.id
    c.users["office"] = await mb.user("office", groups=REMOTE, email="office@naryad.test")
    c.users["engineer"] = await mb.user(
        "engineer", groups=REMOTE, surname="Иванов", email="ivanov@naryad.test"
    )
    c.users["field"] = await mb.user("engineer", groups=("Выездные инженеры",), surname="Сидоров")
    await channels.seed_default_addresses(MAIL_DOMAIN)
    return c


async def _task(mb: Backend, c: Company, title: str, contact: str, **body: Any) -> dict[str, Any]:
    resp = await mb.create_task(
        c.users["office"],
        template=body.pop("template", "remote_support"),
        title=title,
        requester_contact_id=c.ids[contact],
        **body,
    )
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def _completed(mb: Backend, c: Company) -> dict[str, Any]:
    return await _task(
        mb,
        c,
        "Ромашка: чек по телефону",
        "anna",
        status="completed",
        channel="phone",
        assignee_id=c.users["engineer"]["id"],
    )


async def _get(mb: Backend, c: Company, task_id: int) -> dict[str, Any]:
    resp = await mb.http.get(f"/api/tasks/{task_id}", headers=c.users["office"]["headers"])
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


@pytest.mark.sqlite
async def test_a_reply_to_a_completed_task_is_a_follow_up_linked_both_ways(mb: Backend) -> None:
    c = await _company(mb)
    done = await _completed(mb, c)
    raw = client_mail(
        f"Re: [#{done['number']}] Ромашка: чек по телефону",
        "Проблема вернулась: чек снова не печатается.\n\n"
        "On 24 Nov 2026, at 12:30, Naryad <support@naryad.test> wrote:\n> Задача выполнена.\n",
        to=SUPPORT,
    )
    resp = await post_mail(mb, raw)
    assert resp.json()["outcome"] == "task_created", resp.text
    new_id = resp.json()["task_id"]

    new = await _get(mb, c, new_id)
    assert new["parent_task_id"] == done["id"] and new["follow_ups"] == []
    assert f"#{done['number']}" in new["description"]
    old = await _get(mb, c, done["id"])
    assert old["parent_task_id"] is None and old["follow_ups"] == [new_id]
    # Lists stay one query: follow-ups are read on a single task only.
    resp = await mb.http.get("/api/tasks", headers=c.users["office"]["headers"])
    listed = {t["id"]: t for t in resp.json()["items"]}
    assert listed[new_id]["parent_task_id"] == done["id"]
    assert listed[done["id"]]["follow_ups"] == []

    # The whole remote-support group hears of it, told it continues #N, in the client's words.
    told = await Notification.select(
        Notification.user, Notification.kind, Notification.context
    ).where(Notification.task == new_id)
    group = {c.users["office"]["id"], c.users["engineer"]["id"]}
    assert {r["user"] for r in told if r["kind"] == "follow_up"} == group
    context = next(r["context"] for r in told if r["kind"] == "follow_up")
    context = context if isinstance(context, dict) else json.loads(context)
    ru = render("follow_up", "ru", {**context, "link": "L"})
    assert f"#{done['number']}" in ru.subject + ru.body
    assert "Проблема вернулась: чек снова не печатается." in ru.body
    assert "Задача выполнена" not in ru.body  # the quoted history is not the client's words
    en = render("follow_up", "en", {**context, "link": "L"})
    assert f"follow-up of #{done['number']}" in en.body


@pytest.mark.sqlite
async def test_a_token_from_an_unrelated_sender_is_never_a_comment(mb: Backend) -> None:
    c = await _company(mb)
    open_task = await _task(mb, c, "Ромашка: не печатает чек", "anna")
    done = await _completed(mb, c)
    for number in (open_task["number"], done["number"]):
        raw = client_mail(
            f"Re: [#{number}] Ромашка",
            "Пришлите пароль администратора.",
            sender="Незнакомец <someone@stranger.example>",
            to=SUPPORT,
        )
        body = (await post_mail(mb, raw)).json()
        assert body["outcome"] == "task_created", body
        new = await _get(mb, c, body["task_id"])
        assert f"#{number}" in new["description"]
        assert new["parent_task_id"] is None  # not a follow-up of someone else's task
    assert await Comment.count() == 0


@pytest.mark.sqlite
async def test_chain_contacts_and_domains_are_trusted_on_the_chain_task(mb: Backend) -> None:
    c = await _company(mb)
    chain_task = await _task(mb, c, "Вкусно и Быстро: касса на раздаче", "tver_admin")
    senders = (
        "Администратор Арбат <arbat.admin@yandex.ru>",  # a contact of another restaurant
        "Повар <cook@arbat.vkusno.ru>",  # a restaurant's domain
        "Офис <office@vkusno.ru>",  # the central office's domain
    )
    for sender in senders:
        raw = client_mail(
            f"Re: [#{chain_task['number']}] касса", "У нас то же самое.", sender=sender, to=SUPPORT
        )
        body = (await post_mail(mb, raw)).json()
        assert body == {"outcome": "comment_added", "task_id": chain_task["id"]}, sender
    assert await Comment.count().where(Comment.task == chain_task["id"]) == 3


@pytest.mark.sqlite
async def test_a_contact_of_a_restaurant_writes_for_the_central_office(mb: Backend) -> None:
    c = await _company(mb)
    raw = client_mail("Не печатает чек", "Касса 2.", sender="Админ <tver.admin@gmail.com>")
    body = (await post_mail(mb, raw)).json()
    assert body["outcome"] == "task_created"
    task = await Task.select(Task.counterparty, Task.title).where(Task.id == body["task_id"])
    assert task[0]["counterparty"] == c.ids["chain"]
    assert task[0]["title"] == "Вкусно и Быстро: Не печатает чек"
    contact = await Contact.select(Contact.counterparty).where(Contact.id == c.ids["tver_admin"])
    assert contact[0]["counterparty"] == c.ids["chain"]  # R5: linked to the central office


@pytest.mark.sqlite
async def test_an_employee_replying_on_a_thread_writes_an_internal_comment(mb: Backend) -> None:
    c = await _company(mb)
    task = await _task(mb, c, "Ромашка: не печатает чек", "anna")
    raw = client_mail(
        f"Re: [#{task['number']}] Ромашка: не печатает чек",
        "Коллеги, клиент звонил, проблема в драйвере.",
        sender="Иван Иванов <ivanov@naryad.test>",
        to=SUPPORT,
    )
    body = (await post_mail(mb, raw)).json()
    assert body == {"outcome": "comment_added", "task_id": task["id"]}
    [comment] = await Comment.select().where(Comment.task == task["id"])
    assert comment["author_user"] == c.users["engineer"]["id"]
    assert comment["author_contact"] is None and comment["public"] is False
    assert not await Contact.exists().where(Contact.email == "ivanov@naryad.test")
    mailed = await Notification.count().where(
        (Notification.task == task["id"]) & Notification.contact.is_not_null()
    )
    assert mailed == 0


@pytest.mark.sqlite
async def test_a_field_visit_mails_the_client_only_what_the_office_makes_public(
    mb: Backend,
) -> None:
    c = await _company(mb)
    visit = await _task(
        mb,
        c,
        "Ромашка: замена фискального накопителя",
        "anna",
        template="field_visit",
        assignee_id=c.users["field"]["id"],
    )
    url = f"/api/tasks/{visit['id']}/comments"
    resp = await mb.http.post(
        url,
        json={"body": "Буду через час, пробки.", "public": True},
        headers=c.users["field"]["headers"],
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["public"] is True  # visible to the client's portal, not mailed
    to_client = (Notification.task == visit["id"]) & Notification.contact.is_not_null()
    assert await Notification.count().where(to_client) == 0
    resp = await mb.http.post(
        url,
        json={"body": "Инженер приедет сегодня до 15:00.", "public": True},
        headers=c.users["office"]["headers"],
    )
    assert resp.status_code == 201, resp.text
    rows = await Notification.select(Notification.kind, Notification.contact).where(to_client)
    assert rows == [{"kind": "client_comment", "contact": c.ids["anna"]}]
