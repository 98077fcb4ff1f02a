"""Accept against its floor, and the accept race (issue 21, target 2).

    .venv/bin/python bench/accept_bench.py [--rounds 3] [--seconds 10] [--warmup 3]
        [--connections 10] [--pool 40000] [--race-tasks 100] [--race-engineers 8] [--keep-db]

It makes a PostgreSQL database of its own next to NARYAD_TEST_DATABASE_URL, migrates it,
creates the office user and 20 engineers (bench/seed_tasks.py, SQL) and, per wrk run,
`--pool` new field visits in the queue of the field engineers' group (SQL). Then, with the
servers pinned to CPU 0 and wrk to CPU 1 (one thread, `--connections` connections,
bench/lua/accept_range.lua: every request accepts a different task, each once):

  floor   POST /bare/{id}/accept        bench/accept_floor_app.py: bare Litestar + asyncpg,
                                        `UPDATE tasks SET status = 'accepted', assignee = $2,
                                        version = version + 1, … WHERE id = $1 AND
                                        status = 'new' RETURNING id, version`; no auth,
                                        no history event, no rules, tiny answer
  same job POST /job/{id}/accept        the same file: what Naryad's accept does (the group
                                        check, the history event, the whole task back as
                                        Naryad's own struct), bare, in one statement
  naryad  POST /api/tasks/{id}/accept   `naryad serve` (one process, jobs queued to Redis),
                                        a field engineer's bearer token; the full answer

rounds interleaved (floor, same job, naryad, floor, …) after one warm-up run each. A run
whose requests outnumber its tasks, or that gets any non-2xx answer, stops the benchmark.
It prints each run, the medians, the naryad/floor ratios of p50, p99 and req/s (target:
p99 <= 1.3x the floor), and the load average before and after.

Then the race: `--race-tasks` new tasks, `--race-engineers` engineers of the group, each
with one HTTP connection of its own (a phone each), all pressing Accept on every task at
once (half of them as the PWA sends it, with Idempotency-Key and If-Match); it checks that
every task has exactly one winner (200) and the others were refused (409 naming the winner;
with If-Match, 409 saying the task changed since version 1), that the row holds the winner
at version 2, and that history has exactly one `accepted` event, by the winner.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from argon2 import PasswordHasher

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import seed_tasks  # noqa: E402
from bench.harness import (  # noqa: E402
    Wrk,
    cpu_seconds,
    create_database,
    drop_database,
    free_port,
    loadavg,
    log,
    login,
    migrate,
    naryad_server,
    postgres_cpu_seconds,
    server,
    wrk,
)

TARGET_P99 = 1.3
FIELD_TEMPLATE = "field_visit"


async def add_new_tasks(conn: asyncpg.Connection, count: int) -> tuple[int, int]:
    """`count` new field visits in their group's queue (ids first .. first+count-1)."""
    tpl = await conn.fetchrow(
        "SELECT id, default_group, has_departure, requires_check, requires_completed_works, "
        "counterparty_in_title FROM task_templates WHERE code = $1",
        FIELD_TEMPLATE,
    )
    rows = await conn.fetch(
        """INSERT INTO tasks (template, title, title_search, description, status, "group",
            channel, completed_works, version, created_at, updated_at, priority,
            has_departure, requires_check, requires_completed_works, counterparty_in_title,
            checkin_far, call_back)
        SELECT $1, 'Клиент ' || g || ': касса', 'клиент ' || g || ': касса', '', 'new', $2,
            'ui', '', 1, now(), now(), 'normal', $3, $4, $5, $6, false, false
        FROM generate_series(1, $7::int) AS g ORDER BY g
        RETURNING id""",
        tpl["id"],
        tpl["default_group"],
        tpl["has_departure"],
        tpl["requires_check"],
        tpl["requires_completed_works"],
        tpl["counterparty_in_title"],
        count,
    )
    ids = sorted(r["id"] for r in rows)
    assert ids[-1] - ids[0] + 1 == count, "the new ids are not one range"
    return ids[0], count


def floor_accept_server(dsn: str, port: int, assignee: int) -> Any:
    return server(
        "accept-floor",
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.accept_floor_app:create_app",
            "--factory",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "BENCH_DSN": dsn,
            "BENCH_ASSIGNEE": str(assignee),
        },
        ROOT,
        f"http://127.0.0.1:{port}/",
    )


async def accept_run(
    conn: asyncpg.Connection,
    name: str,
    url: str,
    prefix: str,
    args: argparse.Namespace,
    seconds: float,
    pid: int,
    headers: dict[str, str] | None = None,
) -> Wrk:
    first, count = await add_new_tasks(conn, args.pool)
    cpu0, db0 = cpu_seconds(pid), postgres_cpu_seconds()
    result = wrk(
        url,
        script="accept_range.lua",
        seconds=seconds,
        connections=args.connections,
        headers=headers,
        args=[str(first), str(count), prefix],
    )
    if result.requests:
        result.server_cpu_ms = (cpu_seconds(pid) - cpu0) * 1000 / result.requests
        result.db_cpu_ms = (postgres_cpu_seconds() - db0) * 1000 / result.requests
    if result.requests > count:
        raise SystemExit(f"{name}: {result.requests} requests for {count} tasks; raise --pool")
    if result.errors:
        raise SystemExit(f"{name}: {result.errors} failed requests")
    accepted = await conn.fetchval(
        "SELECT count(*) FROM tasks WHERE id BETWEEN $1 AND $2 AND status = 'accepted'",
        first,
        first + count - 1,
    )
    # wrk counts the answers it read; a request cut off at the end may still have landed
    if not result.requests <= accepted <= result.requests + args.connections:
        raise SystemExit(f"{name}: {result.requests} answers but {accepted} tasks accepted")
    return result


def _line(label: str, w: Wrk) -> str:
    return (
        f"  {label:<16} {w.rps:8.0f} req/s  p50 {w.p50_ms:6.2f} ms  p99 {w.p99_ms:6.2f} ms"
        f"  ({w.requests} requests)  CPU per accept: server {w.server_cpu_ms:.2f} ms,"
        f" PostgreSQL {w.db_cpu_ms:.2f} ms"
    )


async def race(
    conn: asyncpg.Connection, base: str, engineers: list[tuple[int, str, str]], tasks_n: int
) -> bool:
    """Every engineer presses Accept on every one of `tasks_n` new tasks at once."""
    first, count = await add_new_tasks(conn, tasks_n)
    task_ids = list(range(first, first + count))
    clients = [
        httpx.AsyncClient(
            base_url=base,
            headers={"Authorization": f"Bearer {token}", "Accept-Language": "en"},
            timeout=60,
            limits=httpx.Limits(max_connections=1),
        )
        for _, _, token in engineers
    ]

    async def press_all(i: int, client: httpx.AsyncClient) -> list[httpx.Response]:
        # each walks the tasks from a different place, so every task is pressed by all
        # of them at nearly the same moment
        order = task_ids[i % count :] + task_ids[: i % count]
        answers: dict[int, httpx.Response] = {}
        for t in order:
            pwa = {"Idempotency-Key": uuid.uuid4().hex, "If-Match": "1"} if i % 2 else {}
            answers[t] = await client.post(f"/api/tasks/{t}/accept", headers=pwa)
        return [answers[t] for t in task_ids]

    try:
        started = asyncio.get_running_loop().time()
        per_engineer = await asyncio.gather(*[press_all(i, c) for i, c in enumerate(clients)])
        elapsed = asyncio.get_running_loop().time() - started
    finally:
        for c in clients:
            await c.aclose()
    names = {uid: full_name for uid, full_name, _ in engineers}
    ok = True
    winners_total = conflicts = others = 0
    for j, t in enumerate(task_ids):
        winners = []
        for (uid, _, _), answers in zip(engineers, per_engineer, strict=True):
            resp = answers[j]
            if resp.status_code == 200:
                winners.append(uid)
            elif resp.status_code == 409:
                conflicts += 1
            else:
                others += 1
                ok = False
                log(f"  task {t}: unexpected {resp.status_code} {resp.text[:200]}")
        winners_total += len(winners)
        if len(winners) != 1:
            ok = False
            log(f"  task {t}: {len(winners)} winners {winners}")
            continue
        winner = winners[0]
        for i, answers in enumerate(per_engineer):
            resp = answers[j]
            if resp.status_code != 409:
                continue
            body = resp.json()
            if i % 2:  # If-Match: 1 is stale once someone won
                told = body["extra"]["code"] == "task.conflict.version"
            else:
                told = names[winner] in body["detail"]
            if not told:
                ok = False
                log(f"  task {t}: a loser was not told the winner: {resp.text[:200]}")
        row = await conn.fetchrow("SELECT status, assignee, version FROM tasks WHERE id = $1", t)
        events = await conn.fetch(
            "SELECT actor FROM task_events WHERE task = $1 AND kind = 'accepted'", t
        )
        if dict(row) != {"status": "accepted", "assignee": winner, "version": 2} or [
            e["actor"] for e in events
        ] != [winner]:
            ok = False
            log(f"  task {t}: row {dict(row)}, accepted events by {[e['actor'] for e in events]}")
    presses = len(task_ids) * len(engineers)
    log(
        f"  {len(task_ids)} tasks x {len(engineers)} engineers ({presses} accepts in "
        f"{elapsed:.1f} s): {winners_total} winners, {conflicts} refused (409), {others} other"
    )
    log(f"  exactly one winner per task, rows and history agree: {'yes' if ok else 'NO'}")
    return ok


async def main(args: argparse.Namespace) -> int:
    db_name, dsn = await create_database("naryad_accept_bench")
    try:
        migrate(ROOT, dsn)
        conn = await asyncpg.connect(dsn)
        try:
            return await run(conn, dsn, args)
        finally:
            await conn.close()
    finally:
        if args.keep_db:
            log(f"kept database {db_name}")
        else:
            await drop_database(db_name)


async def run(conn: asyncpg.Connection, dsn: str, args: argparse.Namespace) -> int:
    await seed_tasks.seed_users(conn, PasswordHasher().hash(seed_tasks.PASSWORD))
    field_group = await conn.fetchval(
        "SELECT default_group FROM task_templates WHERE code = $1", FIELD_TEMPLATE
    )
    engineers = await conn.fetch(
        """SELECT u.id, u.login, u.full_name FROM users u
        JOIN group_memberships m ON m."user" = u.id
        WHERE m."group" = $1 AND u.login LIKE 'eng%' ORDER BY u.id""",
        field_group,
    )
    acceptor = engineers[0]
    naryad_port, floor_port = free_port(), free_port()
    naryad = f"http://127.0.0.1:{naryad_port}"
    floor = f"http://127.0.0.1:{floor_port}"
    ok = True
    with (
        naryad_server(ROOT, dsn, naryad_port) as naryad_proc,
        floor_accept_server(dsn, floor_port, acceptor["id"]) as floor_proc,
    ):
        pids = {"floor": floor_proc.pid, "naryad": naryad_proc.pid}
        token = await login(naryad, acceptor["login"], seed_tasks.PASSWORD)
        auth = {"Authorization": f"Bearer {token}"}
        log(
            f"== accept: each request a different new task; {args.connections} connections, "
            f"{args.rounds} rounds x {args.seconds:g} s, interleaved; server on CPU 0, "
            "wrk on CPU 1 =="
        )
        log(f"  load average before: {loadavg()}")
        sides = {
            "floor": (floor, "/bare/", None),
            "same job": (floor, "/job/", None),
            "naryad": (naryad, "/api/tasks/", auth),
        }
        pid_of = {"floor": pids["floor"], "same job": pids["floor"], "naryad": pids["naryad"]}
        for side, (base, prefix, headers) in sides.items():
            await accept_run(
                conn, side, f"{base}/", prefix, args, args.warmup, pid_of[side], headers
            )
        runs: dict[str, list[Wrk]] = {side: [] for side in sides}
        for r in range(1, args.rounds + 1):
            for side, (base, prefix, headers) in sides.items():
                w = await accept_run(
                    conn, side, f"{base}/", prefix, args, args.seconds, pid_of[side], headers
                )
                runs[side].append(w)
                log(_line(f"round {r} {side}", w))
        log(f"  load average after: {loadavg()}")
        med = {side: Wrk.median(ws) for side, ws in runs.items()}
        log("  medians over the rounds:")
        for side, w in med.items():
            log(_line(side, w))
        f, n, j = med["floor"], med["naryad"], med["same job"]
        ratio = n.p99_ms / f.p99_ms
        log(
            f"  naryad / floor: p50 {n.p50_ms / f.p50_ms:.2f}x, p99 {ratio:.2f}x "
            f"(target <= {TARGET_P99}x: {'met' if ratio <= TARGET_P99 else 'NOT met'}), "
            f"req/s {n.rps / f.rps:.2f}x"
        )
        log(
            f"  same job / floor: p50 {j.p50_ms / f.p50_ms:.2f}x, p99 {j.p99_ms / f.p99_ms:.2f}x,"
            f" req/s {j.rps / f.rps:.2f}x"
        )
        log(
            f"  naryad / same job: p50 {n.p50_ms / j.p50_ms:.2f}x, p99 {n.p99_ms / j.p99_ms:.2f}x,"
            f" req/s {n.rps / j.rps:.2f}x"
        )
        log("== the race: everyone presses Accept on every task at once ==")
        racers = engineers[: args.race_engineers]
        tokens = [
            (e["id"], e["full_name"], await login(naryad, e["login"], seed_tasks.PASSWORD))
            for e in racers
        ]
        ok = await race(conn, naryad, tokens, args.race_tasks)
    return 0 if ok else 1


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--warmup", type=float, default=3, help="seconds of the warm-up run of each")
    p.add_argument("--connections", type=int, default=10)
    p.add_argument("--pool", type=int, default=40000, help="new tasks made for each wrk run")
    p.add_argument("--race-tasks", type=int, default=100)
    p.add_argument("--race-engineers", type=int, default=8, help="at most 8 (the group's)")
    p.add_argument("--keep-db", action="store_true")
    return p.parse_args()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse())))
