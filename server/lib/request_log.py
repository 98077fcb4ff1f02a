"""One structured log line per request: what was asked, by whom, how it ended, how long."""

from __future__ import annotations

import time
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from server.lib.logs import get_logger

log = get_logger("naryad.http")


def request_log_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        except Exception as exc:
            # Handled further out (e.g. 401 from the auth middleware) unless it has no code.
            status["code"] = getattr(exc, "status_code", 500)
            raise
        finally:
            user = scope.get("user")
            log.info(
                "request",
                method=scope.get("method"),
                path=scope.get("path"),
                status=status["code"],
                ms=round((time.perf_counter() - started) * 1000, 1),
                user=getattr(user, "login", None),
            )

    return middleware
