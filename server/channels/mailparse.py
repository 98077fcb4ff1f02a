"""Reading real-world mail: RFC 2047 headers, wrong or missing charsets, HTML-only bodies,
quoted history, auto-replies and bounces. Pure functions: bytes in, facts out."""

from __future__ import annotations

import codecs
import contextlib
import email
import re
from email.header import Header, decode_header
from email.message import Message
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser
from typing import Any, ClassVar

import msgspec

from server.notifications.delivery import REPLY_SEPARATOR

# Tried in this order when the declared charset is missing or does not decode.
_FALLBACK_CHARSETS = ("utf-8", "cp1251", "koi8-r")
# Frequent lower-case Russian letters: text decoded with the wrong 8-bit table is mostly
# capitals and rare letters, so the best table is the one with the most of these.
_COMMON_RU = set("оеаинтсрвлкмдпуяыьгзбчйхжшюцщэфъё")
_TOKEN = re.compile(r"\[#(\d{1,12})\]")
_SURNAME_MARKER = re.compile(r"\s*\*+\s*([A-Za-zА-Яа-яЁё][A-Za-zА-Яа-яЁё'-]*)\s*$")
_REPLY_PREFIX = re.compile(
    r"^\s*((re|fw|fwd|aw|wg|ответ|отв|пересл\.?)\s*(\[\d+\])?\s*:\s*)+", re.I
)
# Forwards: by the subject's prefix, a marker line, or the original's quoted headers.
_FORWARD_SUBJECT = re.compile(
    r"^\s*((re|aw|ответ|отв)\s*(\[\d+\])?\s*:\s*)*(fwd?|wg|tr|пересл\.?)\s*(\[\d+\])?\s*:", re.I
)
_REPLY_SUBJECT = re.compile(r"^\s*(re|aw|ответ|отв)\s*(\[\d+\])?\s*:", re.I)
_FORWARD_MARKER = re.compile(
    r"^\s*-*\s*(forwarded message|begin forwarded message|пересылаемое сообщение|"
    r"переадресованное сообщение)",
    re.I,
)
_QUOTED_FROM = re.compile(r"^\s*>?\s*(from|от|от кого)\s*:\s*(\S.*?)\s*$", re.I)
_QUOTED_HEADER = re.compile(
    r"^\s*>?\s*(date|sent|subject|to|cc|дата|отправлено|тема|кому|копия)\s*:", re.I
)
_ADDRESS = re.compile(r"[\w.+'-]+@[\w-]+(\.[\w-]+)+")
_MSGID = re.compile(r"<[^<>\s]+>")
# Where a client's reply ends and the quoted history begins.
_QUOTE_STARTS = (
    re.compile(r"^\s*" + re.escape(REPLY_SEPARATOR.strip("- ").split(" / ")[0]), re.I),
    re.compile(r"^\s*-*\s*reply above this line", re.I),
    re.compile(r"^\s*-{2,}\s*(original message|исходное сообщение|пересылаемое сообщение)", re.I),
    re.compile(r"^\s*(on|am|le)\s.{3,200}\s(wrote|schrieb|a écrit)\s*:\s*$", re.I),
    re.compile(r"^.{0,200}(пишет|написал|написала|написал\(а\))\s*:\s*$", re.I),
    re.compile(r"^\s*(from|от|от кого)\s*:\s*\S.*$", re.I),
    re.compile(r"^\s*_{10,}\s*$"),
)


class ParsedMail(msgspec.Struct):
    message_id: str | None
    sender: str
    sender_name: str
    subject: str
    text: str
    recipients: list[str]
    thread_ids: list[str]
    auto_reason: str | None
    attachments: list[tuple[str, str, bytes]]
    # A forward (Fwd:/FW:/Пересл.:, an attached message/rfc822, quoted From:/От: headers)
    # and, when it can be read, the original's sender.
    forwarded: bool = False
    original_sender: str = ""
    original_name: str = ""


def decode_bytes(raw: bytes, declared: str | None) -> str:
    """Text in an unknown, missing or wrongly declared charset, never an exception."""
    candidates: list[str] = []
    if declared:
        with contextlib.suppress(LookupError):
            candidates.append(codecs.lookup(declared).name)
    try:
        raw.decode("ascii")
        return raw.decode("ascii")
    except UnicodeDecodeError:
        pass
    if candidates and candidates[0] not in ("cp1251", "koi8-r", "iso8859-5"):
        try:
            return raw.decode(candidates[0])
        except UnicodeDecodeError:
            candidates.clear()  # declared wrongly
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    eight_bit = [c for c in [*candidates, "cp1251", "koi8-r"] if c != "utf-8"]
    scored = []
    for name in dict.fromkeys(eight_bit):
        text = raw.decode(name, errors="replace")
        scored.append((sum(ch in _COMMON_RU for ch in text), -eight_bit.index(name), text))
    if scored:
        return max(scored)[2]
    return raw.decode(declared or "utf-8", errors="replace")


def decode_header_value(value: object) -> str:
    """An RFC 2047 header (or raw 8-bit bytes sent unencoded) as text."""
    if value is None:
        return ""
    if isinstance(value, Header):  # compat32's wrapper for raw 8-bit header bytes
        return " ".join(
            "".join(
                decode_bytes(chunk, charset) if isinstance(chunk, bytes) else chunk
                for chunk, charset in decode_header(value)
            ).split()
        )
    text = str(value)
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        return decode_bytes(text.encode("ascii", "surrogateescape"), None)
    parts = []
    try:
        chunks = decode_header(text)
    except Exception:  # malformed encoded words: keep what was sent
        return " ".join(text.split())
    for chunk, charset in chunks:
        if isinstance(chunk, bytes):
            parts.append(decode_bytes(chunk, charset))
        else:
            parts.append(chunk)
    return " ".join("".join(parts).split())


class _HtmlText(HTMLParser):
    """Visible text of an HTML body; scripts, styles and markup are dropped."""

    _SKIP: ClassVar[set[str]] = {"script", "style", "head", "title", "noscript", "template"}
    _BREAK: ClassVar[set[str]] = {
        "br",
        "p",
        "div",
        "tr",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "blockquote",
        "table",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in self._BREAK:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self.skipping:
            self.skipping -= 1
        elif tag in self._BREAK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.out.append(data)


def html_to_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.out).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _part_text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return decode_bytes(payload, part.get_content_charset())


def body_text(msg: Message) -> tuple[str, list[tuple[str, str, bytes]]]:
    """(text, attachments): text/plain preferred, else HTML converted; attachments as
    (filename, content type, bytes)."""
    plain: list[str] = []
    html: list[str] = []
    attachments: list[tuple[str, str, bytes]] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        ctype = part.get_content_type()
        disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        filename = part.get_filename()
        if disposition == "attachment" or (filename and not ctype.startswith("text/")):
            data = part.get_payload(decode=True)
            attachments.append(
                (decode_header_value(filename or "attachment"), ctype, data or b"")  # type: ignore[arg-type]
            )
        elif ctype == "text/plain":
            plain.append(_part_text(part))
        elif ctype == "text/html":
            html.append(html_to_text(_part_text(part)))
        elif ctype == "message/rfc822":
            continue
    text = "\n\n".join(t for t in plain if t.strip()) or "\n\n".join(t for t in html if t.strip())
    return text.replace("\r\n", "\n").replace("\r", "\n").strip(), attachments


def auto_reason(msg: Message, envelope_from: str | None) -> str | None:
    """Why this message is machine-sent (never to be answered or turned into a task)."""
    auto = (msg.get("Auto-Submitted") or "").strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = (msg.get("Precedence") or "").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for header in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Auto-Reply"):
        if msg.get(header) is not None:
            return f"{header} present"
    if msg.get_content_type() == "multipart/report":
        return "delivery status report (multipart/report)"
    return_path = msg.get("Return-Path")
    if return_path is not None and parseaddr(str(return_path))[1] == "":
        return "empty Return-Path (bounce)"
    if envelope_from is not None and envelope_from.strip("<> ") == "":
        return "empty envelope sender (bounce)"
    local = parseaddr(str(msg.get("From") or ""))[1].split("@")[0].lower()
    if local in ("mailer-daemon", "postmaster"):
        return f"sent by {local}"
    return None


def cut_quoted(text: str) -> str:
    """The new part of a reply: up to our separator or the first common quote marker."""
    kept: list[str] = []
    for line in text.splitlines():
        if line.lstrip().startswith(">"):
            # The attribution line above a quote ("пн, 24 нояб. 2026 г. в 12:01, Naryad <…>:")
            # has no fixed wording, only its trailing colon.
            while kept and not kept[-1].strip():
                kept.pop()
            if kept and kept[-1].rstrip().endswith(":") and len(kept) > 1:
                kept.pop()
            break
        if REPLY_SEPARATOR in line or any(p.match(line) for p in _QUOTE_STARTS):
            break
        kept.append(line)
    return "\n".join(kept).strip()


def task_token(subject: str) -> int | None:
    match = _TOKEN.search(subject)
    return int(match.group(1)) if match else None


def clean_subject(subject: str) -> str:
    """Without Re:/Fwd: prefixes and our [#N] token."""
    subject = _TOKEN.sub(" ", subject)
    subject = _REPLY_PREFIX.sub("", subject)
    return " ".join(subject.split())


def split_surname_marker(subject: str) -> tuple[str, str | None]:
    """R5: 'Не печатает чек *Иванов' -> ('Не печатает чек', 'Иванов')."""
    match = _SURNAME_MARKER.search(subject)
    if not match:
        return subject, None
    return subject[: match.start()].rstrip(), match.group(1)


def _quoted_sender(value: str) -> tuple[str, str]:
    """(name, address) of a quoted From: line, or ("", "")."""
    name, address = parseaddr(value)
    if not _ADDRESS.fullmatch(address or ""):
        match = _ADDRESS.search(value)  # Outlook: 'Анна Смирнова [mailto:anna@romashka.ru]'
        if match is None:
            return "", ""
        address = match.group(0)
        name = re.sub(r"[\s<\[\"']*(mailto:)?$", "", value[: match.start()], flags=re.I)
    return name.strip().strip('"'), address.strip().lower()


def forward_facts(msg: Message, subject: str, text: str) -> tuple[bool, str, str]:
    """(is it a forward, the original sender's name, address); the address is "" when the
    forward does not say who wrote the original."""
    forwarded = bool(_FORWARD_SUBJECT.match(subject))
    for part in msg.walk():
        if part.get_content_type() != "message/rfc822":
            continue
        forwarded = True
        inner = part.get_payload(0) if part.is_multipart() else None
        if isinstance(inner, Message):
            name, address = _quoted_sender(decode_header_value(inner.get("From")))
            if address:
                return True, name, address
    lines = text.splitlines()
    forwarded = forwarded or any(_FORWARD_MARKER.match(line) for line in lines)
    if not forwarded and _REPLY_SUBJECT.match(subject):
        return False, "", ""  # a reply quoting its history, not a forward
    for i, line in enumerate(lines):
        match = _QUOTED_FROM.match(line)
        if match and any(_QUOTED_HEADER.match(nxt) for nxt in lines[i + 1 : i + 5]):
            name, address = _quoted_sender(match.group(2))
            if address:
                return True, name, address
    return forwarded, "", ""


def parse(raw: bytes, envelope_from: str | None = None) -> ParsedMail:
    msg = email.message_from_bytes(raw)
    name, address = parseaddr(decode_header_value(msg.get("From")))
    if not address:
        _, address = parseaddr(str(msg.get("From") or ""))
    recipients = []
    for header in ("Delivered-To", "X-Original-To", "To", "Cc"):
        values = [str(v) for v in msg.get_all(header) or []]
        recipients += [a.lower() for _, a in getaddresses(values) if a]
    thread_ids = []
    for header in ("In-Reply-To", "References"):
        thread_ids += _MSGID.findall(str(msg.get(header) or ""))
    message_id = _MSGID.findall(str(msg.get("Message-ID") or ""))
    text, attachments = body_text(msg)
    subject = decode_header_value(msg.get("Subject"))
    forwarded, original_name, original_sender = forward_facts(msg, subject, text)
    return _without_nul(
        message_id=message_id[0] if message_id else None,
        sender=address.strip().lower(),
        sender_name=name.strip(),
        subject=subject,
        text=text,
        recipients=list(dict.fromkeys(recipients)),
        thread_ids=list(dict.fromkeys(thread_ids)),
        auto_reason=auto_reason(msg, envelope_from),
        attachments=attachments,
        forwarded=forwarded,
        original_sender=original_sender,
        original_name=original_name,
    )


def _without_nul(**fields: Any) -> ParsedMail:
    """NUL characters (U+0000) dropped from every text: no database column takes them, and
    a message that can never be stored would be retried by the sender's server forever."""

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace("\x00", "")
        if isinstance(value, list | tuple):
            return type(value)(clean(v) for v in value)
        return value

    return ParsedMail(**{name: clean(value) for name, value in fields.items()})
