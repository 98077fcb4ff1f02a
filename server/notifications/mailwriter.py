"""An outgoing notification e-mail as bytes: text/plain + text/html (multipart/alternative).

`write()` writes the message directly — the common case, ~20× cheaper than building an
`email.message.EmailMessage` and flattening it (≈1 ms per message, which alone would cap
a worker near a thousand mails a second). Anything it does not handle the way the standard
library would (a line over 998 octets, a non-ASCII address, a header that would need
folding, text that looks like an encoded word) makes it return None, and the caller uses
`build()`, the standard library's message, instead. Both give the same message to a
reader: tests/notifications/test_notify_pool.py parses the two and compares them.

Headers are never folded and a non-ASCII subject or name is one RFC 2047 encoded word:
Python 3.11's folding drops the space between two encoded words it splits a Cyrillic
subject into ("печатает чек" arrives as "печатаетчек"); RFC 5322 allows 998 characters.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from email.message import EmailMessage
    from email.policy import EmailPolicy

MAX_LINE = 998
_policy: EmailPolicy[EmailMessage] | None = None


def mail_policy() -> EmailPolicy[EmailMessage]:
    """The standard library's SMTP policy without folding (see the module's docstring)."""
    global _policy
    if _policy is None:
        from email import policy

        _policy = policy.SMTP.clone(max_line_length=MAX_LINE)
    return _policy


@dataclass(slots=True)
class MailParts:
    """What one notification mail says, before it is written either way."""

    from_addr: str
    from_name: str | None  # None: the bare address
    reply_to: str | None
    to: str
    subject: str
    date: str
    message_id: str
    in_reply_to: str | None
    references: str | None
    auto_submitted: str
    plain: str
    html: str


def build(parts: MailParts) -> EmailMessage:
    """The standard library's message (devmail keeps these; `write()` falls back to it)."""
    from email.message import EmailMessage
    from email.utils import formataddr

    msg = EmailMessage(policy=mail_policy())
    msg["From"] = (
        formataddr((parts.from_name, parts.from_addr))
        if parts.from_name is not None
        else parts.from_addr
    )
    if parts.reply_to:
        msg["Reply-To"] = parts.reply_to
    msg["To"] = parts.to
    msg["Subject"] = parts.subject
    msg["Date"] = parts.date
    msg["Message-ID"] = parts.message_id
    if parts.in_reply_to:
        msg["In-Reply-To"] = parts.in_reply_to
    if parts.references:
        msg["References"] = parts.references
    msg["Auto-Submitted"] = parts.auto_submitted
    msg.set_content(parts.plain)
    msg.add_alternative(parts.html, subtype="html")
    return msg


def as_bytes(parts: MailParts) -> bytes:
    """The message to hand to SMTP: written directly when possible, else the standard
    library's, flattened with the unfolding policy (aiosmtplib would re-flatten an
    EmailMessage with the stock one)."""
    raw = write(parts)
    if raw is None:
        raw = build(parts).as_bytes(policy=mail_policy())
    return raw


def _ascii_safe(value: str) -> bool:
    return value.isascii() and "\r" not in value and "\n" not in value


def _text(value: str) -> str | None:
    """An unstructured header value (Subject): as is when plain ASCII, else one encoded
    word; None when the standard library must decide."""
    if "\r" in value or "\n" in value or "=?" in value:
        return None
    if value.isascii():
        return value
    return f"=?utf-8?b?{base64.b64encode(value.encode()).decode()}?="


def _mailbox(name: str | None, addr: str) -> str | None:
    if not _ascii_safe(addr) or not addr or any(c in addr for c in ' <>()",;'):
        return None
    if name is None or name == "":
        return addr
    if "\r" in name or "\n" in name or "=?" in name:
        return None
    if not name.isascii():
        return f"=?utf-8?b?{base64.b64encode(name.encode()).decode()}?= <{addr}>"
    if any(c in name for c in '()<>@,;:\\".[]') or name != name.strip() or "  " in name:
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}" <{addr}>'
    return f"{name} <{addr}>"


def _body(text: str) -> tuple[str, bytes] | None:
    """(Content-Transfer-Encoding, CRLF lines) as `set_content` chooses them for short
    lines: 7bit for ASCII, else 8bit. Longer lines need QP or base64: None."""
    lines = text.encode().splitlines()
    if any(len(line) > MAX_LINE for line in lines):
        return None
    cte = "7bit" if text.isascii() else "8bit"
    return cte, b"\r\n".join(lines) + b"\r\n"


def write(parts: MailParts) -> bytes | None:
    """The message as bytes, or None if the standard library must build it."""
    sender = _mailbox(parts.from_name, parts.from_addr)
    subject = _text(parts.subject)
    plain = _body(parts.plain)
    html = _body(parts.html)
    if sender is None or subject is None or plain is None or html is None:
        return None
    headers = [("From", sender)]
    if parts.reply_to:
        headers.append(("Reply-To", parts.reply_to))
    headers += [
        ("To", parts.to),
        ("Subject", subject),
        ("Date", parts.date),
        ("Message-ID", parts.message_id),
    ]
    if parts.in_reply_to:
        headers.append(("In-Reply-To", parts.in_reply_to))
    if parts.references:
        headers.append(("References", parts.references))
    headers.append(("Auto-Submitted", parts.auto_submitted))
    lines = []
    for name, value in headers:
        if name != "Subject" and name != "From" and not _ascii_safe(value):
            return None
        line = f"{name}: {value}"
        if len(line) > MAX_LINE:
            return None
        lines.append(line)
    boundary = f"=_naryad_{secrets.token_hex(12)}"
    if boundary.encode() in plain[1] or boundary.encode() in html[1]:
        return None  # (practically never; the standard library picks another)
    head = "\r\n".join(lines).encode()
    return b"".join(
        (
            head,
            b"\r\nMIME-Version: 1.0\r\n",
            f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode(),
            f'--{boundary}\r\nContent-Type: text/plain; charset="utf-8"\r\n'.encode(),
            f"Content-Transfer-Encoding: {plain[0]}\r\n\r\n".encode(),
            plain[1],
            f'\r\n--{boundary}\r\nContent-Type: text/html; charset="utf-8"\r\n'.encode(),
            f"Content-Transfer-Encoding: {html[0]}\r\n\r\n".encode(),
            html[1],
            f"\r\n--{boundary}--\r\n".encode(),
        )
    )
