"""Counting the SQL statements one HTTP request runs against PostgreSQL.

A real uvicorn process serves the real app (`server.app:app_from_env`) wrapped by
`app_from_env` below, on a real PostgreSQL database. Inside that process every asyncpg
connection reports each statement it sends — Piccolo's queries, raw SQL, BEGIN / COMMIT /
ROLLBACK / SAVEPOINT / RELEASE, the pool's reset on release, asyncpg's own type
introspection — through `Connection._time_and_log`, which asyncpg runs around every
`execute`, `fetch*` and `executemany` in the calling task. A statement is counted for a
request when the request's own asyncio task sends it, from the moment the request arrives
until the app has finished with it (the connection's release included). Tasks the request
spawns (after-commit delivery kicks) are counted apart as `background`: they are not on the
request's path. asyncpg's type introspection (once per connection and type, a cache miss,
not per request) is counted apart as `introspection`.

The test sends `x-naryad-count-id: <id>` with a request and then reads what it ran from
`GET /__query_counts/<id>` (answered by the wrapper, never reaching the app).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

COUNT_HEADER = "x-naryad-count-id"
RESULTS_PATH = "/__query_counts/"
ROOT = Path(__file__).resolve().parent.parent

TX_WORDS = ("BEGIN", "START", "COMMIT", "END", "ROLLBACK", "SAVEPOINT", "RELEASE")


def kind_of(sql: str) -> str:
    """tx (transaction control), reset (the pool's reset of a released connection),
    introspection (asyncpg reading pg_catalog for a type it has not seen), or sql."""
    text = sql.strip()
    first = text.split(None, 1)[0].upper().rstrip(";") if text else ""
    if first in TX_WORDS:
        return "tx"
    if "pg_advisory_unlock_all" in text:
        return "reset"
    if "pg_catalog.pg_type" in text or "FROM pg_type" in text or "typelem" in text:
        return "introspection"
    return "sql"


class Tally:
    """What one request's task sent to PostgreSQL, in order, with the phase it was in."""

    def __init__(self, task: asyncio.Task[Any] | None) -> None:
        self.task = task
        self.statements: list[tuple[str, str]] = []  # (phase, sql)
        self.background: list[str] = []

    def summary(self) -> dict[str, Any]:
        counted = [(p, s, kind_of(s)) for p, s in self.statements]
        on_path = [(p, s, k) for p, s, k in counted if k != "introspection"]
        endpoint = [k for p, _, k in on_path if p != "auth"]
        return {
            "total": len(on_path),
            "auth": sum(1 for p, _, _ in on_path if p == "auth"),
            # the rest, by kind: the endpoint's SQL, transaction control, pool resets
            **{k: endpoint.count(k) for k in ("sql", "tx", "reset")},
            "introspection": sum(1 for _, _, k in counted if k == "introspection"),
            "background": len(self.background),
            "statements": [f"[{p}/{k}] {' '.join(s.split())[:300]}" for p, s, k in counted],
        }


_tally: contextvars.ContextVar[Tally | None] = contextvars.ContextVar("tally", default=None)
_phase: contextvars.ContextVar[str] = contextvars.ContextVar("phase", default="request")
_installed = False


def _record(sql: str) -> None:
    tally = _tally.get()
    if tally is None:
        return
    try:
        task = asyncio.current_task()
    except RuntimeError:
        task = None
    if task is tally.task:
        tally.statements.append((_phase.get(), sql))
    else:
        tally.background.append(sql)


def _quiet(_: Any) -> None:
    """A query logger that does nothing: its presence makes asyncpg call _time_and_log."""


def install() -> None:
    """Patch asyncpg (every connection of this process) and the auth middleware (to tell
    authentication's statements from the endpoint's)."""
    global _installed
    if _installed:
        return
    _installed = True
    from asyncpg.connection import Connection
    from litestar.middleware import AbstractAuthenticationMiddleware

    from server.accounts.auth import TokenAuthMiddleware

    original_init = Connection.__init__
    original_log = Connection._time_and_log

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.add_query_logger(_quiet)

    @contextlib.contextmanager
    def time_and_log(self: Any, query: str, args: Any, timeout: Any) -> Iterator[None]:
        _record(query)
        with original_log(self, query, args, timeout):
            yield

    Connection.__init__ = init  # type: ignore[method-assign]
    Connection._time_and_log = time_and_log  # type: ignore[method-assign]

    authenticate = TokenAuthMiddleware.authenticate_request
    assert authenticate is not AbstractAuthenticationMiddleware.authenticate_request

    async def authenticate_request(self: Any, connection: Any) -> Any:
        token = _phase.set("auth")
        try:
            return await authenticate(self, connection)
        finally:
            _phase.reset(token)

    TokenAuthMiddleware.authenticate_request = authenticate_request  # type: ignore[method-assign]


class CountingApp:
    """ASGI wrapper: tallies requests that carry COUNT_HEADER, answers RESULTS_PATH."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.results: dict[str, dict[str, Any]] = {}
        self.arrived = asyncio.Condition()

    async def _result(self, key: str) -> dict[str, Any] | None:
        """The request's figures; the client may ask before the app has finished with it
        (the response is sent before the connection goes back to the pool)."""
        async with self.arrived:
            try:
                await asyncio.wait_for(self.arrived.wait_for(lambda: key in self.results), 10)
            except TimeoutError:
                return None
            return self.results.pop(key)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith(RESULTS_PATH):
            key = scope["path"][len(RESULTS_PATH) :]
            found = await self._result(key)
            body = json.dumps(found if found is not None else {"error": "unknown id"}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200 if found is not None else 404,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        headers = dict(scope.get("headers") or [])
        key_bytes = headers.get(COUNT_HEADER.encode())
        if key_bytes is None:
            await self.app(scope, receive, send)
            return
        tally = Tally(asyncio.current_task())
        token = _tally.set(tally)
        try:
            await self.app(scope, receive, send)
        finally:
            _tally.reset(token)
            # Let call_soon'd work of this request settle before the figures are read.
            await asyncio.sleep(0)
            async with self.arrived:
                self.results[key_bytes.decode()] = tally.summary()
                self.arrived.notify_all()


def app_from_env() -> Any:
    """Factory for `uvicorn --factory query_counter:app_from_env`."""
    install()
    from server.app import app_from_env as real

    return CountingApp(real())


class CountingServer:
    """A uvicorn process serving the counting app (like naryad_harness.Server)."""

    def __init__(self, database_url: str) -> None:
        import socket

        import httpx

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "NARYAD_DATABASE_URL": database_url,
            "NARYAD_LOG_LEVEL": "WARNING",
            "NARYAD_PUBLIC_URL": self.base_url,
            "PYTHONPATH": os.pathsep.join(
                [str(ROOT / "tests"), str(ROOT), os.environ.get("PYTHONPATH", "")]
            ),
        }
        env.pop("NARYAD_REDIS_URL", None)
        (ROOT / "test-output").mkdir(exist_ok=True)
        self.log = open(ROOT / "test-output" / f"counting-{self.port}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "query_counter:app_from_env",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
            ],
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"counting server exited early; see {self.log.name}")
            try:
                if httpx.get(f"{self.base_url}/schema/openapi.json", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"counting server did not start in 30 s; see {self.log.name}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
