"""One outgoing HTTP client per process (Telegram Bot API, Web Push services), kept alive.

A client per request opens a TCP (and TLS) connection every time; this one keeps up to
KEEPALIVE idle connections per process and reuses them. httpx is imported on first use, so
a process that never sends anything does not pay for it. Timeouts are given per request.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

MAX_CONNECTIONS = 100
KEEPALIVE = 20
KEEPALIVE_EXPIRY_S = 60.0
DEFAULT_TIMEOUT_S = 30.0

_client: httpx.AsyncClient | None = None
_loop: asyncio.AbstractEventLoop | None = None


def shared() -> httpx.AsyncClient:
    """The process's client, created on first use (again after `close()`, or when called
    from another event loop: connections belong to the loop that opened them)."""
    global _client, _loop
    loop = asyncio.get_running_loop()
    if _client is None or _client.is_closed or _loop is not loop:
        import httpx

        _client = httpx.AsyncClient(
            timeout=DEFAULT_TIMEOUT_S,
            limits=httpx.Limits(
                max_connections=MAX_CONNECTIONS,
                max_keepalive_connections=KEEPALIVE,
                keepalive_expiry=KEEPALIVE_EXPIRY_S,
            ),
        )
        _loop = loop
    return _client


async def close() -> None:
    """At process shutdown (the worker, the API's in-process jobs)."""
    global _client, _loop
    client, _client, _loop = _client, None, None
    if client is not None and not client.is_closed:
        await client.aclose()
