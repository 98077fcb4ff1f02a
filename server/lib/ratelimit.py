"""Lockouts after repeated failed logins, per account and per client address.

Each subject ("login:olga", "address:203.0.113.7") has a sliding window of failure times.
When a failure brings the count within the window to the limit, the subject is locked:
further attempts are refused with 429 and Retry-After, without checking the password. The
first lockout lasts `lockout_s`; each further one within a day doubles it, up to
`lockout_max_s`. A successful login clears the account's failures and that history (not the
address's: one good password must not reset an address that is guessing others). An admin
sees the current lockouts and can lift one.

With NARYAD_REDIS_URL the windows live in Redis, so every API process counts the same
failures (a sorted set per subject, updated by one Lua script so that concurrent failures
lock exactly once). Without Redis (the single-process demo) they live in this process.
While Redis cannot be reached, the process falls back to its own memory rather than letting
logins through unthrottled or refusing everyone.

Why not `limits` or Litestar's RateLimitMiddleware: both count every request per key in a
fixed or moving window; neither keys on the login in the body, grows the lockout with
repeated offences, counts only failures, or can list what is locked for an admin.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

import msgspec

from server import settings as process_settings
from server.lib.errors import TooManyRequests
from server.lib.logs import get_logger
from server.settings import Settings

log = get_logger("naryad.ratelimit")

LOGIN = "login"
ADDRESS = "address"
HISTORY_S = 24 * 3600  # how long past lockouts count towards the next one's length
MEMORY_MAX_SUBJECTS = 100_000


class Policy(msgspec.Struct, frozen=True, kw_only=True):
    max_failures: int  # 0: no limit
    window_s: float
    lockout_s: float
    lockout_max_s: float

    def lockout_for(self, strikes: int) -> float:
        """The length of the `strikes`-th lockout within HISTORY_S."""
        return float(min(self.lockout_s * 2 ** min(max(strikes - 1, 0), 40), self.lockout_max_s))


class Lockout(msgspec.Struct, frozen=True):
    subject: str  # "login:olga" or "address:203.0.113.7"
    locked_until: float  # epoch seconds
    lockouts: int  # lockouts of this subject within the last day, this one included


class FailureStore(Protocol):
    async def locked_until(self, subject: str, now: float) -> float | None: ...

    async def fail(self, subject: str, now: float, policy: Policy) -> float | None:
        """Record a failure; the end of the lockout it started, or None."""

    async def forget_failures(self, subject: str) -> None: ...

    async def clear(self, subject: str) -> None: ...

    async def lockouts(self, now: float) -> list[Lockout]: ...

    async def close(self) -> None: ...


# --- in this process ---------------------------------------------------------------------


@dataclass
class _Entry:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0
    strikes: int = 0
    strikes_until: float = 0.0


class MemoryStore:
    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def _entry(self, subject: str, now: float) -> _Entry:
        entry = self._entries.get(subject)
        if entry is None:
            if len(self._entries) >= MEMORY_MAX_SUBJECTS:
                self._prune(now)
            entry = self._entries[subject] = _Entry()
        if entry.strikes_until <= now:
            entry.strikes = 0
        return entry

    def _prune(self, now: float) -> None:
        for subject, entry in list(self._entries.items()):
            if entry.locked_until <= now and entry.strikes_until <= now:
                del self._entries[subject]
        while len(self._entries) >= MEMORY_MAX_SUBJECTS:  # still full: the oldest go
            del self._entries[next(iter(self._entries))]

    async def locked_until(self, subject: str, now: float) -> float | None:
        entry = self._entries.get(subject)
        return entry.locked_until if entry and entry.locked_until > now else None

    async def fail(self, subject: str, now: float, policy: Policy) -> float | None:
        entry = self._entry(subject, now)
        if entry.locked_until > now:
            return entry.locked_until
        while entry.failures and entry.failures[0] <= now - policy.window_s:
            entry.failures.popleft()
        entry.failures.append(now)
        if len(entry.failures) < policy.max_failures:
            return None
        entry.failures.clear()
        entry.strikes += 1
        entry.strikes_until = now + HISTORY_S
        entry.locked_until = now + policy.lockout_for(entry.strikes)
        return entry.locked_until

    async def forget_failures(self, subject: str) -> None:
        entry = self._entries.get(subject)
        if entry is not None:
            entry.failures.clear()
            entry.strikes = 0

    async def clear(self, subject: str) -> None:
        self._entries.pop(subject, None)

    async def lockouts(self, now: float) -> list[Lockout]:
        return [
            Lockout(subject, e.locked_until, e.strikes)
            for subject, e in self._entries.items()
            if e.locked_until > now
        ]

    async def close(self) -> None:
        self._entries.clear()


# --- in Redis ------------------------------------------------------------------------------

# KEYS: failures (zset), lock (string), strikes (counter), index of locks (zset)
# ARGV: now_ms, window_ms, max_failures, lockout_ms, lockout_max_ms, history_ms, subject, member
_FAIL_LUA = """
local now = tonumber(ARGV[1])
local locked = tonumber(redis.call('GET', KEYS[2]) or '0')
if locked > now then return locked end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], now, ARGV[8])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then return 0 end
redis.call('DEL', KEYS[1])
local strikes = redis.call('INCR', KEYS[3])
redis.call('PEXPIRE', KEYS[3], ARGV[6])
local length = tonumber(ARGV[4]) * 2 ^ math.min(strikes - 1, 40)
length = math.floor(math.min(length, tonumber(ARGV[5])))
local untl = now + length
redis.call('SET', KEYS[2], untl, 'PX', length)
redis.call('ZADD', KEYS[4], untl, ARGV[7])
return untl
"""


class RedisStore:
    """Shared by every API process; falls back to this process's memory while Redis is
    unreachable."""

    PREFIX = "naryad:auth:"

    def __init__(self, url: str) -> None:
        # redis-py (with cryptography and PyJWT, ~12 MB) is loaded only where there is a Redis.
        from redis import asyncio as aioredis
        from redis.exceptions import RedisError

        self._errors: tuple[type[Exception], ...] = (RedisError, OSError)
        self._redis = aioredis.from_url(  # type: ignore[no-untyped-call]
            url, socket_connect_timeout=2, socket_timeout=2
        )
        self._fail_script = self._redis.register_script(_FAIL_LUA)
        self._fallback = MemoryStore()
        self._warned_at = 0.0

    def _keys(self, subject: str) -> list[str]:
        return [f"{self.PREFIX}{kind}:{subject}" for kind in ("failures", "lock", "strikes")]

    @property
    def _index(self) -> str:
        return f"{self.PREFIX}locks"

    def _unreachable(self, exc: Exception) -> None:
        if time.monotonic() - self._warned_at > 60:
            self._warned_at = time.monotonic()
            log.warning(
                "login lockouts: Redis unreachable, counting in this process", error=repr(exc)
            )

    async def locked_until(self, subject: str, now: float) -> float | None:
        try:
            raw = await self._redis.get(self._keys(subject)[1])
        except self._errors as exc:
            self._unreachable(exc)
            return await self._fallback.locked_until(subject, now)
        until = int(raw) / 1000 if raw else 0.0
        return until if until > now else None

    async def fail(self, subject: str, now: float, policy: Policy) -> float | None:
        keys = [*self._keys(subject), self._index]
        args = [
            int(now * 1000),
            int(policy.window_s * 1000),
            policy.max_failures,
            int(policy.lockout_s * 1000),
            int(policy.lockout_max_s * 1000),
            HISTORY_S * 1000,
            subject,
            f"{int(now * 1000)}:{uuid.uuid4().hex[:8]}",
        ]
        try:
            until_ms = int(await self._fail_script(keys=keys, args=args))
        except self._errors as exc:
            self._unreachable(exc)
            return await self._fallback.fail(subject, now, policy)
        return until_ms / 1000 if until_ms else None

    async def forget_failures(self, subject: str) -> None:
        failures, _, strikes = self._keys(subject)
        try:
            await self._redis.delete(failures, strikes)
        except self._errors as exc:
            self._unreachable(exc)
        await self._fallback.forget_failures(subject)

    async def clear(self, subject: str) -> None:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(*self._keys(subject))
                pipe.zrem(self._index, subject)
                await pipe.execute()
        finally:
            await self._fallback.clear(subject)

    async def lockouts(self, now: float) -> list[Lockout]:
        now_ms = int(now * 1000)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(self._index, "-inf", now_ms)
            pipe.zrange(self._index, 0, -1, withscores=True)
            _, locked = await pipe.execute()
        subjects = [(s.decode() if isinstance(s, bytes) else str(s), score) for s, score in locked]
        strikes = (
            await self._redis.mget([self._keys(s)[2] for s, _ in subjects]) if subjects else []
        )
        found = [
            Lockout(subject, score / 1000, int(count or 1))
            for (subject, score), count in zip(subjects, strikes, strict=True)
        ]
        return found + [
            lock
            for lock in await self._fallback.lockouts(now)
            if lock.subject not in dict(subjects)
        ]

    async def close(self) -> None:
        await self._redis.aclose()


# --- the login policy ----------------------------------------------------------------------


class LoginThrottle:
    def __init__(self, store: FailureStore, *, per_login: Policy, per_address: Policy) -> None:
        self.store = store
        self.policies = {LOGIN: per_login, ADDRESS: per_address}

    @classmethod
    def from_settings(cls, settings: Settings, store: FailureStore | None = None) -> LoginThrottle:
        def policy(max_failures: int) -> Policy:
            return Policy(
                max_failures=max_failures,
                window_s=settings.login_window_s,
                lockout_s=settings.login_lockout_s,
                lockout_max_s=settings.login_lockout_max_s,
            )

        return cls(
            store or MemoryStore(),
            per_login=policy(settings.login_max_failures),
            per_address=policy(settings.login_max_failures_per_address),
        )

    def _subjects(self, login: str, address: str | None) -> list[tuple[str, str, Policy]]:
        found = [(LOGIN, login), (ADDRESS, address)]
        return [
            (kind, f"{kind}:{value}", self.policies[kind])
            for kind, value in found
            if value and self.policies[kind].max_failures > 0
        ]

    @staticmethod
    def _refusal(kind: str, login: str, address: str | None, until: float) -> TooManyRequests:
        wait = max(1, math.ceil(until - time.time()))
        return TooManyRequests(
            "login_locked" if kind == LOGIN else "login_locked_address",
            login=login,
            address=address,
            wait=wait,
            retry_after_s=wait,
            extra={"code": "login_locked", "locked": kind},
        )

    async def check(self, login: str, address: str | None) -> None:
        """Refuse (429) while the account or the address is locked."""
        now = time.time()
        for kind, subject, _ in self._subjects(login, address):
            until = await self.store.locked_until(subject, now)
            if until is not None:
                raise self._refusal(kind, login, address, until)

    async def failed(self, login: str, address: str | None) -> None:
        """Count a failed attempt; refuse (429) when it locked the account or the address."""
        now = time.time()
        subjects = self._subjects(login, address)
        results = await asyncio.gather(
            *(self.store.fail(subject, now, policy) for _, subject, policy in subjects)
        )
        for (kind, _, _), until in zip(subjects, results, strict=True):
            if until is not None:
                log.warning("login locked", subject=f"{kind}:{login if kind == LOGIN else address}")
                raise self._refusal(kind, login, address, until)

    async def succeeded(self, login: str) -> None:
        await self.store.forget_failures(f"{LOGIN}:{login}")

    async def lockouts(self) -> list[Lockout]:
        found = await self.store.lockouts(time.time())
        return sorted(found, key=lambda lock: lock.locked_until, reverse=True)

    async def lift(self, kind: str, value: str) -> None:
        await self.store.clear(f"{kind}:{value}")

    async def close(self) -> None:
        await self.store.close()


# One per process, installed at start-up (create_app); the memory store until then.
_throttle: LoginThrottle | None = None


def install(throttle: LoginThrottle | None) -> None:
    global _throttle
    _throttle = throttle


def login_throttle() -> LoginThrottle:
    global _throttle
    if _throttle is None:
        _throttle = LoginThrottle.from_settings(process_settings.current())
    return _throttle
