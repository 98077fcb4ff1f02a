"""Password hashing off the event loop.

argon2id with its default cost (64 MiB, t=3) takes ~0.15 s of CPU. Run on the event loop
it stalls every other request of the process for that long: eight clients posting wrong
passwords took a cheap GET from 27 ms to 15 s (issue 14). Here it runs in a small pool of
threads (argon2-cffi releases the GIL), so a fixed number of hashes run at once and the
rest queue, and those threads run at a lower CPU priority than the event loop: under a
login flood, requests that are already authenticated still get the CPU first.

Unknown logins are verified against a dummy hash of the same cost, so how long a login
takes does not tell whether the account exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Lower priority than the event loop (nice 0): the OS gives the loop the CPU first.
HASHING_NICENESS = 10

_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_dummy_hash: str | None = None


def default_threads() -> int:
    return max(1, (os.cpu_count() or 1) // 2)


def _lower_priority() -> None:
    # Linux applies setpriority(PRIO_PROCESS, tid) to one thread; elsewhere it is a no-op
    # or refused, and hashing merely runs at normal priority.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


def configure(threads: int = 0) -> None:
    """How many hashes may run at once in this process (0: half the CPUs, at least 1)."""
    global _executor
    with _lock:
        old, _executor = (
            _executor,
            ThreadPoolExecutor(
                max_workers=threads if threads > 0 else default_threads(),
                thread_name_prefix="naryad-argon2",
                initializer=_lower_priority,
            ),
        )
    if old is not None:
        old.shutdown(wait=False)


def _pool() -> ThreadPoolExecutor:
    if _executor is None:
        configure()
    assert _executor is not None
    return _executor


def hash_now(password: str) -> str:
    """Blocking: for the command line and other code that runs outside the event loop."""
    return _hasher.hash(password)


def _dummy() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash(secrets.token_urlsafe(16))
    return _dummy_hash


def _verify(stored_hash: str | None, password: str) -> bool:
    try:
        matches = _hasher.verify(stored_hash or _dummy(), password)
    except (VerificationError, InvalidHashError):
        return False
    return matches and stored_hash is not None


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_pool(), _hasher.hash, password)


async def verify_password(stored_hash: str | None, password: str) -> bool:
    """Does `password` match `stored_hash`? None (no such account) costs the same and
    answers False."""
    return await asyncio.get_running_loop().run_in_executor(_pool(), _verify, stored_hash, password)
