"""Role guards: plain async functions that raise, set on controllers and handlers."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from server.lib.actor import Actor

# Handlers that carry no user session (login, the PWA's static files, channel webhooks
# that check their own shared secrets) set opt={"exclude_from_auth": True}.
PUBLIC = {"exclude_from_auth": True}
PUBLIC_PATHS = [r"^/schema"]

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


def roles_allowed(*roles: str) -> Guard:
    """A guard that lets through callers holding any of `roles`.

    Async on purpose: Litestar runs sync guards in a thread pool, a hand-off per request."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if connection.scope.get("method") == "OPTIONS":
            return  # Litestar's OPTIONS answer (and a CORS preflight) carries no user
        actor: Actor = connection.user
        if not actor.has_role(*roles):
            raise PermissionDeniedException(
                f"This needs one of the roles: {', '.join(roles)}; you have: "
                f"{', '.join(sorted(actor.roles)) or 'none'}"
            )

    guard.roles = roles  # type: ignore[attr-defined]  # marks a role guard (below)
    return guard


def run_role_guards_in_place(routes: Iterable[Any]) -> None:
    """Litestar calls every guard with a fresh `copy()` of the route handler, so that a
    guard may change it: ~15 µs a guard a request (a handler has ~60 attributes), and a
    task action has two guards (the controller's and its own). Role guards only read the
    connection's user; on a handler whose guards are all role guards they are called with
    the handler itself, in the same order, with the same answers (issue 21)."""
    for route in routes:
        for handler in getattr(route, "route_handlers", ()):
            guards = tuple(handler.resolve_guards())
            if not guards or not all(hasattr(g, "roles") for g in guards):
                continue

            async def authorize(
                connection: ASGIConnection[Any, Any, Any, Any],
                _guards: tuple[Guard, ...] = guards,
                _handler: BaseRouteHandler = handler,
            ) -> None:
                for guard in _guards:
                    await guard(connection, _handler)

            # Litestar's own OPTIONS handlers have no __dict__: they are left as they are
            with contextlib.suppress(AttributeError):
                handler.authorize_connection = authorize


ADMIN = roles_allowed("admin")
DIRECTORY_WRITERS = roles_allowed("admin", "office")
EMPLOYEES = roles_allowed("admin", "office", "engineer", "checker")
ANYONE = roles_allowed("admin", "office", "engineer", "checker", "client")
