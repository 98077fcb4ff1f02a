"""Channel endpoints: webhooks authenticate by their shared secrets, admin ones by role."""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Controller, Request, get, post
from litestar.exceptions import NotAuthorizedException

from server.channels import intake, missing_counterparty, service, telegram
from server.channels.schemas import (
    InboundMailOut,
    IntakeResult,
    MailAddressIn,
    MailAddressOut,
    MissingCounterpartyOut,
    TelegramChatIn,
    TelegramChatOut,
)
from server.clients.schemas import CounterpartyAppliedOut
from server.lib.actor import Actor
from server.lib.guards import ADMIN, DIRECTORY_WRITERS, PUBLIC
from server.settings import Settings


def _check_secret(given: str | None, expected: str | None, header: str) -> None:
    if not expected or not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise NotAuthorizedException(f"missing or wrong {header}")


class ChannelsController(Controller):
    path = "/api/channels"
    tags = ["channels"]

    @post("/telegram/webhook", opt=PUBLIC, status_code=200)
    async def telegram_webhook(
        self, request: Request[Any, Any, Any], settings: Settings
    ) -> dict[str, Any]:
        _check_secret(
            request.headers.get("x-telegram-bot-api-secret-token"),
            settings.telegram_webhook_secret,
            "X-Telegram-Bot-Api-Secret-Token",
        )
        try:
            update = await request.json()
        except Exception:  # malformed: acknowledged, or Telegram retries forever
            return {"ok": True, "outcome": "ignored"}
        outcome = await telegram.handle_update(update if isinstance(update, dict) else {})
        return {"ok": True, "outcome": outcome}

    @post("/telegram/chats", guards=[ADMIN])
    async def map_chat(self, data: TelegramChatIn) -> TelegramChatOut:
        return await service.map_telegram_chat(data)

    @get("/telegram/chats", guards=[ADMIN])
    async def list_chats(self) -> list[TelegramChatOut]:
        return await service.list_telegram_chats()

    @post("/email/inbound", opt=PUBLIC, status_code=200)
    async def email_inbound(
        self, request: Request[Any, Any, Any], settings: Settings
    ) -> IntakeResult:
        _check_secret(
            request.headers.get("x-naryad-secret"), settings.inbound_email_secret, "X-Naryad-Secret"
        )
        raw = await request.body()
        return await intake.receive_mail(raw)

    @post("/email/addresses", guards=[ADMIN])
    async def add_address(self, data: MailAddressIn) -> MailAddressOut:
        return await service.add_mail_address(data)

    @get("/email/addresses", guards=[ADMIN])
    async def list_addresses(self) -> list[MailAddressOut]:
        return await service.list_mail_addresses()

    @get("/email/messages", guards=[ADMIN])
    async def list_messages(
        self, limit: int = 100, outcome: str | None = None
    ) -> list[InboundMailOut]:
        return await service.list_inbound_mail(limit, outcome)

    @get("/email/missing-counterparty", guards=[DIRECTORY_WRITERS])
    async def missing_counterparty(
        self, contact: int | None = None
    ) -> list[MissingCounterpartyOut]:
        return await service.list_missing_counterparty(contact)


class ContactMailController(Controller):
    """The office's fix for mail from a sender nobody knew (R2 after the fact)."""

    path = "/api/contacts"
    tags = ["directory"]

    @post("/{contact_id:int}/apply-counterparty", guards=[DIRECTORY_WRITERS], status_code=200)
    async def apply_counterparty(
        self, contact_id: int, request: Request[Actor, str, Any]
    ) -> CounterpartyAppliedOut:
        """Give the contact's counterparty to its mail tasks listed as missing one."""
        return await missing_counterparty.apply_contact_counterparty(request.user, contact_id)
