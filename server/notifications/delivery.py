"""Sending outbox rows: render their text (ru/en, Jinja2) and hand them to SMTP (over a
small pool of kept connections), the Telegram Bot API or a Web Push service (one keep-alive
HTTP client per process).

Rows are claimed in batches (service.claim_batch: pending → sending, FOR UPDATE SKIP LOCKED
on PostgreSQL), sent concurrently, and each is marked sent the moment the other side has
it (SMTP's 250). Three ways in:

* `pump()` — the worker's loop (jobs/worker.py): claims due rows in batches as long as
  there are any, feeds them to `notify_concurrency` senders, and marks them sent in
  batches on a connection of its own; woken by the jobs a commit enqueues, and every
  NARYAD_NOTIFY_SWEEP_S on its own (retries that came due, rows a killed worker held).
* `deliver(id)` / `deliver_many(ids)` — the rows a commit has just written, when jobs run
  in the API process (no Redis).
* `run_sweep()` — everything due, the in-process twin of the worker's loop.

At-least-once: a worker killed between the server's 250 and the mark leaves the row in
'sending'; after the lease it is sent again, with the Message-ID it was written with, so
mail clients and our intake see one message. That window is the event loop's step or two
between reading the 250 and writing the mark to PostgreSQL's socket (_GroupMarks).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from server import db
from server.devmail import service as devmail
from server.lib import clock, http_client
from server.lib.logs import get_logger
from server.notifications import mailwriter, service
from server.notifications.mailwriter import MailParts
from server.notifications.smtp_pool import SmtpPool
from server.notifications.tables import PushSubscription
from server.settings import Settings

if TYPE_CHECKING:
    from email.message import EmailMessage

    import httpx
    import jinja2

log = get_logger("naryad.notifications.delivery")

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Mail intake cuts a client's reply at this line, dropping the quoted history.
REPLY_SEPARATOR = "-- Ответьте выше этой строки / Reply above this line --"
PUSH_TTL_S = 24 * 3600
MAX_SUBJECT = 200
# Rows one claim takes, per sender (at least MIN_BATCH): enough that claiming costs little
# per row, few enough that a claimed row does not wait long for its turn.
BATCH_PER_SENDER = 4
MIN_BATCH = 20
# A delivering loop that failed (the database went away) starts again after this, doubling.
RESTART_FIRST_S = 1.0
RESTART_MAX_S = 30.0

_jinja: jinja2.Environment | None = None


def _env() -> jinja2.Environment:
    global _jinja
    if _jinja is None:
        import jinja2

        _jinja = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=jinja2.select_autoescape(["html.j2"]),
            keep_trailing_newline=False,
            undefined=jinja2.ChainableUndefined,
            auto_reload=False,  # (no stat() of the template file per message)
        )
    return _jinja


class TransientError(Exception):
    """Try again later (network, timeouts, 429, 5xx, SMTP 4xx)."""


class PermanentError(Exception):
    """Retrying cannot help (bad address, bot blocked, 5xx from SMTP, expired push)."""


class Rendered:
    def __init__(self, subject: str, body: str) -> None:
        self.subject = subject
        self.body = body


def render(kind: str, language: str, context: dict[str, Any]) -> Rendered:
    language = language if language in ("ru", "en") else "ru"
    template = _env().get_template(f"{language}/{kind}.j2")
    ctx = template.new_context(context)
    subject = "".join(template.blocks["subject"](ctx)).strip()
    body = "".join(template.blocks["body"](ctx)).strip()
    subject = " ".join(subject.split())
    if len(subject) > MAX_SUBJECT:
        subject = subject[: MAX_SUBJECT - 1] + "…"
    return Rendered(subject, body)


Mark = Callable[[dict[str, Any]], Awaitable[None]]


class _GroupMarks:
    """Marks rows sent in batches, on a PostgreSQL connection of its own (group commit).

    A sender that has just read a 250 queues the row and, when no statement is under way,
    starts one: it is written to PostgreSQL's socket in the event loop's next step, while
    the sender goes on to its next mail. That step is the window in which a killed worker
    leaves a sent row unmarked (the row is sent again after the lease, with its Message-ID).
    Marks that arrive while a statement is under way queue, and the writer sends them all in
    the next one, so at a thousand mails a second one statement marks a handful. A failed
    statement is tried again on a new connection (marks are idempotent: they name the claim
    they end).
    """

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.pending: list[tuple[int, dt.datetime]] = []
        self.idle = asyncio.Event()
        self.idle.set()
        self.writer: asyncio.Task[None] | None = None

    async def sent(self, row: dict[str, Any]) -> None:
        self.pending.append((row["id"], row["claimed_at"]))
        if self.idle.is_set():
            self._start()

    def _start(self) -> None:
        self.idle.clear()
        self.writer = asyncio.create_task(self._write(), name="notification marks")

    async def _write(self) -> None:
        delay = 0.2
        try:
            while self.pending:
                batch, self.pending = self.pending, []
                try:
                    await service.mark_sent_many(self.conn, batch)
                    delay = 0.2
                except Exception as exc:
                    self.pending[:0] = batch
                    log.warning("could not mark notifications sent; trying again", error=repr(exc))
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    with contextlib.suppress(Exception):
                        await self.conn.close(timeout=1)
                    with contextlib.suppress(Exception):
                        self.conn = await service.open_outbox_connection()
        finally:
            self.idle.set()

    async def close(self, timeout: float) -> None:  # noqa: ASYNC109
        """Write what is still queued (for at most `timeout`), then close the connection."""
        if self.pending and self.idle.is_set():
            self._start()
        try:
            await asyncio.wait_for(self.idle.wait(), timeout)
        except TimeoutError:
            if self.writer is not None:
                self.writer.cancel()
        if self.pending:
            log.warning("notifications left unmarked at shutdown", count=len(self.pending))
        with contextlib.suppress(Exception):
            await self.conn.close(timeout=2)


class Delivery:
    """What a delivering process holds: settings, the SMTP pool, its delivering loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.concurrency = max(1, settings.notify_concurrency)
        self.batch = max(MIN_BATCH, BATCH_PER_SENDER * self.concurrency)
        self.smtp = SmtpPool(settings, size=self.concurrency, timeout=self.send_timeout)
        self._wake: asyncio.Event | None = None
        self._room: asyncio.Event | None = None
        self._stopping = False
        self._pump: asyncio.Task[None] | None = None

    @property
    def send_timeout(self) -> float:
        # A send must end well inside the lease, or a second worker could take the row over
        # while the first is still sending it.
        return max(1.0, min(30.0, self.settings.notify_lease_s / 3))

    @property
    def http(self) -> httpx.AsyncClient:
        return http_client.shared()

    async def close(self) -> None:
        """Stop the delivering loop (rows it holds but has not started are given back),
        QUIT the pooled SMTP connections, close the HTTP client."""
        self._stopping = True
        if self._pump is not None:
            self.wake()
            try:
                await asyncio.wait_for(asyncio.shield(self._pump), self.send_timeout + 10)
            except TimeoutError:
                self._pump.cancel()
            except asyncio.CancelledError:
                pass
            except Exception as exc:
                log.warning("delivery loop failed at shutdown", error=repr(exc))
            self._pump = None
        await self.smtp.close()
        await http_client.close()

    def not_configured(self, channel: str) -> str | None:
        """Why this process cannot send on a channel at all, or None if it can. Such rows
        are recorded as skipped: retrying cannot help until someone configures it."""
        s = self.settings
        unset = {
            "email": None if s.smtp_host else "NARYAD_SMTP_HOST",
            "telegram": None if s.telegram_bot_token else "NARYAD_TELEGRAM_BOT_TOKEN",
            "push": None if s.vapid_private_key else "NARYAD_VAPID_PRIVATE_KEY",
        }.get(channel)
        return f"not configured: {unset} is unset" if unset else None

    # --- ways in ------------------------------------------------------------------------

    async def deliver(self, notification_id: int) -> str:
        """Claim, send, mark one row. Returns what happened; a row that is sent, failed,
        skipped, not due or held by another worker is left alone ("skipped" is returned),
        so duplicates and re-runs are no-ops."""
        rows = await service.claim_batch(1, self.settings.notify_lease_s, ids=[notification_id])
        if not rows:
            return "skipped"
        return await self._deliver_row(rows[0], service.mark_sent)

    async def deliver_many(self, ids: list[int]) -> None:
        for start in range(0, len(ids), self.batch):
            chunk = ids[start : start + self.batch]
            rows = await service.claim_batch(len(chunk), self.settings.notify_lease_s, ids=chunk)
            await self._send_all(rows)

    async def run_sweep(self) -> int:
        """Deliver everything due, a batch at a time (recovers rows whose kick was lost or
        whose worker died)."""
        total = 0
        while True:
            rows = await service.claim_batch(self.batch, self.settings.notify_lease_s)
            await self._send_all(rows)
            total += len(rows)
            if len(rows) < self.batch or self._stopping:
                return total

    async def _send_all(self, rows: list[dict[str, Any]]) -> None:
        async def one(i: int) -> None:
            await self._attempt(rows[i], service.mark_sent)

        await service.gather_limited(self.concurrency, range(len(rows)), one)

    # --- the worker's loop --------------------------------------------------------------

    def wake(self) -> None:
        """Something was committed (or came due): look now instead of at the next tick."""
        if self._wake is not None:
            self._wake.set()
        if self._stopping and self._room is not None:
            self._room.set()

    def start_pump(self) -> None:
        if self._pump is None:
            self._stopping = False
            self._wake = asyncio.Event()
            self._pump = asyncio.create_task(self.pump(), name="notification delivery")

    @property
    def pumping(self) -> bool:
        return self._pump is not None and not self._pump.done()

    async def pump(self) -> None:
        """Deliver due rows until `close()`; a failure (the database went away) is logged
        and the loop starts again after a pause."""
        delay = RESTART_FIRST_S
        while not self._stopping:
            started = time.monotonic()
            try:
                await self._pump_once()
            except Exception as exc:
                if time.monotonic() - started > 60:
                    delay = RESTART_FIRST_S
                log.warning("delivery loop failed; starting again", error=repr(exc), in_s=delay)
                assert self._wake is not None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._until_stopping(), delay)
                delay = min(delay * 2, RESTART_MAX_S)

    async def _until_stopping(self) -> None:
        while not self._stopping:
            assert self._wake is not None
            await self._wake.wait()
            self._wake.clear()

    async def _pump_once(self) -> None:
        s = self.settings
        assert self._wake is not None
        wake = self._wake
        sqlite = db.is_sqlite()
        claim_conn = None if sqlite else await service.open_outbox_connection()
        marks: _GroupMarks | None = None
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        room = self._room = asyncio.Event()
        # Claim ahead: another batch once a batch or less is left unsent, so the senders do
        # not wait on a claim (a few ms; tens on a busy database). At most two batches wait.
        low = self.batch
        senders: list[asyncio.Task[None]] = []
        try:
            if not sqlite:
                marks = _GroupMarks(await service.open_outbox_connection())
            mark: Mark = marks.sent if marks is not None else service.mark_sent

            async def sender() -> None:
                while (row := await queue.get()) is not None:
                    if queue.qsize() <= low:
                        room.set()
                    await self._attempt(row, mark)

            senders = [asyncio.create_task(sender()) for _ in range(self.concurrency)]
            while not self._stopping:
                if queue.qsize() > low:
                    room.clear()
                    await room.wait()
                    continue
                wake.clear()
                limit = 2 * self.batch - queue.qsize()
                rows = await service.claim_batch(limit, s.notify_lease_s, conn=claim_conn)
                for row in rows:
                    queue.put_nowait(row)
                if len(rows) < limit and not self._stopping:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), s.notify_sweep_s)
        finally:
            # Rows not started are given back at once (not after the lease); the senders
            # finish the ones they are sending, then the marks are written.
            unsent = []
            while not queue.empty():
                left = queue.get_nowait()
                if left is not None:
                    unsent.append(left)
            for _ in senders:
                queue.put_nowait(None)
            if senders:
                _, late = await asyncio.wait(senders, timeout=self.send_timeout + 2)
                for task in late:
                    task.cancel()
            for left in unsent:
                with contextlib.suppress(Exception):
                    await service.release(left)
            if marks is not None:
                await marks.close(timeout=10)
            if claim_conn is not None:
                with contextlib.suppress(Exception):
                    await claim_conn.close(timeout=2)

    # --- one row ------------------------------------------------------------------------

    async def _attempt(self, row: dict[str, Any], mark: Mark) -> None:
        """Send one claimed row unless its lease is about to run out (then give it back:
        another worker may take it over any moment)."""
        lease_left = row["claimed_at"] + dt.timedelta(seconds=self.settings.notify_lease_s)
        try:
            if clock.now() + dt.timedelta(seconds=self.send_timeout) >= lease_left:
                await service.release(row)
                return
            await self._deliver_row(row, mark)
        except Exception as exc:  # one bad row must not stop the others
            log.exception("notification delivery crashed", id=row["id"], error=repr(exc))

    async def _deliver_row(self, row: dict[str, Any], mark: Mark) -> str:
        s = self.settings
        nid = row["id"]
        if row["channel"] == "email" and devmail.enabled(s):
            # The demo's mail catcher: kept for GET /api/dev/mail instead of dropped.
            await devmail.keep(self.build_email(row), row["address"], nid)
            await service.mark_sent(row)
            return "caught"
        reason = self.not_configured(row["channel"])
        if reason is not None:
            # Expected in the demo (no SMTP server, no bot): once per row, not a warning.
            log.info("notification skipped", id=nid, channel=row["channel"], reason=reason)
            await service.mark_skipped(row, reason)
            return "not configured"
        try:
            if row["channel"] == "email":
                await self._email(row)
            elif row["channel"] == "telegram":
                await self._telegram(row)
            elif row["channel"] == "push":
                await self._push(row)
            else:
                raise PermanentError(f"unknown channel {row['channel']!r}")
        except PermanentError as exc:
            log.warning("notification failed", id=nid, error=str(exc))
            await service.mark_failed(row, str(exc))
            return "failed"
        except (TransientError, OSError, TimeoutError) as exc:
            log.info("notification will be retried", id=nid, error=repr(exc))
            await service.mark_retry(row, str(exc) or repr(exc), s.notify_max_attempts)
            return "retry"
        # The other side has it: marked before anything else is awaited.
        await mark(row)
        return "sent"

    # --- e-mail ---------------------------------------------------------------------------

    def mail_parts(self, row: dict[str, Any]) -> MailParts:
        from email.utils import format_datetime

        s = self.settings
        ctx = dict(row["context"])
        client = row["contact"] is not None
        ctx.update(link=self._link(ctx), client=client)
        text = render(row["kind"], row["language"], ctx)
        domain = service.mail_domain(s)
        if client:
            # To clients the mail comes from the person, at the support address they reply to.
            support = s.support_address or s.smtp_from or f"support@{domain}"
            from_name: str | None = ctx.get("actor") or "Naryad"
            from_addr, reply_to = support, support
        else:
            from_name, from_addr, reply_to = None, s.smtp_from or f"naryad@{domain}", None
        separator = REPLY_SEPARATOR if client else ""
        plain = f"{separator}\n\n{text.body}\n" if separator else f"{text.body}\n"
        html = (
            _env()
            .get_template("mail.html.j2")
            .render(
                subject=text.subject,
                separator=separator,
                paragraphs=[p for p in text.body.split("\n\n") if p.strip()],
                language=row["language"],
            )
        )
        return MailParts(
            from_addr=from_addr,
            from_name=from_name,
            reply_to=reply_to,
            to=row["address"],
            subject=text.subject,
            date=format_datetime(clock.now()),
            message_id=row["message_id"]
            or service.message_id_for(row["id"], row["created_at"], domain),
            in_reply_to=row["in_reply_to"] or None,
            references=row["thread_references"] or None,
            auto_submitted="auto-generated" if not client else "no",
            plain=plain,
            html=html,
        )

    def build_email(self, row: dict[str, Any]) -> EmailMessage:
        return mailwriter.build(self.mail_parts(row))

    async def _email(self, row: dict[str, Any]) -> None:
        import aiosmtplib

        parts = self.mail_parts(row)
        envelope_from = self.settings.smtp_from or parts.from_addr
        try:
            await self.smtp.send(envelope_from, row["address"], mailwriter.as_bytes(parts))
        except aiosmtplib.SMTPResponseException as exc:  # a refused sender, recipient or data
            if 500 <= exc.code < 600:
                raise PermanentError(f"SMTP refused {row['address']}: {exc}") from exc
            raise TransientError(f"SMTP deferred {row['address']}: {exc}") from exc
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if all(500 <= c < 600 for c in codes):
                raise PermanentError(f"SMTP refused {row['address']}: {exc}") from exc
            raise TransientError(f"SMTP deferred {row['address']}: {exc}") from exc
        except aiosmtplib.SMTPException as exc:
            raise TransientError(f"SMTP: {exc}") from exc

    # --- Telegram and Web Push: the process's keep-alive HTTP client ------------------------

    async def _post(self, url: str, **kwargs: Any) -> httpx.Response:
        import httpx

        try:
            return await self.http.post(url, timeout=self.send_timeout, **kwargs)
        except httpx.HTTPError as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc

    async def _telegram(self, row: dict[str, Any]) -> None:
        s = self.settings
        text = self._short_text(row)
        url = f"{s.telegram_api_base.rstrip('/')}/bot{s.telegram_bot_token}/sendMessage"
        resp = await self._post(url, json={"chat_id": int(row["address"]), "text": text})
        if resp.status_code == 200:
            return
        detail = resp.text[:500]
        if resp.status_code == 429 or resp.status_code >= 500:
            raise TransientError(f"Telegram {resp.status_code}: {detail}")
        raise PermanentError(f"Telegram {resp.status_code}: {detail}")

    async def _push(self, row: dict[str, Any]) -> None:
        from py_vapid import Vapid
        from pywebpush import WebPusher

        s = self.settings
        sub = (
            await PushSubscription.select()
            .where(PushSubscription.id == row["push_subscription"])
            .first()
        )
        if sub is None:
            raise PermanentError("the push subscription was removed")
        ctx = {**row["context"], "link": self._link(row["context"])}
        text = render(row["kind"], row["language"], ctx)
        payload = json.dumps(
            {"title": text.subject, "body": text.body, "url": ctx["link"], "tag": row["kind"]},
            ensure_ascii=False,
        ).encode()
        pusher = WebPusher(
            {"endpoint": sub["endpoint"], "keys": {"p256dh": sub["p256dh"], "auth": sub["auth"]}}
        )
        encoded = pusher.encode(payload, content_encoding="aes128gcm")
        endpoint = urlsplit(sub["endpoint"])
        claims = {
            "sub": s.vapid_subject,
            "aud": f"{endpoint.scheme}://{endpoint.netloc}",
            "exp": int(time.time()) + 12 * 3600,
        }
        vapid = Vapid.from_string(private_key=s.vapid_private_key)
        headers = {
            **vapid.sign(claims),
            "Content-Encoding": "aes128gcm",
            "TTL": str(PUSH_TTL_S),
            "Urgency": "normal",
        }
        resp = await self._post(sub["endpoint"], content=encoded["body"], headers=headers)
        if resp.status_code in (200, 201, 202):
            return
        if resp.status_code in (404, 410):
            await service.delete_push_subscription(sub["id"])
            raise PermanentError(f"push subscription expired ({resp.status_code}); removed")
        if resp.status_code == 429 or resp.status_code >= 500:
            raise TransientError(f"push service {resp.status_code}")
        raise PermanentError(f"push service {resp.status_code}: {resp.text[:300]}")

    # --- texts ------------------------------------------------------------------------------

    def _link(self, ctx: dict[str, Any]) -> str:
        return f"{self.settings.public_url.rstrip('/')}/#/tasks/{ctx.get('task_id')}"

    def _short_text(self, row: dict[str, Any]) -> str:
        ctx = {**row["context"], "link": self._link(row["context"])}
        text = render(row["kind"], row["language"], ctx)
        return f"{text.subject}\n\n{text.body}"


async def run_sweep(delivery: Delivery) -> int:
    """Deliver everything due (recovers rows whose kick was lost or whose worker died)."""
    return await delivery.run_sweep()
