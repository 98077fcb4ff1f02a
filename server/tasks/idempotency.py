"""Idempotency-Key: a replayed request returns the first response and changes nothing.

The PWA's offline outbox resends actions when it cannot tell whether they arrived. The
stored response is written in the same transaction as the change, and (user, key) is
unique, so two copies racing each other still produce one change: the second one's
insert fails, its work rolls back, and it answers with the first one's response.

A key is usually new, so state-machine actions (`look_first=False`) do not look it up
first: a replay runs the action again inside the transaction — which refuses (the task has
moved on) or finds the key taken on insert — rolls it back, and answers with the stored
response. That saves the look-up on every action the PWA sends; it is only for actions
whose every effect is in that transaction or after its commit (transitions are: their
notifications are outbox rows, their kicks run after the commit).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response

from server import db
from server.lib import clock
from server.lib.errors import DomainError, InvalidInput
from server.tasks.tables import IdempotencyKey

KEEP_FOR = dt.timedelta(hours=48)
MAX_KEY_LENGTH = 200
_encoder = msgspec.json.Encoder()


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(b"\0".join([method.encode(), path.encode(), body])).hexdigest()


class _Replay(Exception):
    """The key was stored by a concurrent twin; roll back our copy of the work."""


async def _stored(user_id: int, key: str, request_hash: str) -> Response[bytes] | None:
    row = (
        await IdempotencyKey.select(
            IdempotencyKey.request_hash, IdempotencyKey.status_code, IdempotencyKey.response
        )
        .where((IdempotencyKey.user == user_id) & (IdempotencyKey.key == key))
        .first()
    )
    if row is None:
        return None
    if row["request_hash"] != request_hash:
        raise InvalidInput("request.idempotency_key_reused", key=key)
    return Response(
        row["response"].encode(),
        status_code=row["status_code"],
        media_type="application/json",
        headers={"Idempotent-Replayed": "true"},
    )


async def run_once(
    *,
    user_id: int,
    key: str | None,
    request_hash: str,
    status_code: int,
    action: Callable[[], Awaitable[Any]],
    look_first: bool = True,
) -> Response[Any]:
    if key is None:
        return Response(await action(), status_code=status_code)
    key = key.strip()
    if not 1 <= len(key) <= MAX_KEY_LENGTH:
        raise InvalidInput("request.idempotency_key_length", max=MAX_KEY_LENGTH)
    if look_first:
        replay = await _stored(user_id, key, request_hash)
        if replay is not None:
            return replay
    try:
        async with db.transaction():
            body = _encoder.encode(await action())
            try:
                await IdempotencyKey.insert(
                    IdempotencyKey(
                        user=user_id,
                        key=key,
                        request_hash=request_hash,
                        status_code=status_code,
                        response=body.decode(),
                        created_at=clock.now(),
                    )
                )
            except (asyncpg.UniqueViolationError, sqlite3.IntegrityError) as exc:
                raise _Replay from exc
    except _Replay:
        replay = await _stored(user_id, key, request_hash)
        assert replay is not None
        return replay
    except DomainError:
        # A twin with the same key may have committed while we worked; our failure
        # ("already accepted by you") is then just the echo of its success.
        replay = await _stored(user_id, key, request_hash)
        if replay is not None:
            return replay
        raise
    return Response(body, status_code=status_code, media_type="application/json")


async def purge_expired(now: dt.datetime | None = None) -> int:
    """Forget keys older than KEEP_FOR (at least 24 h, as the PWA's outbox expects)."""
    cutoff = (now or clock.now()) - KEEP_FOR
    deleted = (
        await IdempotencyKey.delete()
        .where(IdempotencyKey.created_at < cutoff)
        .returning(IdempotencyKey.id)
    )
    return len(deleted)


def expected_version(request: Request[Any, Any, Any]) -> int | None:
    """If-Match: <version> (quotes and W/ tolerated, as browsers and proxies send them)."""
    raw = request.headers.get("if-match")
    if raw is None:
        return None
    value = raw.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise InvalidInput("request.if_match_invalid", raw=raw)
    return int(value)


async def respond_once(
    request: Request[Any, Any, Any],
    action: Callable[[], Awaitable[Any]],
    status_code: int = 200,
    *,
    look_first: bool = True,
) -> Response[Any]:
    """Run a state-changing request's action, honouring its Idempotency-Key."""
    key = request.headers.get("idempotency-key")
    if key is None:  # nothing to remember: no fingerprint of the body either
        return Response(await action(), status_code=status_code)
    return await run_once(
        user_id=request.user.id,
        key=key,
        request_hash=fingerprint(request.method, request.url.path, await request.body()),
        status_code=status_code,
        action=action,
        look_first=look_first,
    )
