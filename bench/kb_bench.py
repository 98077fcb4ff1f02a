"""Knowledge-base search benchmark: 10 000 articles, PostgreSQL and SQLite.

Run: .venv/bin/python bench/kb_bench.py [--articles N] [--queries N] [--engines postgres,sqlite]

Times, in the same run on the same database, what GET /api/kb/search does below HTTP:
- naryad search: server.kb.service.search (the FTS id query — PostgreSQL: the generated
  tsvector, Russian and English configurations, GIN index, ts_rank; SQLite: FTS5, bm25 —
  then the articles loaded through Piccolo), as an employee;
- naryad search, client: the same with `public` only;
- naryad suggest: the portal's "any word" query for a typed request title;
and, as the same-run baseline:
- bare FTS: one hand-written FTS query of ids only (PostgreSQL
  `search @@ plainto_tsquery('russian', $1) LIMIT 20`, SQLite `MATCH`), straight through
  the driver — what any search costs at least.
Target: p99 <= 20 ms for every naryad path. PostgreSQL at NARYAD_TEST_DATABASE_URL;
creates and drops its own database (and a temporary SQLite file).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server import db
from server import settings as process_settings
from server.kb import markdown
from server.kb import service as kb
from server.kb.tables import Article
from server.lib import clock
from server.lib.actor import Actor
from server.settings import Settings

PG = os.environ.get("NARYAD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
TARGET_P99_MS = 20.0
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
EMPLOYEE = Actor(1, "bench", "Bench", frozenset({"office"}), frozenset(), None)
CLIENT = Actor(2, "client", "Client", frozenset({"client"}), frozenset(), 1)


def log(text: str) -> None:
    print(text, flush=True)


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def timed(fn: Callable[[str], Awaitable[Any]], args: list[str]) -> list[float]:
    out = []
    for arg in args:
        t0 = time.perf_counter()
        await fn(arg)
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def load(count: int, rng: random.Random) -> None:
    now = clock.now()
    batch: list[Article] = []
    for i in range(count):
        subject, problem = rng.choice(SUBJECTS), rng.choice(PROBLEMS)
        title = f"{subject.capitalize()}: {problem} ({i})"
        body = (
            f"## Признаки\n\n{subject} — {problem}. Проверьте кабели, питание и настройки.\n\n"
            f"## Решение\n\n1. Перезагрузите {subject}.\n2. Обновите драйвер.\n"
            f"3. Если {rng.choice(PROBLEMS)}, звоните в поддержку."
        )
        html = markdown.render(body)
        batch.append(
            Article(
                title=title,
                body=body,
                body_html=html,
                tags=[subject],
                public=i % 3 != 0,
                search_text=f"{subject} {markdown.plain_text(html)}",
                created_at=now,
                updated_at=now,
            )
        )
        if len(batch) == 500:
            await Article.insert(*batch)
            batch = []
    if batch:
        await Article.insert(*batch)


async def run_engine(kind: str, url: str, args: argparse.Namespace) -> dict[str, list[float]]:
    engine = db.configure_database(url)
    await db.migrate()
    if kind == "postgres":
        await engine.start_connection_pool(min_size=1, max_size=2)  # type: ignore[attr-defined]
    try:
        log(f"==> {kind}: {args.articles} articles")
        await load(args.articles, random.Random(7))
        if kind == "postgres":
            await Article.raw("ANALYZE kb_articles")
        queries = [QUERIES[i % len(QUERIES)] for i in range(args.queries)]
        titles = [f"у нас {q} не работает" for q in queries]

        if kind == "postgres":
            bare_sql = (
                "SELECT id FROM kb_articles WHERE search @@ plainto_tsquery('russian', {}) LIMIT 20"
            )

            async def bare(q: str) -> Any:
                return await Article.raw(bare_sql, q)
        else:
            bare_sql = "SELECT rowid FROM kb_articles_fts WHERE kb_articles_fts MATCH {} LIMIT 20"

            async def bare(q: str) -> Any:
                return await Article.raw(bare_sql, kb.fts5_query(q, any_word=False))

        paths: list[tuple[str, Callable[[str], Awaitable[Any]], list[str]]] = [
            ("bare FTS query (baseline)", bare, queries),
            (
                "naryad id query (ranked)",
                lambda q: kb.search_ids(q, public_only=False, any_word=False, limit=20),
                queries,
            ),
            ("naryad search", lambda q: kb.search(EMPLOYEE, q), queries),
            ("naryad search, client", lambda q: kb.search(CLIENT, q), queries),
            ("naryad suggest", lambda t: kb.search(CLIENT, t, any_word=True), titles),
        ]
        found = await kb.search(EMPLOYEE, "кассы")
        log(f"  «кассы» finds {len(found)} articles, first: {found[0].title if found else '-'}")
        samples: dict[str, list[float]] = {label: [] for label, _, _ in paths}
        for _ in range(args.rounds):
            for label, fn, inputs in paths:
                await timed(fn, inputs[:20])  # warm-up
                samples[label] += await timed(fn, inputs)
        return samples
    finally:
        if kind == "postgres" and engine.pool is not None:  # type: ignore[attr-defined]
            await engine.close_connection_pool()  # type: ignore[attr-defined]


def report(kind: str, samples: dict[str, list[float]]) -> bool:
    base = samples["bare FTS query (baseline)"]
    b50, b99 = pct(base, 50), pct(base, 99)
    log(f"  {'path':32} {'p50 ms':>8} {'p99 ms':>8} {'p50/base':>9} {'p99/base':>9}")
    for label, values in samples.items():
        p50, p99 = pct(values, 50), pct(values, 99)
        log(f"  {label:32} {p50:8.2f} {p99:8.2f} {p50 / b50:9.1f} {p99 / b99:9.1f}")
    worst = max(pct(v, 99) for label, v in samples.items() if label.startswith("naryad"))
    ok = worst <= TARGET_P99_MS
    log(f"  {kind}: every naryad path p99 <= {TARGET_P99_MS} ms: {'met' if ok else 'NOT met'}")
    return ok


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--articles", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engines", default="postgres,sqlite")
    args = parser.parse_args()
    process_settings.install(Settings.from_env({}))
    engines = args.engines.split(",")
    if "postgres" in engines:
        name = f"naryad_kb_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(PG)
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            report(
                "postgres", await run_engine("postgres", f"{PG.rpartition('/')[0]}/{name}", args)
            )
        finally:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
            )
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await admin.close()
    if "sqlite" in engines:
        with tempfile.TemporaryDirectory() as tmp:
            report("sqlite", await run_engine("sqlite", f"sqlite:///{tmp}/kb.db", args))
    log(f"  load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    asyncio.run(main())
