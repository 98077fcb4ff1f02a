"""Database engines: build from a URL, point every table at it, run migrations."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime as dt
import io
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.querystring import QueryString

from server.lib.logs import get_logger
from server.settings import Settings, SettingsError
from server.settings import current as current_settings

log = get_logger("naryad.db")

SQLITE_BUSY_TIMEOUT_S = 30
# Piccolo's joins are LEFT JOINs that follow foreign keys out of the table being
# selected, so the order they are written in is already the good plan; letting the planner
# search join orders cost ~20 ms per 9-table task query. join_collapse_limit=1 keeps the
# written order. Plans are left to PostgreSQL's plan cache (generic after five runs): the
# task lists read index-ordered slices with literal LIMITs (tasks.service.TaskQuery.page_sql)
# whose generic plan is the custom one, and planning every call cost 2.3 of the 3.4 ms of the
# engineer's list (bench/README.md, "The engineer's list").
POSTGRES_SESSION = {"join_collapse_limit": "1"}


# --- one connection per request ---------------------------------------------------------
#
# Piccolo takes a pool connection for every query outside a transaction. A request that
# authenticates (one query) and lists (another) would acquire and release twice. Inside
# `request_connection()` the first query acquires a connection and every later query and
# transaction of the same asyncio task reuses it; it goes back to the pool when the request
# ends. Tasks spawned from the request (after-commit kicks, gather) see the lease but are
# other tasks: they use the pool as before, so one connection never runs two queries at once.


class _Lease:
    __slots__ = ("connection", "owner")

    def __init__(self, owner: asyncio.Task[Any] | None) -> None:
        self.owner = owner
        self.connection: Any = None


_lease: contextvars.ContextVar[_Lease | None] = contextvars.ContextVar(
    "naryad_request_connection", default=None
)


def _own_lease() -> _Lease | None:
    lease = _lease.get()
    if lease is None or lease.owner is not asyncio.current_task():
        return None
    return lease


class _LeasedTransaction(PostgresTransaction):
    """Piccolo's transaction on the request's connection when there is one."""

    leased = False

    async def get_connection(self) -> Any:
        lease = _own_lease()
        pool = self.engine.pool
        if lease is None or pool is None:
            return await super().get_connection()  # type: ignore[no-untyped-call]
        if lease.connection is None:
            lease.connection = await pool.acquire()
        self.leased = True
        return lease.connection

    async def __aexit__(self, exception_type: Any, exception: Any, traceback: Any) -> bool:
        if not self.leased:
            return bool(await super().__aexit__(exception_type, exception, traceback))
        # Piccolo's own exit, except that the connection stays with the request.
        if self._parent:
            return exception is None
        try:
            if exception:
                if not self._rolled_back:
                    await self.rollback()  # type: ignore[no-untyped-call]
            elif not self._committed and not self._rolled_back:
                await self.commit()  # type: ignore[no-untyped-call]
        finally:
            self.engine.current_transaction.reset(self.context)
        return exception is None


class NaryadPostgresEngine(PostgresEngine):
    async def _run_in_pool(self, query: str, args: Any = None) -> Any:
        lease = _own_lease()
        if lease is None or self.pool is None:
            return await super()._run_in_pool(query, args)
        if lease.connection is None:
            lease.connection = await self.pool.acquire()
        return await lease.connection.fetch(query, *(args or []))

    def transaction(self, allow_nested: bool = True) -> PostgresTransaction:
        return _LeasedTransaction(engine=self, allow_nested=allow_nested)


@contextlib.asynccontextmanager
async def request_connection() -> AsyncIterator[None]:
    """Scope one pool connection to the current task (an HTTP request)."""
    engine = current_engine()
    if not isinstance(engine, NaryadPostgresEngine) or _lease.get() is not None:
        yield
        return
    lease = _Lease(asyncio.current_task())
    token = _lease.set(lease)
    try:
        yield
    finally:
        _lease.reset(token)
        if lease.connection is not None and engine.pool is not None:
            await engine.pool.release(lease.connection)


async def fetch_rows(sql: str, *args: Any) -> Sequence[Mapping[str, Any]]:
    """A raw SELECT (Piccolo's `{}` placeholders) for hot reads. On PostgreSQL it returns
    asyncpg's records as they are — on the unit of work's connection, else the request's —
    instead of copying every row into a dict as `Table.raw` does; on SQLite, dicts."""
    engine = current_engine()
    if not isinstance(engine, NaryadPostgresEngine):
        rows: list[dict[str, Any]] = await engine.run_querystring(QueryString(sql, *args))
        return rows
    compiled, values = QueryString(sql, *args).compile_string(engine_type="postgres")
    transaction = engine.current_transaction.get()
    if transaction is not None:
        records: Sequence[Mapping[str, Any]] = await transaction.connection.fetch(compiled, *values)
        return records
    if engine.pool is None:  # a command or test that started no pool: as Piccolo does
        return cast(
            Sequence[Mapping[str, Any]], await engine._run_in_new_connection(compiled, values)
        )
    return cast(Sequence[Mapping[str, Any]], await engine._run_in_pool(compiled, values))


def request_connection_middleware(app: Any) -> Any:
    """ASGI middleware: every HTTP request runs inside `request_connection()`."""

    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        async with request_connection():
            await app(scope, receive, send)

    return middleware


async def _keep_session(_connection: Any) -> None:
    """The pool's reset on release. asyncpg rolls back an open transaction before this;
    its default reset then sends `pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
    ALL` — one more round trip per query. Naryad keeps no session state (its advisory locks
    are transaction-scoped, it never LISTENs or SETs outside SET LOCAL), so there is
    nothing to reset."""


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
        # NARYAD_DB_STATEMENT_CACHE=0 behind PgBouncer in transaction mode: asyncpg then
        # prepares statements unnamed, which PgBouncer before 1.21 can pass on.
        cache = _process_settings().db_statement_cache
        return NaryadPostgresEngine(
            config={"dsn": url, "server_settings": POSTGRES_SESSION, "statement_cache_size": cache}
        )
    raise SettingsError(
        f"NARYAD_DATABASE_URL: unsupported scheme {parts.scheme!r}; use sqlite:/// or postgresql://"
    )


def all_tables() -> list[type]:
    """Piccolo's migrations table and every table of server/ defined so far (all of them once
    server.app or server.subscribers is imported). Not read from APP_REGISTRY, which loads
    piccolo.conf.apps and black (~7 MB, issue 21); a table defined later still finds the
    engine through PICCOLO_CONF (server.piccolo_conf.DB, set by use_engine)."""
    from piccolo.apps.migrations.tables import Migration
    from piccolo.table import TABLE_REGISTRY

    return [Migration, *(t for t in TABLE_REGISTRY if t.__module__.startswith("server."))]


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


def _process_settings() -> Settings:
    """The process's settings; their defaults where a script configured only a database."""
    try:
        return current_settings()
    except RuntimeError:
        return Settings()


@contextlib.asynccontextmanager
async def connection_pool(engine: Engine[Any], max_size: int | None = None) -> AsyncIterator[None]:
    """The engine's pool for as long as the block runs: at most `max_size` connections,
    by default NARYAD_DB_POOL_MAX."""
    max_size = max_size or _process_settings().db_pool_max
    if isinstance(engine, PostgresEngine) and engine.pool is None:
        await engine.start_connection_pool(min_size=1, max_size=max_size, reset=_keep_session)
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
