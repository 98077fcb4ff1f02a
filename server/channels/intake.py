"""E-mail intake (R5, R6 inbound): the one function both the SMTP listener and
POST /api/channels/email/inbound call. Every message is stored raw with its outcome."""

from __future__ import annotations

import sqlite3
from email.utils import parseaddr
from typing import Any

import asyncpg
import msgspec

from server import db
from server.accounts import service as accounts
from server.accounts.tables import User
from server.channels import mailparse
from server.channels.schemas import IntakeResult
from server.channels.tables import InboundMail, IntakeTask, MailAddress, MailAttachment
from server.clients import service as clients
from server.clients.schemas import ContactIn
from server.clients.tables import Contact, Counterparty
from server.lib import clock
from server.lib.actor import EMPLOYEE_ROLES, Actor
from server.lib.addresses import is_email
from server.lib.errors import DomainError
from server.lib.logs import get_logger
from server.notifications.tables import Notification
from server.settings import current as current_settings
from server.tasks import service as tasks
from server.tasks import transitions
from server.tasks.schemas import TaskIn
from server.tasks.statuses import CLOSED, Channel
from server.tasks.tables import Task

log = get_logger("naryad.channels.mail")

TITLE_MAX = 200
DESCRIPTION_MAX = 20000
# Templates whose task a reply to a completed task reopens as a new one (R6); also the
# template of a new task from mail that names a task its sender is no party to.
REOPEN_TEMPLATE = "remote_support"
QUOTE_MAX = 1000


class _Origin(msgspec.Struct):
    """Who a message is from, as intake treats it."""

    employee: Actor | None = None  # one of us writing on our own behalf
    forwarded_by: Actor | None = None  # one of us who forwarded a client's mail
    forwarder: str = ""  # that employee's address

    @property
    def actor(self) -> Actor | None:
        return self.forwarded_by or self.employee


def max_message_bytes() -> int:
    return current_settings().mail_max_bytes


def max_attachment_bytes() -> int:
    return current_settings().mail_max_attachment_bytes


async def receive_mail(
    raw: bytes, *, envelope_from: str | None = None, recipients: list[str] | None = None
) -> IntakeResult:
    """Store the message, decide what it is, act once; never raises for bad mail.

    One message is one unit of work: the contact, the task or comment, notes, attachments,
    the intake record and the stored message with its outcome commit together. When the
    unit fails the message is kept with outcome "error" (its Message-ID not claimed, so the
    MTA's retry is processed as new) and the exception goes on: SMTP answers 451."""
    row = _stored(raw, envelope_from, recipients)
    limit = max_message_bytes()
    if len(raw) > limit:
        row.content = raw[:65536]  # the head is enough to see who sent it
        reason = f"message too large: {len(raw)} bytes, the limit is {limit}"
        return await _store(row, IntakeResult("rejected", reason=reason))
    try:
        mail = mailparse.parse(raw, envelope_from)
    except Exception as exc:  # unparseable: keep it, refuse it
        return await _store(
            row, IntakeResult("rejected", reason=f"unreadable message: {exc!r}"[:500])
        )
    row.message_id, row.sender, row.subject = mail.message_id, mail.sender, mail.subject[:1000]
    row.recipients = " ".join(recipients or mail.recipients)
    try:
        async with db.transaction():
            result = await _process(row, mail, recipients or mail.recipients)
    except Exception as exc:
        await _store_error(row, exc)
        raise
    return result


def _stored(raw: bytes, envelope_from: str | None, recipients: list[str] | None) -> InboundMail:
    return InboundMail(
        received_at=clock.now(),
        envelope_from=envelope_from,
        recipients=" ".join(recipients or []),
        size=len(raw),
        content=raw,
        outcome="received",
    )


async def _store(row: InboundMail, result: IntakeResult) -> IntakeResult:
    """Keep a message refused before it was read, with the reason."""
    async with db.transaction():
        await _finish(row, result)
    return result


async def _store_error(failed: InboundMail, exc: Exception) -> None:
    """The unit rolled back: keep the raw message (never lose mail), but leave its
    Message-ID unclaimed so the MTA's retry is processed."""
    row = _copy(
        failed,
        outcome="error",
        reason=f"intake failed, the sender's server will retry: {exc!r}"[:500],
    )
    log.warning("mail intake failed", message_id=failed.message_id, error=repr(exc))
    try:
        async with db.transaction():
            await row.save()
    except Exception as store_exc:  # the database itself is down: the MTA still has it
        log.error("could not keep the failed message", error=repr(store_exc))


async def _process(
    row: InboundMail, mail: mailparse.ParsedMail, recipients: list[str]
) -> IntakeResult:
    """Inside the unit: claim the Message-ID, then act on the message."""
    duplicate = IntakeResult("duplicate", reason="Message-ID seen before")
    if mail.message_id and await InboundMail.exists().where(
        InboundMail.processed_message_id == mail.message_id
    ):
        return await _finish(row, duplicate)
    row.processed_message_id = mail.message_id
    try:
        async with db.transaction():  # a savepoint: a lost claim undoes only itself
            await row.save()
    except (asyncpg.UniqueViolationError, sqlite3.IntegrityError):
        # The same message is being processed in parallel and that delivery committed.
        row.processed_message_id = None
        return await _finish(_copy(row), duplicate)
    return await _finish(row, await _decide(row, mail, recipients))


_KEPT = (
    "received_at",
    "envelope_from",
    "recipients",
    "size",
    "content",
    "message_id",
    "sender",
    "subject",
)


def _copy(row: InboundMail, **changes: Any) -> InboundMail:
    """A new, unsaved row for the same message."""
    return InboundMail(**{name: getattr(row, name) for name in _KEPT}, **changes)


async def _finish(row: InboundMail, result: IntakeResult) -> IntakeResult:
    row.outcome = result.outcome
    row.reason = result.reason or ""
    row.task = result.task_id
    if row._exists_in_db:
        await InboundMail.update(
            {
                InboundMail.outcome: row.outcome,
                InboundMail.reason: row.reason,
                InboundMail.task: row.task,
                InboundMail.comment_id: row.comment_id,
            }
        ).where(InboundMail.id == row.id)
    else:
        await row.save()
    return result


async def _decide(
    row: InboundMail, mail: mailparse.ParsedMail, recipients: list[str]
) -> IntakeResult:
    if mail.auto_reason:
        return IntakeResult("ignored", reason=f"automatic message: {mail.auto_reason}")
    if mail.message_id and await Notification.exists().where(
        Notification.message_id == mail.message_id
    ):
        # One of our own notifications coming back (a forwarding rule, a misrouted copy).
        return IntakeResult("ignored", reason="our own message came back")
    if not mail.sender:
        return IntakeResult("rejected", reason="no sender address (From)")
    if not is_email(mail.sender):
        return IntakeResult(
            "rejected", reason=f"the sender {mail.sender!r} is not an e-mail address (From)"
        )
    if await _is_ours(mail.sender):
        return IntakeResult(
            "ignored", reason=f"mail from our own address {mail.sender} (loop guard)"
        )
    mail, origin = await _origin(mail)
    thread = await _thread_task(mail)
    refers = None
    if thread is not None:
        if await _trusted(thread, mail.sender, origin):
            return await _reply(row, mail, thread, origin)
        refers = thread  # R6: not theirs to comment on; a task of its own instead
    mapping = None
    for address in recipients:
        mapping = (
            await MailAddress.select(MailAddress.template.code)
            .where(MailAddress.address == address.strip("<> ").lower())
            .first()
        )
        if mapping:
            break
    if mapping is None and refers is None:
        return IntakeResult(
            "rejected",
            reason=f"no intake address among the recipients ({', '.join(recipients) or 'none'})",
        )
    code = mapping["template.code"] if mapping else REOPEN_TEMPLATE
    try:
        tasks.require_channel(await tasks.get_template(code), Channel.EMAIL)
    except DomainError as exc:
        return IntakeResult("rejected", reason=exc.detail)
    return await _new_task(row, mail, code, origin=origin, refers=refers)


async def _is_ours(address: str) -> bool:
    """Our intake addresses and the addresses our own mail goes out from (loop guard)."""
    settings = current_settings()
    ours = {parseaddr(a)[1].lower() for a in (settings.smtp_from, settings.support_address) if a}
    return address in ours or await MailAddress.exists().where(MailAddress.address == address)


async def _employee(address: str) -> Actor | None:
    rows = (
        await User.select(User.id, User.roles)
        .where((User.email == address) & User.active.eq(True))
        .order_by(User.id)
        .output(load_json=True)
    )
    for r in rows:
        if set(r["roles"] or []) & EMPLOYEE_ROLES:
            return await accounts.actor_for_user(r["id"])
    return None


async def _origin(mail: mailparse.ParsedMail) -> tuple[mailparse.ParsedMail, _Origin]:
    """R5: an employee's forward of a client's mail is the client's mail (the original
    sender is the requester, the employee is recorded as who forwarded it); an employee's
    own mail is theirs. An employee never becomes a client contact."""
    employee = await _employee(mail.sender)
    if employee is None:
        return mail, _Origin()
    original = mail.original_sender
    if (
        mail.forwarded
        and is_email(original)
        and original != mail.sender
        and not await _is_ours(original)
        and await _employee(original) is None
    ):
        client = msgspec.structs.replace(mail, sender=original, sender_name=mail.original_name)
        return client, _Origin(forwarded_by=employee, forwarder=mail.sender)
    return mail, _Origin(employee=employee)


async def _chain(counterparty_id: int) -> tuple[int, list[dict[str, Any]]]:
    """The top parent of a counterparty (a chain's central office) and every counterparty
    under that top parent (the chain's restaurants, the office itself)."""
    rows = await Counterparty.select(
        Counterparty.id, Counterparty.parent, Counterparty.email_domains
    ).output(load_json=True)
    by_id = {r["id"]: r for r in rows}

    def top(cid: int) -> int:
        seen = {cid}
        parent = by_id[cid]["parent"] if cid in by_id else None
        while parent is not None and parent in by_id and parent not in seen:
            cid = int(parent)
            seen.add(cid)
            parent = by_id[cid]["parent"]
        return cid

    head = top(counterparty_id)
    return head, [r for r in rows if top(r["id"]) == head]


async def _central_office(counterparty_id: int | None, contact: dict[str, Any]) -> int | None:
    """R5: contacts of a chain's restaurant belong to its central office: the task gets
    the top parent, and a contact still linked to the restaurant is relinked to it."""
    if counterparty_id is None:
        return None
    head, _ = await _chain(counterparty_id)
    if head != counterparty_id and contact.get("counterparty") == counterparty_id:
        await Contact.update({Contact.counterparty: head}).where(Contact.id == contact["id"])
        contact["counterparty"] = head
    return head


async def _trusted(task: dict[str, Any], address: str, origin: _Origin) -> bool:
    """R6: a task's token or thread counts only from its requester, a contact or a client
    user of its counterparty's chain, the chain's e-mail domains, or an employee."""
    if origin.employee is not None:
        return True
    if task["requester_contact"] is not None and await Contact.exists().where(
        (Contact.id == task["requester_contact"]) & (Contact.email == address)
    ):
        return True
    if task["counterparty"] is None:
        return False
    _, chain = await _chain(task["counterparty"])
    ids = [r["id"] for r in chain]
    if await Contact.exists().where((Contact.email == address) & Contact.counterparty.is_in(ids)):
        return True
    if await User.exists().where(
        (User.email == address) & User.counterparty.is_in(ids) & User.active.eq(True)
    ):
        return True
    domain = address.rpartition("@")[2]
    return any(domain in [d.lower().lstrip("@") for d in r["email_domains"] or []] for r in chain)


async def _thread_task(mail: mailparse.ParsedMail) -> dict[str, Any] | None:
    """R6: the task this message answers, by our Message-IDs or by its [#N] token."""
    task_id = None
    if mail.thread_ids:
        hit = (
            await Notification.select(Notification.task)
            .where(Notification.message_id.is_in(mail.thread_ids) & Notification.task.is_not_null())
            .order_by(Notification.id, ascending=False)
            .first()
        )
        task_id = hit["task"] if hit else None
    if task_id is None:
        number = mailparse.task_token(mail.subject)
        if number is not None:
            hit = await Task.select(Task.id).where(Task.number == number).first()
            task_id = hit["id"] if hit else None
    if task_id is None:
        return None
    return await (
        Task.select(
            Task.id, Task.number, Task.title, Task.status, Task.counterparty, Task.requester_contact
        )
        .where(Task.id == task_id)
        .first()
    )


async def _contact_for(mail: mailparse.ParsedMail, counterparty_id: int | None) -> dict[str, Any]:
    """The sender's contact, created (linked to `counterparty_id`) when unknown. A link to
    an archived counterparty counts as none: the office relinks the contact."""
    existing = (
        await Contact.select(Contact.id, Contact.counterparty, Contact.counterparty.archived)
        .where(Contact.email == mail.sender)
        .order_by(Contact.id)
        .first()
    )
    if existing:
        linked = None if existing["counterparty.archived"] else existing["counterparty"]
        return {"id": existing["id"], "counterparty": linked}
    name = mail.sender_name or mail.sender.split("@")[0]
    contact = await clients.create_contact(
        ContactIn(name=name[:255], email=mail.sender, counterparty_id=counterparty_id)
    )
    return {"id": contact.id, "counterparty": counterparty_id}


async def _counterparty_by_domain(address: str) -> int | None:
    """R5: the counterparty listing the sender's domain; a chain restaurant's contacts
    belong to the chain's central office (its top parent)."""
    domain = address.rpartition("@")[2].lower()
    if not domain:
        return None
    rows = (
        await Counterparty.select(Counterparty.id, Counterparty.email_domains, Counterparty.parent)
        .where(Counterparty.archived.eq(False))
        .output(load_json=True)
    )
    by_id = {r["id"]: r for r in rows}
    for r in sorted(rows, key=lambda r: r["id"]):
        if domain in [d.lower().lstrip("@") for d in r["email_domains"] or []]:
            found, seen = r, {r["id"]}
            while found["parent"] and found["parent"] in by_id and found["parent"] not in seen:
                found = by_id[found["parent"]]
                seen.add(found["id"])
            return int(found["id"])
    return None


def _body(mail: mailparse.ParsedMail) -> str:
    return mail.text[:DESCRIPTION_MAX]


def _title(mail: mailparse.ParsedMail, subject: str) -> str:
    if subject:
        return subject[:TITLE_MAX]
    for line in mail.text.splitlines():
        if line.strip():
            return " ".join(line.split())[:TITLE_MAX]
    return f"Письмо от {mail.sender}"[:TITLE_MAX]


async def _engineer_by_surname(surname: str) -> int | None:
    keys = {surname.lower(), surname.lower().replace("ё", "е")}
    rows = (
        await User.select(User.id, User.roles, User.active)
        .where(User.surname_key.is_in(sorted(keys)) & User.active.eq(True))
        .order_by(User.id)
        .output(load_json=True)
    )
    employees = [r for r in rows if "client" not in (r["roles"] or []) or len(r["roles"]) > 1]
    engineers = [r for r in employees if "engineer" in (r["roles"] or [])]
    chosen = engineers or employees
    return int(chosen[0]["id"]) if chosen else None


async def _new_task(
    row: InboundMail,
    mail: mailparse.ParsedMail,
    template_code: str,
    *,
    follows: dict[str, Any] | None = None,
    origin: _Origin | None = None,
    refers: dict[str, Any] | None = None,
) -> IntakeResult:
    try:
        async with db.transaction():  # a savepoint: a refused task leaves no contact behind
            return await _create(row, mail, template_code, follows, origin or _Origin(), refers)
    except DomainError as exc:
        return IntakeResult("rejected", reason=exc.detail)


async def _create(
    row: InboundMail,
    mail: mailparse.ParsedMail,
    template_code: str,
    follows: dict[str, Any] | None,
    origin: _Origin,
    refers: dict[str, Any] | None,
) -> IntakeResult:
    subject, surname = mailparse.split_surname_marker(mailparse.clean_subject(mail.subject))
    assignee_id = await _engineer_by_surname(surname) if surname else None
    contact: dict[str, Any] | None
    if origin.employee is not None:
        # An employee's own mail: they are the requester (R2 may still find the client).
        counterparty_id, contact = None, None
    elif follows is not None:
        counterparty_id = follows["counterparty"]
        contact = await _contact_for(mail, counterparty_id)
    else:
        known = (
            await Contact.select(Contact.counterparty, Contact.counterparty.archived)
            .where(Contact.email == mail.sender)
            .order_by(Contact.id)
            .first()
        )
        counterparty_id = (
            known["counterparty"] if known and not known["counterparty.archived"] else None
        )
        if counterparty_id is None:
            counterparty_id = await _counterparty_by_domain(mail.sender)
        contact = await _contact_for(mail, counterparty_id)
        counterparty_id = await _central_office(counterparty_id or contact["counterparty"], contact)
    title = _title(mail, subject)
    template = await tasks.get_template(template_code)
    if (
        counterparty_id is not None
        and template.counterparty_in_title
        and not await clients.title_names_counterparty(title, counterparty_id)
    ):
        # R2: engineers must see the client in the title; mail rarely names it.
        name = (await clients.get_counterparty(counterparty_id)).name
        title = f"{name}: {title}"[:TITLE_MAX]
    description = _body(mail)
    if follows is not None:
        description = f"Продолжение завершённой задачи #{follows['number']}.\n\n{description}"
    if refers is not None:
        description = (
            f"Письмо ссылается на задачу #{refers['number']}, но отправитель ({mail.sender}) "
            f"не связан с ней: это новая задача.\n\n{description}"
        )
    quote = (mailparse.cut_quoted(mail.text) or mail.text.strip())[:QUOTE_MAX]
    task = await tasks.create_task(
        origin.actor,
        TaskIn(
            title=title,
            template=template_code,
            description=description,
            counterparty_id=counterparty_id,
            assignee_id=assignee_id,
            requester_contact_id=contact["id"] if contact else None,
        ),
        channel=Channel.EMAIL,
        counterparty_required=False,
        parent_task_id=follows["id"] if follows else None,
        event_data={"parent_number": follows["number"], "quote": quote} if follows else None,
    )
    await IntakeTask.insert(
        IntakeTask(
            task=task.id,
            counterparty_missing=task.counterparty is None,
            follows_task=follows["id"] if follows else None,
            contact=contact["id"] if contact else None,
            created_at=clock.now(),
        )
    )
    if surname and assignee_id is None:
        await _note(
            task.id,
            f"R5: no engineer with the surname {surname!r}; the task stays in the queue",
        )
    if task.counterparty is None:
        await _note(task.id, "R2: counterparty missing; the office must set it")
    if follows is not None:
        await _note(task.id, "reply to a completed task", follows_task_id=follows["id"])
        await _note(follows["id"], "the client replied; new task", new_task_id=task.id)
    if origin.forwarded_by is not None:
        await _note(
            task.id,
            f"R5: forwarded by {origin.forwarded_by.full_name} <{origin.forwarder}>; "
            f"the requester is the original sender {mail.sender}",
            forwarded_by_user_id=origin.forwarded_by.id,
        )
    if refers is not None:
        await _note(
            task.id,
            f"R6: {mail.sender} is no party to task #{refers['number']}; "
            "a new task instead of a comment there",
            refers_task_id=refers["id"],
        )
    await _save_attachments(row, mail, task.id)
    return IntakeResult("task_created", task_id=task.id)


async def _note(task_id: int, text: str, **data: Any) -> None:
    await tasks.record_event(task_id, None, "note", Channel.EMAIL, {"text": text, **data})


async def _save_attachments(row: InboundMail, mail: mailparse.ParsedMail, task_id: int) -> None:
    limit = max_attachment_bytes()
    for filename, ctype, data in mail.attachments:
        kept = len(data) <= limit
        await MailAttachment.insert(
            MailAttachment(
                mail=row.id,
                task=task_id,
                filename=filename[:255],
                content_type=ctype[:200],
                size=len(data),
                data=data if kept else None,
                kept=kept,
            )
        )


async def _reply(
    row: InboundMail, mail: mailparse.ParsedMail, task: dict[str, Any], origin: _Origin
) -> IntakeResult:
    """R6: a client's reply on a thread (an employee's is an internal comment)."""
    if task["status"] in CLOSED and origin.employee is None:
        try:
            tasks.require_channel(await tasks.get_template(REOPEN_TEMPLATE), Channel.EMAIL)
        except DomainError as exc:
            return IntakeResult("rejected", reason=f"a reply to a completed task: {exc.detail}")
        return await _new_task(row, mail, REOPEN_TEMPLATE, follows=task, origin=origin)
    body = mailparse.cut_quoted(mail.text) or mail.text.strip()
    if not body and mail.attachments:
        body = "(вложения: " + ", ".join(a[0] for a in mail.attachments) + ")"
    if not body:
        return IntakeResult("ignored", task_id=task["id"], reason="empty reply")
    try:
        async with db.transaction():
            if origin.employee is not None:
                # One of us answering by mail: kept on the task, never sent to the client.
                comment = await transitions.add_comment(
                    origin.employee, task["id"], body, False, channel=Channel.EMAIL
                )
                row.comment_id = comment.id
            else:
                contact = await _contact_for(mail, task["counterparty"])
                row.comment_id = await transitions.add_contact_comment(
                    contact["id"], task["id"], body
                )
            await _save_attachments(row, mail, task["id"])
    except DomainError as exc:
        row.comment_id = None
        return IntakeResult("rejected", task_id=task["id"], reason=exc.detail)
    return IntakeResult("comment_added", task_id=task["id"])
