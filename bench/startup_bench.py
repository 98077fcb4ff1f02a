"""How fast `naryad serve` starts, and how much memory it holds idle (issue 21, target 5).

    .venv/bin/python bench/startup_bench.py [-n 10] [--before DIR] [--no-redis] [--server-cpu 0]

Each round starts every variant once, in turn (A, B, C, A, B, C...), as a fresh process
pinned to one CPU (`taskset -c 0`, or `--server-cpu`); this script polls from another one.
For each start it records:

* first 200: from just before the process is spawned to the first 200 on `GET /` (the PWA
  shell: public, served by the app once its start-up is complete; Naryad has no separate
  health endpoint), polled every 2 ms;
* CPU to it: the user + system CPU time the server process had used by then (/proc/PID/stat,
  10 ms ticks) — what the start costs, whatever else the machine is doing;
* first tasks: to the first 200 on an authenticated `GET /api/tasks` (a bearer token from
  an earlier login; sent as soon as `GET /` answered), so the first connection to the
  database and the first real query are included;
* RSS idle: VmRSS of the server process from /proc, 2 s after that request;
* first /schema: how long the first `GET /schema/openapi.json` then takes (the schema is
  built on first use).

Variants: `naryad serve` on the embedded default (SQLite, jobs in-process), on PostgreSQL
(jobs in-process) and on PostgreSQL with Redis (arq), each with its own database made with
`naryad migrate` and `naryad create-user`; and the baseline, a bare Litestar app with one
route (bench/startup_baseline_app.py) started by uvicorn with the same options — the floor
for "a Python ASGI server is up" on this machine, measured in the same run. `--before DIR`
adds the same Naryad variants for another tree (e.g. `git archive <commit> | tar -x -C DIR`),
run with this interpreter, so a change can be compared in one run.

PostgreSQL: a database is created on NARYAD_TEST_DATABASE_URL's server per tree and dropped
at the end. Redis: NARYAD_TEST_REDIS_URL. One warm-up start per variant is not counted (it
logs in, and a fresh tree compiles its bytecode).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("NARYAD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("NARYAD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
LOGIN, PASSWORD = "bench-startup", "bench-startup-password"
SERVER_CPU = 0
SETTLE_S = 2.0
POLL_S = 0.002
TIMEOUT_S = 60.0
TARGET_START_S, TARGET_RSS_MB = 1.5, 100.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> int | None:
    """The status of one GET on a new connection, or None if nothing listens yet."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        response.read()
        return response.status
    except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected):
        return None
    finally:
        conn.close()


def _login(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"login": LOGIN, "password": PASSWORD})
    conn.request("POST", "/api/auth/login", body=body, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    if response.status != 200:
        raise SystemExit(f"login failed: {response.status} {data[:300]!r}")
    return str(json.loads(data)["token"])


def _cpu_s(pid: int) -> float:
    """User + system CPU time the process has used so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@dataclass
class Variant:
    name: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    naryad: bool
    token: str = ""
    start_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    tasks_s: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    schema_ms: list[float] = field(default_factory=list)

    def run(self, *, warmup: bool = False) -> None:
        port = _free_port()
        argv = [a.replace("{port}", str(port)) for a in self.argv]
        env = {**self.env, "NARYAD_PUBLIC_URL": f"http://127.0.0.1:{port}"}
        with tempfile.TemporaryFile() as errors:
            started = time.perf_counter()
            proc = subprocess.Popen(
                ["taskset", "-c", str(SERVER_CPU), *argv],
                cwd=self.cwd,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=errors,
            )
            try:
                while _get(port, "/") != 200:
                    if proc.poll() is not None or time.perf_counter() - started > TIMEOUT_S:
                        errors.seek(0)
                        raise SystemExit(f"{self.name} did not start:\n{errors.read().decode()}")
                    time.sleep(POLL_S)
                first = time.perf_counter() - started
                cpu = _cpu_s(proc.pid)
                if self.naryad:
                    if warmup and not self.token:
                        self.token = _login(port)
                    auth = {"Authorization": f"Bearer {self.token}"}
                    status = _get(port, "/api/tasks", auth)
                    if status != 200:
                        raise SystemExit(f"{self.name}: GET /api/tasks answered {status}")
                tasks = time.perf_counter() - started
                time.sleep(SETTLE_S)
                rss = _rss_mb(proc.pid)
                if self.naryad:
                    t = time.perf_counter()
                    if _get(port, "/schema/openapi.json") != 200:
                        raise SystemExit(f"{self.name}: /schema/openapi.json did not answer 200")
                    if not warmup:
                        self.schema_ms.append((time.perf_counter() - t) * 1000)
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if not warmup:
            self.start_s.append(first)
            self.cpu_s.append(cpu)
            self.tasks_s.append(tasks)
            self.rss_mb.append(rss)


def _naryad_argv() -> list[str]:
    # What the `naryad` console script runs, with the tree at cwd first on the path.
    code = "from server.cli import main; main()"
    return [sys.executable, "-c", code, "serve", "--host", "127.0.0.1", "--port", "{port}"]


def _cli(root: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-c", "from server.cli import main; main()", *args],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
    )


def _prepare(root: Path, url: str, workdir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NARYAD_")}
    env["NARYAD_DATABASE_URL"] = url
    _cli(root, env, "migrate")
    _cli(
        root,
        env,
        "create-user",
        f"--login={LOGIN}",
        f"--password={PASSWORD}",
        "--full-name=Bench Startup",
        "--surname=Bench",
        "--role=admin",
    )
    return env


async def _pg(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _variants(label: str, root: Path, workdir: Path, redis: bool, dbs: list[str]) -> list[Variant]:
    sqlite = f"sqlite:///{workdir / (label + '.db')}"
    env_sqlite = _prepare(root, sqlite, workdir)
    name = f"naryad_startup_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
    dbs.append(name)
    env_pg = _prepare(root, f"{PG_URL.rpartition('/')[0]}/{name}", workdir)
    out = [
        Variant(f"{label} sqlite", _naryad_argv(), root, env_sqlite, True),
        Variant(f"{label} postgresql", _naryad_argv(), root, env_pg, True),
    ]
    if redis:
        env_redis = {**env_pg, "NARYAD_REDIS_URL": REDIS_URL}
        out.append(Variant(f"{label} postgresql+redis", _naryad_argv(), root, env_redis, True))
    return out


def _baseline() -> Variant:
    code = (
        "import uvicorn; uvicorn.run('bench.startup_baseline_app:create', factory=True, "
        "host='127.0.0.1', port={port}, workers=1, log_level='info', access_log=False)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NARYAD_")}
    return Variant("baseline: bare Litestar", [sys.executable, "-c", code], ROOT, env, False)


def _spread(values: list[float], fmt: str) -> str:
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{mean:{fmt}} ± {sd:{fmt}}  {min(values):{fmt}} … {max(values):{fmt}}"


def _report(variants: list[Variant], n: int) -> None:
    base = variants[0]
    b_start = statistics.fmean(base.start_s)
    b_rss = statistics.fmean(base.rss_mb)
    print(f"\n{n} rounds, interleaved; mean ± σ  min … max; × = mean / baseline's mean")
    head = (
        f"{'variant':<24} {'first 200 on GET / (s)':<30} {'×':>5}  {'CPU to it (s)':<13}  "
        f"{'first GET /api/tasks (s)':<30} {'RSS idle (MB)':<26} {'×':>5}  1st /schema"
    )
    print(head)
    print("-" * len(head))
    for v in variants:
        tasks = _spread(v.tasks_s, ".3f") if v.naryad else "-"
        schema = f"{statistics.median(v.schema_ms):7.0f} ms" if v.schema_ms else "-"
        print(
            f"{v.name:<24} {_spread(v.start_s, '.3f'):<30} "
            f"{statistics.fmean(v.start_s) / b_start:5.2f}  "
            f"{statistics.median(v.cpu_s):5.2f} median  {tasks:<30} "
            f"{_spread(v.rss_mb, '.1f'):<26} {statistics.fmean(v.rss_mb) / b_rss:5.2f}  {schema}"
        )
    current = [v for v in variants if v.naryad and v.name.startswith("naryad ")]
    if current:
        worst_start = max(statistics.fmean(v.start_s) for v in current)
        worst_rss = max(statistics.fmean(v.rss_mb) for v in current)
        met = "met" if worst_start <= TARGET_START_S else "NOT met"
        print(f"target: first 200 <= {TARGET_START_S} s, every naryad variant's mean: {met}")
        met = "met" if worst_rss <= TARGET_RSS_MB else "NOT met"
        print(f"target: RSS idle <= {TARGET_RSS_MB:.0f} MB, every naryad variant's mean: {met}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=10, help="rounds (default 10)")
    parser.add_argument("--before", type=Path, help="another tree to compare, e.g. a worktree")
    parser.add_argument("--no-redis", action="store_true", help="skip PostgreSQL+Redis")
    parser.add_argument("--server-cpu", type=int, default=0, help="CPU for the servers (0)")
    args = parser.parse_args()
    if shutil.which("taskset") is None:
        raise SystemExit("taskset is missing (util-linux)")
    global SERVER_CPU
    SERVER_CPU = args.server_cpu
    others = sorted(os.sched_getaffinity(0) - {SERVER_CPU})
    os.sched_setaffinity(0, {others[0]} if others else {SERVER_CPU})
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    workdir = Path(tempfile.mkdtemp(prefix="naryad-startup-"))
    dbs: list[str] = []
    try:
        variants = [_baseline(), *_variants("naryad", ROOT, workdir, not args.no_redis, dbs)]
        if args.before:
            before = args.before.resolve()
            variants += _variants("before", before, workdir, not args.no_redis, dbs)
        for v in variants:
            v.run(warmup=True)
        for i in range(args.n):
            for v in variants:
                v.run()
            print(f"round {i + 1}/{args.n} done, load {os.getloadavg()[0]:.2f}", flush=True)
        _report(variants, args.n)
    finally:
        for name in dbs:
            asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
