"""Task creation against django-helpdesk's ticket-create API (issue 21, target 4).

Run: .venv/bin/python bench/helpdesk_bench.py [--help]

Both sides create through HTTP on the same PostgreSQL (each in a database of its own, created
and dropped here), one server process pinned to CPU 0, wrk pinned to CPU 1 with the same
connections and duration, rounds interleaved (helpdesk, naryad, helpdesk, naryad, ...); each
server runs alone during its round (started, warmed up, measured, stopped).

- django-helpdesk (pinned below) is installed from PyPI into var/bench-helpdesk-venv (a venv
  of its own; nothing of it is in this repository), served by gunicorn with one sync worker,
  DEBUG off, persistent DB connections (bench/helpdesk/settings.py), DRF token auth.
  `POST /api/tickets/` with a queue, title, description, submitter e-mail and priority:
  TicketSerializer -> TicketForm.save: ticket row, "Ticket Opened" follow-up, two e-mails
  rendered from its templates (submitter, the queue's new-ticket CC; dummy mail backend, so
  nothing is delivered), the ticket with its follow-ups as the answer.
- Naryad, `naryad serve` (uvicorn, one process) on the demo company (`naryad seed-demo`),
  with Redis for jobs (as in production: a worker delivers; none runs here, so delivery is
  not measured). `POST /api/tasks` as the office, template remote_support, the counterparty
  named in the title (R2 finds it), rotating over seven counterparties: template and channel
  checks (R1, R3), R2 lookup, queue placement (R4), the task row and its number, the
  `created` history event (R12), SLA targets, contract link, only-site link, checklist copy,
  feed lines and notification outbox rows for the group's engineers (with their delivery
  jobs enqueued after the commit), the task as the answer.

Before timing it counts the SQL statements of one create on each side (in process: asyncpg
for Naryad, Django's CaptureQueriesContext for helpdesk).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
# The Naryad tree to measure: this one, or another (--root, e.g. an older commit exported
# with `git archive`) run with this tree's .venv.
NARYAD_ROOT = Path(os.environ.get("NARYAD_BENCH_ROOT", ROOT)).resolve()
sys.path.insert(0, str(NARYAD_ROOT))
NARYAD_CLI = [sys.executable, "-c", "from server.cli import main; main()"]  # `naryad`

PG = os.environ.get("NARYAD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = "redis://127.0.0.1:6379/15"  # a db of its own, flushed before and after
VENV = ROOT / "var" / "bench-helpdesk-venv"
HELPDESK_PINS = [
    "django-helpdesk==2.6.1",
    "Django==5.2.19",
    "djangorestframework==3.18.3",
    "psycopg[binary]==3.3.9",
    "gunicorn==27.0.1",
]
# Seven counterparties of the demo company, each named in its title as R2 requires.
TITLES = [
    "Ромашка: не проходит оплата картой",
    "Кофе Хаус Арбат: касса не видит дисконтные карты",
    "Вкусно и Точка: сброс пароля кассира",
    "Северная звезда: ошибка обмена с 1С",
    "Хлебница: не выгружаются продажи в ЕГАИС",
    "АптекаПлюс: настроить маркировку в кассовой программе",
    "Сидоров: продлить лицензию кассовой программы",
]
DESCRIPTION = "Терминал отвечает «нет связи с банком», чеки не печатаются."


def log(msg: str = "") -> None:
    print(msg, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dsn_of(name: str) -> str:
    return PG.rpartition("/")[0] + "/" + name


async def sql_value(dsn: str, sql: str) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def backend_pids(dsn: str) -> list[int]:
    """The PostgreSQL backends serving a database (the server's pooled connections)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
        return [int(r["pid"]) for r in rows]
    finally:
        await conn.close()


def session_pids(session: int) -> list[int]:
    """Every process of a session (gunicorn's master and worker; uvicorn)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session:  # the session id (man 5 proc: field 6)
                pids.append(int(stat.parent.name))
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time used so far by these processes."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / ticks


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


# --- django-helpdesk ---------------------------------------------------------------------


def ensure_helpdesk_venv() -> Path:
    python = VENV / "bin" / "python"
    marker = VENV / "pins.txt"
    if not python.exists() or not marker.exists() or marker.read_text() != "\n".join(HELPDESK_PINS):
        log(f"==> installing {', '.join(HELPDESK_PINS)} into {VENV}")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *HELPDESK_PINS], check=True)
        marker.write_text("\n".join(HELPDESK_PINS))
    return python


def helpdesk_env(db_name: str) -> dict[str, str]:
    parts = PG.rpartition("/")[0].split("://", 1)[1]  # user@host:port
    user, _, hostport = parts.rpartition("@")
    host, _, port = hostport.partition(":")
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.helpdesk.settings",
        "PYTHONPATH": str(ROOT),
        "HELPDESK_BENCH_DB": db_name,
        "HELPDESK_BENCH_USER": user or "postgres",
        "HELPDESK_BENCH_HOST": host or "127.0.0.1",
        "HELPDESK_BENCH_PORT": port or "5432",
    }


def helpdesk_prepare(python: Path, db_name: str) -> dict[str, Any]:
    env = helpdesk_env(db_name)
    subprocess.run(
        [str(python), "-m", "django", "migrate", "-v", "0"], env=env, cwd=ROOT, check=True
    )
    out = subprocess.run(
        [str(python), "-m", "bench.helpdesk.setup_data", "count"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    info: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return info


# --- Naryad ------------------------------------------------------------------------------


class QueryLog:
    """Every statement sent through asyncpg in this process while active (Piccolo's queries,
    BEGIN/COMMIT/SAVEPOINT, the pool's reset on release)."""

    METHODS = ("execute", "executemany", "fetch", "fetchrow", "fetchval")

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.active = False

    @contextlib.contextmanager
    def installed(self) -> Iterator[QueryLog]:
        originals = {m: getattr(asyncpg.Connection, m) for m in self.METHODS}

        def wrap(name: str) -> Any:
            original = originals[name]

            async def logged(conn: Any, query: str, *args: Any, **kwargs: Any) -> Any:
                if self.active:
                    self.statements.append(" ".join(query.split()))
                return await original(conn, query, *args, **kwargs)

            return logged

        for m in self.METHODS:
            setattr(asyncpg.Connection, m, wrap(m))
        try:
            yield self
        finally:
            for m, original in originals.items():
                setattr(asyncpg.Connection, m, original)


def naryad_env(dsn: str, root: Path = NARYAD_ROOT) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(root),
        "NARYAD_BENCH_ROOT": str(root),
        "NARYAD_DATABASE_URL": dsn,
        "NARYAD_REDIS_URL": REDIS,
        "NARYAD_LOG_LEVEL": "WARNING",
    }


def naryad_body(n: int) -> dict[str, Any]:
    title = TITLES[n % len(TITLES)]
    return {"template": "remote_support", "title": title, "description": DESCRIPTION}


def naryad_prepare(dsn: str, root: Path = NARYAD_ROOT) -> dict[str, Any]:
    """Migrate and seed the demo company (the CLI), add an SLA rule, count the statements
    of one create (in a process of its own, on the measured tree)."""
    for command in ("migrate", "seed-demo"):
        subprocess.run(
            [*NARYAD_CLI, command],
            env=naryad_env(dsn, root),
            cwd=root,
            check=True,
            capture_output=True,
        )
    out = subprocess.run(
        [sys.executable, __file__, "--count-naryad", dsn],
        env=naryad_env(dsn, root),
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    info: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return info


async def naryad_count(dsn: str) -> dict[str, Any]:
    """Give remote support an SLA (working hours, reaction 30 min, resolution 4 h), then
    one create through the real app in this process, its statements logged."""
    from litestar.testing import AsyncTestClient

    from server import db, demo
    from server.app import create_app

    engine = db.configure_database(dsn)
    queries = QueryLog()
    with queries.installed():
        async with AsyncTestClient(app=create_app()) as client:

            async def login(name: str) -> dict[str, str]:
                body = {"login": name, "password": demo.DEMO_PASSWORD}
                resp = await client.post("/api/auth/login", json=body)
                resp.raise_for_status()
                return {"Authorization": f"Bearer {resp.json()['token']}"}

            admin = await login("admin")
            week = {str(d): [["09:00", "18:00"]] for d in range(5)}
            resp = await client.post(
                "/api/sla/calendars", json={"name": "Москва 9–18", "week": week}, headers=admin
            )
            assert resp.status_code == 201, resp.text
            rule = {
                "name": "Удалённая поддержка, рабочие часы",
                "template": "remote_support",
                "calendar_id": resp.json()["id"],
                "reaction_minutes": 30,
                "resolution_minutes": 240,
            }
            resp = await client.post("/api/sla/rules", json=rule, headers=admin)
            assert resp.status_code == 201, resp.text
            headers = await login("office")
            token = headers["Authorization"].removeprefix("Bearer ")
            for n in range(3):  # warm caches (templates, R2 word forms, prepared statements)
                resp = await client.post("/api/tasks", json=naryad_body(n), headers=headers)
                assert resp.status_code == 201, resp.text
            queries.active = True
            resp = await client.post("/api/tasks", json=naryad_body(0), headers=headers)
            queries.active = False
            assert resp.status_code == 201, resp.text
            task = resp.json()
            assert task["counterparty"] and task["group"] and task["due_resolution_at"], task
    calls = await python_calls(headers)
    if getattr(engine, "pool", None) is not None:
        await engine.close_connection_pool()  # type: ignore[no-untyped-call]
    return {"token": token, "queries": queries.statements, "calls": calls, "example": task}


async def python_calls(headers: dict[str, str], n: int = 50) -> dict[str, float]:
    """Python function calls (Python and C) per create, in all and in each TaskCreated
    subscriber: a measure of the work that the machine's load does not blur. The app runs
    in this thread (sys.setprofile sees one thread), called through httpx's ASGI transport."""
    from server.app import create_app
    from server.lib import events
    from server.tasks.events import TaskCreated

    calls = Counter[str]()
    where = ["the rest"]

    def count(_frame: Any, event: str, _arg: Any) -> None:
        if event in ("call", "c_call"):
            calls[where[-1]] += 1

    def counted(handler: Any) -> Any:
        name = f"{handler.__module__}.{handler.__qualname__}"

        async def run(event: Any) -> None:
            where.append(name)
            try:
                await handler(event)
            finally:
                where.pop()

        return run

    key: tuple[type[events.Event], events.Phase] = (TaskCreated, "during")
    handlers = events._handlers[key]
    events._handlers[key] = [counted(h) for h in handlers]
    app = create_app()
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    try:
        async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://b") as c:
            for i in range(5):  # warm up this app's caches
                await c.post("/api/tasks", json=naryad_body(i), headers=headers)
            sys.setprofile(count)
            try:
                for i in range(n):
                    resp = await c.post("/api/tasks", json=naryad_body(i), headers=headers)
                    assert resp.status_code == 201, resp.text
            finally:
                sys.setprofile(None)
    finally:
        events._handlers[key] = handlers
    return {name: total / n for name, total in calls.most_common()}


# --- load ---------------------------------------------------------------------------------

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = [==[{auth}]==]
local bodies = {{ {bodies} }}
local i = 0
request = function()
  i = i + 1
  return wrk.format(nil, nil, nil, bodies[(i % #bodies) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {{\\"requests\\":%d,\\"duration_us\\":%d,\\"bad_status\\":%d," ..
    "\\"socket_errors\\":%d,\\"p50_us\\":%d,\\"p99_us\\":%d}}\\n",
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def lua_script(auth: str, bodies: list[dict[str, Any]]) -> str:
    quoted = ", ".join(f"[==[{json.dumps(b, ensure_ascii=False)}]==]" for b in bodies)
    path = Path(tempfile.mkstemp(prefix="helpdesk-bench-", suffix=".lua")[1])
    path.write_text(LUA.format(auth=auth, bodies=quoted))
    return str(path)


def wrk(url: str, script: str, connections: int, seconds: int) -> dict[str, Any]:
    out = subprocess.run(
        [
            "taskset",
            "-c",
            "1",
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "30s",
            "-s",
            script,
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"^WRKJSON (.*)$", out, re.M)
    assert match, out
    result: dict[str, Any] = json.loads(match.group(1))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


class Side:
    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        url: str,
        probe: str,
        script: str,
        count_sql: str,
        dsn: str,
        cwd: Path = ROOT,
    ) -> None:
        self.name, self.argv, self.env, self.url, self.probe = name, argv, env, url, probe
        self.script, self.count_sql, self.dsn, self.cwd = script, count_sql, dsn, cwd
        self.results: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def running(self) -> Iterator[int]:
        (ROOT / "test-output").mkdir(exist_ok=True)
        logfile = open(ROOT / "test-output" / f"bench-helpdesk-{self.name}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            ["taskset", "-c", "0", *self.argv],
            env=self.env,
            cwd=self.cwd,  # a Naryad tree imports from its own folder first (python -c)
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(self.probe, timeout=2).status_code < 500:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{self.name} did not start; see {logfile.name}")
                time.sleep(0.2)
            yield proc.pid
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            logfile.close()

    def rows(self) -> int:
        return int(asyncio.run(sql_value(self.dsn, self.count_sql)))

    def settled_rows(self) -> int:
        """The row count once requests still queued in the server (wrk stops waiting for
        them when its time is up) have been answered."""
        count = self.rows()
        while True:
            time.sleep(0.5)
            now = self.rows()
            if now == count:
                return count
            count = now

    def round(self, n: int, connections: int, warmup: int, seconds: int) -> None:
        with self.running() as session:
            wrk(self.url, self.script, connections, warmup)
            before = self.settled_rows()
            backends = asyncio.run(backend_pids(self.dsn))
            cpu_before = cpu_seconds(session_pids(session)), cpu_seconds(backends)
            load_before = loadavg()
            result = wrk(self.url, self.script, connections, seconds)
            result["rows"] = self.settled_rows() - before
            server_cpu = cpu_seconds(session_pids(session)) - cpu_before[0]
            pg_cpu = cpu_seconds(backends) - cpu_before[1]
            result["load"] = f"{load_before} -> {loadavg()}"
        rows = max(result["rows"], 1)
        result["server_cpu_ms"] = server_cpu * 1000 / rows
        result["pg_cpu_ms"] = pg_cpu * 1000 / rows
        self.results.append(result)
        log(
            f"  round {n} {self.name:8} {result['rps']:7.1f} req/s  "
            f"p50 {result['p50_us'] / 1000:7.1f} ms  p99 {result['p99_us'] / 1000:7.1f} ms  "
            f"CPU per create: server {result['server_cpu_ms']:5.1f} ms, "
            f"PostgreSQL {result['pg_cpu_ms']:5.1f} ms  "
            f"(rows +{result['rows']}, wrk answered {result['requests']}, "
            f"non-2xx {result['bad_status']}, socket errors {result['socket_errors']})  "
            f"load {result['load']}"
        )
        if result["bad_status"]:
            raise SystemExit(f"{self.name}: {result['bad_status']} answers were not 2xx")


def shape(statement: str) -> str:
    words = statement.split()
    return " ".join(words[:6])[:90]


def print_queries(name: str, statements: list[str]) -> None:
    log(f"  {name}: {len(statements)} statements")
    for text, n in Counter(shape(s) for s in statements).most_common():
        log(f"    {n:3} x {text}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per side (interleaved)")
    parser.add_argument("--seconds", type=int, default=15, help="measured seconds per round")
    parser.add_argument("--warmup", type=int, default=3, help="unmeasured seconds per round")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections, both sides")
    parser.add_argument("--keep", action="store_true", help="keep the two databases")
    parser.add_argument(
        "--before",
        type=Path,
        metavar="DIR",
        help="also measure the Naryad tree in DIR (e.g. an older commit exported with "
        "`git archive`), interleaved with this one: helpdesk, before, naryad, ...",
    )
    parser.add_argument("--count-naryad", metavar="DSN", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.count_naryad:  # the child process of naryad_prepare, importing from its tree
        print(json.dumps(asyncio.run(naryad_count(args.count_naryad))))
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk")

    python = ensure_helpdesk_venv()
    tag = uuid.uuid4().hex[:8]
    trees = {"naryad": NARYAD_ROOT}
    if args.before:
        trees = {"before": args.before.resolve(), **trees}
    databases = {"helpdesk": f"helpdesk_bench_{tag}"}
    databases.update({name: f"naryad_hdbench_{name}_{tag}" for name in trees})
    for database in databases.values():
        asyncio.run(sql_value(PG, f'CREATE DATABASE "{database}"'))
    redis_flush = ["redis-cli", "-u", REDIS, "flushdb"]
    subprocess.run(redis_flush, check=True, capture_output=True)
    scripts: list[str] = []
    try:
        log(f"==> databases {', '.join(databases.values())}; load average {loadavg()}")
        hd = helpdesk_prepare(python, databases["helpdesk"])
        log("\n== statements of one create (after warm-up) ==")
        print_queries("django-helpdesk POST /api/tickets/", hd["queries"])
        hd_port = free_port()
        sides = [
            Side(
                "helpdesk",
                [
                    str(VENV / "bin" / "gunicorn"),
                    "bench.helpdesk.wsgi:application",
                    "--workers",
                    "1",
                    "--bind",
                    f"127.0.0.1:{hd_port}",
                    "--log-level",
                    "warning",
                ],
                helpdesk_env(databases["helpdesk"]),
                f"http://127.0.0.1:{hd_port}/api/tickets/",
                f"http://127.0.0.1:{hd_port}/api/tickets/",
                lua_script(
                    f"Token {hd['token']}",
                    [
                        {
                            "queue": hd["queue_id"],
                            "title": t,
                            "description": DESCRIPTION,
                            "submitter_email": "director@romashka.example",
                            "priority": 3,
                        }
                        for t in TITLES
                    ],
                ),
                "SELECT count(*) FROM helpdesk_ticket",
                dsn_of(databases["helpdesk"]),
            )
        ]
        for name, root in trees.items():
            dsn = dsn_of(databases[name])
            nr = naryad_prepare(dsn, root)
            print_queries(f"naryad POST /api/tasks ({name}: {root})", nr["queries"])
            total = sum(nr["calls"].values())
            log(f"  its Python function calls per create: {total:.0f}")
            for where, calls in nr["calls"].items():
                log(f"    {calls:7.0f}  {calls / total:4.0%}  {where}")
            port = free_port()
            sides.append(
                Side(
                    name,
                    [*NARYAD_CLI, "serve", "--port", str(port)],
                    naryad_env(dsn, root),
                    f"http://127.0.0.1:{port}/api/tasks",
                    f"http://127.0.0.1:{port}/api/tasks",
                    lua_script(
                        f"Bearer {nr['token']}", [naryad_body(n) for n in range(len(TITLES))]
                    ),
                    "SELECT count(*) FROM tasks",
                    dsn,
                    cwd=root,
                )
            )
        scripts += [side.script for side in sides]
        log(
            f"\n== POST create, {args.connections} connections, {args.seconds:g} s per round "
            f"(+{args.warmup:g} s warm-up), server on CPU 0, wrk on CPU 1 =="
        )
        for n in range(1, args.rounds + 1):
            for side in sides:
                side.round(n, args.connections, args.warmup, args.seconds)

        log("\n== summary ==")
        for side in sides:
            rps = [r["rps"] for r in side.results]
            log(
                f"  {side.name:8} req/s median {statistics.median(rps):7.1f} "
                f"(rounds: {', '.join(f'{x:.1f}' for x in rps)})  "
                f"p50 median {statistics.median(r['p50_us'] for r in side.results) / 1000:.1f} ms  "
                f"p99 median {statistics.median(r['p99_us'] for r in side.results) / 1000:.1f} ms  "
                f"CPU per create median: server "
                f"{statistics.median(r['server_cpu_ms'] for r in side.results):.1f} ms, "
                f"PostgreSQL {statistics.median(r['pg_cpu_ms'] for r in side.results):.1f} ms"
            )
        for side in sides[1:]:
            pairs = zip(sides[0].results, side.results, strict=True)
            ratios = [n["rps"] / h["rps"] for h, n in pairs]
            log(
                f"  {side.name} / helpdesk throughput per round: "
                f"{', '.join(f'{r:.2f}' for r in ratios)}; median {statistics.median(ratios):.2f}"
                f" (target >= 5)"
            )
        log(f"  load average at the end: {loadavg()}")
    finally:
        for script in scripts:
            Path(script).unlink(missing_ok=True)
        subprocess.run(redis_flush, check=False, capture_output=True)
        if not args.keep:
            for database in databases.values():
                asyncio.run(sql_value(PG, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
