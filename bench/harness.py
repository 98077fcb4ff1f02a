"""What bench/list_bench.py and bench/growth_bench.py share: a database of their own, the
`naryad` command of a tree (`--root`, so an older commit can be measured beside today's),
servers pinned to CPU 0 one at a time, and wrk pinned to CPU 1 with a Lua script that
reports its figures as JSON (bench/lua/report.lua)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "lua"
PG = os.environ.get("NARYAD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
# A Redis database of the benchmarks' own: jobs are queued there (no worker runs), so the
# API process does only API work, as in a deployment with `naryad worker`.
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")


def log(msg: str = "") -> None:
    print(msg, flush=True)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_database(url: str, name: str) -> str:
    return url.rpartition("/")[0] + "/" + name


async def create_database(prefix: str) -> tuple[str, str]:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return name, with_database(PG, name)


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(PG)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await admin.close()


def naryad_env(root: Path, dsn: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(root),
        "NARYAD_DATABASE_URL": dsn,
        "NARYAD_REDIS_URL": REDIS,
        "NARYAD_LOG_LEVEL": "WARNING",
    }


def naryad_cmd(*args: str) -> list[str]:
    """`naryad ARGS` of the tree on PYTHONPATH (the installed script is today's tree)."""
    return [sys.executable, "-c", "from server.cli import main; main()", *args]


def migrate(root: Path, dsn: str) -> None:
    subprocess.run(
        naryad_cmd("migrate"),
        cwd=root,
        env=naryad_env(root, dsn),
        check=True,
        stdout=subprocess.DEVNULL,
    )


@contextlib.contextmanager
def server(
    name: str, argv: list[str], env: dict[str, str], cwd: Path, probe: str
) -> Iterator[subprocess.Popen[bytes]]:
    """A server process pinned to CPU 0, up until the probe answers; stopped on exit."""
    (ROOT / "test-output").mkdir(exist_ok=True)
    out = open(ROOT / "test-output" / f"listbench-{name}.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        ["taskset", "-c", "0", *argv], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None or time.monotonic() > deadline:
                out.flush()
                tail = Path(out.name).read_text(errors="replace")[-3000:]
                raise SystemExit(f"{name} did not start: {' '.join(argv)}\n{tail}")
            try:
                if httpx.get(probe, timeout=2).status_code < 500:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        out.close()


def naryad_server(
    root: Path, dsn: str, port: int
) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    return server(
        "naryad",
        naryad_cmd("serve", "--port", str(port)),
        naryad_env(root, dsn),
        root,
        f"http://127.0.0.1:{port}/api/templates",
    )


def floor_server(dsn: str, port: int) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    return server(
        "floor",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.baseline_app:create_app",
            "--factory",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        {**os.environ, "PYTHONPATH": str(ROOT), "BENCH_DSN": dsn},
        ROOT,
        f"http://127.0.0.1:{port}/",
    )


@dataclass
class Wrk:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-2xx answers, timeouts, socket errors
    server_cpu_ms: float = 0.0  # CPU of the server process per answer, where measured
    db_cpu_ms: float = 0.0  # CPU of PostgreSQL per answer, where measured

    @staticmethod
    def median(runs: list[Wrk]) -> Wrk:
        def mid(values: list[float]) -> float:
            ordered = sorted(values)
            n = len(ordered)
            return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2

        return Wrk(
            sum(r.requests for r in runs),
            sum(r.seconds for r in runs),
            mid([r.rps for r in runs]),
            mid([r.p50_ms for r in runs]),
            mid([r.p99_ms for r in runs]),
            sum(r.errors for r in runs),
            mid([r.server_cpu_ms for r in runs]),
            mid([r.db_cpu_ms for r in runs]),
        )


def wrk(
    url: str,
    *,
    script: str = "get.lua",
    seconds: float,
    connections: int,
    headers: dict[str, str] | None = None,
    args: list[str] | None = None,
    timeout_s: int = 30,
) -> Wrk:
    """One wrk run on CPU 1 (one thread); the script's done() prints WRKJSON {...}."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")
    argv = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{round(seconds)}s"]
    argv += ["--timeout", f"{timeout_s}s", "-s", str(LUA / script)]
    for key, value in (headers or {}).items():
        argv += ["-H", f"{key}: {value}"]
    argv.append(url)
    if args:
        argv += ["--", *args]
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    match = re.search(r"^WRKJSON (.*)$", out, re.M)
    if match is None:
        raise RuntimeError(f"wrk printed no WRKJSON line:\n{out}")
    r: dict[str, Any] = json.loads(match.group(1))
    seconds_run = r["duration_us"] / 1e6
    errors = sum(r[k] for k in ("status", "connect", "read", "write", "timeout"))
    return Wrk(
        r["requests"],
        seconds_run,
        r["requests"] / seconds_run,
        r["p50_us"] / 1000,
        r["p99_us"] / 1000,
        errors,
    )


async def login(base: str, login_name: str, password: str) -> str:
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        resp = await c.post("/api/auth/login", json={"login": login_name, "password": password})
        resp.raise_for_status()
        return str(resp.json()["token"])


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one process and its threads (from /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def postgres_cpu_seconds() -> float:
    """CPU seconds of every PostgreSQL process on the machine (backends, WAL writer, ...):
    the database's share of a run is the difference of two readings."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm.startswith("postgres"):
            total += cpu_seconds(int(entry.name))
    return total
