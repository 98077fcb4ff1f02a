"""IMAP intake against a real IMAP server: Debian's Dovecot, started here on loopback with a
throwaway configuration. The intake corpus is delivered with IMAP APPEND and taken in by
`naryad imap-intake` (a subprocess) or by the same code in this process; every message ends
as its expected outcome exactly once, across a kill -9 and with two intake processes."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import imaplib
import json
import os
import pwd
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import msgspec
import pytest
from channel_fakes import DbFault, client_mail, free_port, mail_env
from naryad_harness import ROOT, Backend
from test_mail_intake import CORPUS, World, _check, _fill, _world

from server import settings as process_settings
from server.channels import imap
from server.channels import service as channels
from server.channels.tables import ImapMessage, InboundMail
from server.settings import Settings
from server.tasks.tables import Task

PROCESSED = "Naryad-Processed"
FAILED = "Naryad-Failed"
MANIFEST = json.loads((CORPUS / "corpus.json").read_text(encoding="utf-8"))


# --- Dovecot ---------------------------------------------------------------------------------


PRESET_USERS = 64


def _credentials(n: int) -> tuple[str, str]:
    return f"support{n}", f"pw,{n} x"  # the comma and space need encoding in URLs


class Dovecot:
    """`dovecot -F` with its own base_dir, maildirs under a tmp dir, users in a passwd-file,
    plaintext login on loopback, no TLS."""

    def __init__(self, root: Path) -> None:
        binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
        if not Path(binary).exists():
            pytest.fail(
                "dovecot is not installed: scripts/test installs it (apt-get install "
                "dovecot-imapd)",
                pytrace=False,
            )
        self.root = root
        self.port = free_port()
        self.tls_port = free_port()
        _self_signed(root / "cert.pem", root / "key.pem")
        self.passwd = root / "passwd"
        self.passwd.write_text(
            "".join(
                f"{user}:{{PLAIN}}{password}\n"
                for user, password in map(_credentials, range(1, PRESET_USERS + 1))
            )
        )
        (root / "home").mkdir()
        me = pwd.getpwuid(os.getuid()).pw_name
        if os.getuid() == 0:  # Dovecot refuses mail access as root: its own users do it
            internal, login, mail_user = "dovecot", "dovenull", "dovecot"
            shutil.chown(root / "home", "dovecot", "dovecot")
            root.chmod(0o755)
        else:
            internal = login = mail_user = me
        self._users = 0
        (root / "dovecot.conf").write_text(
            f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = 0
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.passwd}
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_user} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
  }}
}}
service anvil {{
  chroot =
}}
"""
        )
        self.proc = subprocess.Popen(
            [binary, "-F", "-c", str(root / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=open(root / "stderr.log", "w"),  # noqa: SIM115
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                imaplib.IMAP4("127.0.0.1", self.port, timeout=2).logout()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    log = (
                        (root / "dovecot.log").read_text()
                        if (root / "dovecot.log").exists()
                        else ""
                    )
                    err = (root / "stderr.log").read_text()
                    raise RuntimeError(f"dovecot did not start: {err}\n{log}") from None
                time.sleep(0.1)

    def user(self) -> tuple[str, str]:
        """A fresh mailbox: (user, password). Every user is written before Dovecot starts,
        so no login depends on Dovecot noticing a changed passwd-file."""
        self._users += 1
        assert self._users <= PRESET_USERS, "raise PRESET_USERS"
        return _credentials(self._users)

    def url(self, user: str, password: str, port: int | None = None, query: str = "") -> str:
        q = f"?{query}" if query else ""
        return f"imap://{user}:{quote(password, safe='')}@127.0.0.1:{port or self.port}/INBOX{q}"

    def connect(self, user: str, password: str) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        client.login(user, password)
        return client

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _self_signed(cert_path: Path, key_path: Path) -> None:
    """A throwaway certificate for 127.0.0.1, signed by nobody anyone trusts."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o644)  # Dovecot's master reads it as root; a test key, thrown away


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    # Not under pytest's tmp dir: that is private to us (0700), and as root Dovecot reads
    # the passwd-file and maildirs as its own users.
    root = Path(tempfile.mkdtemp(prefix="naryad-dovecot-"))
    root.chmod(0o755)
    server = Dovecot(root)
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


class Box:
    """One test's mailbox, seen through the standard library's IMAP client."""

    def __init__(self, dovecot: Dovecot) -> None:
        self.dovecot = dovecot
        self.user, self.password = dovecot.user()
        self.url = dovecot.url(self.user, self.password)

    def append(self, raw: bytes, folder: str = "INBOX") -> int:
        client = self.dovecot.connect(self.user, self.password)
        try:
            typ, data = client.append(folder, "", None, raw)
            assert typ == "OK", data
            found = re.search(rb"APPENDUID \d+ (\d+)", data[0] or b"")
            assert found, data
            return int(found.group(1))
        finally:
            client.logout()

    def uids(self, folder: str) -> list[int]:
        client = self.dovecot.connect(self.user, self.password)
        try:
            typ, _ = client.select(imap.mailbox_arg(folder), readonly=True)
            if typ != "OK":
                return []
            typ, data = client.uid("SEARCH", "ALL")
            return [int(x) for x in (data[0] or b"").split()]
        finally:
            client.logout()

    def flags(self, folder: str) -> list[str]:
        client = self.dovecot.connect(self.user, self.password)
        try:
            client.select(imap.mailbox_arg(folder), readonly=True)
            _, data = client.uid("FETCH", "1:*", "(FLAGS)")
            return [d.decode() for d in data if isinstance(d, bytes)]
        finally:
            client.logout()

    def folders(self) -> list[bytes]:
        client = self.dovecot.connect(self.user, self.password)
        try:
            return client.list()[1]  # type: ignore[return-value]
        finally:
            client.logout()


# --- running the intake ------------------------------------------------------------------------


def _env(b: Backend, url: str, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        **mail_env(),
        "NARYAD_DATABASE_URL": b.url,
        "NARYAD_IMAP_URL": url,
        "NARYAD_IMAP_POLL_S": "0.5",
        "NARYAD_LOG_LEVEL": "INFO",
        **extra,
    }
    env.pop("NARYAD_REDIS_URL", None)
    return env


_running: list[Intake] = []


@pytest.fixture(autouse=True)
def _stop_intakes() -> Iterator[None]:
    """No intake process outlives its test, whatever the test did."""
    yield
    while _running:
        _running.pop().stop()


class Intake:
    """`naryad imap-intake` as a subprocess, its log in test-output/."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        _running.append(self)
        (ROOT / "test-output").mkdir(exist_ok=True)
        self.log_path = ROOT / "test-output" / f"imap-intake-{free_port()}.log"
        self.log = open(self.log_path, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server.cli", "imap-intake", *args],
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            code = self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(5)
        self.log.close()
        return code


async def _until(what: str, check: Callable[[], Any], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.2)


@contextlib.contextmanager
def _installed(settings: Settings) -> Iterator[Settings]:
    """This process as an intake process with `settings` (restored afterwards)."""
    before = process_settings.current()
    process_settings.install(settings)
    try:
        yield settings
    finally:
        process_settings.install(before)


def _settings(b: Backend, url: str, **extra: str) -> Settings:
    env = {k: v for k, v in _env(b, url, **extra).items() if k.startswith("NARYAD_")}
    return Settings.from_env(env)


async def _deliver_corpus(box: Box, w: World) -> dict[int, dict[str, Any]]:
    """APPEND every corpus message, in order; UID -> its manifest entry."""
    by_uid = {}
    for entry in MANIFEST:
        raw = _fill((CORPUS / entry["file"]).read_bytes(), w)
        by_uid[await asyncio.to_thread(box.append, raw)] = entry
    return by_uid


async def _assert_exactly_once(box: Box, by_uid: dict[int, dict[str, Any]], tasks_before: int):
    """Each message taken in once with its expected outcome; all moved out of INBOX."""
    rows = await ImapMessage.select(
        ImapMessage.uid, ImapMessage.state, ImapMessage.outcome, ImapMessage.attempts
    ).where(ImapMessage.mailbox.like(f"{box.user}@%"))
    assert sorted(r["uid"] for r in rows) == sorted(by_uid), "one bookkeeping row per message"
    assert {r["state"] for r in rows} == {"done"}
    want = collections.Counter(e["outcome"] for e in by_uid.values())
    assert collections.Counter(r["outcome"] for r in rows) == want
    stored = await InboundMail.select(InboundMail.outcome).where(InboundMail.outcome != "error")
    assert collections.Counter(r["outcome"] for r in stored) == want, "one intake record each"
    assert await Task.count() == tasks_before + want["task_created"]
    assert await asyncio.to_thread(box.uids, "INBOX") == []
    assert len(await asyncio.to_thread(box.uids, PROCESSED)) == len(by_uid)


# --- tests -----------------------------------------------------------------------------------


def test_mailbox_urls() -> None:
    boxes = imap.parse_mailboxes(
        "imaps://support%40romashka.ru:p%40ss%2Cw@imap.example.ru/INBOX,"
        " imap://buh:pw@10.0.0.5:1143/Bills%2FNew?address=project+124@example.ru&idle=no"
    )
    assert [(m.host, m.port, m.tls, m.user, m.folder, m.address, m.idle) for m in boxes] == [
        ("imap.example.ru", 993, True, "support@romashka.ru", "INBOX", None, True),
        ("10.0.0.5", 1143, False, "buh", "Bills/New", "project+124@example.ru", False),
    ]
    assert boxes[0].password == "p@ss,w"
    assert "p@ss" not in str(boxes[0]) and "p@ss" not in repr(boxes[0])
    for bad, says in [
        ("https://u:p@h/INBOX", "imaps://"),
        ("imaps://h/INBOX", "user:password@"),
        ("imaps://u:secret@h/INBOX?folder=x", "unknown option"),
        ("imaps://u:p@h/INBOX imaps://u:q@h/INBOX", "twice"),
        ("  ", "empty"),
    ]:
        with pytest.raises(ValueError, match=re.escape(says)) as err:
            imap.parse_mailboxes(bad)
        assert "secret" not in str(err.value)
    # RFC 3501's own example of a modified UTF-7 mailbox name
    assert imap.mailbox_arg("~peter/mail/台北/日本語") == '"~peter/mail/&U,BTFw-/&ZeVnLIqe-"'
    assert imap.mailbox_arg("R&D") == '"R&-D"'


async def test_imaps_verifies_the_server_certificate(
    dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TLS is on and verified: a self-signed server is refused before the password goes;
    once the system trusts its certificate (here: SSL_CERT_FILE), it works."""
    user, password = dovecot.user()
    url = f"imaps://{user}:{quote(password, safe='')}@127.0.0.1:{dovecot.tls_port}/INBOX"
    mailbox = imap.parse_mailboxes(url)[0]
    assert mailbox.tls and mailbox.port == dovecot.tls_port
    with pytest.raises(ssl.SSLCertVerificationError):
        await imap.drain_mailbox(mailbox, Settings.from_env({}))
    assert f"user={user}" not in (dovecot.root / "dovecot.log").read_text()
    monkeypatch.setenv("SSL_CERT_FILE", str(dovecot.root / "cert.pem"))
    assert await imap.drain_mailbox(mailbox, Settings.from_env({})) == {}


def test_cli_help_and_settings_errors() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "imap-intake", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0
    for word in ("NARYAD_IMAP_URL", "imaps://", "--once", "exactly once", "FAILED_FOLDER"):
        assert word in out.stdout
    env = {**os.environ, "NARYAD_IMAP_URL": "imaps://nobody@host/INBOX"}
    out = subprocess.run(
        [sys.executable, "-m", "server.cli", "imap-intake", "--once"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0 and "user:password@" in out.stderr


@pytest.mark.sqlite
async def test_corpus_through_imap_each_with_its_outcome(mb: Backend, dovecot: Dovecot) -> None:
    """The corpus one message at a time, as the HTTP test checks it: the same outcomes."""
    w = await _world(mb)
    box = Box(dovecot)
    settings = _settings(mb, box.url)
    mailbox = imap.parse_mailboxes(box.url)[0]
    problems: list[str] = []
    with _installed(settings):
        for entry in MANIFEST:
            uid = await asyncio.to_thread(
                box.append, _fill((CORPUS / entry["file"]).read_bytes(), w)
            )
            counts = await imap.drain_mailbox(mailbox, settings)
            assert counts == {entry["outcome"]: 1}, (entry["file"], counts)
            row = await ImapMessage.select().where(ImapMessage.uid == uid).first()
            assert row is not None and row["state"] == "done"
            body = {"outcome": row["outcome"], "task_id": row["task"], "reason": row["reason"]}
            problems += await _check(entry, body, w)
        assert not problems, "\n".join(problems)
        assert await asyncio.to_thread(box.uids, "INBOX") == []
        assert len(await asyncio.to_thread(box.uids, PROCESSED)) == len(MANIFEST)
        flags = await asyncio.to_thread(box.flags, PROCESSED)
        assert all("\\Seen" in f for f in flags)
        assert sum("Naryad-task_created" in f for f in flags) == sum(
            e["outcome"] == "task_created" for e in MANIFEST
        )
        # Nothing left: a second pass takes nothing in.
        assert await imap.drain_mailbox(mailbox, settings) == {}
        # The same message again under a new UID: the Message-ID check is the last guard.
        first = _fill((CORPUS / MANIFEST[0]["file"]).read_bytes(), w)
        await asyncio.to_thread(box.append, first)
        assert await imap.drain_mailbox(mailbox, settings) == {"duplicate": 1}


async def test_a_failing_message_is_retried_then_moved_to_the_failures_folder(
    mb: Backend, dovecot: Dovecot
) -> None:
    await mb.counterparty("Ромашка", email_domains=["romashka.ru"])
    await channels.seed_default_addresses("naryad.test")
    box = Box(dovecot)
    settings = _settings(mb, box.url, NARYAD_IMAP_MAX_ATTEMPTS="2")
    mailbox = imap.parse_mailboxes(box.url)[0]
    fault = DbFault(mb.url)
    try:
        await fault.install("intake_tasks")
        await fault.arm("intake_tasks")
        with _installed(settings):
            # transient: fails once, then the database is fine again
            await asyncio.to_thread(box.append, client_mail("Касса 1 не печатает", "Ошибка 1"))
            assert await imap.drain_mailbox(mailbox, settings) == {"will_retry": 1}
            assert len(await asyncio.to_thread(box.uids, "INBOX")) == 1
            await fault.disarm()
            assert await imap.drain_mailbox(mailbox, settings) == {"task_created": 1}
            assert await Task.count() == 1

            # permanent: every attempt fails; after two the message goes to the failures folder
            await fault.arm("intake_tasks")
            await asyncio.to_thread(box.append, client_mail("Касса 2 не печатает", "Ошибка 2"))
            assert await imap.drain_mailbox(mailbox, settings) == {"will_retry": 1}
            assert await imap.drain_mailbox(mailbox, settings) == {"failed": 1}
            assert await imap.drain_mailbox(mailbox, settings) == {}
    finally:
        await fault.remove()
    assert await asyncio.to_thread(box.uids, "INBOX") == []
    assert len(await asyncio.to_thread(box.uids, FAILED)) == 1
    assert "\\Flagged" in (await asyncio.to_thread(box.flags, FAILED))[0]
    failed = await ImapMessage.select().where(ImapMessage.state == "failed").first()
    assert failed is not None and failed["attempts"] == 2
    assert "injected fault" in failed["reason"] and "2 of 2" in failed["reason"]
    # never lost: the raw message is also kept with each failed attempt's reason
    errors = await InboundMail.select(InboundMail.reason).where(InboundMail.outcome == "error")
    assert len(errors) == 3 and all("injected fault" in e["reason"] for e in errors)
    assert await Task.count() == 1


class HoldingProxy:
    """A TCP proxy in front of Dovecot that, when armed, holds the client's first UID MOVE:
    the intake has committed the message and not yet moved it."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_port()
        self.armed = threading.Event()
        self.held = threading.Event()
        self.held_line = b""
        self._loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(
                asyncio.start_server(self._client, "127.0.0.1", self.port)
            )
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert started.wait(10)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)

        async def upstream() -> None:
            while line := await reader.readline():
                if self.armed.is_set() and b" MOVE " in line.upper() and not self.held.is_set():
                    self.held_line = line
                    self.held.set()
                    await asyncio.sleep(3600)
                up_writer.write(line)
                await up_writer.drain()

        async def downstream() -> None:
            while data := await up_reader.read(65536):
                writer.write(data)
                await writer.drain()

        with contextlib.suppress(Exception):
            await asyncio.wait(
                [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())],
                return_when=asyncio.FIRST_COMPLETED,
            )
        up_writer.close()
        writer.close()

    def stop(self) -> None:
        async def cancel_all() -> None:
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(cancel_all(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


async def test_kill_9_mid_unit_and_between_commit_and_move(mb: Backend, dovecot: Dovecot) -> None:
    w = await _world(mb)
    tasks_before = await Task.count()
    box = Box(dovecot)
    by_uid = await _deliver_corpus(box, w)
    engine_url = mb.url
    admin = await asyncpg.connect(engine_url)
    proxy = HoldingProxy(dovecot.port)
    try:
        # 1. Killed inside the unit of work: a task insert sleeps (a real trigger) while the
        #    transaction is open, and the process dies there. Nothing of it may survive.
        await admin.execute(
            "CREATE OR REPLACE FUNCTION naryad_test_sleep() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN PERFORM pg_sleep(2); RETURN NEW; END $$"
        )
        await admin.execute(
            "CREATE TRIGGER naryad_test_sleep BEFORE INSERT ON tasks "
            "FOR EACH ROW EXECUTE FUNCTION naryad_test_sleep()"
        )
        first = Intake(_env(mb, box.url), "--once")

        async def sleeping() -> bool:
            n = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'"
            )
            return bool(n)

        await _until("the intake to sleep inside its unit of work", sleeping, 60)
        first.kill9()
        await admin.execute("DROP TRIGGER naryad_test_sleep ON tasks")
        assert "taken in" not in first.text()

        # 2. Killed after the commit, before the move: the proxy holds its UID MOVE.
        proxy.armed.set()
        second = Intake(_env(mb, dovecot.url(box.user, box.password, proxy.port)))
        await _until("a MOVE to hold", proxy.held.is_set, 60)
        second.kill9()
        held_uid = int(re.search(rb"MOVE (\d+) ", proxy.held_line).group(1))  # type: ignore[union-attr]
        row = await ImapMessage.select(ImapMessage.state).where(ImapMessage.uid == held_uid).first()
        assert row == {"state": "done"}
        assert held_uid in await asyncio.to_thread(box.uids, "INBOX")

        # 3. A fresh process finishes the job: the held message is only moved.
        third = Intake(_env(mb, box.url))

        async def all_done() -> bool:
            return await ImapMessage.count().where(ImapMessage.state == "done") == len(by_uid) and (
                await asyncio.to_thread(box.uids, "INBOX") == []
            )

        await _until("every message taken in", all_done, 90)
        assert third.stop() in (0, 1, -signal.SIGTERM)
        log = third.text()
        assert "moved_after_restart" in log and "taken in" in log
    finally:
        proxy.stop()
        with contextlib.suppress(Exception):
            await admin.execute("DROP TRIGGER IF EXISTS naryad_test_sleep ON tasks")
        await admin.close()
    await _assert_exactly_once(box, by_uid, tasks_before)


@pytest.mark.sqlite
async def test_two_intake_processes_on_one_mailbox(mb: Backend, dovecot: Dovecot) -> None:
    w = await _world(mb)
    tasks_before = await Task.count()
    box = Box(dovecot)
    by_uid = await _deliver_corpus(box, w)
    runs = [Intake(_env(mb, box.url), "--once") for _ in range(2)]
    try:
        for run in runs:
            await asyncio.to_thread(run.proc.wait, 120)
    finally:
        codes = [run.stop() for run in runs]
    assert codes == [0, 0], [run.text()[-2000:] for run in runs]
    texts = [run.text() for run in runs]
    taken = [t.count("imap: taken in") for t in texts]
    assert sum(taken) == len(by_uid), taken
    await _assert_exactly_once(box, by_uid, tasks_before)


async def test_idle_takes_new_mail_at_once_and_polling_mailboxes_too(
    mb: Backend, dovecot: Dovecot
) -> None:
    await mb.counterparty("Ромашка", email_domains=["romashka.ru"])
    await channels.seed_default_addresses("naryad.test")
    idle_box, poll_box = Box(dovecot), Box(dovecot)
    urls = f"{idle_box.url} , {dovecot.url(poll_box.user, poll_box.password, query='idle=no')}"
    # Polling would take 5 minutes: only IDLE can be this quick for the first mailbox.
    env = _env(
        mb,
        urls,
        NARYAD_IMAP_POLL_S="300",
        NARYAD_IMAP_PROCESSED_FOLDER="Обработанные",
    )
    watcher = Intake(env)
    try:
        await _until("watching with IDLE", lambda: "mode=IDLE" in watcher.text(), 60)
        await _until("the other mailbox polling", lambda: "polling every 300" in watcher.text())
        await asyncio.sleep(0.5)
        started = time.monotonic()
        await asyncio.to_thread(idle_box.append, client_mail("Сканер не читает", "Штрихкоды"))
        await _until("the task from IDLE", lambda: Task.count().run(), 15)
        took = time.monotonic() - started
        assert took < 10
        assert await asyncio.to_thread(idle_box.uids, "Обработанные") != []
        assert any(b"&BB4EMQRABDAEMQQ+BEIEMAQ9BD0ESwQ1-" in f for f in idle_box.folders())
    finally:
        watcher.stop()
    # The polling mailbox's mail waits for its next look; a restart takes it in at once.
    await asyncio.to_thread(poll_box.append, client_mail("Касса не печатает", "Ошибка 3969"))
    run = Intake(env, "--once")
    assert await asyncio.to_thread(run.proc.wait, 60) == 0, run.text()
    run.stop()
    assert await Task.count() == 2
    assert "task_created: 1" in run.text()


async def test_the_worker_polls_the_mailboxes_when_configured(
    mb: Backend, dovecot: Dovecot
) -> None:
    from jobs.imap import poll_mailboxes
    from jobs.worker import build_worker

    redis = os.environ.get("NARYAD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    await mb.counterparty("Ромашка", email_domains=["romashka.ru"])
    await channels.seed_default_addresses("naryad.test")
    box = Box(dovecot)
    with_imap = msgspec.structs.replace(_settings(mb, box.url), redis_url=redis)
    without = msgspec.structs.replace(with_imap, imap_url=None)
    with _installed(with_imap):
        names = {job.name for job in build_worker(without).cron_jobs}
        assert not any("poll_mailboxes" in n for n in names)
        names = {job.name for job in build_worker(with_imap).cron_jobs}
        assert any("poll_mailboxes" in n for n in names)
        # the job itself: one pass over every mailbox
        await asyncio.to_thread(box.append, client_mail("Касса не печатает", "Ошибка 3969"))
        assert await poll_mailboxes({}) == {"task_created": 1}
        assert await poll_mailboxes({}) == {}
    assert await Task.count() == 1
