"""E-mail intake end to end (R3, R5, R6 inbound): the corpus in tests/channels/mail goes
through POST /api/channels/email/inbound of a real server, and a real SMTP client talks to
`naryad mail-intake` over loopback. Both feed the same intake function."""

from __future__ import annotations

import asyncio
import json
import os
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from channel_fakes import MAIL_DOMAIN, MAIL_SECRET, DbFault, free_port, mail_env
from naryad_harness import ROOT, Backend

from server.accounts.tables import User
from server.channels import service as channels
from server.channels.tables import InboundMail, IntakeTask, MailAttachment
from server.clients import service as clients
from server.clients.schemas import ContactIn
from server.clients.tables import Contact, Counterparty
from server.notifications.tables import Notification
from server.tasks.tables import Comment, Task, TaskEvent

CORPUS = Path(__file__).resolve().parent / "mail"
SECRET = MAIL_SECRET
DOMAIN = MAIL_DOMAIN
REMOTE = ("Удалённая техподдержка",)
ACCOUNTING = ("Бухгалтерия",)


async def _inbound(b: Backend, raw: bytes, secret: str | None = SECRET) -> Any:
    headers = {"Content-Type": "message/rfc822"}
    if secret is not None:
        headers["X-Naryad-Secret"] = secret
    return await b.http.post("/api/channels/email/inbound", content=raw, headers=headers)


class World:
    """The directory the corpus was written against."""

    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.open_task: dict[str, Any] = {}
        self.done_task: dict[str, Any] = {}
        self.our_message_id = ""
        self.anna_id = 0


async def _world(b: Backend) -> World:
    w = World()
    w.users["admin"] = await b.user("admin")
    w.users["office"] = await b.user("office")
    w.users["Иванов"] = await b.user(
        "engineer", groups=REMOTE, surname="Иванов", email="ivanov@naryad.test"
    )
    w.users["Петрова"] = await b.user(
        "engineer", groups=ACCOUNTING, surname="Петрова", email="petrova@naryad.test"
    )
    romashka = await b.counterparty("Ромашка", email_domains=["romashka.ru"])
    alfa = await b.counterparty("Альфа-Трейд", email_domains=["alfatrade.ru"])
    chain = await b.counterparty("Вкусно и Быстро")
    tverskaya = await b.counterparty(
        "ВиБ Тверская", parent_id=chain["id"], email_domains=["tverskaya.vkusno.ru"]
    )
    await clients.create_contact(
        ContactIn(
            name="Администратор Тверская",
            email="admin.tverskaya@gmail.com",
            counterparty_id=tverskaya["id"],
        )
    )
    anna = await clients.create_contact(
        ContactIn(name="Анна Смирнова", email="anna@romashka.ru", counterparty_id=romashka["id"])
    )
    w.anna_id = anna.id
    await clients.create_contact(
        ContactIn(name="Пётр", email="petr.alfa@gmail.com", counterparty_id=alfa["id"])
    )
    assert await channels.seed_default_addresses(DOMAIN) == [
        f"project+124@{DOMAIN}",
        f"project+31@{DOMAIN}",
    ]
    assert await channels.seed_default_addresses(DOMAIN) == []  # idempotent

    office = w.users["office"]
    ivanov = w.users["Иванов"]
    resp = await b.create_task(
        office,
        template="remote_support",
        title="Ромашка: не печатает чек",
        requester_contact_id=anna.id,
        assignee_id=ivanov["id"],
    )
    assert resp.status_code == 201, resp.text
    w.open_task = resp.json()
    resp = await b.http.post(
        f"/api/tasks/{w.open_task['id']}/comments",
        json={"body": "Перезагрузите кассу.", "public": True},
        headers=ivanov["headers"],
    )
    assert resp.status_code == 201, resp.text
    sent = await Notification.select(Notification.message_id).where(
        (Notification.task == w.open_task["id"]) & Notification.contact.is_not_null()
    )
    assert sent and sent[0]["message_id"]
    w.our_message_id = sent[0]["message_id"]
    resp = await b.create_task(
        office,
        template="remote_support",
        title="Ромашка: чек по телефону",
        requester_contact_id=anna.id,
        status="completed",
        channel="phone",
        assignee_id=ivanov["id"],
    )
    assert resp.status_code == 201, resp.text
    w.done_task = resp.json()
    return w


def _fill(raw: bytes, w: World) -> bytes:
    return (
        raw.replace(b"[#OPEN]", f"[#{w.open_task['number']}]".encode())
        .replace(b"[#DONE]", f"[#{w.done_task['number']}]".encode())
        .replace(b"<OUR-MSGID>", w.our_message_id.encode())
    )


async def _check(entry: dict[str, Any], body: dict[str, Any], w: World) -> list[str]:
    problems: list[str] = []

    def expect(cond: bool, what: str) -> None:
        if not cond:
            problems.append(f"{entry['file']}: {what} (got {body})")

    expect(body["outcome"] == entry["outcome"], f"outcome should be {entry['outcome']}")
    if "reason_contains" in entry:
        expect(entry["reason_contains"] in (body.get("reason") or ""), "reason")
    if entry["outcome"] == "task_created" and body.get("task_id"):
        task = (
            await Task.select(
                Task.title,
                Task.description,
                Task.template.code,
                Task.assignee,
                Task.counterparty.name,
                Task.channel,
                Task.requester_contact,
                Task.requester_contact.email,
                Task.requester_user,
                Task.created_by,
                Task.status,
            )
            .where(Task.id == body["task_id"])
            .first()
        )
        assert task is not None
        expect(task["channel"] == "email", "channel email")
        if "requester_user" in entry:
            # An employee's own mail: the employee is the requester, never a client contact.
            want_user = w.users[entry["requester_user"]]["id"]
            expect(task["requester_user"] == want_user, f"requester {entry['requester_user']}")
            expect(task["requester_contact"] is None, "no contact for an employee")
        else:
            expect(task["requester_contact"] is not None, "requester is a contact")
        if "requester_email" in entry:
            got_email = task["requester_contact.email"]
            expect(got_email == entry["requester_email"], f"requester {got_email!r}")
        if "created_by" in entry:
            want_user = w.users[entry["created_by"]]["id"]
            expect(task["created_by"] == want_user, f"forwarded by {entry['created_by']}")
        if "mentions_task" in entry:
            ref = w.open_task if entry["mentions_task"] == "open" else w.done_task
            expect(f"#{ref['number']}" in task["description"], "names the referenced task")
        if "template" in entry:
            expect(task["template.code"] == entry["template"], f"template {entry['template']}")
        if "title" in entry:
            expect(
                task["title"] == entry["title"], f"title {entry['title']!r} != {task['title']!r}"
            )
        if "assignee" in entry:
            want = w.users[entry["assignee"]]["id"] if entry["assignee"] else None
            expect(task["assignee"] == want, f"assignee {entry['assignee']}")
            expect(task["status"] == ("accepted" if want else "new"), "status follows assignee")
        if "counterparty" in entry:
            got = task["counterparty.name"]
            want_cp = entry["counterparty"]
            expect(
                (got is None and want_cp is None)
                or (want_cp is not None and got is not None and want_cp in got),
                f"counterparty {want_cp!r} != {got!r}",
            )
        if "counterparty_missing" in entry:
            flag = (
                await IntakeTask.select(IntakeTask.counterparty_missing)
                .where(IntakeTask.task == body["task_id"])
                .first()
            )
            expect(
                bool(flag and flag["counterparty_missing"]) == entry["counterparty_missing"], "flag"
            )
        if "description_contains" in entry:
            expect(
                entry["description_contains"].lower() in task["description"].lower(), "description"
            )
        for bad in entry.get("description_excludes", []):
            expect(bad not in task["description"] and bad not in task["title"], f"no {bad!r}")
        if "note_contains" in entry:
            notes = (
                await TaskEvent.select(TaskEvent.data)
                .where((TaskEvent.task == body["task_id"]) & (TaskEvent.kind == "note"))
                .output(load_json=True)
            )
            expect(any(entry["note_contains"] in n["data"]["text"] for n in notes), "history note")
        if "contact_counterparty" in entry:
            contact = (
                await Contact.select(Contact.counterparty.name)
                .where(Contact.id == task["requester_contact"])
                .first()
            )
            expect(
                contact is not None
                and contact["counterparty.name"] == entry["contact_counterparty"],
                "contact link",
            )
        for att in entry.get("attachments", []):
            rows = await MailAttachment.select().where(
                (MailAttachment.task == body["task_id"])
                & (MailAttachment.filename == att["filename"])
            )
            expect(len(rows) == 1 and rows[0]["kept"] == att["kept"], f"attachment {att}")
            if rows and att["kept"]:
                expect(
                    rows[0]["data"] is not None and len(rows[0]["data"]) == rows[0]["size"], "data"
                )
        if entry.get("follows") == "done":
            link = (
                await IntakeTask.select(IntakeTask.follows_task)
                .where(IntakeTask.task == body["task_id"])
                .first()
            )
            expect(link is not None and link["follows_task"] == w.done_task["id"], "linked to old")
    if entry["outcome"] == "comment_added":
        want_task = w.open_task["id"] if entry["task"] == "open" else w.done_task["id"]
        expect(body.get("task_id") == want_task, "comment on the thread's task")
        last = (
            await Comment.select(
                Comment.body, Comment.public, Comment.author_contact.email, Comment.channel
            )
            .where(Comment.task == want_task)
            .order_by(Comment.id, ascending=False)
            .first()
        )
        assert last is not None
        expect(last["body"] == entry["comment"], f"comment {last['body']!r}")
        expect(last["public"] and last["channel"] == "email", "public e-mail comment")
        if "new_contact" in entry:
            expect(last["author_contact.email"] == entry["new_contact"], "new contact authored")
    return problems


@pytest.mark.sqlite
async def test_corpus_each_message_has_its_outcome(mb: Backend) -> None:
    w = await _world(mb)
    manifest = json.loads((CORPUS / "corpus.json").read_text(encoding="utf-8"))
    assert len(manifest) >= 30
    problems: list[str] = []
    for entry in manifest:
        raw = _fill((CORPUS / entry["file"]).read_bytes(), w)
        resp = await _inbound(mb, raw)
        assert resp.status_code == 200, (entry["file"], resp.text)
        problems += await _check(entry, resp.json(), w)
    assert not problems, "\n".join(problems)

    # Every message is stored raw with its outcome, and admins can list them.
    assert await InboundMail.count() == len(manifest)
    resp = await mb.http.get(
        "/api/channels/email/messages?limit=500", headers=w.users["admin"]["headers"]
    )
    assert resp.status_code == 200
    listed = resp.json()
    assert len(listed) == len(manifest)
    by_outcome = {
        o: sum(1 for m in listed if m["outcome"] == o) for o in {m["outcome"] for m in listed}
    }
    assert by_outcome == {
        o: sum(1 for e in manifest if e["outcome"] == o) for o in {e["outcome"] for e in manifest}
    }
    first = await InboundMail.select(InboundMail.content).order_by(InboundMail.id).first()
    assert (
        first is not None and bytes(first["content"]) == (CORPUS / manifest[0]["file"]).read_bytes()
    )
    resp = await mb.http.get("/api/channels/email/messages", headers=w.users["office"]["headers"])
    assert resp.status_code == 403

    # R6: the client's replies moved the conversation and told the engineer who wrote.
    status = await Task.select(Task.status).where(Task.id == w.open_task["id"]).first()
    assert status is not None and status["status"] == "in_progress"
    told = await Notification.select(Notification.kind).where(
        (Notification.task == w.open_task["id"]) & (Notification.user == w.users["Иванов"]["id"])
    )
    assert len([t for t in told if t["kind"] == "client_reply"]) == 4
    # ...and nothing mailed a client their own words back, nor answered an auto-reply.
    to_clients = await Notification.count().where(
        (Notification.task == w.open_task["id"]) & Notification.contact.is_not_null()
    )
    assert to_clients == 1
    # R6: a reply to the completed task notified the remote-support group.
    reopened = (
        await IntakeTask.select(IntakeTask.task)
        .where(IntakeTask.follows_task == w.done_task["id"])
        .first()
    )
    assert reopened is not None
    group_told = await Notification.select(Notification.user, Notification.kind).where(
        Notification.task == reopened["task"]
    )
    assert {(r["user"], r["kind"]) for r in group_told} >= {(w.users["Иванов"]["id"], "follow_up")}
    maria = (
        await Contact.select(Contact.counterparty.name)
        .where(Contact.email == "maria@romashka.ru")
        .first()
    )
    assert maria is not None and maria["counterparty.name"] == "Ромашка"

    # R2 for mail: the office sees tasks that still lack a counterparty.
    resp = await mb.http.get(
        "/api/channels/email/missing-counterparty", headers=w.users["office"]["headers"]
    )
    assert resp.status_code == 200
    assert [t["title"] for t in resp.json()] == ["Не работает интернет", "Ваш вопрос"]

    # Employees are never client contacts, whatever they forwarded or wrote.
    employee_mail = [u["email"] for u in w.users.values() if u.get("email")]
    assert not await Contact.exists().where(Contact.email.is_in(employee_mail))


@pytest.mark.sqlite
async def test_inbound_needs_the_secret(mb: Backend) -> None:
    raw = (CORPUS / "01_outlook_cp1251_accounting.eml").read_bytes()
    assert (await _inbound(mb, raw, secret=None)).status_code == 401
    assert (await _inbound(mb, raw, secret="nope")).status_code == 401
    assert await InboundMail.count() == 0


async def test_addresses_are_admin_configured_with_r3(mb: Backend) -> None:
    admin = await mb.user("admin")
    engineer = await mb.user("engineer")
    url = "/api/channels/email/addresses"
    resp = await mb.http.post(
        url, json={"address": "buh@naryad.test", "template": "accounting"}, headers=admin["headers"]
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["address"] == "buh@naryad.test"
    resp = await mb.http.post(
        url,
        json={"address": "BUH@naryad.test", "template": "remote_support"},
        headers=admin["headers"],
    )
    assert resp.status_code == 409
    resp = await mb.http.post(
        url, json={"address": "fv@naryad.test", "template": "field_visit"}, headers=admin["headers"]
    )
    assert resp.status_code == 422 and "R3" in resp.json()["detail"]
    resp = await mb.http.post(
        url,
        json={"address": "x@naryad.test", "template": "accounting"},
        headers=engineer["headers"],
    )
    assert resp.status_code == 403
    listed = (await mb.http.get(url, headers=admin["headers"])).json()
    assert [(a["address"], a["template"]) for a in listed] == [("buh@naryad.test", "accounting")]


def _mail(to: str, subject: str, body: str, sender: str = "anna@romashka.ru") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Анна <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<smtp.{time.monotonic_ns()}@romashka.ru>"
    msg["X-Mailer"] = "Microsoft Outlook 16.0"
    msg.set_content(body)
    return msg


@pytest.fixture
def listener(mb: Backend) -> Iterator[int]:
    port = free_port()
    env = {**os.environ, **mail_env(), "NARYAD_DATABASE_URL": mb.url, "NARYAD_LOG_LEVEL": "WARNING"}
    log = open(ROOT / "test-output" / f"mail-intake-{port}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server.cli",
            "mail-intake",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=2) as probe:
                probe.noop()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                log.close()
                raise RuntimeError(f"mail-intake did not start; see {log.name}") from None
            time.sleep(0.1)
    yield port
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _send(port: int, msg: EmailMessage, mail_from: str, rcpt: str) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo("mx.romashka.ru")
        code, text = smtp.mail(mail_from)
        assert code == 250
        code, text = smtp.rcpt(rcpt)
        if code != 250:
            return code, text
        return smtp.data(msg.as_bytes())


@pytest.mark.sqlite
async def test_smtp_listener_feeds_the_same_intake(mb: Backend, listener: int) -> None:
    ivanov = await mb.user("engineer", groups=REMOTE, surname="Иванов")
    await mb.counterparty("Ромашка", email_domains=["romashka.ru"])
    await channels.seed_default_addresses(DOMAIN)
    remote = f"project+31@{DOMAIN}"

    msg = _mail(remote, "Касса не печатает *Иванов", "Ошибка 3969 на кассе 2.")
    code, text = await asyncio.to_thread(_send, listener, msg, "anna@romashka.ru", remote)
    assert code == 250 and b"task_created" in text, text
    task = await Task.select(Task.title, Task.assignee, Task.channel).first()
    assert task == {
        "title": "Ромашка: Касса не печатает",
        "assignee": ivanov["id"],
        "channel": "email",
    }

    # the same message again: accepted (so the MTA stops), processed once
    code, text = await asyncio.to_thread(_send, listener, msg, "anna@romashka.ru", remote)
    assert code == 250 and b"duplicate" in text
    assert await Task.count() == 1

    # an address we do not serve: 550 with the reason, stored as rejected
    msg = _mail(f"info@{DOMAIN}", "Вопрос", "Здравствуйте")
    code, text = await asyncio.to_thread(_send, listener, msg, "anna@romashka.ru", f"info@{DOMAIN}")
    assert code == 550 and b"no intake address" in text, text
    # another domain is refused at RCPT
    code, text = await asyncio.to_thread(
        _send, listener, msg, "anna@romashka.ru", "x@elsewhere.org"
    )
    assert code == 550

    # a bounce (empty envelope sender) is swallowed: 250, nothing created, nothing answered
    bounce = _mail(
        remote, "Undelivered Mail Returned to Sender", "failed", sender="mailer-daemon@romashka.ru"
    )
    code, text = await asyncio.to_thread(_send, listener, bounce, "", remote)
    assert code == 250 and b"ignored" in text
    assert await Task.count() == 1
    outcomes = [
        r["outcome"] for r in await InboundMail.select(InboundMail.outcome).order_by(InboundMail.id)
    ]
    assert outcomes == ["task_created", "duplicate", "rejected", "ignored"]
    assert await User.count() == 1 and await Counterparty.count() == 1


async def test_migrate_seeds_intake_addresses_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'seed.db'}"
    env = {**os.environ, "NARYAD_DATABASE_URL": url, "NARYAD_MAIL_DOMAIN": "example.ru"}
    outs = []
    for _ in range(2):
        proc = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "server.cli", "migrate"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        outs.append(proc.stdout)
    assert "project+124@example.ru" in outs[0] and "project+31@example.ru" in outs[0]
    assert "intake address" not in outs[1]


@pytest.mark.sqlite
async def test_smtp_answers_451_when_the_unit_fails_and_the_retry_is_processed(
    mb: Backend, listener: int
) -> None:
    await mb.counterparty("Ромашка", email_domains=["romashka.ru"])
    await channels.seed_default_addresses(DOMAIN)
    remote = f"project+31@{DOMAIN}"
    msg = _mail(remote, "Касса не печатает", "Ошибка 3969 на кассе 2.")
    fault = DbFault(mb.url)
    try:
        await fault.install("intake_tasks")
        await fault.arm("intake_tasks")
        code, text = await asyncio.to_thread(_send, listener, msg, "anna@romashka.ru", remote)
        assert code == 451, text  # temporary: the sending server keeps it and retries
        assert await Task.count() == 0 and await Contact.count() == 0
        await fault.disarm()
        code, text = await asyncio.to_thread(_send, listener, msg, "anna@romashka.ru", remote)
        assert code == 250 and b"task_created" in text, text
    finally:
        await fault.remove()
    assert await Task.count() == 1
    outcomes = [
        r["outcome"] for r in await InboundMail.select(InboundMail.outcome).order_by(InboundMail.id)
    ]
    assert outcomes == ["error", "task_created"]
