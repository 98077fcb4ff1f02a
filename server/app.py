"""create_app(settings) -> Litestar. Nothing happens at import time."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator
from pathlib import Path

from litestar import Litestar
from litestar._openapi.plugin import OpenAPIPlugin
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import OpenAPI
from litestar.plugins import PluginProtocol
from litestar.static_files import create_static_files_router

from server import db, subscribers
from server import settings as process_settings
from server.accounts import session_cache
from server.accounts.auth import TokenAuthMiddleware
from server.accounts.controller import AuthController, DirectoryAccountsController
from server.accounts.lockouts_controller import LockoutsController
from server.assets.controller import EquipmentController, TaskEquipmentController
from server.attachments.controller import AttachmentsController
from server.channels.controller import ChannelsController, ContactMailController
from server.clients.controller import ClientsController
from server.contracts.controller import ContractsController, LabourController
from server.devmail.controller import DevMailController
from server.dispatch.controller import DispatchController
from server.feed.controller import FeedController
from server.kb.controller import KnowledgeBaseController, TaskArticlesController
from server.lib import background, openapi_contract, passwords, ratelimit
from server.lib.boundary import boundary_middleware, json_body_middleware
from server.lib.errors import EXCEPTION_HANDLERS, internal_error_handler
from server.lib.guards import PUBLIC, PUBLIC_PATHS, run_role_guards_in_place
from server.lib.logs import configure_logging, get_logger
from server.lib.request_log import request_log_middleware
from server.lib.security_headers import add_security_headers
from server.maintenance.controller import (
    ChecklistController,
    MaintenanceCalendarController,
    MaintenancePlansController,
)
from server.notifications import service as notifications
from server.notifications.controller import NotificationsController
from server.portal.controller import (
    PortalController,
    RatePagesController,
    TaskRatingController,
)
from server.pricing.controller import PriceListController, TaskPrintController
from server.reports.controller import ReportsController
from server.settings import Settings
from server.sla.controller import SlaController
from server.tasks.controller import TasksController, TemplatesController, UserTasksController
from server.tasks.refusals_controller import RefusalReasonsController

PWA_DIR = Path(__file__).resolve().parent.parent / "pwa"
log = get_logger("naryad.app")


class _ContractOpenAPIPlugin(OpenAPIPlugin):
    """Litestar's OpenAPI plugin, building the schema with the contract's additions
    (server/lib/openapi_contract.py). Litestar builds it on first use (`/schema`,
    `app.openapi_schema`), not at start: 123 paths took ~0.15 s of every start."""

    __slots__ = ()

    def _build_openapi(self) -> OpenAPI:
        openapi = super()._build_openapi()
        openapi_contract.tighten(openapi)
        return openapi


def _tighten_schema_when_built(app: Litestar) -> None:
    plugin = app.plugins.get(OpenAPIPlugin)
    # Litestar always adds its own plugin; slots-only subclass, so the instance can switch.
    assert type(plugin) is OpenAPIPlugin, type(plugin)
    plugin.__class__ = _ContractOpenAPIPlugin


@contextlib.asynccontextmanager
async def _jobs(settings: Settings) -> AsyncIterator[None]:
    """Where notification jobs run: arq workers (Redis), or this process (the demo)."""
    from jobs.dispatch import ArqDispatcher, InProcessJobs

    if settings.redis_url:
        dispatcher = ArqDispatcher(settings.redis_url)
        notifications.configure(dispatcher)
        background.configure(dispatcher.enqueue)
        log.info("jobs: arq", redis=settings.redis_url)
        try:
            yield
        finally:
            notifications.configure(None)
            background.configure(None)
            await dispatcher.close()
        return
    runner = InProcessJobs(settings)
    notifications.configure(runner)
    background.configure(runner.enqueue)
    runner.start()
    log.info("jobs: in-process", sweep_every_s=settings.notify_sweep_s)
    try:
        yield
    finally:
        notifications.configure(None)
        background.configure(None)
        await runner.close()


@contextlib.asynccontextmanager
async def _logins(settings: Settings) -> AsyncIterator[None]:
    """Password hashing threads, and where failed logins are counted: Redis when there is
    one (shared by every API process), else this process."""
    passwords.configure(settings.password_hash_threads)
    store = ratelimit.RedisStore(settings.redis_url) if settings.redis_url else None
    throttle = ratelimit.LoginThrottle.from_settings(settings, store)
    ratelimit.install(throttle)
    try:
        yield
    finally:
        ratelimit.install(None)
        await throttle.close()


@contextlib.asynccontextmanager
async def _sessions(settings: Settings) -> AsyncIterator[None]:
    """The short-lived token cache, where a Redis can tell every process to forget."""
    if not settings.redis_url or settings.auth_cache_s <= 0:
        yield
        return
    cache = session_cache.SessionCache(settings.redis_url, settings.auth_cache_s)
    await cache.start()
    session_cache.install(cache)
    try:
        yield
    finally:
        session_cache.install(None)
        await cache.close()


class NaryadLitestar(Litestar):
    """Litestar without the plugins it adds for libraries Naryad does not use.

    Litestar adds its Pydantic and attrs plugins whenever those libraries are importable, and
    Pydantic is (Piccolo depends on it); importing the Pydantic plugin was ~15 % of
    `naryad serve`'s start-up. Every model here is a msgspec Struct or a dataclass, which
    Litestar handles without plugins. tests/test_startup.py checks Pydantic stays unloaded.
    """

    @staticmethod
    def _get_default_plugins(plugins: list[PluginProtocol]) -> list[PluginProtocol]:
        from litestar.plugins.core import MsgspecDIPlugin

        plugins.append(MsgspecDIPlugin())
        return plugins


def create_app(settings: Settings | None = None) -> Litestar:
    settings = process_settings.install(settings or Settings.from_env())
    subscribers.install()
    configure_logging(settings.log_level, settings.log_format)
    engine = db.configure_database(settings.database_url)

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        async with (
            db.connection_pool(engine),
            _jobs(settings),
            _logins(settings),
            _sessions(settings),
        ):
            # What start-up built (modules, routes, tables, ~95 000 objects) lives as long as
            # the process; frozen, Python's full collections stop walking it again and again
            # under load (a full walk was ~50 ms, a pause every request in flight then waits
            # out).
            gc.freeze()
            log.info(
                "naryad started",
                database=engine.engine_type,
                jobs="in-process (no NARYAD_REDIS_URL)" if settings.jobs_in_process else "arq",
            )
            yield

    app = NaryadLitestar(
        route_handlers=[
            AuthController,
            LockoutsController,
            DirectoryAccountsController,
            ClientsController,
            TemplatesController,
            TasksController,
            RefusalReasonsController,
            UserTasksController,
            NotificationsController,
            PriceListController,
            TaskPrintController,
            SlaController,
            ReportsController,
            AttachmentsController,
            ChannelsController,
            ContactMailController,
            EquipmentController,
            TaskEquipmentController,
            ContractsController,
            LabourController,
            MaintenancePlansController,
            MaintenanceCalendarController,
            ChecklistController,
            DispatchController,
            TaskRatingController,
            PortalController,
            RatePagesController,
            KnowledgeBaseController,
            TaskArticlesController,
            FeedController,
            DevMailController,
            create_static_files_router(
                path="/", directories=[PWA_DIR], html_mode=True, include_in_schema=False, opt=PUBLIC
            ),
        ],
        dependencies={"settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False)},
        middleware=[
            request_log_middleware,
            boundary_middleware,
            db.request_connection_middleware,
            DefineMiddleware(TokenAuthMiddleware, exclude=PUBLIC_PATHS),
            json_body_middleware,
        ],
        before_send=[add_security_headers],
        exception_handlers={**EXCEPTION_HANDLERS, 500: internal_error_handler},  # type: ignore[dict-item]
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(title="Naryad", version="0.1.0", path="/schema"),
        logging_config=None,
    )
    _tighten_schema_when_built(app)
    run_role_guards_in_place(app.routes)
    return app


def app_from_env() -> Litestar:
    """Factory for `uvicorn --factory` and `naryad serve`."""
    return create_app(Settings.from_env())
