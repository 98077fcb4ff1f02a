"""A small pool of SMTP connections per delivering process (aiosmtplib).

Opening a connection costs a TCP handshake, the greeting, EHLO (and STARTTLS and AUTH at a
real provider) — several times what one message costs on an open one. The pool keeps at
most `size` connections, each carrying one mail transaction at a time (MAIL, RCPT, DATA),
and hands them out most recently used first, so a trickle of mail keeps using one.

A connection that broke while idle (the server timed it out or restarted) is noticed when
it is next used: closed by the server, it is gone before we write; half-open, its MAIL gets
no answer. Either way nothing of the message has been handed over, so the pool opens a
fresh connection and sends the mail on it at once. After a refusal the envelope is reset
(RSET) and the connection kept; after a timeout or a broken DATA exchange it is dropped —
whether the server kept that message is unknown, and the caller retries the row later
(at-least-once; the message keeps its Message-ID). A connection idle for a while is checked
with NOOP before use and one idle for long is closed instead.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING

from server.lib.logs import get_logger
from server.settings import Settings

if TYPE_CHECKING:
    import aiosmtplib

log = get_logger("naryad.notifications.smtp")

NOOP_AFTER_IDLE_S = 15.0
CLOSE_AFTER_IDLE_S = 120.0
# An address that needs no quoting in MAIL FROM/RCPT TO (RFC 5321 dot-atom@domain): sent as
# is, without aiosmtplib's parse of every address (a sixth of a message's cost). Anything
# else goes through aiosmtplib's mail()/rcpt(), which parse and quote it.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+\Z")


class _Stale(Exception):
    """A reused connection failed before any of the message was sent."""


class _Connection:
    __slots__ = ("last_used", "smtp")

    def __init__(self, smtp: aiosmtplib.SMTP) -> None:
        self.smtp = smtp
        self.last_used = time.monotonic()


class SmtpPool:
    def __init__(self, settings: Settings, size: int, timeout: float) -> None:
        self.settings = settings
        self.size = max(1, size)
        self.timeout = timeout
        self._idle: list[_Connection] = []
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.opened = 0  # connections opened so far (logs and tests)

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            # (A pool used from another event loop — tests — starts over: sockets belong
            # to the loop that opened them.)
            self._slots, self._loop = asyncio.Semaphore(self.size), loop
            self._idle = []
        return self._slots

    async def send(self, sender: str, recipient: str, raw: bytes) -> None:
        """One mail transaction. Returns when the server answered 250 to the data; raises
        aiosmtplib's exceptions (a refusal, a timeout, a lost connection) otherwise."""
        import aiosmtplib

        async with self._semaphore():
            conn = await self._take()
            try:
                if conn is not None:
                    try:
                        await self._transaction(conn, sender, recipient, raw, reused=True)
                        self._give_back(conn)
                        return
                    except _Stale as exc:
                        log.info("pooled SMTP connection replaced", error=repr(exc.__cause__))
                        conn.smtp.close()
                conn = await self._open()
                await self._transaction(conn, sender, recipient, raw, reused=False)
                self._give_back(conn)
            except aiosmtplib.SMTPResponseException:
                # The server said no (to the sender, the recipient or the data): reset the
                # envelope and keep the connection if it is still good.
                if conn is not None:
                    await self._reset_or_drop(conn)
                raise
            except BaseException:
                # Timeouts, lost connections, cancellation: the state is unknown.
                if conn is not None:
                    conn.smtp.close()
                raise

    async def _take(self) -> _Connection | None:
        import aiosmtplib

        while self._idle:
            conn = self._idle.pop()
            idle = time.monotonic() - conn.last_used
            if not conn.smtp.is_connected or idle > CLOSE_AFTER_IDLE_S:
                conn.smtp.close()
                continue
            if idle > NOOP_AFTER_IDLE_S:
                try:
                    await conn.smtp.noop(timeout=self.timeout)
                except (aiosmtplib.SMTPException, OSError, TimeoutError):
                    conn.smtp.close()
                    continue
            return conn
        return None

    def _give_back(self, conn: _Connection) -> None:
        conn.last_used = time.monotonic()
        if conn.smtp.is_connected:
            self._idle.append(conn)

    async def _reset_or_drop(self, conn: _Connection) -> None:
        import aiosmtplib

        if not conn.smtp.is_connected:
            return
        try:
            await conn.smtp.rset(timeout=self.timeout)
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            conn.smtp.close()
            return
        self._give_back(conn)

    async def _open(self) -> _Connection:
        import aiosmtplib

        s = self.settings
        smtp = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_user,
            password=s.smtp_password,
            use_tls=s.smtp_tls == "tls",
            start_tls=s.smtp_tls == "starttls",  # False, not None: no opportunistic upgrade
            timeout=self.timeout,
        )
        await smtp.connect()
        if smtp.is_ehlo_or_helo_needed:  # (MAIL and RCPT are sent as commands of our own)
            try:
                await smtp.ehlo()
            except aiosmtplib.SMTPHeloError:
                await smtp.helo()
        self.opened += 1
        return _Connection(smtp)

    async def _transaction(
        self, conn: _Connection, sender: str, recipient: str, raw: bytes, *, reused: bool
    ) -> None:
        """MAIL, RCPT, DATA under one deadline (one timer per message rather than one per
        command)."""
        import aiosmtplib

        smtp = conn.smtp
        async with asyncio.timeout(self.timeout):
            try:
                if not smtp.is_connected:
                    raise aiosmtplib.SMTPServerDisconnected("closed while idle")
                options = [f"SIZE={len(raw)}"] if smtp.supports_extension("size") else []
                await self._mail(smtp, sender, options)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError) as exc:
                if reused:
                    raise _Stale() from exc
                raise
            except aiosmtplib.SMTPResponseException as exc:
                if reused and exc.code == 421:  # "closing the channel" (idle too long)
                    raise _Stale() from exc
                raise
            await self._rcpt(smtp, recipient)
            await smtp.data(raw, timeout=None)

    @staticmethod
    async def _mail(smtp: aiosmtplib.SMTP, sender: str, options: list[str]) -> None:
        import aiosmtplib

        if not _PLAIN_ADDRESS.match(sender):
            await smtp.mail(sender, options=options, timeout=None)
            return
        args = [b"FROM:<" + sender.encode() + b">", *(o.encode() for o in options)]
        response = await smtp.execute_command(b"MAIL", *args, timeout=None)
        if response.code != 250:
            raise aiosmtplib.SMTPSenderRefused(response.code, response.message, sender)

    @staticmethod
    async def _rcpt(smtp: aiosmtplib.SMTP, recipient: str) -> None:
        import aiosmtplib

        if not _PLAIN_ADDRESS.match(recipient):
            await smtp.rcpt(recipient, timeout=None)
            return
        response = await smtp.execute_command(
            b"RCPT", b"TO:<" + recipient.encode() + b">", timeout=None
        )
        if response.code not in (250, 251):
            raise aiosmtplib.SMTPRecipientRefused(response.code, response.message, recipient)

    async def close(self) -> None:
        """QUIT every idle connection (at shutdown)."""
        import aiosmtplib

        idle, self._idle = self._idle, []
        for conn in idle:
            if not conn.smtp.is_connected:
                continue
            try:
                await conn.smtp.quit(timeout=min(self.timeout, 5.0))
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                conn.smtp.close()
