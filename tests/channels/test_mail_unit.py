"""One inbound message is one unit of work (issue #11): the contact, the task or comment,
its notes, attachments, intake record and outcome commit together or not at all. Faults are
real: a trigger in the database raises while armed, in the server process that writes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from channel_fakes import MAIL_DOMAIN, DbFault, client_mail, post_mail
from naryad_harness import Backend

from server.channels import service as channels
from server.channels.tables import InboundMail, IntakeTask, MailAttachment
from server.clients import service as clients
from server.clients.schemas import ContactIn
from server.clients.tables import Contact
from server.notifications.tables import Notification
from server.tasks.tables import Comment, Task, TaskEvent, Template

REMOTE = ("Удалённая техподдержка",)
PDF = ("Акт.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")


@pytest.fixture
async def fault(mb: Backend) -> AsyncIterator[DbFault]:
    f = DbFault(mb.url)
    yield f
    await f.remove()


async def _directory(mb: Backend) -> dict[str, int]:
    """Ромашка (by domain), Анна its contact, an engineer with mail in remote support."""
    cp = await mb.counterparty("Ромашка", email_domains=["romashka.ru"])
    anna = await clients.create_contact(
        ContactIn(name="Анна Смирнова", email="anna@romashka.ru", counterparty_id=cp["id"])
    )
    engineer = await mb.user("engineer", groups=REMOTE, surname="Иванов", email="iv@naryad.test")
    await channels.seed_default_addresses(MAIL_DOMAIN)
    return {"counterparty": cp["id"], "anna": anna.id, "engineer": engineer["id"]}


async def _outcomes() -> list[tuple[str, str | None]]:
    rows = await InboundMail.select(InboundMail.outcome, InboundMail.processed_message_id).order_by(
        InboundMail.id
    )
    return [(r["outcome"], r["processed_message_id"]) for r in rows]


@pytest.mark.sqlite
async def test_a_failure_after_the_task_insert_leaves_nothing_and_the_retry_makes_one_task(
    mb: Backend, fault: DbFault
) -> None:
    await _directory(mb)
    raw = client_mail(
        "Не печатает чек",
        "Касса 2, ошибка 3969.",
        sender="Новый Сотрудник <new.person@romashka.ru>",
        attachment=PDF,
    )
    await fault.install("intake_tasks")
    await fault.arm("intake_tasks")
    resp = await post_mail(mb, raw)
    assert resp.status_code == 500  # the MTA keeps the message and tries again

    # Nothing of it stayed: no task, no contact, no attachment, no notification.
    assert await Task.count() == 0
    assert not await Contact.exists().where(Contact.email == "new.person@romashka.ru")
    assert await MailAttachment.count() == 0
    assert await Notification.count() == 0
    assert await TaskEvent.count() == 0
    # The mail itself is kept, marked as an error, without claiming its Message-ID.
    assert await _outcomes() == [("error", None)]
    stored = await InboundMail.select(InboundMail.content, InboundMail.reason).first()
    assert stored is not None and bytes(stored["content"]) == raw
    assert "injected fault" in stored["reason"]

    await fault.disarm()
    resp = await post_mail(mb, raw)
    assert resp.status_code == 200 and resp.json()["outcome"] == "task_created", resp.text
    resp = await post_mail(mb, raw)
    assert resp.json()["outcome"] == "duplicate"
    assert await Task.count() == 1
    assert await Contact.count().where(Contact.email == "new.person@romashka.ru") == 1
    assert await MailAttachment.count() == 1 and await IntakeTask.count() == 1
    assert [o for o, _ in await _outcomes()] == ["error", "task_created", "duplicate"]


@pytest.mark.sqlite
async def test_a_failure_after_the_comment_leaves_nothing_and_the_retry_adds_one_comment(
    mb: Backend, fault: DbFault
) -> None:
    ids = await _directory(mb)
    office = await mb.user("office")
    resp = await mb.create_task(
        office,
        template="remote_support",
        title="Ромашка: не печатает чек",
        requester_contact_id=ids["anna"],
        assignee_id=ids["engineer"],
    )
    assert resp.status_code == 201, resp.text
    task = resp.json()
    events_before = await TaskEvent.count()
    raw = client_mail(
        f"Re: [#{task['number']}] Ромашка: не печатает чек",
        "Добавлю: акт во вложении.",
        sender="Мария <maria@romashka.ru>",
        to=f"support@{MAIL_DOMAIN}",
        attachment=PDF,
    )
    await fault.install("inbound_mail_attachments")
    await fault.arm("inbound_mail_attachments")
    resp = await post_mail(mb, raw)
    assert resp.status_code == 500
    assert await Comment.count() == 0
    assert not await Contact.exists().where(Contact.email == "maria@romashka.ru")
    assert await TaskEvent.count() == events_before
    assert await _outcomes() == [("error", None)]

    await fault.disarm()
    resp = await post_mail(mb, raw)
    assert resp.json() == {"outcome": "comment_added", "task_id": task["id"]}
    resp = await post_mail(mb, raw)
    assert resp.json()["outcome"] == "duplicate"
    assert await Comment.count() == 1 and await MailAttachment.count() == 1
    assert [o for o, _ in await _outcomes()] == ["error", "comment_added", "duplicate"]


@pytest.mark.sqlite
async def test_parallel_deliveries_of_one_message_make_one_task(mb: Backend) -> None:
    await _directory(mb)
    for n in range(3):
        raw = client_mail(f"Не печатает чек {n}", "Касса 2.", attachment=PDF)
        results = await asyncio.gather(*(post_mail(mb, raw) for _ in range(3)))
        outcomes = sorted(r.json()["outcome"] for r in results)
        assert outcomes == ["duplicate", "duplicate", "task_created"], [r.text for r in results]
    assert await Task.count() == 3 and await MailAttachment.count() == 3
    assert await InboundMail.count().where(InboundMail.processed_message_id.is_not_null()) == 3


@pytest.mark.sqlite
async def test_a_rule_refusal_is_rejected_with_its_reason_and_leaves_no_contact(
    mb: Backend,
) -> None:
    """R3 from the one check: a mapped address whose template stopped taking e-mail."""
    await _directory(mb)
    seeded = await Template.select(Template.channels).where(Template.code == "remote_support")
    await Template.update({Template.channels: ["ui", "phone"]}).where(
        Template.code == "remote_support"
    )
    try:
        raw = client_mail("Не печатает чек", "Касса 2.", sender="x@romashka.ru")
        resp = await post_mail(mb, raw)
        assert resp.status_code == 200
        body = resp.json()
        assert body["outcome"] == "rejected"
        assert "R3" in body["reason"] and "does not take tasks through “e-mail”" in body["reason"]
        row = await InboundMail.select(InboundMail.outcome, InboundMail.reason).first()
        assert row == {"outcome": "rejected", "reason": body["reason"]}
        assert await Task.count() == 0
        assert not await Contact.exists().where(Contact.email == "x@romashka.ru")
    finally:
        await Template.update({Template.channels: seeded[0]["channels"]}).where(
            Template.code == "remote_support"
        )
