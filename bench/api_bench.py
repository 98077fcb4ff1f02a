"""Task API benchmark (issue 3). Run: .venv/bin/python bench/api_bench.py [--help]

Accept race: 200 concurrent Accept requests over 50 tasks (4 engineers per task) through
HTTP, with 100 000 tasks in PostgreSQL; checks that exactly 50 win; p50/p99 latency and
requests/s. (The list part moved to bench/list_bench.py, against the index-friendly floor
of bench/baseline_app.py.)

It creates and drops its own PostgreSQL database next to NARYAD_TEST_DATABASE_URL.
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
import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server import db  # noqa: E402
from server.accounts import service as accounts  # noqa: E402
from server.accounts.schemas import UserIn  # noqa: E402
from server.clients import service as clients  # noqa: E402
from server.clients.schemas import CounterpartyIn  # noqa: E402

PG = os.environ.get("NARYAD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
GROUPS = ["Выездные инженеры", "Удалённая техподдержка", "Доставка", "Ремонт", "Бухгалтерия"]


def log(msg: str) -> None:
    print(msg, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(args: list[str], env: dict[str, str], probe: str) -> subprocess.Popen[bytes]:
    (ROOT / "test-output").mkdir(exist_ok=True)
    out = open(ROOT / "test-output" / f"bench-{args[3].split(':')[0]}.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        args, env={**os.environ, **env}, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(probe, timeout=1).status_code < 500:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    out.close()
    tail = Path(out.name).read_text(errors="replace")[-2000:]
    raise SystemExit(f"server did not start: {' '.join(args)}\n{tail}")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def user(login: str, roles: list[str], groups: list[str]) -> int:
    ids = [await accounts.group_id_by_name(g) for g in groups]
    made = await accounts.create_user(
        msgspec.convert(
            {
                "login": login,
                "password": "bench-pass",
                "full_name": login.title(),
                "surname": login,
                "roles": roles,
                "group_ids": ids,
            },
            UserIn,
        )
    )
    return made.id


async def token(base: str, login: str) -> str:
    async with httpx.AsyncClient(base_url=base) as c:
        resp = await c.post("/api/auth/login", json={"login": login, "password": "bench-pass"})
        resp.raise_for_status()
        return str(resp.json()["token"])


async def seed_tasks(dsn: str, n: int, engineer_ids: list[int], counterparty_id: int) -> None:
    """Bulk rows straight through SQL: the seeding is not what is measured."""
    conn = await asyncpg.connect(dsn)
    try:
        templates = {
            r["code"]: r
            for r in await conn.fetch("SELECT id, code, default_group FROM task_templates")
        }
        codes = sorted(templates)
        template_ids = [templates[c]["id"] for c in codes]
        group_ids = [templates[c]["default_group"] for c in codes]
        await conn.execute(
            """
            INSERT INTO tasks (template, title, title_search, description, status, counterparty,
                "group", assignee, channel, completed_works, version, created_at, updated_at,
                checkin_far, call_back)
            SELECT ($1::int[])[1 + g % 5], 'Задача ' || g, 'задача ' || g, '',
                CASE WHEN g % 10 = 0 THEN 'new'
                     WHEN g % 10 < 4 THEN 'in_progress'
                     ELSE 'completed' END,
                $3, ($2::int[])[1 + (g / 10) % 5],
                CASE WHEN g % 10 = 0 THEN NULL
                     ELSE ($4::int[])[1 + (g / 3) % cardinality($4::int[])] END,
                'ui', '', 1, now() - (g || ' minutes')::interval, now(), false, false
            FROM generate_series(1, $5) AS g
            """,
            template_ids,
            group_ids,
            counterparty_id,
            engineer_ids,
            n,
        )
        await conn.execute("UPDATE tasks SET number = id WHERE number IS NULL")
        await conn.execute("ANALYZE tasks")
    finally:
        await conn.close()


async def accept_race(base: str, office_token: str, tokens: list[str], rounds: int) -> None:
    log("\n== 1. accept race: 200 concurrent accepts over 50 tasks ==")
    all_lat: list[float] = []
    rates = []
    oh = {"Authorization": f"Bearer {office_token}"}
    for r in range(rounds):
        async with httpx.AsyncClient(base_url=base, timeout=60) as c:
            ids = []
            for i in range(50):
                resp = await c.post(
                    "/api/tasks",
                    headers=oh,
                    json={"template": "field_visit", "title": f"Ромашка: касса {r}-{i}"},
                )
                ids.append(resp.json()["id"])
        # Fresh connections for the race, like 200 phones: reusing connections left idle
        # past uvicorn's keep-alive would measure that race instead of this one.
        async with httpx.AsyncClient(
            base_url=base, timeout=60, limits=httpx.Limits(max_connections=250)
        ) as c:

            async def press(client: httpx.AsyncClient, task_id: int, tok: str) -> tuple[int, float]:
                t0 = time.perf_counter()
                resp = await client.post(
                    f"/api/tasks/{task_id}/accept", headers={"Authorization": f"Bearer {tok}"}
                )
                return resp.status_code, (time.perf_counter() - t0) * 1000

            t0 = time.perf_counter()
            results = await asyncio.gather(*[press(c, t, tok) for t in ids for tok in tokens])
            elapsed = time.perf_counter() - t0
        wins = sum(1 for code, _ in results if code == 200)
        conflicts = sum(1 for code, _ in results if code == 409)
        assert (wins, conflicts) == (50, 150), (wins, conflicts)
        all_lat += [ms for _, ms in results]
        rates.append(len(results) / elapsed)
        log(f"  round {r + 1}: 50 winners, 150 conflicts, {len(results) / elapsed:.0f} req/s")
    log(
        f"  accept: p50 {pct(all_lat, 50):.1f} ms  p99 {pct(all_lat, 99):.1f} ms  "
        f"median {statistics.median(rates):.0f} req/s over {rounds} rounds"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks in the database")
    parser.add_argument("--rounds", type=int, default=5, help="accept-race rounds")
    args = parser.parse_args()

    name = f"naryad_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = PG.rpartition("/")[0] + "/" + name
    procs: list[subprocess.Popen[bytes]] = []
    try:
        log(f"==> database {name}: migrating")
        engine = db.configure_database(dsn)
        await db.migrate()
        log("==> users and counterparty")
        office_id = await user("office", ["office"], [])
        engineer_ids = [await user(f"eng{i}", ["engineer"], GROUPS[:2]) for i in range(20)]
        cp = await clients.create_counterparty(CounterpartyIn(name="Ромашка"))
        log(f"==> {args.tasks} tasks")
        t0 = time.perf_counter()
        await seed_tasks(dsn, args.tasks, engineer_ids, cp.id)
        log(f"    seeded in {time.perf_counter() - t0:.1f} s")

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        procs.append(
            start(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "server.app:app_from_env",
                    "--factory",
                    "--port",
                    str(port),
                    "--no-access-log",
                    "--log-level",
                    "warning",
                ],
                {"NARYAD_DATABASE_URL": dsn, "NARYAD_LOG_LEVEL": "WARNING"},
                f"{base}/schema",
            )
        )
        assert office_id
        office_token = await token(base, "office")
        racers = [await token(base, f"eng{i}") for i in range(4)]
        await accept_race(base, office_token, racers, args.rounds)
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        if engine.pool is not None:  # type: ignore[attr-defined]
            await engine.close_connection_pool()  # type: ignore[attr-defined]
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
