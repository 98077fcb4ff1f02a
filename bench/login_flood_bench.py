"""A cheap authenticated GET while clients flood the login with wrong passwords.

    .venv/bin/python bench/login_flood_bench.py [--clients 8] [--seconds 10] [--root DIR]

Creates a PostgreSQL database (NARYAD_TEST_DATABASE_URL's server; dropped at the end),
migrates it and creates one user with the `naryad` command line of the tree at --root
(default: this repository; point it at an exported older commit to measure that), then
serves it with one uvicorn process with the login lockouts switched off, so that every
attempt costs a full argon2 verification (64 MiB, t=3). It times `GET /api/templates` with
a bearer token, one request after another: first alone, then while --clients clients post
wrong passwords in a loop. Prints the medians and p90s, their ratio (loaded / unloaded) and
the wrong passwords checked per second. Everything shares the machine's CPUs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("NARYAD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(root: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-c", "from server.cli import main; main()", *args],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
    )


async def _timed_gets(
    client: httpx.AsyncClient, headers: dict[str, str], seconds: float
) -> list[float]:
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < 5:
        started = time.perf_counter()
        resp = await client.get("/api/templates", headers=headers)
        times.append(time.perf_counter() - started)
        resp.raise_for_status()
    return times


def _summary(name: str, times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p90 = ms[min(len(ms) - 1, int(len(ms) * 0.9))]
    return f"{name:<34} n={len(ms):>4}  median {statistics.median(ms):8.1f} ms  p90 {p90:8.1f} ms"


async def run(root: Path, clients: int, seconds: float) -> None:
    admin = await asyncpg.connect(PG_URL)
    name = f"naryad_flood_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG_URL.rpartition('/')[0]}/{name}"
    port = _free_port()
    env = {
        **os.environ,
        "NARYAD_DATABASE_URL": url,
        "NARYAD_LOG_LEVEL": "WARNING",
        "NARYAD_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "NARYAD_LOGIN_MAX_FAILURES": "0",
        "NARYAD_LOGIN_MAX_FAILURES_PER_ADDRESS": "0",
        "PYTHONPATH": str(root),
    }
    env.pop("NARYAD_REDIS_URL", None)
    server = None
    try:
        _cli(root, env, "migrate")
        _cli(
            root,
            env,
            "create-user",
            "--login",
            "bench",
            "--password",
            "bench-password",
            "--full-name",
            "Bench",
            "--surname",
            "Bench",
            "--role",
            "office",
        )
        server = subprocess.Popen(  # noqa: ASYNC220 (start-up is not timed)
            [
                *(sys.executable, "-m", "uvicorn", "server.app:app_from_env", "--factory"),
                *("--port", str(port), "--no-access-log"),
            ],
            cwd=root,
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=120) as client:
            for _ in range(300):
                try:
                    if (await client.get("/schema/openapi.json")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            login = {"login": "bench", "password": "bench-password"}
            token = (await client.post("/api/auth/login", json=login)).json()["token"]
            headers = {"Authorization": f"Bearer {token}"}
            await _timed_gets(client, headers, 1)  # warm-up
            unloaded = await _timed_gets(client, headers, seconds)

            stop = asyncio.Event()
            attempts = 0

            async def flood() -> None:
                nonlocal attempts
                async with httpx.AsyncClient(base_url=base, timeout=300) as own:
                    while not stop.is_set():
                        wrong = {"login": "bench", "password": "wrong-password"}
                        resp = await own.post("/api/auth/login", json=wrong)
                        assert resp.status_code == 401, resp.text
                        attempts += 1

            flooders = [asyncio.create_task(flood()) for _ in range(clients)]
            await asyncio.sleep(1)
            started, counted_from = time.perf_counter(), attempts
            loaded = await _timed_gets(client, headers, seconds)
            elapsed, checked = time.perf_counter() - started, attempts - counted_from
            stop.set()
            await asyncio.gather(*flooders)
        print(f"== GET /api/templates while {clients} clients post wrong passwords ({root}) ==")
        print(_summary("unloaded", unloaded))
        print(_summary(f"during the flood ({clients} clients)", loaded))
        ratio = statistics.median(loaded) / statistics.median(unloaded)
        print(f"loaded / unloaded median: {ratio:.2f}  (target <= 5)")
        print(f"wrong passwords checked: {checked / elapsed:.1f}/s")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args()
    asyncio.run(run(args.root.resolve(), args.clients, args.seconds))


if __name__ == "__main__":
    main()
