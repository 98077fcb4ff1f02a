"""Test harness: real PostgreSQL, real SQLite, real HTTP.

* PostgreSQL comes from NARYAD_TEST_DATABASE_URL (scripts/test starts it); a fresh database
  is created per session and migrated with the real migrations. If it is unreachable the
  suite fails — nothing is skipped.
* The API runs as a real uvicorn process per backend; tests talk HTTP to it.
* The test process also points Piccolo at the same database, to build data through the
  services and to check what the server wrote.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest

from server import db
from server.accounts import service as accounts
from server.accounts.schemas import UserIn
from server.clients import service as clients
from server.clients.schemas import CounterpartyIn, SiteIn

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("NARYAD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
SEEDED_GROUPS = ("Бухгалтерия", "Доставка", "Выездные инженеры", "Ремонт", "Удалённая техподдержка")
# Children first, so deleting works without cascades on SQLite.
DATA_TABLES = (
    "idempotency_keys",
    "task_comments",
    "task_events",
    "tasks",
    "auth_tokens",
    "group_memberships",
    "users",
    "sites",
    "contacts",
    "counterparty_names",
    "counterparties",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
async def pg_url() -> AsyncIterator[str]:
    try:
        admin = await asyncpg.connect(PG_URL, timeout=10)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_URL} ({exc!r}); run the suite with "
            "scripts/test, which starts it, or set NARYAD_TEST_DATABASE_URL",
            pytrace=False,
        )
    name = f"naryad_test_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(PG_URL, name)
    try:
        engine = db.configure_database(url)
        await db.migrate()
        await engine.start_connection_pool(min_size=1, max_size=5)  # type: ignore[attr-defined]
        yield url
    finally:
        engine = db.configure_database(url)
        if engine.pool is not None:  # type: ignore[attr-defined]
            await engine.close_connection_pool()  # type: ignore[attr-defined]
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.close()


@pytest.fixture(scope="session")
async def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'naryad.db'}"
    db.configure_database(url)
    await db.migrate()
    return url


class Server:
    """A real `uvicorn` process serving create_app for one database."""

    def __init__(
        self, database_url: str, workers: int = 1, extra_env: dict[str, str] | None = None
    ):
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "NARYAD_DATABASE_URL": database_url,
            "NARYAD_LOG_LEVEL": "WARNING",
            "NARYAD_PUBLIC_URL": self.base_url,
            **(extra_env or {}),
        }
        env.pop("NARYAD_REDIS_URL", None)
        self.log = open(ROOT / "test-output" / f"server-{self.port}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "server.app:app_from_env",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
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
                raise RuntimeError(f"server exited early; see {self.log.name}")
            try:
                if httpx.get(f"{self.base_url}/schema/openapi.json", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start in 30 s; see {self.log.name}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture(scope="session")
def servers() -> Iterator[dict[str, Server]]:
    (ROOT / "test-output").mkdir(exist_ok=True)
    started: dict[str, Server] = {}
    yield started
    for server in started.values():
        server.stop()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        kinds = (
            ["postgres", "sqlite"]
            if metafunc.definition.get_closest_marker("sqlite")
            else ["postgres"]
        )
        metafunc.parametrize("backend_kind", kinds)


class Backend:
    """One test's view of a running Naryad: HTTP client plus data factories."""

    def __init__(self, kind: str, url: str, server: Server):
        self.kind = kind
        self.url = url
        self.server = server
        self.http = httpx.AsyncClient(base_url=server.base_url, timeout=30)
        self._seq = 0

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    async def user(
        self,
        *roles: str,
        groups: tuple[str, ...] = (),
        counterparty_id: int | None = None,
        surname: str | None = None,
        login: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Create a user through the service and log in over HTTP; returns user + headers."""
        n = self._next()
        group_ids = [await accounts.group_id_by_name(g) for g in groups]
        login = login or f"{roles[0]}{n}"
        surname = surname or f"Тестов{n}"
        user = await accounts.create_user(
            msgspec.convert(
                {
                    "login": login,
                    "password": "secret-pass",
                    "full_name": f"{surname} {roles[0].title()}",
                    "surname": surname,
                    "roles": list(roles),
                    "group_ids": group_ids,
                    "counterparty_id": counterparty_id,
                    **extra,
                },
                UserIn,
            )
        )
        resp = await self.http.post(
            "/api/auth/login", json={"login": login, "password": "secret-pass"}
        )
        assert resp.status_code == 200, resp.text
        token = resp.json()["token"]
        return {**msgspec.to_builtins(user), "headers": {"Authorization": f"Bearer {token}"}}

    async def counterparty(
        self,
        name: str,
        aliases: list[str] | None = None,
        parent_id: int | None = None,
        email_domains: list[str] | None = None,
    ) -> dict[str, Any]:
        cp = await clients.create_counterparty(
            CounterpartyIn(
                name=name,
                aliases=aliases or [],
                parent_id=parent_id,
                email_domains=email_domains or [],
            )
        )
        return msgspec.to_builtins(cp)  # type: ignore[no-any-return]

    async def site(self, counterparty_id: int, name: str = "Точка", **kw: Any) -> dict[str, Any]:
        site = await clients.create_site(
            SiteIn(
                counterparty_id=counterparty_id,
                name=name,
                address=kw.pop("address", "Москва"),
                **kw,
            )
        )
        return msgspec.to_builtins(site)  # type: ignore[no-any-return]

    async def create_task(self, who: dict[str, Any], **body: Any) -> httpx.Response:
        return await self.http.post("/api/tasks", json=body, headers=who["headers"])


async def _clean(url: str) -> None:
    engine = db.configure_database(url)
    if db.is_sqlite(engine):
        for table in DATA_TABLES:
            await engine.run_ddl(f"DELETE FROM {table}")
    else:
        await engine.run_ddl(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE")
    placeholders = ", ".join(f"'{g}'" for g in SEEDED_GROUPS)
    await engine.run_ddl(f"DELETE FROM work_groups WHERE name NOT IN ({placeholders})")


@pytest.fixture
async def backend(
    backend_kind: str, pg_url: str, sqlite_url: str, servers: dict[str, Server]
) -> AsyncIterator[Backend]:
    url = pg_url if backend_kind == "postgres" else sqlite_url
    await _clean(url)
    if backend_kind not in servers:
        servers[backend_kind] = await asyncio.to_thread(Server, url)
    b = Backend(backend_kind, url, servers[backend_kind])
    try:
        yield b
    finally:
        await b.http.aclose()
