"""Naryad through PgBouncer in transaction mode (issue 20).

Debian 12 ships PgBouncer 1.18, which cannot keep prepared statements for its clients
(`max_prepared_statements` arrived in 1.21 and 1.18 refuses the key). asyncpg prepares and
caches named statements per connection, so through 1.18 its cache must be off
(NARYAD_DB_STATEMENT_CACHE=0; asyncpg then uses unnamed statements, which pass). The first
test shows both halves on the product's own engine; the second runs the scale harness's
workload — two API processes, a worker, migrations — with every process going through
PgBouncer, and checks that nothing was lost and nothing answered 5xx.

PgBouncer also refuses startup parameters it does not know, and Naryad sends some
(server/db.py POSTGRES_SESSION, e.g. join_collapse_limit): PgBouncer ignores them
(`ignore_startup_parameters`) and the database carries them instead (ALTER DATABASE … SET),
as deploy/README.md tells.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import asyncpg
from naryad_harness import PG_URL, ROOT
from piccolo.querystring import QueryString

from server import db
from server import settings as process_settings
from server.settings import Settings

sys.path.insert(0, str(ROOT))  # bench/ is not installed; the harness lives there

from bench.scale import harness
from bench.scale.services import PgBouncer, session_settings_sql, tool

REDIS_BASE = os.environ.get("NARYAD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_URL = REDIS_BASE.rsplit("/", 1)[0] + "/7"  # a db of its own, flushed by the harness


def pgbouncer_version() -> tuple[int, int]:
    out = subprocess.run(
        [tool("pgbouncer", "pgbouncer"), "--version"], capture_output=True, text=True, timeout=30
    )
    m = re.search(r"PgBouncer (\d+)\.(\d+)", out.stdout + out.stderr)
    assert m, out.stdout + out.stderr
    return int(m.group(1)), int(m.group(2))


async def _hammer(url: str, statement_cache: int) -> list[str]:
    """Naryad's engine (server/db.py) with this NARYAD_DB_STATEMENT_CACHE: 40 queries at
    once, five times, over a pool of 8 connections sharing PgBouncer's 2 server
    connections. Returns the errors."""
    installed = process_settings.current()
    process_settings.install(Settings.from_env({"NARYAD_DB_STATEMENT_CACHE": str(statement_cache)}))
    try:
        engine = db.engine_from_url(url)
    finally:
        process_settings.install(installed)
    errors: list[str] = []

    async def one(n: int) -> None:
        try:
            rows = await engine.run_querystring(
                QueryString("SELECT count(*) AS n FROM pg_class WHERE oid > {}", n)
            )
            assert rows[0]["n"] >= 0
        except asyncpg.PostgresError as exc:
            errors.append(type(exc).__name__)

    async with db.connection_pool(engine, max_size=8):
        for _ in range(5):
            await asyncio.gather(*(one(n) for n in range(40)))
    return errors


async def test_through_pgbouncer_1_18_the_statement_cache_must_be_off() -> None:
    version = pgbouncer_version()
    assert version < (1, 21), (
        f"PgBouncer {version}: it can keep prepared statements (max_prepared_statements); "
        "test whether NARYAD_DB_STATEMENT_CACHE may stay on and update deploy/README.md"
    )
    name = f"naryad_pgb_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_URL, timeout=10)
    await admin.execute(f'CREATE DATABASE "{name}"')
    for sql in session_settings_sql(name):
        await admin.execute(sql)
    server_url = f"{PG_URL.rpartition('/')[0]}/{name}"
    with tempfile.TemporaryDirectory(prefix="naryad-pgb-") as tmp:
        workdir = Path(tmp)
        os.chmod(tmp, 0o755)  # PgBouncer runs as another user when the tests run as root
        bouncer = PgBouncer(workdir, server_url, pool_size=2)
        await asyncio.to_thread(bouncer.start)
        try:
            url = bouncer.url(name)
            # asyncpg's default cache: named statements land on server connections that
            # other clients get next, which do not have them
            cached = await _hammer(url, statement_cache=100)
            assert cached and set(cached) <= {
                "InvalidSQLStatementNameError",
                "DuplicatePreparedStatementError",
            }, cached
            assert await _hammer(url, statement_cache=0) == []
            # the session settings reach every server connection from the database itself
            conn = await asyncpg.connect(url, statement_cache_size=0)
            try:
                for key, value in db.POSTGRES_SESSION.items():
                    assert await conn.fetchval(f"SHOW {key}") == value, key
            finally:
                await conn.close()
        finally:
            await asyncio.to_thread(bouncer.stop)
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
            )
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await admin.close()


async def test_a_short_workload_through_pgbouncer_in_transaction_mode() -> None:
    cfg = harness.Config(
        api=2,
        workers=1,
        engineers=6,
        office=2,
        checkers=1,
        warmup_s=15,
        tail_s=0,
        faults=(),
        request_timeout_s=30,
        drain_timeout_s=180,
        pg_url=PG_URL,
        redis_url=REDIS_URL,
        pool_max=5,  # NARYAD_DB_POOL_MAX: gentle on the shared test server
        pgbouncer=True,  # every process, `naryad migrate` too; NARYAD_DB_STATEMENT_CACHE=0
    )
    report = await harness.run(cfg, progress=lambda m: print(m, flush=True))
    print("\n".join(report.lines))
    failed = [c.line() for c in report.checks if not c.ok]
    assert failed == [], "\n".join(failed)
    errors = [s for s in report.recorder.samples if s[3] >= 500 or s[3] <= 0]
    assert errors == [], errors[:10]
    acked = [kind for kind, _, _ in report.recorder.acked]
    assert acked.count("approved") >= 2, acked
