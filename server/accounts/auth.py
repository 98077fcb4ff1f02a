"""Bearer-token / session-cookie authentication and role guards."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from server.accounts import service as accounts
from server.accounts.schemas import Actor

SESSION_COOKIE = "naryad_session"

# Handlers that carry no user session (login, the PWA's static files, channel webhooks
# that check their own shared secrets) set opt={"exclude_from_auth": True}.
PUBLIC = {"exclude_from_auth": True}
PUBLIC_PATHS = [r"^/schema"]


def token_from(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return connection.cookies.get(SESSION_COOKIE) or None


class TokenAuthMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        token = token_from(connection)
        if token is None:
            raise NotAuthorizedException("Not logged in: send 'Authorization: Bearer <token>'")
        actor = await accounts.actor_for_token(token)
        if actor is None:
            raise NotAuthorizedException("Session expired or unknown token: log in again")
        return AuthenticationResult(user=actor, auth=token)


Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]


def roles_allowed(*roles: str) -> Guard:
    """A guard that lets through callers holding any of `roles`.

    Async on purpose: Litestar runs sync guards in a thread pool, a hand-off per request."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
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
