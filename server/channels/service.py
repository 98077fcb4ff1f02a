"""Channel configuration: Telegram chats and intake addresses mapped to templates (R3)."""

from __future__ import annotations

from server import db
from server.channels.schemas import (
    InboundMailOut,
    MailAddressIn,
    MailAddressOut,
    MissingCounterpartyOut,
    TelegramChatIn,
    TelegramChatOut,
)
from server.channels.tables import InboundMail, IntakeTask, MailAddress, TelegramChat
from server.lib import clock
from server.lib.addresses import is_email
from server.lib.errors import Conflict, InvalidInput, RuleViolation
from server.tasks import service as tasks
from server.tasks.schemas import TemplateOut
from server.tasks.statuses import Channel

# `naryad migrate` maps these when NARYAD_MAIL_DOMAIN is set (R5).
DEFAULT_ADDRESSES = (("project+124", "accounting"), ("project+31", "remote_support"))


async def _template_for(code: str, channel: str) -> TemplateOut:
    """The template a chat or an address creates tasks with; R3 from the one check."""
    template = await tasks.get_template(code)
    tasks.require_channel(template, channel)
    return template


async def map_telegram_chat(data: TelegramChatIn) -> TelegramChatOut:
    """Map (or re-map) a chat to a template that allows Telegram."""
    template = await _template_for(data.template, Channel.TELEGRAM)
    async with db.transaction():
        existing = await TelegramChat.select(TelegramChat.id).where(
            TelegramChat.chat_id == data.chat_id
        )
        if existing:
            await TelegramChat.update({TelegramChat.template: template.id}).where(
                TelegramChat.chat_id == data.chat_id
            )
            chat_row_id = existing[0]["id"]
        else:
            row = TelegramChat(chat_id=data.chat_id, template=template.id, created_at=clock.now())
            await row.save()
            chat_row_id = row.id
    return TelegramChatOut(id=chat_row_id, chat_id=data.chat_id, template=template.code)


async def list_telegram_chats() -> list[TelegramChatOut]:
    rows = await TelegramChat.select(
        TelegramChat.id, TelegramChat.chat_id, TelegramChat.template.code
    ).order_by(TelegramChat.id)
    return [TelegramChatOut(r["id"], r["chat_id"], r["template.code"]) for r in rows]


def normalize_address(address: str) -> str:
    address = address.strip().strip("<>").lower()
    if not is_email(address):
        raise InvalidInput("channel.not_e_mail_address", address=address)
    return address


async def add_mail_address(data: MailAddressIn) -> MailAddressOut:
    address = normalize_address(data.address)
    template = await _template_for(data.template, Channel.EMAIL)
    async with db.transaction():
        if await MailAddress.exists().where(MailAddress.address == address):
            raise Conflict("channel.already_intake_address", address=address)
        row = MailAddress(address=address, template=template.id, created_at=clock.now())
        await row.save()
    return MailAddressOut(id=row.id, address=address, template=template.code)


async def list_mail_addresses() -> list[MailAddressOut]:
    rows = await MailAddress.select(
        MailAddress.id, MailAddress.address, MailAddress.template.code
    ).order_by(MailAddress.address)
    return [MailAddressOut(r["id"], r["address"], r["template.code"]) for r in rows]


async def seed_default_addresses(domain: str | None) -> list[str]:
    """Idempotent: adds the default intake addresses that are missing; returns them."""
    if not domain:
        return []
    added = []
    for local, code in DEFAULT_ADDRESSES:
        address = f"{local}@{domain}".lower()
        if await MailAddress.exists().where(MailAddress.address == address):
            continue
        try:
            await add_mail_address(MailAddressIn(address=address, template=code))
        except (Conflict, RuleViolation):  # a concurrent migrate, or an admin's edited template
            continue
        added.append(address)
    return added


async def list_inbound_mail(limit: int = 100, outcome: str | None = None) -> list[InboundMailOut]:
    query = (
        InboundMail.select(
            InboundMail.id,
            InboundMail.received_at,
            InboundMail.sender,
            InboundMail.subject,
            InboundMail.message_id,
            InboundMail.recipients,
            InboundMail.size,
            InboundMail.outcome,
            InboundMail.reason,
            InboundMail.task,
            InboundMail.comment_id,
        )
        .order_by(InboundMail.id, ascending=False)
        .limit(min(max(limit, 1), 500))
    )
    if outcome:
        query = query.where(InboundMail.outcome == outcome)
    return [
        InboundMailOut(
            id=r["id"],
            received_at=r["received_at"],
            sender=r["sender"],
            subject=r["subject"],
            message_id=r["message_id"],
            recipients=r["recipients"],
            size=r["size"],
            outcome=r["outcome"],
            reason=r["reason"],
            task_id=r["task"],
            comment_id=r["comment_id"],
        )
        for r in await query
    ]


async def list_missing_counterparty(
    contact_id: int | None = None,
) -> list[MissingCounterpartyOut]:
    """R2 for mail: tasks created without a counterparty, still lacking one (of one sender:
    what POST /api/contacts/{id}/apply-counterparty would fix)."""
    query = (
        IntakeTask.select(
            IntakeTask.task.id,
            IntakeTask.task.number,
            IntakeTask.task.title,
            IntakeTask.task.status,
            IntakeTask.task.counterparty,
            IntakeTask.task.created_at,
            IntakeTask.contact,
        )
        .where(IntakeTask.counterparty_missing.eq(True))
        .order_by(IntakeTask.id)
    )
    if contact_id is not None:
        query = query.where(IntakeTask.contact == contact_id)
    rows = await query
    return [
        MissingCounterpartyOut(
            task_id=r["task.id"],
            number=r["task.number"] or r["task.id"],
            title=r["task.title"],
            status=r["task.status"],
            contact_id=r["contact"],
            created_at=r["task.created_at"],
        )
        for r in rows
        if r["task.counterparty"] is None
    ]
