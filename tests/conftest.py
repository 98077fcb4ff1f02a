"""Fixtures: a fresh PostgreSQL database and a SQLite file per session, migrated with the
real migrations; a uvicorn server per backend; a clean database per test. The harness they
use lives in naryad_harness.py (import it from there, not from conftest: sub-folders have
conftest modules of their own)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from naryad_harness import PG_URL, ROOT, Backend, Server, _clean, _with_database

from server import db, subscribers
from server import settings as process_settings
from server.settings import Settings

# Tests that call the services in this process need what a server process installs at
# start-up: its settings and the event subscribers.
process_settings.install(Settings.from_env({}))
subscribers.install()


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
