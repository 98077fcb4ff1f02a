"""Issue 16 benchmark: the equipment search among 100 000 pieces and the maintenance sweep
over 10 000 plans.

Run: .venv/bin/python bench/maintenance_bench.py [--equipment N] [--searches N]
     [--plans N] [--due N]

Times, in the same run on the same PostgreSQL database:
- search: server.assets.service.search_equipment (what GET /api/equipment?q= runs: any part
  of a serial or model, newest first, a page of 50, rows turned into the API's structs)
  against a same-run baseline, the bare SQL of the same search through asyncpg (LIKE on the
  same two columns, same order and limit, no joins, no structs);
- idle sweep: run_maintenance_sweep over `--plans` plans of which none is due (what every
  minute costs when there is nothing to do);
- due sweep: the sweep over the same plans with `--due` of them due, each creating its task
  through create_task (R1–R4, history, SLA, contract, checklist subscribers), against the
  same number of tasks created by calling create_task directly (the sweep's own cost is the
  difference: the plan's rule, the occurrence key, the claim and the pointer).
Needs PostgreSQL at NARYAD_TEST_DATABASE_URL; creates and drops its own database.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import statistics
import string
import sys
import time
import uuid
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server import db, subscribers
from server import settings as process_settings
from server.assets import service as assets
from server.assets.schemas import EquipmentFilter
from server.maintenance import service as maintenance
from server.settings import Settings
from server.tasks import service as tasks
from server.tasks.schemas import TaskIn

PG = os.environ.get("NARYAD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
MODELS = ["АТОЛ 30Ф", "АТОЛ 91Ф", "Эвотор 7.3", "Меркурий 185Ф", "Штрих-М-01Ф", "Pax S300"]


def log(msg: str) -> None:
    print(msg, flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(name: str, ms: list[float]) -> str:
    return f"  {name:<38} median {statistics.median(ms):7.2f} ms   p99 {pct(ms, 0.99):7.2f} ms"


async def seed_equipment(conn: asyncpg.Connection, count: int, rng: random.Random) -> list[str]:
    cp = await conn.fetchval(
        "INSERT INTO counterparties (name, aliases, email_domains, archived, created_at, language)"
        " VALUES ('Ромашка', '[]', '[]', false, now(), 'ru') RETURNING id"
    )
    kinds = [
        await conn.fetchval(
            "INSERT INTO equipment_kinds (code, name, attributes, created_at) "
            "VALUES ($1, $2, '[]', now()) RETURNING id",
            code,
            name,
        )
        for code, name in (("pos", "Касса"), ("scanner", "Сканер"), ("router", "Роутер"))
    ]
    serials = []
    rows = []
    for n in range(count):
        serial = "".join(rng.choices(string.digits, k=8)) + f"{n:06d}"
        model = rng.choice(MODELS)
        serials.append(serial)
        rows.append((cp, kinds[n % 3], model, serial, model.lower(), serial, "", "{}", False))
    await conn.copy_records_to_table(
        "equipment",
        records=[(*r, dt.datetime.now(dt.UTC), dt.datetime.now(dt.UTC)) for r in rows],
        columns=[
            "counterparty",
            "kind",
            "model",
            "serial",
            "model_key",
            "serial_key",
            "notes",
            "attributes",
            "archived",
            "created_at",
            "updated_at",
        ],
    )
    await conn.execute("ANALYZE equipment")
    return serials


BARE_SEARCH = (
    "SELECT id, model, serial FROM equipment WHERE (serial_key LIKE $1 OR model_key LIKE $1) "
    "AND archived = false ORDER BY id DESC LIMIT 51"
)


async def bench_search(
    conn: asyncpg.Connection, serials: list[str], searches: int, rng: random.Random
) -> None:
    queries = []
    for _ in range(searches):
        serial = rng.choice(serials)
        start = rng.randrange(0, len(serial) - 6)
        queries.append(serial[start : start + 6])
    for q in queries[:20]:  # warm both paths
        await assets.search_equipment(EquipmentFilter(q=q))
        await conn.fetch(BARE_SEARCH, f"%{q}%")
    ours, bare = [], []
    for q in queries:
        t0 = time.perf_counter()
        page = await assets.search_equipment(EquipmentFilter(q=q))
        ours.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        rows = await conn.fetch(BARE_SEARCH, f"%{q}%")
        bare.append((time.perf_counter() - t0) * 1000)
        assert [e.id for e in page.items] == [r["id"] for r in rows][:50], q
    log(
        f"== equipment search among {len(serials)} pieces "
        f"({searches} searches, a part of a serial) =="
    )
    log(summary("baseline (bare SQL, asyncpg)", bare))
    log(summary("naryad (search_equipment)", ours))
    log(
        f"  ratio naryad/baseline: median {statistics.median(ours) / statistics.median(bare):.2f}x,"
        f" p99 {pct(ours, 0.99) / pct(bare, 0.99):.2f}x"
    )


async def seed_plans(conn: asyncpg.Connection, count: int, due: int, today: dt.date) -> None:
    cp = await conn.fetchval("SELECT id FROM counterparties LIMIT 1")
    template = await conn.fetchval("SELECT id FROM task_templates WHERE code = 'repair'")
    records = []
    now = dt.datetime.now(dt.UTC)
    for n in range(count):
        is_due = n < due
        first = today + dt.timedelta(days=1 if is_due else 40)
        records.append(
            (
                cp,
                template,
                f"Плановый ремонт {n}",
                "",
                f"FREQ=MONTHLY;BYMONTHDAY={first.day}",
                first,
                "09:00",
                2,
                "keep",
                "normal",
                "[]",
                True,
                today,
                first,
                first - dt.timedelta(days=2),
                "",
                now,
                now,
            )
        )
    await conn.copy_records_to_table(
        "maintenance_plans",
        records=records,
        columns=[
            "counterparty",
            "template",
            "title",
            "description",
            "rrule",
            "starts_on",
            "time_of_day",
            "lead_days",
            "non_working_days",
            "priority",
            "checklist",
            "active",
            "generate_from",
            "next_occurrence_on",
            "next_create_on",
            "last_error",
            "created_at",
            "updated_at",
        ],
    )
    await conn.execute("ANALYZE maintenance_plans")


async def bench_sweep(conn: asyncpg.Connection, plans: int, due: int) -> None:
    today = maintenance.local_today()
    await seed_plans(conn, plans, due, today)
    now = dt.datetime.now(dt.UTC)
    # Idle: nothing due today (the due ones come due tomorrow minus lead... make them wait).
    await conn.execute(
        "UPDATE maintenance_plans SET next_create_on = next_create_on + 30 WHERE id <= $1",
        due,
    )
    idle = []
    for _ in range(20):
        t0 = time.perf_counter()
        report = await maintenance.run_maintenance_sweep(now)
        idle.append((time.perf_counter() - t0) * 1000)
        assert report.created == 0
    await conn.execute(
        "UPDATE maintenance_plans SET next_create_on = next_create_on - 30 WHERE id <= $1",
        due,
    )
    cp = await conn.fetchval("SELECT id FROM counterparties LIMIT 1")

    # Baseline: the same number of tasks through create_task directly.
    t0 = time.perf_counter()
    for n in range(due):
        await tasks.create_task(
            None,
            TaskIn(title=f"Ремонт {n}", template="repair", counterparty_id=cp),
            channel="ui",
        )
    direct_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    report = await maintenance.run_maintenance_sweep(now)
    sweep_s = time.perf_counter() - t0
    assert report.created == due, report
    again = await maintenance.run_maintenance_sweep(now)
    assert again.created == 0
    log(f"== maintenance sweep over {plans} plans ==")
    log(summary("idle sweep (nothing due)", idle))
    log(
        f"  due sweep: {due} tasks in {sweep_s:.1f} s ({due / sweep_s:.0f} tasks/s); "
        f"create_task directly: {direct_s:.1f} s ({due / direct_s:.0f} tasks/s)"
    )
    log(f"  ratio sweep/direct per task: {sweep_s / direct_s:.2f}x")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--equipment", type=int, default=100_000)
    parser.add_argument("--searches", type=int, default=500)
    parser.add_argument("--plans", type=int, default=10_000)
    parser.add_argument("--due", type=int, default=500)
    args = parser.parse_args()
    rng = random.Random(16)
    admin = await asyncpg.connect(PG)
    name = f"naryad_bench16_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"{PG.rpartition('/')[0]}/{name}"
    try:
        process_settings.install(Settings.from_env({"NARYAD_DATABASE_URL": url}))
        subscribers.install()
        engine = db.configure_database(url)
        await db.migrate()
        async with db.connection_pool(engine, max_size=4):
            # The baseline's connection plans like the app's (db.POSTGRES_SESSION: a plan
            # for each value, so a LIKE pattern can use the trigram index).
            conn = await asyncpg.connect(url, server_settings=db.POSTGRES_SESSION)
            try:
                serials = await seed_equipment(conn, args.equipment, rng)
                await bench_search(conn, serials, args.searches, rng)
                await bench_sweep(conn, args.plans, args.due)
            finally:
                await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
