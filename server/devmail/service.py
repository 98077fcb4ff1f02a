"""Keep and list caught mail."""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage

import msgspec

from server import db
from server.devmail.tables import DevMail
from server.lib import clock
from server.lib.errors import NotFound
from server.settings import Settings

MAX_PAGE = 200


class DevMailOut(msgspec.Struct):
    id: int
    created_at: dt.datetime
    sender: str
    recipient: str
    subject: str
    message_id: str
    body_text: str
    body_html: str


class DevMailPage(msgspec.Struct):
    enabled: bool
    items: list[DevMailOut]


def enabled(settings: Settings) -> bool:
    """Caught only where nothing could be sent: no SMTP host, and the catcher switched on."""
    return not settings.smtp_host and settings.dev_mail_catcher


async def keep(message: EmailMessage, recipient: str, notification_id: int | None = None) -> int:
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    row = DevMail(
        notification_id=str(notification_id or ""),
        sender=str(message["From"] or ""),
        recipient=recipient,
        subject=str(message["Subject"] or ""),
        message_id=str(message["Message-ID"] or ""),
        body_text=plain.get_content() if plain is not None else "",
        body_html=html.get_content() if html is not None else "",
        created_at=clock.now(),
    )
    result = await DevMail.insert(row).returning(DevMail.id)
    return int(result[0]["id"])


def _out(row: dict[str, object]) -> DevMailOut:
    return DevMailOut(
        id=int(row["id"]),  # type: ignore[call-overload]
        created_at=db.stored_datetime(row["created_at"]),
        sender=str(row["sender"]),
        recipient=str(row["recipient"]),
        subject=str(row["subject"]),
        message_id=str(row["message_id"]),
        body_text=str(row["body_text"]),
        body_html=str(row["body_html"]),
    )


async def listing(settings: Settings, limit: int = 100) -> DevMailPage:
    if not enabled(settings):
        return DevMailPage(enabled=False, items=[])
    limit = min(max(limit, 1), MAX_PAGE)
    rows = await DevMail.select().order_by(DevMail.id, ascending=False).limit(limit)
    return DevMailPage(enabled=True, items=[_out(r) for r in rows])


async def one(settings: Settings, mail_id: int) -> DevMailOut:
    row = await DevMail.select().where(DevMail.id == mail_id).first() if enabled(settings) else None
    if row is None:
        raise NotFound("devmail.caught_mail_not_found", mail_id=mail_id)
    return _out(row)
