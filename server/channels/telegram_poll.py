"""`naryad telegram poll`: the Telegram bot without a public HTTPS address.

getUpdates long polling feeds the same handler as the webhook (`telegram.handle_update`).
Exactly once across restarts: the next offset is stored in the same transaction as the
update it follows (`telegram_poll_offsets`), and the update's claim in `telegram_updates`
(the webhook's own deduplication) turns an update delivered twice into "duplicate". An
update whose handling keeps failing is recorded as "error" after a few tries and skipped,
never retried forever.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from typing import Any

import asyncpg
import httpx

from server import db
from server.channels import telegram
from server.channels.tables import TelegramPollOffset, TelegramUpdate
from server.lib import clock
from server.lib.logs import get_logger
from server.settings import Settings

log = get_logger("naryad.channels.telegram_poll")

MAX_ATTEMPTS = 3  # tries of one update before it is recorded as "error" and skipped
BACKOFF_MAX_S = 60.0
ALLOWED_UPDATES = ["message"]


class PollError(Exception):
    """Polling cannot go on; the message says what to do."""


class TryLater(Exception):
    """The Bot API or the network failed for now."""

    def __init__(self, why: str, after_s: float | None = None) -> None:
        super().__init__(why)
        self.after_s = after_s


def bot_id(token: str) -> int:
    head = token.partition(":")[0]
    if not head.isdigit():
        raise PollError("NARYAD_TELEGRAM_BOT_TOKEN does not look like a bot token (123456:ABC…)")
    return int(head)


class BotApi:
    def __init__(self, settings: Settings) -> None:
        assert settings.telegram_bot_token
        self.base = f"{settings.telegram_api_base.rstrip('/')}/bot{settings.telegram_bot_token}"
        self.http = httpx.AsyncClient()

    async def call(self, method: str, body: dict[str, Any], wait_s: float = 0) -> Any:
        # A long poll answers within its own timeout; give the network a margin on top.
        timeout = wait_s + max(5.0, wait_s / 2)
        try:
            resp = await self.http.post(f"{self.base}/{method}", json=body, timeout=timeout)
        except httpx.TimeoutException as exc:
            raise TryLater(f"{method}: no answer in {timeout:g} s ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise TryLater(f"{method}: {exc!r}") from exc
        try:
            answer = resp.json()
        except ValueError:
            answer = {}
        description = str(answer.get("description") or resp.text[:200])
        if resp.status_code == 200 and answer.get("ok"):
            return answer.get("result")
        if resp.status_code in {401, 404}:
            raise PollError(f"the Bot API refused the token ({resp.status_code} {description})")
        if resp.status_code == 409 and "webhook" in description.lower():
            raise PollError(
                f"{description}: a webhook is set, so Telegram refuses getUpdates. Run "
                "`naryad telegram poll --delete-webhook` to switch to polling"
            )
        retry_after = (answer.get("parameters") or {}).get("retry_after")
        raise TryLater(
            f"{method}: {resp.status_code} {description}",
            float(retry_after) if isinstance(retry_after, int | float) else None,
        )

    async def close(self) -> None:
        await self.http.aclose()


async def stored_offset(bot: int) -> int | None:
    row = (
        await TelegramPollOffset.select(TelegramPollOffset.next_offset)
        .where(TelegramPollOffset.bot_id == bot)
        .first()
    )
    return int(row["next_offset"]) if row else None


async def _store_offset(bot: int, next_offset: int) -> None:
    """Inside the update's unit of work; never moves backwards (two pollers)."""
    now = clock.now()
    moved = (
        await TelegramPollOffset.update(
            {TelegramPollOffset.next_offset: next_offset, TelegramPollOffset.updated_at: now}
        )
        .where((TelegramPollOffset.bot_id == bot) & (TelegramPollOffset.next_offset < next_offset))
        .returning(TelegramPollOffset.id)
    )
    if moved or await TelegramPollOffset.exists().where(TelegramPollOffset.bot_id == bot):
        return
    try:
        async with db.transaction():  # a savepoint: another poller may insert first
            await TelegramPollOffset.insert(
                TelegramPollOffset(bot_id=bot, next_offset=next_offset, updated_at=now)
            )
    except (asyncpg.UniqueViolationError, sqlite3.IntegrityError):
        await _store_offset(bot, next_offset)


class Poller:
    def __init__(self, settings: Settings) -> None:
        if not settings.telegram_bot_token:
            raise PollError("NARYAD_TELEGRAM_BOT_TOKEN is not set")
        self.settings = settings
        self.bot = bot_id(settings.telegram_bot_token)
        self.api = BotApi(settings)
        self.failures: Counter[int] = Counter()
        self.counts: Counter[str] = Counter()
        self.offset: int | None = None
        # Set by SIGTERM: stop between updates, so no reply is cut off after its commit.
        self.stopping = asyncio.Event()

    async def prepare(self, *, delete_webhook: bool) -> None:
        """Polling and a webhook exclude each other at Telegram."""
        info = await self.api.call("getWebhookInfo", {})
        url = (info or {}).get("url") or ""
        if url and not delete_webhook:
            raise PollError(
                f"a webhook is set ({url}), so Telegram refuses getUpdates. Run "
                "`naryad telegram poll --delete-webhook` to switch to polling, or keep the "
                "webhook and do not poll"
            )
        if url:
            await self.api.call("deleteWebhook", {"drop_pending_updates": False})
            log.info("telegram: webhook deleted, polling from now on", url=url)
        self.offset = await stored_offset(self.bot)
        log.info("telegram: polling", bot_id=self.bot, offset=self.offset)

    async def fetch(self, wait_s: int) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"timeout": wait_s, "allowed_updates": ALLOWED_UPDATES}
        if self.offset is not None:
            body["offset"] = self.offset
        result = await self.api.call("getUpdates", body, wait_s=wait_s)
        updates = [u for u in result or [] if isinstance(u, dict)]
        return sorted(updates, key=lambda u: int(u.get("update_id", 0)))

    async def handle(self, update: dict[str, Any]) -> None:
        """One update and the offset after it, as one unit of work. Raises TryLater to
        fetch again from the same offset."""
        update_id = update.get("update_id")
        if not isinstance(update_id, int):
            return
        next_offset = max(update_id + 1, self.offset or 0)
        try:
            async with db.transaction():
                outcome = await telegram.handle_update(update)
                await _store_offset(self.bot, next_offset)
        except Exception as exc:
            self.failures[update_id] += 1
            attempt = self.failures[update_id]
            log.warning(
                "telegram: update failed",
                update_id=update_id,
                attempt=attempt,
                of=MAX_ATTEMPTS,
                error=repr(exc),
            )
            if attempt < MAX_ATTEMPTS:
                raise TryLater(f"update {update_id} failed: {exc!r}") from exc
            await self._give_up(update_id, next_offset, exc)
            outcome = "error"
        else:
            self.failures.pop(update_id, None)
            log.info("telegram: update handled", update_id=update_id, outcome=outcome)
        self.offset = next_offset
        self.counts[outcome] += 1

    async def _give_up(self, update_id: int, next_offset: int, exc: Exception) -> None:
        async with db.transaction():
            if not await TelegramUpdate.exists().where(TelegramUpdate.update_id == update_id):
                await TelegramUpdate.insert(
                    TelegramUpdate(update_id=update_id, received_at=clock.now(), outcome="error")
                )
            await _store_offset(self.bot, next_offset)
        self.failures.pop(update_id, None)
        log.error(
            "telegram: update given up after repeated failures",
            update_id=update_id,
            attempts=MAX_ATTEMPTS,
            error=repr(exc),
        )

    async def run(self, *, once: bool) -> Counter[str]:
        """Handle updates until cancelled; with `once`, until none are waiting."""
        backoff = 0.5
        while True:
            try:
                fetching = asyncio.ensure_future(
                    self.fetch(0 if once else self.settings.telegram_poll_timeout_s)
                )
                stopping = asyncio.ensure_future(self.stopping.wait())
                await asyncio.wait({fetching, stopping}, return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if self.stopping.is_set():
                    fetching.cancel()  # nothing is in flight during a long poll
                    return self.counts
                updates = fetching.result()
                for update in updates:
                    if self.stopping.is_set():
                        return self.counts
                    await self.handle(update)
            except PollError:
                raise
            except Exception as exc:  # the Bot API, the network or the database: later
                if once and not self.failures:
                    raise PollError(str(exc)) from exc
                after = exc.after_s if isinstance(exc, TryLater) else None
                wait = after if after is not None else backoff
                log.warning("telegram: trying again", error=str(exc), in_s=wait)
                await asyncio.sleep(wait)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            backoff = 0.5
            if once and not updates:
                return self.counts

    async def close(self) -> None:
        await self.api.close()


async def poll(
    settings: Settings,
    *,
    once: bool = False,
    delete_webhook: bool = False,
    stopping: asyncio.Event | None = None,
) -> Counter[str]:
    """Poll until cancelled or `stopping` is set (then after the update in hand)."""
    poller = Poller(settings)
    if stopping is not None:
        poller.stopping = stopping
    try:
        backoff = 1.0
        while True:  # the Bot API may be unreachable at start-up too
            try:
                await poller.prepare(delete_webhook=delete_webhook)
                break
            except TryLater as exc:
                if once:
                    raise PollError(str(exc)) from exc
                log.warning("telegram: cannot start yet", error=str(exc), in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
        return await poller.run(once=once)
    finally:
        await poller.close()
