"""How Naryad's cost grows with the data (issue 21, target 6): the engineer's list, creating
a task, accepting one and the office's dashboard at 10k, 100k and 1M tasks.

    .venv/bin/python bench/growth_bench.py [--sizes 10000,100000,1000000] [--rounds 3]
        [--seconds 10] [--connections 10] [--dashboard-connections 1]
        [--dashboard-seconds 20] [--accept-pool 40000] [--ops list,dashboard,create,accept]
        [--root DIR]

The database and its data are bench/list_bench.py's (its own PostgreSQL database, the tree
at --root migrated by its `naryad` command, 20 engineers, 200 counterparties made through the
API, tasks grown in SQL by bench/seed_tasks.py), with Naryad's own indexes only. For each
size, one `naryad serve` process on CPU 0 and wrk on CPU 1 run, per round:

  list       GET /api/tasks?queue=mine as an engineer (bench/lua/get.lua)
  dashboard  GET /api/dashboard as the office, --dashboard-connections at a time, for
             --dashboard-seconds or four times one request, whichever is longer
  create     POST /api/tasks as the office: a field visit whose title names a counterparty
             (R2 finds it), a new title each time (bench/lua/create.lua)
  accept     POST /api/tasks/{id}/accept as an engineer of the field visits' group, each of
             --accept-pool fresh new tasks (made in SQL before the run) once
             (bench/lua/accept.lua)

After each round the tasks it created are deleted (and the table vacuumed), so every round
of a size sees the same data. It prints req/s, p50 and p99 per operation and size (medians
over the rounds) and how p50 grows from the smallest size to the largest.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import seed_tasks  # noqa: E402
from bench.harness import (  # noqa: E402
    REDIS,
    Wrk,
    create_database,
    drop_database,
    free_port,
    loadavg,
    log,
    naryad_server,
    wrk,
)
from bench.list_bench import Setup  # noqa: E402

OPERATIONS = ["list", "dashboard", "create", "accept"]


async def flush_redis() -> None:
    client = aioredis.from_url(REDIS)  # type: ignore[no-untyped-call]
    try:
        await client.flushdb()
    finally:
        await client.aclose()


def _fmt(w: Wrk) -> str:
    return f"{w.rps:8.1f} req/s  p50 {w.p50_ms:8.2f} ms  p99 {w.p99_ms:8.2f} ms  n={w.requests}"


async def timed_get(url: str, headers: dict[str, str]) -> float:
    async with httpx.AsyncClient(timeout=600) as c:
        t0 = time.perf_counter()
        resp = await c.get(url, headers=headers)
        elapsed = time.perf_counter() - t0
    assert resp.status_code == 200, resp.text[:500]
    return elapsed


def accept_run(url: str, ids: list[int], args: argparse.Namespace, headers: dict[str, str]) -> Wrk:
    """wrk over accept.lua with the task ids in a file of their own."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "accept.ids"
        path.write_text("\n".join(map(str, ids)) + "\n")
        return wrk(
            url,
            script="accept.lua",
            seconds=args.seconds,
            connections=args.connections,
            headers=headers,
            args=[str(path)],
        )


async def measure_size(setup: Setup, size: int, args: argparse.Namespace) -> dict[str, Wrk]:
    p = setup.people
    conn = await asyncpg.connect(setup.dsn)
    try:
        field_group = await conn.fetchval(
            "SELECT default_group FROM task_templates WHERE code = 'field_visit'"
        )
    finally:
        await conn.close()
    # an engineer who may accept field visits from the queue (a member of its group)
    acceptor = next(
        f"eng{i}" for i, uid in enumerate(p.engineer_ids) if field_group in p.memberships[uid]
    )
    auth = {who: {"Authorization": f"Bearer {tok}"} for who, tok in setup.tokens.items()}
    runs: dict[str, list[Wrk]] = {op: [] for op in OPERATIONS}

    def record(op: str, r: int, w: Wrk) -> None:
        runs[op].append(w)
        log(f"  round {r + 1} {op:10} {_fmt(w)}")
        if w.errors or not w.requests:
            raise SystemExit(f"{op}: {w.errors} errors in {w.requests} requests")

    log(f"\n== {size} tasks: load average {loadavg()} ==")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    conns = args.connections
    with naryad_server(setup.root, setup.dsn, port):
        for r in range(args.rounds):
            if "list" in args.ops:
                url = f"{base}/api/tasks?queue=mine"
                wrk(url, seconds=args.warmup, connections=conns, headers=auth["eng0"])
                record(
                    "list",
                    r,
                    wrk(url, seconds=args.seconds, connections=conns, headers=auth["eng0"]),
                )
            if "dashboard" in args.ops:
                url = f"{base}/api/dashboard"
                if r == 0:
                    # one request first: wrk counts only answers within its run, so a run
                    # lasts at least four of them
                    single = await timed_get(url, auth["office"])
                    dashboard_s = max(args.dashboard_seconds, math.ceil(4 * single))
                    log(f"  dashboard: one request took {single:.2f} s; runs of {dashboard_s} s")
                record(
                    "dashboard",
                    r,
                    wrk(
                        url,
                        seconds=dashboard_s,
                        connections=args.dashboard_connections,
                        headers=auth["office"],
                        timeout_s=300,
                    ),
                )
                # wrk leaves its last request running when its time is up: wait for the
                # server to answer again before the next operation is timed
                await timed_get(f"{base}/api/templates", auth["office"])
            if "create" in args.ops:
                url = f"{base}/api/tasks"
                record(
                    "create",
                    r,
                    wrk(
                        url,
                        script="create.lua",
                        seconds=args.seconds,
                        connections=conns,
                        headers=auth["office"],
                    ),
                )
            if "accept" in args.ops:
                conn = await asyncpg.connect(setup.dsn)
                try:
                    ids = await seed_tasks.add_new_tasks(conn, "field_visit", args.accept_pool)
                finally:
                    await conn.close()
                w = accept_run(f"{base}/api/tasks/0/accept", ids, args, auth[acceptor])
                if w.requests > len(ids):
                    raise SystemExit(
                        f"accept: {w.requests} requests for {len(ids)} tasks; raise --accept-pool"
                    )
                record("accept", r, w)
            conn = await asyncpg.connect(setup.dsn)
            try:
                await seed_tasks.drop_after(conn, size)
            finally:
                await conn.close()
    result = {op: Wrk.median(runs[op]) for op in args.ops}
    log(f"-- {size} tasks, medians of {args.rounds} rounds (load average {loadavg()}) --")
    for op, w in result.items():
        log(f"  {op:10} {_fmt(w)}")
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--dashboard-connections", type=int, default=1)
    parser.add_argument("--dashboard-seconds", type=int, default=20)
    parser.add_argument("--accept-pool", type=int, default=40000, help="new tasks per accept run")
    parser.add_argument("--ops", default=",".join(OPERATIONS))
    parser.add_argument("--root", type=Path, default=ROOT, help="the Naryad tree to measure")
    args = parser.parse_args()
    args.ops = [op for op in OPERATIONS if op in args.ops.split(",")]
    sizes = sorted(int(s) for s in args.sizes.split(","))
    root = args.root.resolve()

    name, dsn = await create_database("naryad_growthbench")
    await flush_redis()
    try:
        log(f"==> {name}; naryad from {root}; load average {loadavg()}")
        setup = Setup(root, dsn)
        await setup.prepare(floor_indexes=False)
        results: dict[int, dict[str, Wrk]] = {}
        n = 0
        for size in sizes:
            log(f"==> growing to {size} tasks")
            await setup.grow(n, size)
            n = size
            results[size] = await measure_size(setup, size, args)
        log(
            f"\n== cost growth: naryad, one process on CPU 0, wrk on CPU 1 ({args.connections} "
            f"connections; dashboard {args.dashboard_connections}); medians of {args.rounds} "
            "rounds =="
        )
        lo = sizes[0]
        log(
            f"  {'operation':10} {'tasks':>8} {'req/s':>8} {'p50 ms':>9} {'p99 ms':>9} "
            f"{'requests':>8}  p50 / p50 at {lo}"
        )
        for op in args.ops:
            for s in sizes:
                w = results[s][op]
                log(
                    f"  {op:10} {s:8} {w.rps:8.1f} {w.p50_ms:9.2f} {w.p99_ms:9.2f} "
                    f"{w.requests:8}  {w.p50_ms / results[lo][op].p50_ms:.2f}x"
                )
        log(f"\nload average at the end: {loadavg()}")
    finally:
        await drop_database(name)
        await flush_redis()


if __name__ == "__main__":
    asyncio.run(main())
