"""Sending one outbox row: render its text (ru/en, Jinja2) and hand it to SMTP, the
Telegram Bot API or a Web Push service. Jobs (jobs/notify.py) call `deliver()`."""

from __future__ import annotations

import json
import time
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiosmtplib
import httpx
import jinja2

from server import db
from server.devmail import service as devmail
from server.lib import clock
from server.lib.logs import get_logger
from server.notifications import service
from server.notifications.tables import PushSubscription
from server.settings import Settings

log = get_logger("naryad.notifications.delivery")

TEMPLATES = Path(__file__).resolve().parent / "templates"
# Mail intake cuts a client's reply at this line, dropping the quoted history.
REPLY_SEPARATOR = "-- Ответьте выше этой строки / Reply above this line --"
PUSH_TTL_S = 24 * 3600
# Python 3.11's header folding drops the space between two RFC 2047 encoded words it splits
# a Cyrillic subject into ("печатает чек" arrives as "печатаетчек"). Headers are therefore
# not folded (one encoded word; RFC 5322 allows 998 characters) and subjects are capped.
MAIL_POLICY = email_policy.SMTP.clone(max_line_length=998)
MAX_SUBJECT = 200

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(["html.j2"]),
    keep_trailing_newline=False,
    undefined=jinja2.ChainableUndefined,
)


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
    template = _env.get_template(f"{language}/{kind}.j2")
    ctx = template.new_context(context)
    subject = "".join(template.blocks["subject"](ctx)).strip()
    body = "".join(template.blocks["body"](ctx)).strip()
    subject = " ".join(subject.split())
    if len(subject) > MAX_SUBJECT:
        subject = subject[: MAX_SUBJECT - 1] + "…"
    return Rendered(subject, body)


class Delivery:
    """What a delivering process holds: settings and one HTTP client, reused."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.http = httpx.AsyncClient(timeout=self.send_timeout)

    @property
    def send_timeout(self) -> float:
        # A send must end well inside the lease, or a second worker could take the row over
        # while the first is still sending it.
        return max(1.0, min(30.0, self.settings.notify_lease_s / 3))

    async def close(self) -> None:
        await self.http.aclose()

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

    async def deliver(self, notification_id: int) -> str:
        """Claim, send, mark. Returns what happened; a row that is sent, failed, skipped,
        not due or held by another worker is left alone ("skipped" is returned), so
        duplicates and re-runs are no-ops."""
        s = self.settings
        row = await service.claim(notification_id, s.notify_lease_s)
        if row is None:
            return "skipped"
        if row["channel"] == "email" and devmail.enabled(s):
            # The demo's mail catcher: kept for GET /api/dev/mail instead of dropped.
            await devmail.keep(self.build_email(row), row["address"], notification_id)
            await service.mark_sent(row)
            return "caught"
        reason = self.not_configured(row["channel"])
        if reason is not None:
            # Expected in the demo (no SMTP server, no bot): once per row, not a warning.
            log.info(
                "notification skipped", id=notification_id, channel=row["channel"], reason=reason
            )
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
            log.warning("notification failed", id=notification_id, error=str(exc))
            await service.mark_failed(row, str(exc))
            return "failed"
        except (TransientError, OSError, TimeoutError, httpx.HTTPError) as exc:
            log.info("notification will be retried", id=notification_id, error=repr(exc))
            await service.mark_retry(row, str(exc) or repr(exc), s.notify_max_attempts)
            return "retry"
        # At-least-once: a crash between the send above and the mark re-sends the row after
        # the lease (e-mail keeps its Message-ID, so the client sees the same message).
        # E-mail marks itself at the server's 250, before QUIT (_email).
        if row["channel"] != "email":
            await service.mark_sent(row)
        return "sent"

    async def deliver_many(self, ids: list[int]) -> None:
        async def one(nid: int) -> None:
            try:
                await self.deliver(nid)
            except Exception as exc:  # one bad row must not stop the batch
                log.exception("notification delivery crashed", id=nid, error=repr(exc))

        await service.gather_limited(self.settings.notify_concurrency, ids, one)

    # --- e-mail ---------------------------------------------------------------------------

    def build_email(self, row: dict[str, Any]) -> EmailMessage:
        s = self.settings
        ctx = dict(row["context"])
        client = row["contact"] is not None
        ctx.update(link=self._link(ctx), client=client)
        text = render(row["kind"], row["language"], ctx)
        domain = service.mail_domain(s)
        msg = EmailMessage(policy=MAIL_POLICY)
        sender = s.smtp_from or f"naryad@{domain}"
        if client:
            # To clients the mail comes from the person, at the support address they reply to.
            support = s.support_address or s.smtp_from or f"support@{domain}"
            msg["From"] = formataddr((ctx.get("actor") or "Naryad", support))
            msg["Reply-To"] = support
        else:
            msg["From"] = sender
        msg["To"] = row["address"]
        msg["Subject"] = text.subject
        msg["Date"] = format_datetime(clock.now())
        msg["Message-ID"] = row["message_id"] or service.message_id_for(
            row["id"], row["created_at"], domain
        )
        if row["in_reply_to"]:
            msg["In-Reply-To"] = row["in_reply_to"]
        if row["thread_references"]:
            msg["References"] = row["thread_references"]
        msg["Auto-Submitted"] = "auto-generated" if not client else "no"
        separator = REPLY_SEPARATOR if client else ""
        plain = f"{separator}\n\n{text.body}\n" if separator else f"{text.body}\n"
        msg.set_content(plain)
        html = _env.get_template("mail.html.j2").render(
            subject=text.subject,
            separator=separator,
            paragraphs=[p for p in text.body.split("\n\n") if p.strip()],
            language=row["language"],
        )
        msg.add_alternative(html, subtype="html")
        return msg

    async def _email(self, row: dict[str, Any]) -> None:
        s = self.settings
        msg = self.build_email(row)
        envelope_from = s.smtp_from or parseaddr(str(msg["From"]))[1]
        # Flattened here: aiosmtplib would re-flatten with the stock SMTP policy (see above).
        raw = msg.as_bytes(policy=MAIL_POLICY)
        smtp = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_user,
            password=s.smtp_password,
            use_tls=s.smtp_tls == "tls",
            start_tls=s.smtp_tls == "starttls",  # False, not None: no opportunistic upgrade
            timeout=self.send_timeout,
        )
        try:
            await smtp.connect()
            if db.is_sqlite():
                # (SQLite's one writer is not held across a network exchange.)
                await smtp.sendmail(envelope_from, [row["address"]], raw)
                await service.mark_sent(row)
            else:
                # The row is marked sent in a transaction that commits the moment the
                # server answers 250 to DATA (the message is theirs then), before QUIT:
                # a worker killed after that has nothing to send again, and one killed
                # before it leaves the row to be sent again. What remains between the
                # 250 and the mark is one COMMIT. A refusal rolls the mark back.
                async with db.transaction():
                    await service.mark_sent(row)
                    await smtp.sendmail(envelope_from, [row["address"]], raw)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            if all(500 <= c < 600 for c in codes):
                raise PermanentError(f"SMTP refused {row['address']}: {exc}") from exc
            raise TransientError(f"SMTP deferred {row['address']}: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise PermanentError(f"SMTP {exc.code}: {exc.message}") from exc
            raise TransientError(f"SMTP {exc.code}: {exc.message}") from exc
        except aiosmtplib.SMTPException as exc:
            raise TransientError(f"SMTP: {exc}") from exc
        finally:
            await _goodbye(smtp)

    # --- Telegram ---------------------------------------------------------------------------

    async def _telegram(self, row: dict[str, Any]) -> None:
        s = self.settings
        text = self._short_text(row)
        url = f"{s.telegram_api_base.rstrip('/')}/bot{s.telegram_bot_token}/sendMessage"
        resp = await self.http.post(url, json={"chat_id": int(row["address"]), "text": text})
        if resp.status_code == 200:
            return
        detail = resp.text[:500]
        if resp.status_code == 429 or resp.status_code >= 500:
            raise TransientError(f"Telegram {resp.status_code}: {detail}")
        raise PermanentError(f"Telegram {resp.status_code}: {detail}")

    # --- Web Push ---------------------------------------------------------------------------

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
        resp = await self.http.post(sub["endpoint"], content=encoded["body"], headers=headers)
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


async def _goodbye(smtp: aiosmtplib.SMTP) -> None:
    """QUIT, or drop the connection: after the 250 (or a refusal) nothing depends on it."""
    if not smtp.is_connected:
        return
    try:
        await smtp.quit()
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        smtp.close()


async def run_sweep(delivery: Delivery) -> int:
    """Deliver everything due (recovers rows whose kick was lost or whose worker died)."""
    ids = await service.due_ids(delivery.settings.notify_lease_s)
    if ids:
        await delivery.deliver_many(ids)
    return len(ids)
