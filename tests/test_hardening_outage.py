"""Outages (issue 14): while the database is unreachable the API answers 503 with
Retry-After and comes back by itself; the worker waits for Redis instead of exiting."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from naryad_harness import ROOT, Server, _free_port
from redis import asyncio as aioredis

PASSWORD = "secret-pass"


class TcpProxy:
    """Loopback TCP forwarding to PostgreSQL that can be cut and restored, like a network
    failure between the API and its database."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = _free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    async def cut(self) -> None:
        """Stop listening and drop every open connection."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        await self._server.wait_closed()
        self._server = None


async def _token(client: httpx.AsyncClient, login: str) -> dict[str, str]:
    resp = await client.post("/api/auth/login", json={"login": login, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['token']}"}


async def _until_ok(client: httpx.AsyncClient, headers: dict[str, str], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        last = await client.get("/api/tasks", headers=headers)
        if last.status_code == 200:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"not back after {seconds} s: {last and last.text}")


def _assert_unavailable(resp: httpx.Response) -> None:
    assert resp.status_code == 503, resp.text
    assert int(resp.headers["retry-after"]) > 0
    body = resp.json()
    assert body["detail"] and body["extra"]["code"] == "database_unavailable"


async def test_postgres_out_of_reach_answers_503_and_comes_back(backend):
    await backend.user("office", login="outage-office")
    parts = urlsplit(backend.url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    via_proxy = backend.url.replace(parts.netloc, f"{parts.username}@127.0.0.1:{proxy.port}")
    server = await asyncio.to_thread(Server, via_proxy)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
            headers = await _token(client, "outage-office")
            assert (await client.get("/api/tasks", headers=headers)).status_code == 200

            await proxy.cut()
            for _ in range(3):  # dropped connections, then refused ones
                _assert_unavailable(await client.get("/api/tasks", headers=headers))
            _assert_unavailable(
                await client.post(
                    "/api/auth/login", json={"login": "outage-office", "password": PASSWORD}
                )
            )
            _assert_unavailable(
                await client.post("/api/groups", json={"name": "Во время сбоя"}, headers=headers)
            )

            await proxy.start()  # the same port: the pool reconnects by itself
            await _until_ok(client, headers, 30)
            created = await client.post("/api/groups", json={"name": "После"}, headers=headers)
            assert created.status_code == 201, created.text
    finally:
        await asyncio.to_thread(server.stop)
        if proxy._server is not None:
            await proxy.cut()
    log = await asyncio.to_thread(Path(server.log.name).read_text)
    assert "unhandled error" not in log, log[-2000:]


def _cli(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-c", "from server.cli import main; main()", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


async def test_sqlite_file_out_of_reach_answers_503_and_comes_back(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    url = f"sqlite:///{folder / 'naryad.db'}"
    env = {**os.environ, "NARYAD_DATABASE_URL": url, "NARYAD_LOG_LEVEL": "WARNING"}
    env.pop("NARYAD_REDIS_URL", None)
    await asyncio.to_thread(_cli, env, "migrate")
    await asyncio.to_thread(
        _cli,
        env,
        *("create-user", "--login", "sqlite-office", "--password", PASSWORD),
        *("--full-name", "Офис", "--surname", "Офисов", "--role", "office"),
    )
    server = await asyncio.to_thread(Server, url)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
            headers = await _token(client, "sqlite-office")
            assert (await client.get("/api/tasks", headers=headers)).status_code == 200
            # The disk (a network mount, a removed volume) goes away: nothing can be opened.
            moved = tmp_path / "elsewhere"
            folder.rename(moved)
            try:
                _assert_unavailable(await client.get("/api/tasks", headers=headers))
            finally:
                moved.rename(folder)
            await _until_ok(client, headers, 30)
    finally:
        await asyncio.to_thread(server.stop)


# --- 9. the worker and Redis ---------------------------------------------------------------


@contextlib.asynccontextmanager
async def redis_server(port: int) -> AsyncIterator[None]:
    proc = await asyncio.create_subprocess_exec(
        shutil.which("redis-server") or "redis-server",
        *("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
        stdout=asyncio.subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 15)


async def _wait_for_key(url: str, key: str, seconds: float) -> bool:
    redis = aioredis.from_url(url)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, aioredis.ConnectionError):
                if await redis.exists(key):
                    return True
            await asyncio.sleep(0.3)
        return False
    finally:
        await redis.aclose()


def _start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "w") as log:
        return subprocess.Popen(
            [sys.executable, "-c", "from server.cli import main; main()", "worker"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def test_the_worker_waits_for_redis_and_reconnects(backend):
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    health = "arq:queue:health-check"  # arq writes it as soon as it polls
    log_path = ROOT / "test-output" / "worker-reconnect.log"
    env = {
        **os.environ,
        "NARYAD_DATABASE_URL": backend.url,
        "NARYAD_REDIS_URL": url,
        "NARYAD_LOG_LEVEL": "INFO",
    }
    worker = await asyncio.to_thread(_start_worker, env, log_path)
    try:
        # arq alone gives up after a few attempts a second apart; ours start it again
        deadline = time.monotonic() + 90
        while "attempt=2" not in await asyncio.to_thread(log_path.read_text):
            assert worker.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, log_path.read_text()[-3000:]
            await asyncio.sleep(0.5)
        assert "redis unreachable" in log_path.read_text()

        async with redis_server(port):
            assert await _wait_for_key(url, health, 60), log_path.read_text()[-3000:]
        # Redis goes away while the worker runs, and comes back empty.
        await asyncio.sleep(3)
        assert worker.poll() is None, log_path.read_text()[-3000:]
        async with redis_server(port):
            assert await _wait_for_key(url, health, 60), log_path.read_text()[-3000:]
            assert worker.poll() is None
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            exited = await asyncio.to_thread(worker.wait, 20)
        except subprocess.TimeoutExpired:
            worker.kill()
            raise
    assert exited == 0, log_path.read_text()[-3000:]


def test_a_connection_killed_under_the_pool_counts_as_an_outage() -> None:
    """PostgreSQL restarting: asyncpg may hand out a pooled connection the server has just
    terminated, and its query fails with this InternalClientError (bench/scale saw 2-7 such
    500s per `pg_ctl restart`). It is the database going away: 503, not 500. A wrong query
    or value stays what it is."""
    import asyncpg

    from server.lib.errors import is_database_outage

    died = asyncpg.InternalClientError("cannot perform operation: another operation is in progress")
    assert is_database_outage(died)
    assert not is_database_outage(asyncpg.InternalClientError("unexpected message"))
    assert not is_database_outage(asyncpg.exceptions.UndefinedColumnError("no such column"))
