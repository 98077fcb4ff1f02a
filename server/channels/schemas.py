from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

TemplateCode = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]


class TelegramChatIn(msgspec.Struct, forbid_unknown_fields=True):
    chat_id: int
    template: TemplateCode


class TelegramChatOut(msgspec.Struct):
    id: int
    chat_id: int
    template: str


class MailAddressIn(msgspec.Struct, forbid_unknown_fields=True):
    address: Annotated[str, msgspec.Meta(min_length=3, max_length=320)]
    template: TemplateCode


class MailAddressOut(msgspec.Struct):
    id: int
    address: str
    template: str


class IntakeResult(msgspec.Struct, omit_defaults=True):
    """What e-mail intake did with one message (API.md: the inbound endpoint's body)."""

    outcome: str  # task_created | comment_added | duplicate | ignored | rejected
    task_id: int | None = None
    reason: str | None = None


class InboundMailOut(msgspec.Struct):
    id: int
    received_at: dt.datetime
    sender: str
    subject: str
    message_id: str | None
    recipients: str
    size: int
    outcome: str
    reason: str
    task_id: int | None
    comment_id: int | None


class MissingCounterpartyOut(msgspec.Struct):
    task_id: int
    number: int
    title: str
    status: str
    contact_id: int | None
    created_at: dt.datetime
