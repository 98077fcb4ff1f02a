"""A short-lived cache of who a token belongs to, emptied at once in every API process.

Every authenticated request asks "whose token is this, with which roles and groups"; it is
one indexed query, but on the engineer's list it is a fifth of the work (issue #21). With a
Redis (the deployment that runs several API processes and arq workers), each process keeps
the answer for a few seconds (`NARYAD_AUTH_CACHE_S`) and forgets it the moment anything it
rests on changes anywhere:

* the services that change a user (roles, groups, counterparty, language, deactivation,
  password, logout) call `changed(user_id)`; after their unit of work commits, the local
  entries go and the user id is published on a Redis channel that every API process
  listens to;
* a process whose subscription is down (Redis restarting) caches nothing until it is back,
  and starts empty;
* a lookup that started before an eviction is not stored (a generation counter), so a read
  of the old rows racing the change cannot put them back.

Without a Redis (the embedded default, one process or several on SQLite) nothing is cached:
a process could not tell the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from server import db
from server.lib.actor import Actor
from server.lib.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

log = get_logger("naryad.auth")

CHANNEL = "naryad:auth:changed"
EVERYONE = "*"
MAX_ENTRIES = 50_000


class SessionCache:
    def __init__(self, redis_url: str, ttl_s: float) -> None:
        self.redis_url = redis_url
        self.ttl_s = ttl_s
        self.generation = 0
        self.listening = False
        self._entries: dict[str, tuple[Actor, float]] = {}
        self._redis: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    # --- reading ---------------------------------------------------------------------------

    def get(self, token_hash: str) -> Actor | None:
        if not self.listening:
            return None
        hit = self._entries.get(token_hash)
        if hit is None:
            return None
        actor, until = hit
        if time.monotonic() >= until:
            del self._entries[token_hash]
            return None
        return actor

    def put(self, token_hash: str, actor: Actor, generation: int, expires_in_s: float) -> None:
        """Keep `actor` if nothing changed since the lookup began (`generation`)."""
        if not self.listening or generation != self.generation:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        ttl = min(self.ttl_s, expires_in_s)
        if ttl > 0:
            self._entries[token_hash] = (actor, time.monotonic() + ttl)

    # --- forgetting ------------------------------------------------------------------------

    def forget(self, subject: str) -> None:
        self.generation += 1
        if subject == EVERYONE:
            self._entries.clear()
            return
        try:
            user_id = int(subject)
        except ValueError:
            self._entries.clear()  # not ours to read: forget everyone rather than guess
            return
        for key in [k for k, (a, _) in self._entries.items() if a.id == user_id]:
            del self._entries[key]

    async def publish(self, subject: str) -> None:
        self.forget(subject)
        await self._redis.publish(CHANNEL, subject)

    # --- the subscription ------------------------------------------------------------------

    async def start(self) -> None:
        # redis-py is loaded only where there is a Redis (as in server/lib/ratelimit.py).
        from redis import asyncio as aioredis

        self._redis = aioredis.from_url(  # type: ignore[no-untyped-call]
            self.redis_url, socket_timeout=5, socket_connect_timeout=5
        )
        self._listener = asyncio.create_task(self._listen_forever())
        # Serve at once either way: until subscribed, every request reads the database.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), 2)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
        if self._redis is not None:
            await self._redis.aclose()

    async def _listen_forever(self) -> None:
        delay = 0.2
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.listening:
                    log.warning("session cache off: lost the Redis subscription", error=repr(exc))
            self.listening = False
            self.forget(EVERYONE)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _listen(self) -> None:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(CHANNEL)
            # Whatever changed while we were not listening is unknown: start empty.
            self.forget(EVERYONE)
            self.listening = True
            self._subscribed.set()
            log.info("session cache on", ttl_s=self.ttl_s)
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=30)
                if message is None:
                    await pubsub.ping()
                    continue
                if message.get("type") != "message":
                    continue  # pong
                data = message.get("data")
                self.forget(data.decode() if isinstance(data, bytes) else str(data))
        finally:
            self.listening = False
            with contextlib.suppress(Exception):
                await pubsub.aclose()


_cache: SessionCache | None = None


def install(cache: SessionCache | None) -> None:
    global _cache
    _cache = cache


def current() -> SessionCache | None:
    return _cache


async def changed(user_id: int | str) -> None:
    """A user's sessions, roles, groups or profile changed: forget them in every process
    once the current unit of work commits (at once outside one)."""
    cache = _cache
    if cache is None:
        return
    subject = str(user_id)
    # Forget locally now too: this process must not serve the old answer while it commits.
    cache.forget(subject)
    await db.on_commit(_publisher(cache, subject), name="session cache: forget user")


def _publisher(cache: SessionCache, subject: str) -> Callable[[], Awaitable[None]]:
    async def publish() -> None:
        await cache.publish(subject)

    return publish
