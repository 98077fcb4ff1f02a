"""Login lockouts as an admin sees them (the counting is in server/lib/ratelimit.py)."""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Literal

import msgspec

from server.lib import ratelimit
from server.lib.actor import Actor
from server.lib.logs import get_logger

log = get_logger("naryad.accounts")


class LockoutOut(msgspec.Struct):
    kind: Literal["login", "address"]
    key: str  # the login, or the client address
    locked_until: dt.datetime
    retry_after_s: int
    lockouts_today: int  # this one included; each is twice as long as the one before


async def list_lockouts() -> list[LockoutOut]:
    now = time.time()
    found = []
    for lock in await ratelimit.login_throttle().lockouts():
        kind, _, key = lock.subject.partition(":")
        if kind not in (ratelimit.LOGIN, ratelimit.ADDRESS):
            continue
        found.append(
            LockoutOut(
                kind="login" if kind == ratelimit.LOGIN else "address",
                key=key,
                locked_until=dt.datetime.fromtimestamp(lock.locked_until, dt.UTC),
                retry_after_s=max(1, math.ceil(lock.locked_until - now)),
                lockouts_today=lock.lockouts,
            )
        )
    return found


async def lift_lockout(actor: Actor, kind: Literal["login", "address"], key: str) -> None:
    """Unlock now and forget the failures and past lockouts; nothing locked is no error."""
    await ratelimit.login_throttle().lift(kind, key)
    log.info("login lockout lifted", kind=kind, key=key, by=actor.login)
