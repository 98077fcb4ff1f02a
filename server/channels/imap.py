"""IMAP intake: client mail kept at a provider, taken in through the same intake function as
SMTP and HTTP (R5, R6), then flagged and moved out of the folder.

Exactly once, across restarts and with several intake processes on one mailbox: a message is
known by its mailbox, UIDVALIDITY and UID (`imap_messages`, unique). That row is claimed
first, inside the intake's unit of work, and commits with the task or comment; a second
process claiming the same message waits for the first to commit and then skips it. Moving
the message comes after the commit: a process killed in between finds the row on its next
pass and only moves the message. The intake's Message-ID check is the last guard (a copy of
the same message, or a mailbox whose UIDVALIDITY changed).

A message whose intake fails is retried on later passes; after NARYAD_IMAP_MAX_ATTEMPTS it
is moved to the failures folder with the reason logged (and kept in inbound_mails).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import re
import sqlite3
import ssl
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import aioimaplib
import asyncpg

from server import db
from server.channels import intake
from server.channels.tables import ImapMessage
from server.lib import clock
from server.lib.logs import get_logger
from server.settings import Settings

log = get_logger("naryad.channels.imap")

# IDLE is renewed well within the 29 minutes RFC 2177 allows; NAT boxes forget quieter links.
IDLE_RENEW_S = 540.0
COMMAND_TIMEOUT_S = 60.0
# A committed message is moved by the process that took it in, at once. Another process
# moves it only when it is still there this much later (that process died in between).
MOVE_GRACE_S = 10.0
RECONNECT_MAX_S = 300.0


class ImapError(Exception):
    """The IMAP server refused or broke something; the message says what."""


# --- configuration --------------------------------------------------------------------------


@dataclass(frozen=True)
class Mailbox:
    """One NARYAD_IMAP_URL: where to log in and which folder to read."""

    host: str
    port: int
    tls: bool
    user: str
    password: str = field(repr=False)
    folder: str = "INBOX"
    # The intake address this mailbox receives (R5 picks the template by it); unset: the
    # message's own Delivered-To/X-Original-To/To/Cc headers decide.
    address: str | None = None
    idle: bool = True

    @property
    def name(self) -> str:
        """The folder's identity in the bookkeeping: no port (the same server may be reached
        on 993 today and through a proxy tomorrow), no password."""
        return f"{self.user}@{self.host}/{self.folder}"

    def __str__(self) -> str:
        return (
            f"{'imaps' if self.tls else 'imap'}://{self.user}@{self.host}:{self.port}/{self.folder}"
        )


def parse_mailboxes(text: str) -> list[Mailbox]:
    """NARYAD_IMAP_URL: one or more `imaps://user:password@host[:port][/folder][?address=…]`
    separated by spaces or commas (percent-encode them inside a password)."""
    found = [_parse_one(part) for part in re.split(r"[\s,]+", text.strip()) if part]
    if not found:
        raise ValueError("NARYAD_IMAP_URL is empty")
    names = [m.name for m in found]
    if len(set(names)) != len(names):
        raise ValueError("NARYAD_IMAP_URL names the same mailbox twice")
    return found


def _parse_one(url: str) -> Mailbox:
    parts = urlsplit(url)
    shown = f"{parts.scheme}://{parts.hostname or '?'}{parts.path}"  # never the password
    if parts.scheme not in {"imap", "imaps"}:
        raise ValueError(f"NARYAD_IMAP_URL {shown}: use imaps:// (TLS) or imap:// (plain)")
    if not parts.hostname:
        raise ValueError(f"NARYAD_IMAP_URL {shown}: no host")
    if not parts.username or parts.password is None:
        raise ValueError(f"NARYAD_IMAP_URL {shown}: needs user:password@ before the host")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"NARYAD_IMAP_URL {shown}: {exc}") from None
    # "+" is literal here (project+31@…), not the form encoding of a space.
    query = {k: v[-1] for k, v in parse_qs(parts.query.replace("+", "%2B")).items()}
    unknown = set(query) - {"address", "idle"}
    if unknown:
        raise ValueError(f"NARYAD_IMAP_URL {shown}: unknown option {sorted(unknown)[0]!r}")
    idle = query.get("idle", "yes").lower()
    if idle not in {"yes", "no"}:
        raise ValueError(f"NARYAD_IMAP_URL {shown}: idle=yes or idle=no")
    tls = parts.scheme == "imaps"
    return Mailbox(
        host=parts.hostname,
        port=port or (993 if tls else 143),
        tls=tls,
        user=unquote(parts.username),
        password=unquote(parts.password),
        folder=unquote(parts.path.lstrip("/")) or "INBOX",
        address=query.get("address", "").strip().lower() or None,
        idle=idle == "yes",
    )


def mailbox_arg(name: str) -> str:
    """A folder name as an IMAP argument: modified UTF-7 (RFC 3501 5.1.3), quoted."""
    out, pending = [], ""

    def flush() -> None:
        nonlocal pending
        if pending:
            b64 = base64.b64encode(pending.encode("utf-16-be")).decode().rstrip("=")
            out.append("&" + b64.replace("/", ",") + "-")
            pending = ""

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending += ch
    flush()
    return str(aioimaplib.quoted("".join(out)))


# --- one connection -------------------------------------------------------------------------


class Session:
    """A logged-in connection with the folder selected."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox
        self.client: aioimaplib.IMAP4 | None = None
        self.uidvalidity = 0
        self.keywords = False  # the folder keeps our own keywords (PERMANENTFLAGS \*)
        self.lost = False

    @property
    def imap(self) -> aioimaplib.IMAP4:
        assert self.client is not None
        return self.client

    async def open(self, settings: Settings) -> None:
        m = self.mailbox
        if m.tls:
            self.client = aioimaplib.IMAP4_SSL(
                host=m.host, port=m.port, timeout=COMMAND_TIMEOUT_S, ssl_context=_tls_context()
            )
        else:
            self.client = aioimaplib.IMAP4(host=m.host, port=m.port, timeout=COMMAND_TIMEOUT_S)
        self.imap.protocol.conn_lost_cb = self._connection_lost
        await self.imap.wait_hello_from_server()
        resp = await self.imap.login(m.user, m.password)
        if resp.result != "OK":
            raise ImapError(f"{m}: login refused: {_text(resp)}")
        for folder in (settings.imap_processed_folder, settings.imap_failed_folder):
            await self._ensure_folder(folder)
        resp = await self.imap.select(mailbox_arg(m.folder))
        if resp.result != "OK":
            raise ImapError(f"{m}: cannot open folder {m.folder!r}: {_text(resp)}")
        lines = b"\n".join(line for line in resp.lines if isinstance(line, bytes))
        found = re.search(rb"\[UIDVALIDITY (\d+)\]", lines)
        if not found:
            raise ImapError(f"{m}: the server sent no UIDVALIDITY")
        self.uidvalidity = int(found.group(1))
        flags = re.search(rb"\[PERMANENTFLAGS \(([^)]*)\)\]", lines)
        self.keywords = bool(flags and b"\\*" in flags.group(1))

    def _connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.client is not None and self.client.protocol.has_pending_idle_command():
            self.client.protocol.idle_queue.put_nowait(aioimaplib.STOP_WAIT_SERVER_PUSH)

    async def _ensure_folder(self, folder: str) -> None:
        name = mailbox_arg(folder)
        resp = await self.imap.list('""', name)
        if resp.result == "OK" and _untagged(resp):  # the folder is listed: it exists
            return
        resp = await self.imap.create(name)
        if resp.result != "OK" and b"ALREADYEXISTS" not in b" ".join(
            x for x in resp.lines if isinstance(x, bytes)
        ):
            raise ImapError(f"{self.mailbox}: cannot create folder {folder!r}: {_text(resp)}")
        log.info("imap: folder created", mailbox=str(self.mailbox), folder=folder)

    async def waiting(self) -> list[int]:
        """UIDs still in the folder, oldest first (deleted ones wait for an expunge)."""
        resp = await self.imap.uid_search("UNDELETED", charset=None)
        _ok(resp, "UID SEARCH")
        uids: list[int] = []
        for line in _untagged(resp):  # aioimaplib drops the "SEARCH" word
            uids += [int(x) for x in line.split() if x.isdigit()]
        return sorted(uids)

    async def fetch(self, uid: int) -> bytes | None:
        """The raw message (without setting \\Seen); None when it is gone already."""
        resp = await self.imap.uid("fetch", str(uid), "(UID BODY.PEEK[])")
        _ok(resp, "UID FETCH")
        for line in resp.lines:
            if isinstance(line, bytearray):
                return bytes(line)
        return None

    async def move(self, uid: int, folder: str, flags: list[str]) -> bool:
        """Flag the message and move it (MOVE, else COPY + \\Deleted + expunge); False
        when it is gone already (another intake process moved it)."""
        if not self.keywords:
            flags = [f for f in flags if f.startswith("\\")]
        if flags:
            resp = await self.imap.uid("store", str(uid), "+FLAGS.SILENT", f"({' '.join(flags)})")
            if _gone(resp):
                return False
            _ok(resp, "UID STORE")
        target = mailbox_arg(folder)
        if self.imap.has_capability("MOVE"):
            resp = await self.imap.uid("move", str(uid), target)
            if _gone(resp):
                return False
            _ok(resp, "UID MOVE")
            return True
        resp = await self.imap.uid("copy", str(uid), target)
        if _gone(resp):
            return False
        _ok(resp, "UID COPY")
        _ok(await self.imap.uid("store", str(uid), "+FLAGS.SILENT", "(\\Deleted)"), "UID STORE")
        if self.imap.has_capability("UIDPLUS"):
            _ok(await self.imap.uid("expunge", str(uid)), "UID EXPUNGE")
        else:
            _ok(await self.imap.expunge(), "EXPUNGE")
        return True

    @property
    def can_idle(self) -> bool:
        return self.mailbox.idle and self.imap.has_capability("IDLE")

    async def wait_for_mail(self, within_s: float) -> bool:
        """IDLE until the server announces a message (True) or `within_s` pass (False)."""
        idle = await self.imap.idle_start(timeout=within_s)
        new_mail = False
        try:
            while self.imap.has_pending_idle() and not self.lost:
                push = await self.imap.wait_server_push(timeout=within_s + COMMAND_TIMEOUT_S)
                if push == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
                if any(isinstance(x, bytes) and x.endswith(b"EXISTS") for x in push):
                    new_mail = True
                    break
        finally:
            if not self.lost:
                self.imap.idle_done()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(idle, COMMAND_TIMEOUT_S)
        if self.lost:
            raise ImapError(f"{self.mailbox}: connection lost")
        return new_mail

    async def close(self) -> None:
        if self.client is None:
            return
        if not self.lost:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.imap.logout(), 5)
        transport = self.client.protocol.transport
        if transport is not None:
            transport.close()


def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH)


def _untagged(resp: Any) -> list[bytes]:
    """The untagged lines of a response (the last line is the tagged completion's text)."""
    return [x for x in resp.lines[:-1] if isinstance(x, bytes) and x.strip()]


def _text(resp: Any) -> str:
    lines = [x for x in resp.lines if isinstance(x, bytes)]
    return (lines[-1] if lines else b"").decode(errors="replace")[:300]


def _gone(resp: Any) -> bool:
    """A NO because another session expunged the message meanwhile (RFC 5530)."""
    return resp.result == "NO" and b"EXPUNGEISSUED" in b" ".join(
        x for x in resp.lines if isinstance(x, bytes)
    )


def _ok(resp: Any, what: str) -> None:
    if resp.result != "OK":
        raise ImapError(f"{what} failed: {resp.result} {_text(resp)}")


# --- taking messages in ---------------------------------------------------------------------


@dataclass
class Reader:
    """Takes the waiting messages of one mailbox in, one unit of work each."""

    mailbox: Mailbox
    settings: Settings
    session: Session
    # Keys of messages that failed in this process, and when they may be tried again.
    retry_at: dict[str, float] = field(default_factory=dict)

    def key(self, uid: int) -> str:
        return f"{self.mailbox.name}|{self.session.uidvalidity}|{uid}"

    async def drain(self, budget_s: float | None = None) -> Counter[str]:
        """Take in what waits in the folder; returns how many of each result (an intake
        outcome, or failed, will_retry, waiting, moved_after_restart, taken_elsewhere...)."""
        counts: Counter[str] = Counter()
        uids = await self.session.waiting()
        present = {self.key(uid) for uid in uids}
        for gone in set(self.retry_at) - present:  # moved or deleted meanwhile
            del self.retry_at[gone]
        if uids:
            log.info("imap: messages waiting", mailbox=str(self.mailbox), count=len(uids))
        deadline = None if budget_s is None else time.monotonic() + budget_s
        for uid in uids:
            if deadline is not None and time.monotonic() > deadline:
                counts["left_for_next_pass"] += len(uids) - sum(counts.values())
                break
            counts[await self.take(uid)] += 1
        return counts

    async def take(self, uid: int) -> str:
        key = self.key(uid)
        if self.retry_at.get(key, 0) > time.monotonic():
            return "waiting"
        known = await _known(key)
        if known is not None and known["state"] in {"done", "failed"}:
            # Taken in (or given up on) and committed, but still here: its process died
            # between the commit and the move, or is moving it right now. Two sessions
            # moving one message may both copy it, so only a stale one is taken over.
            if not await _take_over_move(key):
                self.retry_at[key] = time.monotonic() + MOVE_GRACE_S
                return "moving_elsewhere"
            await self._move_after(uid, known)
            return "moved_after_restart"
        raw = await self.session.fetch(uid)
        if raw is None:
            return "gone"
        row = await self._take_in(key, uid, raw)
        if row is None:  # its process moves it; if that one dies, we do after the grace
            self.retry_at[key] = time.monotonic() + MOVE_GRACE_S
            return "taken_elsewhere"
        if row["state"] == "error":
            self.retry_at[key] = time.monotonic() + self.settings.imap_poll_s
            return "will_retry"
        self.retry_at.pop(key, None)
        await self._move_after(uid, row)
        return "failed" if row["state"] == "failed" else str(row["outcome"])

    async def more_waiting(self) -> bool:
        """Mail that came in during the pass (a server tells IDLE only of what comes later)."""
        return any(self.key(uid) not in self.retry_at for uid in await self.session.waiting())

    def next_due(self) -> float | None:
        """Seconds until a waiting message is due again (a retry, a stale move)."""
        if not self.retry_at:
            return None
        return max(0.2, min(self.retry_at.values()) - time.monotonic())

    async def _take_in(self, key: str, uid: int, raw: bytes) -> dict[str, Any] | None:
        """One unit of work: claim the message, run the intake, record what happened.
        None when another process holds (or finished) the claim."""
        recipients = [self.mailbox.address] if self.mailbox.address else None
        max_attempts = self.settings.imap_max_attempts
        async with db.transaction():
            attempts = await _claim(key, self.mailbox.name, self.session.uidvalidity, uid)
            if attempts is None:
                return None
            try:
                result = await intake.receive_mail(raw, recipients=recipients)
            except Exception as exc:
                attempts += 1
                state = "failed" if attempts >= max_attempts else "error"
                reason = f"intake failed ({attempts} of {max_attempts}): {exc!r}"[:1000]
                log.warning(
                    "imap: intake failed",
                    mailbox=str(self.mailbox),
                    uid=uid,
                    attempt=attempts,
                    of=max_attempts,
                    error=repr(exc),
                )
                row = {"state": state, "attempts": attempts, "outcome": "error", "reason": reason}
                await _record(key, row, task_id=None)
                return row
            row = {
                "state": "done",
                "attempts": attempts + 1,
                "outcome": result.outcome,
                "reason": result.reason or "",
            }
            await _record(key, row, task_id=result.task_id)
        log.info(
            "imap: taken in",
            mailbox=str(self.mailbox),
            uid=uid,
            outcome=result.outcome,
            task_id=result.task_id,
            reason=result.reason,
        )
        return row

    async def _move_after(self, uid: int, row: dict[str, Any]) -> None:
        if row["state"] == "failed":
            folder = self.settings.imap_failed_folder
            await self.session.move(uid, folder, ["\\Flagged", "Naryad-failed"])
            log.error(
                "imap: moved to the failures folder",
                mailbox=str(self.mailbox),
                uid=uid,
                folder=folder,
                reason=row["reason"],
            )
            return
        folder = self.settings.imap_processed_folder
        await self.session.move(uid, folder, ["\\Seen", f"Naryad-{row['outcome']}"])


async def _known(key: str) -> dict[str, Any] | None:
    return await (
        ImapMessage.select(
            ImapMessage.state, ImapMessage.attempts, ImapMessage.outcome, ImapMessage.reason
        )
        .where(ImapMessage.key == key)
        .first()
    )


async def _take_over_move(key: str) -> bool:
    """True when this process may move a committed message: its row has not been touched
    for MOVE_GRACE_S (the process that took it in is gone), and no other process took
    the move over first (touching the row is the lease)."""
    now = clock.now()
    taken = (
        await ImapMessage.update({ImapMessage.updated_at: now})
        .where(
            (ImapMessage.key == key)
            & (ImapMessage.updated_at < now - dt.timedelta(seconds=MOVE_GRACE_S))
        )
        .returning(ImapMessage.id)
    )
    return bool(taken)


async def _claim(key: str, mailbox: str, uidvalidity: int, uid: int) -> int | None:
    """Inside the unit: the attempts made so far when this process may take the message,
    None when another process has taken it (or given up on it). The unique key decides
    races: a second claimant waits for the first one's commit, then fails."""
    known = await _known(key)
    if known is None:
        now = clock.now()
        try:
            async with db.transaction():  # a savepoint: a lost claim undoes only itself
                await ImapMessage.insert(
                    ImapMessage(
                        key=key,
                        mailbox=mailbox,
                        uidvalidity=uidvalidity,
                        uid=uid,
                        state="taking",
                        created_at=now,
                        updated_at=now,
                    )
                )
        except (asyncpg.UniqueViolationError, sqlite3.IntegrityError):
            return None
        return 0
    if known["state"] != "error":
        return None
    # A retry: take it only if nobody retried it since we looked (the row lock orders us).
    claimed = (
        await ImapMessage.update({ImapMessage.state: "taking", ImapMessage.updated_at: clock.now()})
        .where(
            (ImapMessage.key == key)
            & (ImapMessage.state == "error")
            & (ImapMessage.attempts == known["attempts"])
        )
        .returning(ImapMessage.id)
    )
    return int(known["attempts"]) if claimed else None


async def _record(key: str, row: dict[str, Any], *, task_id: int | None) -> None:
    await ImapMessage.update(
        {
            ImapMessage.state: row["state"],
            ImapMessage.attempts: row["attempts"],
            ImapMessage.outcome: row["outcome"],
            ImapMessage.reason: row["reason"],
            ImapMessage.task: task_id,
            ImapMessage.updated_at: clock.now(),
        }
    ).where(ImapMessage.key == key)


# --- running --------------------------------------------------------------------------------


async def drain_mailbox(
    mailbox: Mailbox, settings: Settings, *, budget_s: float | None = None
) -> Counter[str]:
    """Connect, take in what waits, disconnect: `--once` and the worker's job."""
    session = Session(mailbox)
    try:
        await session.open(settings)
        counts = await Reader(mailbox, settings, session).drain(budget_s)
    finally:
        await session.close()
    log.info("imap: pass done", mailbox=str(mailbox), **counts)
    return counts


async def watch(mailbox: Mailbox, settings: Settings) -> None:
    """Forever: take in what waits, then IDLE (or poll) for more; reconnect on trouble."""
    backoff = 1.0
    retry_at: dict[str, float] = {}
    while True:
        session = Session(mailbox)
        try:
            await session.open(settings)
            reader = Reader(mailbox, settings, session, retry_at)
            idle = session.can_idle
            passes = 0
            log.info(
                "imap: watching",
                mailbox=str(mailbox),
                uidvalidity=session.uidvalidity,
                mode="IDLE" if idle else f"polling every {settings.imap_poll_s:g} s",
            )
            while True:
                counts = await reader.drain()
                if counts:
                    log.info("imap: pass done", mailbox=str(mailbox), **counts)
                backoff = 1.0
                # (bounded: a message that cannot be moved must not spin this loop)
                if passes < 10 and await reader.more_waiting():
                    passes += 1
                    continue
                passes = 0
                wait = IDLE_RENEW_S if idle else settings.imap_poll_s
                due = reader.next_due()
                if due is not None:
                    wait = min(wait, due)
                if idle:
                    await session.wait_for_mail(wait)
                else:
                    await asyncio.sleep(wait)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the server, the network or the database: try again later
            log.warning(
                "imap: trouble, reconnecting",
                mailbox=str(mailbox),
                error=repr(exc),
                in_s=backoff,
            )
        finally:
            await session.close()
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, RECONNECT_MAX_S)


async def run(settings: Settings, mailboxes: list[Mailbox], *, once: bool) -> Counter[str]:
    if once:
        total: Counter[str] = Counter()
        for mailbox in mailboxes:
            total += await drain_mailbox(mailbox, settings)
        return total
    await asyncio.gather(*(watch(m, settings) for m in mailboxes))
    return Counter()
