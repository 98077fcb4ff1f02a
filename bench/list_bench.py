"""The task lists against their cost floor (issue 21, target 1).

    .venv/bin/python bench/list_bench.py [--sizes 10000,100000,1000000] [--rounds 3]
        [--seconds 10] [--warmup 2] [--connections 10] [--lists mine,status,group,counterparty,q]
        [--root DIR] [--keep-db] [--db NAME]

It makes a PostgreSQL database of its own next to NARYAD_TEST_DATABASE_URL, migrates it with
the `naryad` command of the tree at --root (default: this one; `git archive` an older commit
to measure it), creates the office user and 20 engineers (SQL) and 200 counterparties
(through the API, so titles name them), then for each size grows the tasks to that size
(bench/seed_tasks.py: SQL, ~10 % new, 30 % in work, 60 % closed, events and watchers) and
measures, with wrk on CPU 1 and the server alone on CPU 0:

  mine          GET /api/tasks?queue=mine          the engineer's first screen
  status        GET /api/tasks?status=new          the office's lists...
  group         GET /api/tasks?group=<id>
  counterparty  GET /api/tasks?counterparty=<id>
  q             GET /api/tasks?q=касса             (~5 % of titles)

on Naryad (`naryad serve`, one process, a bearer token, Redis for jobs and the session
cache) and on the floor, bench/baseline_app.py (uvicorn, bare Litestar + asyncpg,
index-ordered SQL, no auth). Both servers run at once, each idle while the other is
measured; every list is measured on both back to back (floor then naryad, the next round
naryad then floor), so what the machine's load does falls on both runs of a pair. Before
the first round it checks that both answer the same page (same ids, same fields, same
values). It prints req/s, p50 and p99 of every run and, per list, the naryad/floor ratio
of every pair and their median (the verdict), and how
Naryad's p99 grows from 100k to 1M tasks (target <= 1.2).

The floor's indexes (baseline_app.FLOOR_INDEXES) that the migrated schema lacks are made
here, and named in the output: both servers then run on the same indexes.

Growing a million tasks takes minutes: `--keep-db` leaves the database, and `--db NAME`
measures one left before (migrated with this tree, grown further if a size asks for more
tasks than it holds; the sizes it already exceeds are skipped).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from argon2 import PasswordHasher

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import seed_tasks  # noqa: E402
from bench.baseline_app import FLOOR_INDEXES  # noqa: E402
from bench.harness import (  # noqa: E402
    PG,
    Wrk,
    cpu_seconds,
    create_database,
    drop_database,
    floor_server,
    free_port,
    loadavg,
    log,
    login,
    migrate,
    naryad_server,
    postgres_cpu_seconds,
    with_database,
    wrk,
)

LISTS = ["mine", "status", "group", "counterparty", "q"]


async def missing_indexes(
    conn: asyncpg.Connection,
) -> list[tuple[str, str, tuple[str, ...], str | None]]:
    """The floor's indexes the schema lacks: a plain one when no plain index has those
    leading columns, a partial one when no index of that name exists."""
    have: set[tuple[str, tuple[str, ...]]] = set()
    names: set[str] = set()
    for r in await conn.fetch(
        """SELECT c.relname AS tbl, ic.relname AS name, i.indpred IS NULL AS plain,
            array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(n, o)
                  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n
                  ORDER BY k.o) AS cols
        FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
        JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE c.relname = 'tasks'"""
    ):
        names.add(r["name"])
        if r["plain"]:
            for n in range(1, len(r["cols"]) + 1):
                have.add((r["tbl"], tuple(r["cols"][:n])))
    return [
        ix
        for ix in FLOOR_INDEXES
        if (ix[3] is None and (ix[1], ix[2]) not in have)
        or (ix[3] is not None and ix[0] not in names)
    ]


async def add_indexes(conn: asyncpg.Connection) -> list[str]:
    made = []
    for name, table, cols, where in await missing_indexes(conn):
        quoted = ", ".join(f'"{c}"' for c in cols)
        partial = f" WHERE {where}" if where else ""
        await conn.execute(f"CREATE INDEX {name} ON {table} ({quoted}){partial}")
        made.append(f"{name} ON {table} ({', '.join(cols)}){partial}")
    return made


async def make_counterparties(base: str, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as c:
        for i in range(1, seed_tasks.COUNTERPARTIES + 1):
            resp = await c.post(
                "/api/counterparties", json={"name": seed_tasks.counterparty_name(i)}
            )
            assert resp.status_code == 201, resp.text


class Setup:
    """The database, its people and their tokens, ready for tasks to be grown."""

    def __init__(self, root: Path, dsn: str) -> None:
        self.root, self.dsn = root, dsn
        self.tokens: dict[str, str] = {}
        self.people: seed_tasks.People

    async def prepare(self, floor_indexes: bool = True) -> list[str]:
        migrate(self.root, self.dsn)
        conn = await asyncpg.connect(self.dsn)
        try:
            await seed_tasks.seed_users(conn, PasswordHasher().hash(seed_tasks.PASSWORD))
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            with naryad_server(self.root, self.dsn, port):
                for who in ("office", *(f"eng{i}" for i in range(seed_tasks.ENGINEERS))):
                    self.tokens[who] = await login(base, who, seed_tasks.PASSWORD)
                await make_counterparties(base, self.tokens["office"])
            await seed_tasks.seed_places(conn)
            self.people = await seed_tasks.people(conn)
            return await add_indexes(conn) if floor_indexes else []
        finally:
            await conn.close()

    async def reuse(self) -> int:
        """A database a run left: migrate it, log in again; how many tasks it holds."""
        migrate(self.root, self.dsn)
        conn = await asyncpg.connect(self.dsn)
        try:
            port = free_port()
            with naryad_server(self.root, self.dsn, port):
                base = f"http://127.0.0.1:{port}"
                for who in ("office", *(f"eng{i}" for i in range(seed_tasks.ENGINEERS))):
                    self.tokens[who] = await login(base, who, seed_tasks.PASSWORD)
            self.people = await seed_tasks.people(conn)
            await add_indexes(conn)
            return int(await conn.fetchval("SELECT count(*) FROM tasks"))
        finally:
            await conn.close()

    async def grow(self, n_before: int, n_after: int) -> None:
        conn = await asyncpg.connect(self.dsn)
        try:
            await seed_tasks.grow(conn, n_before, n_after)
        finally:
            await conn.close()


def cases(setup: Setup) -> dict[str, tuple[str, str, str]]:
    """list -> (naryad path, who asks, floor path)."""
    p = setup.people
    eng = p.engineer_ids[0]
    group = p.group_ids[2]
    cp = p.counterparty_ids[29]  # ~0.6 % of the tasks
    q = urllib.parse.quote(seed_tasks.Q_WORD)
    office = p.office_id
    return {
        "mine": ("/api/tasks?queue=mine", "eng0", f"/tasks?user={eng}&queue=mine"),
        "status": ("/api/tasks?status=new", "office", f"/tasks?user={office}&status=new"),
        "group": (f"/api/tasks?group={group}", "office", f"/tasks?user={office}&group={group}"),
        "counterparty": (
            f"/api/tasks?counterparty={cp}",
            "office",
            f"/tasks?user={office}&counterparty={cp}",
        ),
        "q": (f"/api/tasks?q={q}", "office", f"/tasks?user={office}&q={q}"),
    }


def compare(name: str, naryad: dict[str, Any], floor: dict[str, Any]) -> str:
    """'' when the pages agree; otherwise what differs (fatal for ids and values)."""
    n_ids = [t["id"] for t in naryad["items"]]
    f_ids = [t["id"] for t in floor["items"]]
    if n_ids != f_ids or naryad["next_cursor"] != floor["next_cursor"]:
        raise SystemExit(
            f"{name}: naryad and the floor return different pages:\n"
            f"  naryad {n_ids[:8]}... next {naryad['next_cursor']}\n"
            f"  floor  {f_ids[:8]}... next {floor['next_cursor']}"
        )
    if len(n_ids) < 50:
        raise SystemExit(f"{name}: only {len(n_ids)} rows; the benchmark needs a full page")
    notes = set()
    for a, b in zip(naryad["items"], floor["items"], strict=True):
        for key in a.keys() | b.keys():
            if key not in a or key not in b:
                notes.add(f"{key} only in {'naryad' if key in a else 'the floor'}")
            elif a[key] != b[key]:
                raise SystemExit(
                    f"{name}: task {a['id']} differs in {key!r}: naryad {a[key]!r}, "
                    f"floor {b[key]!r}"
                )
    return "; ".join(sorted(notes))


async def fetch_pages(base: str, paths: dict[str, tuple[str, dict[str, str]]]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        out = {}
        for name, (path, headers) in paths.items():
            resp = await c.get(path, headers=headers)
            assert resp.status_code == 200, (path, resp.status_code, resp.text[:500])
            out[name] = resp.json()
        return out


def fmt(w: Wrk) -> str:
    return (
        f"{w.rps:8.0f} req/s  p50 {w.p50_ms:6.2f} ms  p99 {w.p99_ms:6.2f} ms"
        f"  CPU/page: server {w.server_cpu_ms:.2f} ms, PostgreSQL {w.db_cpu_ms:.2f} ms"
    )


Measured = tuple[dict[str, dict[str, Wrk]], dict[str, dict[str, float]]]


async def measure_size(setup: Setup, size: int, args: argparse.Namespace) -> Measured:
    """({list: {"floor": median Wrk, "naryad": median Wrk}},
    {list: {"rps": median pair ratio, "p99": median pair ratio}}) for the data as it is now.

    Both servers run at once, each pinned to CPU 0 and idle while the other is measured;
    for every list the two runs are adjacent in time (floor, naryad; the next round naryad,
    floor), so a change of the machine's load falls on both sides of a pair alike. Each
    pair gives a ratio; the verdicts use the median of those ratios."""
    wanted = cases(setup)
    lists = [name for name in args.lists if name in wanted]
    runs: dict[str, dict[str, list[Wrk]]] = {n: {"floor": [], "naryad": []} for n in lists}
    ratios: dict[str, dict[str, list[float]]] = {n: {"rps": [], "p99": []} for n in lists}
    auth = {who: {"Authorization": f"Bearer {tok}"} for who, tok in setup.tokens.items()}
    log(f"\n== {size} tasks: load average {loadavg()} ==")
    ports = {"floor": free_port(), "naryad": free_port()}
    bases = {side: f"http://127.0.0.1:{port}" for side, port in ports.items()}
    paths = {
        "floor": {n: (wanted[n][2], {}) for n in lists},
        "naryad": {n: (wanted[n][0], auth[wanted[n][1]]) for n in lists},
    }
    with (
        floor_server(setup.dsn, ports["floor"]) as floor_proc,
        naryad_server(setup.root, setup.dsn, ports["naryad"]) as naryad_proc,
    ):
        pids = {"floor": floor_proc.pid, "naryad": naryad_proc.pid}
        pages = {side: await fetch_pages(bases[side], paths[side]) for side in bases}
        for name in lists:
            note = compare(name, pages["naryad"][name], pages["floor"][name])
            log(f"  {name}: same page from both" + (f" ({note})" if note else ""))
        for r in range(args.rounds):
            order = ("floor", "naryad") if r % 2 == 0 else ("naryad", "floor")
            for name in lists:
                pair: dict[str, Wrk] = {}
                # Both sides warm up on this list before either is measured: at 1M tasks the
                # list's pages are not all in PostgreSQL's buffers, and the first side to
                # read them after another list would pay for bringing them in.
                for side in order:
                    path, headers = paths[side][name]
                    url, conns = bases[side] + path, args.connections
                    wrk(url, seconds=args.warmup, connections=conns, headers=headers)
                for side in order:
                    path, headers = paths[side][name]
                    url, conns = bases[side] + path, args.connections
                    cpu0, db0 = cpu_seconds(pids[side]), postgres_cpu_seconds()
                    w = wrk(url, seconds=args.seconds, connections=conns, headers=headers)
                    if w.requests:
                        w.server_cpu_ms = (cpu_seconds(pids[side]) - cpu0) * 1000 / w.requests
                        w.db_cpu_ms = (postgres_cpu_seconds() - db0) * 1000 / w.requests
                    if w.errors:
                        raise SystemExit(f"{side} {name}: {w.errors} errors in {w.requests}")
                    runs[name][side].append(w)
                    pair[side] = w
                    log(f"  round {r + 1} {name:12} {side:6} {fmt(w)}")
                ratios[name]["rps"].append(pair["naryad"].rps / pair["floor"].rps)
                ratios[name]["p99"].append(pair["naryad"].p99_ms / pair["floor"].p99_ms)
    result = {n: {side: Wrk.median(runs[n][side]) for side in ("floor", "naryad")} for n in lists}
    log(f"-- {size} tasks, medians of {args.rounds} rounds (load average {loadavg()}) --")
    log(
        f"  {'list':12} {'side':6} {'req/s':>8}  {'p50 ms':>7}  {'p99 ms':>7}  "
        f"{'CPU/page ms: server':>19} {'PG':>5}   naryad/floor: median of the pairs (each pair)"
    )
    for name, sides in result.items():
        f, n = sides["floor"], sides["naryad"]
        rps, p99 = ratios[name]["rps"], ratios[name]["p99"]
        log(
            f"  {name:12} floor  {f.rps:8.0f}  {f.p50_ms:7.2f}  {f.p99_ms:7.2f}  "
            f"{f.server_cpu_ms:19.2f} {f.db_cpu_ms:5.2f}"
        )
        log(
            f"  {'':12} naryad {n.rps:8.0f}  {n.p50_ms:7.2f}  {n.p99_ms:7.2f}  "
            f"{n.server_cpu_ms:19.2f} {n.db_cpu_ms:5.2f}   "
            f"req/s {statistics.median(rps):.2f} ({', '.join(f'{x:.2f}' for x in rps)}), "
            f"p99 {statistics.median(p99):.2f}x ({', '.join(f'{x:.2f}' for x in p99)})"
        )
    medians = {n: {k: statistics.median(v) for k, v in ratios[n].items()} for n in lists}
    return result, medians


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--lists", default=",".join(LISTS))
    parser.add_argument("--root", type=Path, default=ROOT, help="the Naryad tree to measure")
    parser.add_argument("--keep-db", action="store_true", help="leave the database for a look")
    parser.add_argument("--db", help="measure a database a --keep-db run left (its name)")
    args = parser.parse_args()
    args.lists = [x for x in args.lists.split(",") if x]
    sizes = sorted(int(s) for s in args.sizes.split(","))
    root = args.root.resolve()

    if args.db:
        name, dsn = args.db, with_database(PG, args.db)
        args.keep_db = True
    else:
        name, dsn = await create_database("naryad_listbench")
    try:
        log(f"==> {name}; naryad from {root}; load average {loadavg()}")
        setup = Setup(root, dsn)
        n = 0
        if args.db:
            n = await setup.reuse()
            log(f"==> reusing it: {n} tasks")
            sizes = [s for s in sizes if s >= n] or [n]
        else:
            made = await setup.prepare()
            log(
                "==> indexes the floor reads that the migrations lack, made here: "
                + (", ".join(made) if made else "none")
            )
        results: dict[int, dict[str, dict[str, Wrk]]] = {}
        pair_ratios: dict[int, dict[str, dict[str, float]]] = {}
        for size in sizes:
            if size > n:
                log(f"==> growing to {size} tasks")
                await setup.grow(n, size)
                n = size
            results[size], pair_ratios[size] = await measure_size(setup, size, args)
        log(
            "\n== summary: naryad / floor, medians of the pairs (req/s ratio, target >= 0.75;"
            " p99 ratio) =="
        )
        log(f"  {'list':12} " + "  ".join(f"{s:>17}" for s in sizes))
        for lst in args.lists:
            cells = []
            for s in sizes:
                pr = pair_ratios[s][lst]
                cells.append(f"{pr['rps']:5.2f}; {pr['p99']:5.2f}x".rjust(17))
            log(f"  {lst:12} " + "  ".join(cells))
        big = [s for s in sizes if s >= 100_000]
        if len(big) >= 2:
            lo, hi = big[0], big[-1]
            log(f"\n== flatness: p99 at {hi} / p99 at {lo} (target <= 1.2 for naryad) ==")
            for lst in args.lists:
                ratios = {
                    side: results[hi][lst][side].p99_ms / results[lo][lst][side].p99_ms
                    for side in ("naryad", "floor")
                }
                log(f"  {lst:12} naryad {ratios['naryad']:5.2f}   floor {ratios['floor']:5.2f}")
        log(f"\nload average at the end: {loadavg()}")
    finally:
        if args.keep_db:
            log(f"database kept: {dsn}")
        else:
            await drop_database(name)


if __name__ == "__main__":
    asyncio.run(main())
