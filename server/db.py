"""Database engines: build from a URL, point every table at it, run migrations."""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from server.lib.logs import get_logger
from server.settings import SettingsError

log = get_logger("naryad.db")

SQLITE_BUSY_TIMEOUT_S = 30
# Piccolo's joins are LEFT JOINs that follow foreign keys out of the table being
# selected, so the order they are written in is already the good plan. Letting the
# planner search join orders cost ~20 ms per task-list query (9 tables) against 0.5 ms
# of execution; join_collapse_limit=1 keeps the written order. With planning that cheap,
# always plan for the actual values: after five runs PostgreSQL would otherwise switch the
# prepared list query to a generic plan that cannot see the small LIMIT or the selective
# status values, and takes ~50 ms instead of ~1 ms (bench/README.md).
POSTGRES_SESSION = {"join_collapse_limit": "1", "plan_cache_mode": "force_custom_plan"}


def engine_from_url(url: str) -> Engine[Any]:
    """`sqlite:///relative.db`, `sqlite:////abs.db` or `postgresql://user@host:port/db`."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        # sqlite:///var/x.db -> "var/x.db" (relative); sqlite:////tmp/x.db -> "/tmp/x.db"
        path = path[1:] if path.startswith("/") else path
        if not path:
            raise SettingsError("NARYAD_DATABASE_URL: sqlite URL needs a file path")
        return SQLiteEngine(path=path, timeout=SQLITE_BUSY_TIMEOUT_S)
    if parts.scheme in {"postgresql", "postgres"}:
        return PostgresEngine(config={"dsn": url, "server_settings": POSTGRES_SESSION})
    raise SettingsError(
        f"NARYAD_DATABASE_URL: unsupported scheme {parts.scheme!r}; use sqlite:/// or postgresql://"
    )


def all_tables() -> list[type]:
    from piccolo.apps.migrations.tables import Migration

    from server.piccolo_conf import APP_REGISTRY

    tables: list[type] = [Migration]
    for app_config in APP_REGISTRY.app_configs.values():
        tables.extend(app_config.table_classes)
    return tables


_engines: dict[str, Engine[Any]] = {}


def configure_database(url: str) -> Engine[Any]:
    """Point Piccolo (its conf module and every table) at the engine for `url`.

    One engine per URL per process, so re-configuring (tests switching between
    SQLite and PostgreSQL) reuses its connection pool."""
    engine = _engines.get(url)
    if engine is None:
        engine = _engines[url] = engine_from_url(url)
        if isinstance(engine, SQLiteEngine):
            Path(engine.path).parent.mkdir(parents=True, exist_ok=True)
    use_engine(engine)
    return engine


def use_engine(engine: Engine[Any]) -> None:
    import server.piccolo_conf as conf

    conf.DB = engine
    for table in all_tables():
        table._meta.db = engine  # type: ignore[attr-defined]


def current_engine() -> Engine[Any]:
    import server.piccolo_conf as conf

    return conf.DB


def is_sqlite(engine: Engine[Any] | None = None) -> bool:
    return (engine or current_engine()).engine_type == "sqlite"


# --- the unit of work ---------------------------------------------------------------------
#
# One transaction per unit of work, however deeply services nest: the outermost
# `transaction()` opens it, inner ones become savepoints (an inner failure that the caller
# catches undoes only the inner writes). Side effects — delivering notifications, enqueueing
# jobs, replying on Telegram — are registered with `on_commit()` and run only after the
# outermost transaction has committed, never after a rollback (Zulip's transaction.on_commit).

AfterCommit = Callable[[], Awaitable[None]]


class _Unit:
    __slots__ = ("after_commit",)

    def __init__(self) -> None:
        self.after_commit: list[tuple[str, AfterCommit]] = []


_unit: contextvars.ContextVar[_Unit | None] = contextvars.ContextVar("naryad_unit", default=None)


def in_transaction() -> bool:
    return _unit.get() is not None


async def on_commit(callback: AfterCommit, *, name: str = "") -> None:
    """Run `callback` once the outermost transaction commits; drop it on rollback.
    Outside a transaction the change is already committed: it runs now."""
    entry = (name or getattr(callback, "__qualname__", "callback"), callback)
    unit = _unit.get()
    if unit is None:
        await _run_after_commit([entry])
    else:
        unit.after_commit.append(entry)


async def _run_after_commit(callbacks: list[tuple[str, AfterCommit]]) -> None:
    for name, callback in callbacks:
        try:
            await callback()
        except Exception as exc:
            # The change is committed; a lost kick is recovered by the sweeps.
            log.warning("after-commit action failed", action=name, error=repr(exc))


@contextlib.asynccontextmanager
async def transaction() -> AsyncIterator[None]:
    """A write transaction, or a savepoint inside one.

    On SQLite the outermost one takes the write lock up front (IMMEDIATE), so two writers
    queue on the busy timeout instead of failing on upgrade."""
    unit = _unit.get()
    engine = current_engine()
    if unit is not None:
        current = engine.current_transaction.get()
        assert current is not None, "a unit of work without a database transaction"
        savepoint = await current.savepoint()
        mark = len(unit.after_commit)
        try:
            yield
        except BaseException:
            await savepoint.rollback_to()
            del unit.after_commit[mark:]
            raise
        await savepoint.release()
        return
    if engine.current_transaction.get() is not None:
        raise RuntimeError("a Piccolo transaction was opened outside db.transaction()")
    unit = _Unit()
    token = _unit.set(unit)
    try:
        if isinstance(engine, SQLiteEngine):
            async with engine.transaction(transaction_type=TransactionType.immediate):
                yield
        else:
            async with engine.transaction():
                yield
    finally:
        _unit.reset(token)
    await _run_after_commit(unit.after_commit)


@contextlib.asynccontextmanager
async def connection_pool(engine: Engine[Any], max_size: int = 10) -> AsyncIterator[None]:
    if isinstance(engine, PostgresEngine) and engine.pool is None:
        await engine.start_connection_pool(min_size=1, max_size=max_size)
        try:
            yield
        finally:
            await engine.close_connection_pool()
    else:
        yield


def stored_datetime(value: Any) -> Any:
    """A timestamp as read back: raw SQL on SQLite returns the stored text, which Piccolo's
    own selects would have converted. Anything that is not text passes through."""
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value


async def migrate(quiet: bool = True) -> None:
    """Apply every pending migration of every app, in dependency order."""
    from piccolo.apps.migrations.commands.forwards import run_forwards

    engine = current_engine()
    if isinstance(engine, SQLiteEngine):
        # WAL lets readers go on while one writer writes; it is a property of the file.
        await engine._run_in_new_connection("PRAGMA journal_mode=WAL")
    if quiet:
        # Piccolo prints progress for every app; the CLI prints its own summary.
        with contextlib.redirect_stdout(io.StringIO()):
            result = await run_forwards(app_name="all")
    else:
        result = await run_forwards(app_name="all")
    if not result.success:
        raise RuntimeError(f"migration failed: {result.message}")
