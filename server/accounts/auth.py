"""Bearer-token / session-cookie authentication (the guards are in server/lib/guards.py)."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from server import settings
from server.accounts import service as accounts
from server.lib.origin import cross_site_refusal

SESSION_COOKIE = "naryad_session"


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def token_from(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    return bearer_token(connection) or connection.cookies.get(SESSION_COOKIE) or None


class TokenAuthMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        token = bearer_token(connection)
        if token is None:
            token = connection.cookies.get(SESSION_COOKIE) or None
            # The browser sent the cookie by itself: make sure our own page asked it to.
            refusal = token and cross_site_refusal(connection, settings.current().public_url)
            if refusal:
                raise refusal
        if token is None:
            raise NotAuthorizedException("Not logged in: send 'Authorization: Bearer <token>'")
        actor = await accounts.actor_for_token(token)
        if actor is None:
            raise NotAuthorizedException("Session expired or unknown token: log in again")
        return AuthenticationResult(user=actor, auth=token)
