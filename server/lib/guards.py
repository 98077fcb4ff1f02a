"""Role guards: plain async functions that raise, set on controllers and handlers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
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

    return guard


ADMIN = roles_allowed("admin")
DIRECTORY_WRITERS = roles_allowed("admin", "office")
EMPLOYEES = roles_allowed("admin", "office", "engineer", "checker")
ANYONE = roles_allowed("admin", "office", "engineer", "checker", "client")
