"""Knowledge-base search benchmark over HTTP: 10 000 articles, PostgreSQL and SQLite.

Run: .venv/bin/python bench/kb_bench.py [--articles N] [--seconds S] [--rounds N]
     [--connections N] [--engines postgres,sqlite]

It loads the articles through the real migrations, starts two uvicorn processes pinned to
CPU 0 — Naryad, and the baselines of bench/kb_baseline_app.py — and drives them with wrk
pinned to CPU 1 (`taskset`), one path after the other, round after round (A, B, C, … A, B,
C, …), so whatever else runs on the machine slows every path alike:

- baseline: bare FTS — ids of the first 20 matches, no rank, no auth, straight asyncpg
  (SQLite: sqlite3): what any search costs at least;
- baseline: Naryad's SQL — the very statement GET /api/kb/search runs, through the bare
  driver: the difference to the next line is what Naryad's own code costs;
- naryad search: GET /api/kb/search?q= as an office user (auth, the query, the hits);
- naryad search, client: the same as a client (public articles only);
- naryad suggest: GET /api/kb/suggest?title= as a client («у нас кассы не работает»).

Each request takes the next of 8 queries («кассы», «принтера чек», «ОФД», …). wrk keeps
every latency; the rounds' histograms are merged, so p50/p99 are over all requests of a
path. Target: p99 <= 20 ms on every naryad path. PostgreSQL at NARYAD_TEST_DATABASE_URL
(its own database, dropped at the end); SQLite in a temporary file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import msgspec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server import db  # noqa: E402
from server import settings as process_settings  # noqa: E402
from server.accounts import service as accounts  # noqa: E402
from server.accounts.schemas import UserIn  # noqa: E402
from server.clients import service as clients  # noqa: E402
from server.clients.schemas import CounterpartyIn  # noqa: E402
from server.kb import markdown  # noqa: E402
from server.kb.tables import Article  # noqa: E402
from server.lib import clock  # noqa: E402
from server.settings import Settings  # noqa: E402

PG = os.environ.get("NARYAD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
TARGET_P99_MS = 20.0
SERVER_CPU, WRK_CPU = "0", "1"
SUBJECTS = [
    "касса",
    "принтер",
    "сканер",
    "терминал",
    "роутер",
    "весы",
    "фискальный накопитель",
    "дисплей покупателя",
    "эквайринг",
    "iiko",
    "r_keeper",
    "VPN",
]
PROBLEMS = [
    "не печатает чек",
    "не включается",
    "зависает при оплате",
    "не видит сеть",
    "ошибка обмена с ОФД",
    "медленно работает",
    "не проходит оплата картой",
    "сбились настройки",
]
# PostgreSQL gets words in other forms than the articles' (its Russian configuration
# stems them); SQLite FTS5 matches exact words, so it gets the forms as written.
QUERIES = [
    "кассы",
    "принтера чек",
    "фискального накопителя",
    "терминал оплата",
    "роутер сеть",
    "iiko",
    "сканер",
    "ОФД",
]
QUERIES_SQLITE = [
    "касса",
    "принтер чек",
    "фискальный накопитель",
    "терминал оплата",
    "роутер сеть",
    "iiko",
    "сканер",
    "ОФД",
]
PASSWORD = "bench-pass-1"

# wrk: each request takes the next path of the list; at the end every distinct latency
# (microseconds) and its count go to a file, so rounds can be merged exactly.
WRK_SCRIPT = """
local paths = {%(paths)s}
local i = 0
wrk.headers["Authorization"] = "%(auth)s"
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  local f = io.open("%(out)s", "w")
  f:write(string.format("%%d %%d %%d\\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout, summary.duration))
  for n = 1, #latency do
    local value, count = latency(n)
    f:write(string.format("%%d %%d\\n", value, count))
  end
  f:close()
end
"""


def log(text: str) -> None:
    print(text, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def load(count: int, rng: random.Random) -> None:
    """The articles, through the table as the service writes them (summary and search
    text derived the same way)."""
    now = clock.now()
    batch: list[Article] = []
    for i in range(count):
        subject, problem = rng.choice(SUBJECTS), rng.choice(PROBLEMS)
        body = (
            f"## Признаки\n\n{subject} — {problem}. Проверьте кабели, питание и настройки.\n\n"
            f"## Решение\n\n1. Перезагрузите {subject}.\n2. Обновите драйвер.\n"
            f"3. Если {rng.choice(PROBLEMS)}, звоните в поддержку."
        )
        html = markdown.render(body)
        plain = markdown.plain_text(html)
        batch.append(
            Article(
                title=f"{subject.capitalize()}: {problem} ({i})",
                body=body,
                body_html=html,
                summary=markdown.summary(plain),
                tags=[subject],
                public=i % 3 != 0,
                search_text=f"{subject} {plain}",
                created_at=now,
                updated_at=now,
            )
        )
        if len(batch) == 500:
            await Article.insert(*batch)
            batch = []
    if batch:
        await Article.insert(*batch)


async def user(login: str, roles: list[str], counterparty_id: int | None = None) -> None:
    await accounts.create_user(
        msgspec.convert(
            {
                "login": login,
                "password": PASSWORD,
                "full_name": login.title(),
                "surname": login,
                "roles": roles,
                "counterparty_id": counterparty_id,
            },
            UserIn,
        )
    )


def start(module: str, env: dict[str, str], probe: str, name: str) -> subprocess.Popen[bytes]:
    port = probe.split(":")[2].split("/")[0]
    (ROOT / "test-output").mkdir(exist_ok=True)
    out = open(ROOT / "test-output" / f"kb-bench-{name}.log", "wb")  # noqa: SIM115
    proc_env = {**os.environ, **env, "NARYAD_LOG_LEVEL": "WARNING"}
    proc_env.pop("NARYAD_REDIS_URL", None)
    proc = subprocess.Popen(
        ["taskset", "-c", SERVER_CPU, sys.executable, "-m", "uvicorn", module, "--factory",
         "--host", "127.0.0.1", "--port", port, "--no-access-log", "--log-level", "warning"],
        env=proc_env,
        cwd=ROOT,
        stdout=out,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(probe, timeout=1).status_code < 500:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{module} did not start; see {out.name}")


def wrk(
    base: str, paths: list[str], auth: str, seconds: int, connections: int, tmp: Path
) -> tuple[int, int, dict[int, int]]:
    """One wrk run pinned to WRK_CPU: (requests, errors, {latency µs: count})."""
    out = tmp / f"wrk-{uuid.uuid4().hex[:6]}.txt"
    script = tmp / "paths.lua"
    script.write_text(
        WRK_SCRIPT % {"paths": ", ".join(json.dumps(p) for p in paths), "auth": auth, "out": out}
    )
    subprocess.run(
        ["taskset", "-c", WRK_CPU, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s",
         "-s", str(script), base],
        check=True,
        capture_output=True,
    )  # fmt: skip
    first, *rest = out.read_text().splitlines()
    requests, errors, _ = (int(x) for x in first.split())
    histogram: dict[int, int] = {}
    for line in rest:
        value, count = (int(x) for x in line.split())
        histogram[value] = histogram.get(value, 0) + count
    return requests, errors, histogram


def percentile(histogram: dict[int, int], p: float) -> float:
    """The p-th percentile in ms of a {µs: count} histogram."""
    total = sum(histogram.values())
    rank = max(1, round(p / 100 * total))
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value / 1000
    return max(histogram) / 1000


async def check(naryad: str, baseline: str, office: str, client: str, queries: list[str]) -> None:
    """Before timing: the paths answer, naryad and its bare SQL agree, morphology works."""
    async with httpx.AsyncClient(timeout=30) as http:
        for q in queries:
            mine = await http.get(
                f"{naryad}/api/kb/search", params={"q": q}, headers={"Authorization": office}
            )
            same = await http.get(f"{baseline}/same", params={"q": q})
            bare = await http.get(f"{baseline}/bare", params={"q": q})
            assert mine.status_code == same.status_code == bare.status_code == 200
            ids = [h["id"] for h in mine.json()["items"]]
            assert ids == [r["id"] for r in same.json()["items"]], q
            assert ids and bare.json()["items"], q
            assert "body" not in mine.json()["items"][0]
        hits = (
            await http.get(
                f"{naryad}/api/kb/search",
                params={"q": queries[0]},
                headers={"Authorization": client},
            )
        ).json()["items"]
        assert hits and all(h["public"] for h in hits)
        log(
            f"  «{queries[0]}» finds {len(hits)} public articles for a client, "
            f"first: {hits[0]['title']}"
        )


async def run_engine(kind: str, url: str, args: argparse.Namespace, tmp: Path) -> bool:
    engine = db.configure_database(url)
    await db.migrate()
    log(f"==> {kind}: {args.articles} articles")
    await load(args.articles, random.Random(7))
    if kind == "postgres":
        await Article.raw("ANALYZE kb_articles")
    cp = await clients.create_counterparty(CounterpartyIn(name="Ромашка"))
    await user("office", ["office"])
    await user("client", ["client"], cp.id)
    if kind == "postgres" and engine.pool is not None:  # type: ignore[attr-defined]
        await engine.close_connection_pool()  # type: ignore[no-untyped-call]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        naryad = f"http://127.0.0.1:{free_port()}"
        procs.append(
            start(
                "server.app:app_from_env",
                {"NARYAD_DATABASE_URL": url, "NARYAD_PUBLIC_URL": naryad},
                f"{naryad}/schema/openapi.json",
                f"naryad-{kind}",
            )
        )
        baseline = f"http://127.0.0.1:{free_port()}"
        procs.append(
            start(
                "bench.kb_baseline_app:create_app",
                {"BENCH_DSN": url},
                f"{baseline}/bare?q=x",
                f"baseline-{kind}",
            )
        )
        tokens = {}
        async with httpx.AsyncClient(base_url=naryad, timeout=30) as http:
            for login in ("office", "client"):
                resp = await http.post(
                    "/api/auth/login", json={"login": login, "password": PASSWORD}
                )
                resp.raise_for_status()
                tokens[login] = f"Bearer {resp.json()['token']}"
        queries = QUERIES_SQLITE if kind == "sqlite" else QUERIES
        await check(naryad, baseline, tokens["office"], tokens["client"], queries)

        encoded = [quote(q) for q in queries]
        titles = [quote(f"у нас {q} не работает") for q in queries]
        paths: list[tuple[str, str, list[str], str]] = [
            ("baseline: bare FTS (ids, no rank)", baseline, [f"/bare?q={q}" for q in encoded], ""),
            (
                "baseline: naryad's SQL, bare driver",
                baseline,
                [f"/same?q={q}" for q in encoded],
                "",
            ),
            (
                "naryad search (office)",
                naryad,
                [f"/api/kb/search?q={q}" for q in encoded],
                tokens["office"],
            ),
            (
                "naryad search, client",
                naryad,
                [f"/api/kb/search?q={q}" for q in encoded],
                tokens["client"],
            ),
            (
                "naryad suggest, client",
                naryad,
                [f"/api/kb/suggest?title={t}" for t in titles],
                tokens["client"],
            ),
        ]
        for _, base, urls, auth in paths:  # warm-up: connections, caches, first plans
            wrk(base, urls, auth, 2, args.connections, tmp)
        results: dict[str, list[Any]] = {label: [0, 0, {}, []] for label, _, _, _ in paths}
        loads = []
        for _ in range(args.rounds):
            for label, base, urls, auth in paths:
                requests, errors, histogram = wrk(
                    base, urls, auth, args.seconds, args.connections, tmp
                )
                results[label][0] += requests
                results[label][1] += errors
                for value, count in histogram.items():
                    results[label][2][value] = results[label][2].get(value, 0) + count
                results[label][3].append(percentile(histogram, 99))
                loads.append(os.getloadavg()[0])
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)

    log(
        f"  wrk -t1 -c{args.connections}, {args.seconds} s per path per round, "
        f"{args.rounds} rounds interleaved; servers on CPU {SERVER_CPU}, wrk on CPU {WRK_CPU}"
    )
    log(
        f"  {'path':38} {'requests':>8} {'errors':>6} {'p50 ms':>7} {'p90 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>7} {'p50/bare':>8} {'p99/bare':>8}"
    )
    bare = results[paths[0][0]][2]
    b50, b99 = percentile(bare, 50), percentile(bare, 99)
    worst = 0.0
    for label, (requests, errors, histogram, _) in results.items():
        p50, p90, p99 = (percentile(histogram, p) for p in (50, 90, 99))
        if label.startswith("naryad"):
            worst = max(worst, p99)
        log(
            f"  {label:38} {requests:8d} {errors:6d} {p50:7.2f} {p90:7.2f} {p99:7.2f} "
            f"{max(histogram) / 1000:7.2f} {p50 / b50:8.1f} {p99 / b99:8.1f}"
        )
    log("  p99 ms of each round (how much the machine's other work moves the tail):")
    for label, (*_, by_round) in results.items():
        log(f"  {label:38} " + " ".join(f"{p:7.2f}" for p in by_round))
    ok = worst <= TARGET_P99_MS
    log(f"  {kind}: every naryad path p99 <= {TARGET_P99_MS:g} ms: {'met' if ok else 'NOT met'}")
    log(
        f"  load average (1 min) during the rounds: {min(loads):.1f} to {max(loads):.1f} "
        f"on {os.cpu_count()} CPUs"
    )
    return ok


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=5, help="per path per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=1, help="wrk connections")
    parser.add_argument("--engines", default="postgres,sqlite")
    args = parser.parse_args()
    for tool in ("wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing (apt-get install wrk util-linux)")
    process_settings.install(Settings.from_env({}))
    engines = args.engines.split(",")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if "postgres" in engines:
            name = f"naryad_kb_{uuid.uuid4().hex[:8]}"
            admin = await asyncpg.connect(PG)
            await admin.execute(f'CREATE DATABASE "{name}"')
            try:
                await run_engine("postgres", f"{PG.rpartition('/')[0]}/{name}", args, tmp)
            finally:
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                    name,
                )
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
                await admin.close()
        if "sqlite" in engines:
            await run_engine("sqlite", f"sqlite:///{tmp}/kb.db", args, tmp)


if __name__ == "__main__":
    asyncio.run(main())
