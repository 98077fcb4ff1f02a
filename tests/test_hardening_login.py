"""Logins under attack (issue 14): a flood of wrong passwords must not stall the API, and
repeated failures lock the account and the client address out (429 + Retry-After), for
longer each time, shared by every API process through Redis; admins see and lift locks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import httpx
from naryad_harness import ROOT, Server, _free_port
from redis import asyncio as aioredis

REDIS_BASE = os.environ.get("NARYAD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_URL = REDIS_BASE.rsplit("/", 1)[0] + "/9"  # a db of its own, flushed by these tests
PASSWORD = "secret-pass"


class RedisServer:
    """Like naryad_harness.Server (which runs without Redis), but on NARYAD_REDIS_URL."""

    def __init__(self, database_url: str, extra_env: dict[str, str]) -> None:
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "NARYAD_DATABASE_URL": database_url,
            "NARYAD_REDIS_URL": REDIS_URL,
            "NARYAD_LOG_LEVEL": "WARNING",
            "NARYAD_PUBLIC_URL": self.base_url,
            **extra_env,
        }
        self.log = open(ROOT / "test-output" / f"server-redis-{self.port}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "server.app:app_from_env", "--factory"),
                *("--host", "127.0.0.1", "--port", str(self.port), "--no-access-log"),
            ],
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"server exited early; see {self.log.name}"
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/schema/openapi.json", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start in 30 s; see {self.log.name}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@contextlib.asynccontextmanager
async def serving(database_url: str, **env: str) -> AsyncIterator[httpx.AsyncClient]:
    """A server of its own (its lockouts are its own), with NARYAD_<KEY> settings."""
    server = await asyncio.to_thread(
        Server, database_url, 1, {f"NARYAD_{k.upper()}": v for k, v in env.items()}
    )
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as client:
            yield client
    finally:
        await asyncio.to_thread(server.stop)


async def _flush_redis() -> None:
    redis = aioredis.from_url(REDIS_URL)
    await redis.flushdb()
    await redis.aclose()


async def _login(
    client: httpx.AsyncClient, login: str, password: str = PASSWORD, address: str | None = None
) -> httpx.Response:
    headers = {"X-Forwarded-For": address} if address else {}
    return await client.post(
        "/api/auth/login", json={"login": login, "password": password}, headers=headers
    )


async def _bearer(client: httpx.AsyncClient, login: str) -> dict[str, str]:
    resp = await _login(client, login)
    assert resp.status_code == 200, resp.text
    return {"Authorization": f"Bearer {resp.json()['token']}"}


# --- 1. a login flood does not stall the API ------------------------------------------------


async def _timed_gets(client: httpx.AsyncClient, headers: dict[str, str], n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        resp = await client.get("/api/templates", headers=headers)
        times.append(time.perf_counter() - started)
        assert resp.status_code == 200
    return times


async def test_a_login_flood_does_not_stall_authenticated_requests(backend):
    await backend.user("office", login="flood-office")
    # Lockouts out of the way: every attempt costs a full argon2 verification.
    async with serving(
        backend.url, login_max_failures="0", login_max_failures_per_address="0"
    ) as client:
        headers = await _bearer(client, "flood-office")
        await _timed_gets(client, headers, 10)  # warm up
        unloaded = statistics.median(await _timed_gets(client, headers, 40))

        stop = asyncio.Event()
        attempts = 0

        async def flood() -> None:
            nonlocal attempts
            while not stop.is_set():
                resp = await _login(client, "flood-office", "wrong-password")
                assert resp.status_code == 401, resp.text
                attempts += 1

        flooders = [asyncio.create_task(flood()) for _ in range(8)]
        try:
            await asyncio.sleep(1.0)  # the queue of hashes fills up
            loaded_times = await _timed_gets(client, headers, 40)
        finally:
            stop.set()
            await asyncio.gather(*flooders)
        loaded = statistics.median(loaded_times)
        assert attempts >= 8, attempts  # the flood really ran
        assert loaded <= 5 * unloaded, (
            f"GET /api/templates median {loaded * 1000:.1f} ms under a login flood vs "
            f"{unloaded * 1000:.1f} ms without ({attempts} wrong passwords)"
        )


async def test_unknown_logins_cost_as_much_as_wrong_passwords(backend):
    await backend.user("office", login="timing-office")
    async with serving(
        backend.url, login_max_failures="0", login_max_failures_per_address="0"
    ) as client:
        await _login(client, "warm-up", "x")

        async def median_of(login: str) -> float:
            times = []
            for _ in range(5):
                started = time.perf_counter()
                assert (await _login(client, login, "wrong-password")).status_code == 401
                times.append(time.perf_counter() - started)
            return statistics.median(times)

        known = await median_of("timing-office")
        unknown = await median_of("nobody-has-this-login")
        # Both pay one argon2 verification; without the dummy hash an unknown login
        # would be a single index lookup, dozens of times faster.
        assert unknown >= 0.4 * known, (unknown, known)


# --- 2. brute force ------------------------------------------------------------------------


async def test_three_hundred_wrong_passwords_do_not_end_in_a_login(backend):
    await backend.user("office", login="target")
    async with serving(backend.url) as client:  # the default limits
        codes = [(await _login(client, "target", f"guess-{i}")).status_code for i in range(300)]
        assert codes[:9] == [401] * 9
        assert codes[9] == 429  # the tenth failure locks the account
        assert set(codes[10:]) == {429}
        right = await _login(client, "target")
        assert right.status_code == 429, right.text
        assert int(right.headers["retry-after"]) > 0
        body = right.json()
        assert "target" in body["detail"] and right.headers["retry-after"] in body["detail"]
        assert body["extra"]["code"] == "login_locked"
        assert body["extra"]["retry_after_s"] == int(right.headers["retry-after"])
        # the lock is the account's: another account from the same address still logs in
        await backend.user("office", login="bystander")
        assert (await _login(client, "bystander")).status_code == 200


async def test_lockouts_grow_and_a_good_login_resets_them(backend):
    await backend.user("office", login="grow")
    async with serving(
        backend.url, login_max_failures="3", login_lockout_s="1", login_lockout_max_s="4"
    ) as client:

        async def lock_out() -> int:
            for _ in range(2):
                assert (await _login(client, "grow", "bad")).status_code == 401
            locked = await _login(client, "grow", "bad")
            assert locked.status_code == 429, locked.text
            return int(locked.headers["retry-after"])

        lengths = []
        for _ in range(4):
            lengths.append(await lock_out())
            await asyncio.sleep(lengths[-1] + 0.2)
        assert lengths == [1, 2, 4, 4]  # doubling, up to login_lockout_max_s
        assert (await _login(client, "grow")).status_code == 200
        assert await lock_out() == 1  # the right password wiped the history


async def test_an_address_guessing_many_logins_is_locked_out(backend):
    await backend.user("office", login="anna")
    await backend.user("admin", login="sysadmin")
    async with serving(backend.url, login_max_failures_per_address="5") as client:
        admin = await _bearer(client, "sysadmin")
        spray = [
            (await _login(client, f"user{i}", "Password1", address="203.0.113.7")).status_code
            for i in range(6)
        ]
        assert spray == [401, 401, 401, 401, 429, 429]
        locked = await _login(client, "anna", address="203.0.113.7")
        assert locked.status_code == 429 and "203.0.113.7" in locked.json()["detail"]
        # the same account from elsewhere is fine
        assert (await _login(client, "anna", address="198.51.100.2")).status_code == 200
        listed = (await client.get("/api/auth/lockouts", headers=admin)).json()
        assert [(i["kind"], i["key"]) for i in listed] == [("address", "203.0.113.7")]
        lifted = await client.delete("/api/auth/lockouts/address/203.0.113.7", headers=admin)
        assert lifted.status_code == 204
        assert (await _login(client, "anna", address="203.0.113.7")).status_code == 200


async def test_admins_see_and_lift_lockouts(backend):
    await backend.user("admin", login="chief")
    await backend.user("engineer", login="locked-out")
    async with serving(backend.url, login_max_failures="2") as client:
        admin = await _bearer(client, "chief")
        for _ in range(2):
            await _login(client, "locked-out", "bad", address="192.0.2.9")
        assert (await _login(client, "locked-out")).status_code == 429

        listed = await client.get("/api/auth/lockouts", headers=admin)
        assert listed.status_code == 200, listed.text
        [lock] = [item for item in listed.json() if item["kind"] == "login"]
        assert lock["key"] == "locked-out"
        assert lock["lockouts_today"] == 1 and 0 < lock["retry_after_s"] <= 60
        assert lock["locked_until"]

        await backend.user("engineer", login="nosy")
        nosy = await _bearer(client, "nosy")
        assert (await client.get("/api/auth/lockouts", headers=nosy)).status_code == 403
        assert (
            await client.delete("/api/auth/lockouts/locked-out", headers=nosy)
        ).status_code == 403

        lifted = await client.delete("/api/auth/lockouts/locked-out", headers=admin)
        assert lifted.status_code == 204
        assert (await _login(client, "locked-out")).status_code == 200
        remaining = (await client.get("/api/auth/lockouts", headers=admin)).json()
        assert [item for item in remaining if item["kind"] == "login"] == []
        # lifting what is not locked is no error
        again = await client.delete("/api/auth/lockouts/locked-out", headers=admin)
        assert again.status_code == 204


async def test_with_redis_every_api_process_counts_the_same_failures(backend):
    await _flush_redis()
    await backend.user("admin", login="redis-admin")
    await backend.user("office", login="shared")
    env = {"NARYAD_LOGIN_MAX_FAILURES": "4"}
    first = await asyncio.to_thread(RedisServer, backend.url, env)
    second = await asyncio.to_thread(RedisServer, backend.url, env)
    try:
        async with (
            httpx.AsyncClient(base_url=first.base_url, timeout=30) as a,
            httpx.AsyncClient(base_url=second.base_url, timeout=30) as b,
        ):
            codes = [(await _login(client, "shared", "bad")).status_code for client in (a, b, a, b)]
            assert codes == [401, 401, 401, 429]
            assert (await _login(a, "shared")).status_code == 429
            assert (await _login(b, "shared")).status_code == 429
            admin = await _bearer(a, "redis-admin")
            listed = (await b.get("/api/auth/lockouts", headers=admin)).json()
            assert [(i["kind"], i["key"]) for i in listed] == [("login", "shared")]
            lifted = await b.delete("/api/auth/lockouts/shared", headers=admin)
            assert lifted.status_code == 204
            assert (await _login(a, "shared")).status_code == 200
            # the address limit is shared too, and lifted the same way
            redis = aioredis.from_url(REDIS_URL)
            try:
                assert await redis.keys("naryad:auth:*")
            finally:
                await redis.aclose()
    finally:
        await asyncio.to_thread(first.stop)
        await asyncio.to_thread(second.stop)
        await _flush_redis()
