"""R2 lookup benchmark: finding the counterparty named in a task title among 10 000.

Run: .venv/bin/python bench/r2_bench.py [--counterparties N] [--lookups N]

Compares, in the same run on the same PostgreSQL database:
- naryad: server.clients.service.find_counterparty_in_title (one indexed query for the
  names whose first word is in the title, then the longest match in Python);
- baseline: the approach the issue rules out: fetch every name and test each in Python.
Needs PostgreSQL at NARYAD_TEST_DATABASE_URL; creates and drops its own database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server import db
from server.clients import names
from server.clients import service as clients
from server.clients.tables import CounterpartyName

PG = os.environ.get("NARYAD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
WORDS = [
    "Ромашка",
    "Лютик",
    "Василёк",
    "Северная",
    "Южная",
    "Звезда",
    "Пекарня",
    "Кофе",
    "Хаус",
    "Аптека",
    "Плюс",
    "Вкусно",
    "Точка",
    "Маркет",
    "Гастроном",
    "Бистро",
    "Трактир",
    "Столовая",
    "Сервис",
    "Торг",
    "Дом",
    "Мир",
    "Сити",
    "Гранд",
    "Арт",
    "Альфа",
    "Бета",
    "Вега",
    "Орион",
    "Сириус",
    "Нева",
    "Волга",
    "Урал",
    "Байкал",
    "Алтай",
]
PROBLEMS = [
    "не печатает чек",
    "нет связи с ОФД",
    "замена ФН",
    "сканер не читает",
    "касса зависает",
    "обновить прайс",
]


def log(msg: str) -> None:
    print(msg, flush=True)


async def naive(title: str) -> tuple[int, str] | None:
    rows = await CounterpartyName.select(CounterpartyName.counterparty, CounterpartyName.normalized)
    return names.best_match(title, [(r["counterparty"], r["normalized"]) for r in rows])


async def timed(fn, titles: list[str]) -> list[float]:
    out = []
    for title in titles:
        t0 = time.perf_counter()
        await fn(title)
        out.append((time.perf_counter() - t0) * 1000)
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--counterparties", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(7)
    name = f"naryad_r2_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = PG.rpartition("/")[0] + "/" + name
    engine = db.configure_database(dsn)
    try:
        await db.migrate()
        await engine.start_connection_pool(min_size=1, max_size=2)  # type: ignore[attr-defined]
        log(f"==> {args.counterparties} counterparties with aliases")
        conn = await asyncpg.connect(dsn)
        cps, rows = [], []
        for i in range(args.counterparties):
            label = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {i}"
            cps.append((i + 1, f"ООО «{label}»"))
            for spelling in (label, f"{label} сеть"):
                norm = names.normalize(spelling)
                rows.append((i + 1, norm, norm.split(" ", 1)[0], len(norm)))
        await conn.executemany(
            "INSERT INTO counterparties (id, name, aliases, email_domains, created_at) "
            "VALUES ($1, $2, '[]', '[]', now())",
            cps,
        )
        await conn.executemany(
            "INSERT INTO counterparty_names (counterparty, normalized, first_token, length) "
            "VALUES ($1, $2, $3, $4)",
            rows,
        )
        await conn.execute("ANALYZE counterparty_names")
        await conn.close()
        titles = []
        for _ in range(args.lookups):
            _, cp = rng.choice(cps)
            titles.append(f"{cp}: {rng.choice(PROBLEMS)}")
        # both must agree on every title
        for title in titles[:50]:
            found = await clients.find_counterparty_in_title(title)
            assert found is not None
            assert (found.counterparty_id, found.matched) == await naive(title), title
        await timed(clients.find_counterparty_in_title, titles[:20])  # warm-up
        fast = await timed(clients.find_counterparty_in_title, titles)
        slow = await timed(naive, titles[: max(20, args.lookups // 10)])
        f_med, s_med = statistics.median(fast), statistics.median(slow)
        log(
            f"\n== R2 lookup among {args.counterparties} counterparties "
            f"({len(rows)} names and aliases) =="
        )
        log(
            f"  baseline (all names, Python loop): median {s_med:7.2f} ms  "
            f"{1000 / s_med:7.0f} lookups/s"
        )
        log(
            f"  naryad   (first-word index):       median {f_med:7.2f} ms  "
            f"{1000 / f_med:7.0f} lookups/s"
        )
        log(f"  naryad is {s_med / f_med:.0f}x faster than the baseline")
    finally:
        if engine.pool is not None:  # type: ignore[attr-defined]
            await engine.close_connection_pool()  # type: ignore[attr-defined]
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
