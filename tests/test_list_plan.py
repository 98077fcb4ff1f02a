"""The task lists read a fixed number of buffers, whatever the table's size (issue 21).

On a PostgreSQL database of its own with 10 000 and then 100 000 tasks (bench/seed_tasks.py:
~10 % new, 30 % in work, 60 % closed, five groups, 20 engineers, events and watchers), the
test runs
`service.list_tasks` for the engineer's `queue=mine` and the office's status, group and
counterparty lists, records every statement it sends to PostgreSQL (with its arguments),
and runs each again as a prepared statement the way the server does — five times, so
PostgreSQL's plan cache has made its choice — then `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)
EXECUTE` of it, with the server's session settings (server.db.POSTGRES_SESSION). The
shared buffers the page reads (hit + read) at 100 000 tasks must stay under a fixed limit,
twice what the floor (bench/baseline_app.py: index-ordered slices, then the joins on 51 ids)
reads for the same page on the same data, and must not grow from 10 000 tasks beyond one
more index level per probe (x1.25 + 25). A plan that reads every match and sorts it (a
bitmap scan, then a top-N sort) grows with the table; so does one that walks the primary
key filtering rows, once a page cannot be filled.

Buffers are not time: a plan that joins the small tables by hashing them reads fewer
buffers than the floor's index probes. The time is bench/list_bench.py's to measure.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from naryad_harness import PG_URL, _with_database

from server import db
from server.accounts import service as accounts
from server.tasks import service
from server.tasks.schemas import TaskFilter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import baseline_app as floor  # noqa: E402
from bench import seed_tasks  # noqa: E402

TASKS = 100_000
SMALL = 10_000
# Shared buffers (hit + read) per page: twice what the floor read here for the same page at
# 100 000 tasks (424, 405, 426, 440 when this was written; the test prints them). Most of
# the floor's are the index probes of the joins for 51 rows.
LIMITS = {"mine": 848, "status": 810, "group": 852, "counterparty": 880}


@pytest.fixture(scope="module")
async def data() -> AsyncIterator[tuple[str, seed_tasks.People]]:
    previous = db.current_engine()
    admin = await asyncpg.connect(PG_URL)
    name = f"naryad_plan_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(PG_URL, name)
    engine = db.configure_database(url)
    try:
        await db.migrate()
        conn = await asyncpg.connect(url)
        try:
            await seed_tasks.seed_users(conn)
            await seed_tasks.seed_counterparties(conn)
            await seed_tasks.seed_places(conn)
            people = await seed_tasks.people(conn)
        finally:
            await conn.close()
        await engine.start_connection_pool(min_size=1, max_size=2)  # type: ignore[attr-defined]
        yield url, people
    finally:
        if getattr(engine, "pool", None) is not None:
            await engine.close_connection_pool()  # type: ignore[attr-defined]
        db.use_engine(previous)
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.close()


def _literal(value: Any) -> str:
    """An SQL literal for EXECUTE's arguments (the prepared statement's types coerce it)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return f"'{value.isoformat()}'::timestamptz"
    if isinstance(value, list | tuple):
        return "ARRAY[" + ", ".join(_literal(v) for v in value) + "]"
    text = str(value).replace("'", "''")
    return f"'{text}'"


async def _statements_of_list(
    monkeypatch: pytest.MonkeyPatch, actor_id: int, f: TaskFilter
) -> list[tuple[str, list[Any]]]:
    """What `list_tasks` sends to PostgreSQL (through any asyncpg connection), in order."""
    actor = await accounts.actor_for_user(actor_id)
    assert actor is not None
    sent: list[tuple[str, list[Any]]] = []

    def spy(method: Any) -> Any:
        async def recorded(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            sent.append((query, list(args)))
            return await method(self, query, *args, **kwargs)

        return recorded

    with monkeypatch.context() as m:
        for name in ("fetch", "fetchrow", "fetchval", "execute"):
            m.setattr(asyncpg.connection.Connection, name, spy(getattr(asyncpg.Connection, name)))
        page = await service.list_tasks(actor, f)
    assert len(page.items) == f.limit, "the measured page must be full"
    statements = [(q, a) for q, a in sent if "tasks" in q]
    assert statements, (
        "no statement reading tasks was seen; if the list no longer goes through "
        "asyncpg.Connection.fetch/fetchrow/fetchval/execute, teach this test where it goes"
    )
    return statements


async def _buffers(url: str, sql: str, args: list[Any], settings: dict[str, str]) -> dict[str, Any]:
    """Run `sql` as a named prepared statement six times, then EXPLAIN its next EXECUTE."""
    conn = await asyncpg.connect(url, server_settings=settings)
    try:
        await conn.execute(f"PREPARE measured AS {sql}")
        call = (
            f"EXECUTE measured({', '.join(_literal(a) for a in args)})"
            if args
            else ("EXECUTE measured")
        )
        for _ in range(6):
            await conn.execute(call)
        plan = json.loads(await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {call}"))
        cache = await conn.fetchrow(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'measured'"
        )
    finally:
        await conn.close()
    top = plan[0]["Plan"]
    return {
        "buffers": top["Shared Hit Blocks"] + top["Shared Read Blocks"],
        "ms": plan[0]["Execution Time"],
        "plan": "generic" if cache["generic_plans"] else "custom",
        "rows": top["Actual Rows"],
    }


def _cases(people: seed_tasks.People) -> dict[str, tuple[int, TaskFilter, str, list[Any]]]:
    """list -> (who asks, Naryad's filter, the floor's SQL, its arguments)."""
    eng = people.engineer_ids[0]
    groups = sorted(people.memberships[eng])
    group = people.group_ids[2]
    cp = people.counterparty_ids[29]
    office = people.office_id
    return {
        "mine": (eng, TaskFilter(queue_mine=True), floor.mine_sql(len(groups)), [eng, *groups]),
        "status": (office, TaskFilter(statuses=["new"]), floor.STATUS_SQL, [["new"]]),
        "group": (office, TaskFilter(group_id=group), floor.GROUP_SQL, [group]),
        "counterparty": (
            office,
            TaskFilter(counterparty_id=cp),
            floor.COUNTERPARTY_SQL,
            [cp],
        ),
    }


async def _measure(
    url: str, people: seed_tasks.People, monkeypatch: pytest.MonkeyPatch
) -> dict[str, tuple[int, str, int]]:
    """list -> (Naryad's buffers, how they were read, the floor's buffers)."""
    settings = dict(db.POSTGRES_SESSION)
    out = {}
    for name, (who, f, floor_sql, floor_args) in _cases(people).items():
        statements = await _statements_of_list(monkeypatch, who, f)
        naryad = [await _buffers(url, sql, args, settings) for sql, args in statements]
        base = await _buffers(url, floor_sql, floor_args, floor.FLOOR_SESSION)
        each = ", ".join(f"{n['buffers']} ({n['plan']} plan, {n['ms']:.2f} ms)" for n in naryad)
        how = f"{len(naryad)} statement(s): {each}; floor {base['plan']} plan, {base['ms']:.2f} ms"
        out[name] = (sum(n["buffers"] for n in naryad), how, base["buffers"])
    return out


async def test_lists_read_few_buffers_at_100k_tasks(
    data: tuple[str, seed_tasks.People], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under the fixed limit at 100 000 tasks, and no more than at 10 000 (beyond one more
    index level per probe: x1.25 + 25)."""
    url, people = data
    conn = await asyncpg.connect(url)
    try:
        await seed_tasks.grow(conn, 0, SMALL)
        small = await _measure(url, people, monkeypatch)
        await seed_tasks.grow(conn, SMALL, TASKS)
        large = await _measure(url, people, monkeypatch)
    finally:
        await conn.close()
    report, failed = [], []
    for name, (buffers, how, floor_buffers) in large.items():
        before = small[name][0]
        report.append(
            f"{name:12} naryad {buffers:5} buffers at {TASKS} ({before} at {SMALL}), "
            f"floor {floor_buffers} ({small[name][2]}); limit {LIMITS[name]}; {how}"
        )
        if buffers > LIMITS[name]:
            failed.append(f"{name}: {buffers} buffers > {LIMITS[name]}")
        if buffers > before * 1.25 + 25:
            failed.append(f"{name}: {buffers} buffers at {TASKS}, {before} at {SMALL}")
    print("\n" + "\n".join(report))
    assert not failed, "\n".join(failed) + "\n" + "\n".join(report)
