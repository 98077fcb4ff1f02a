"""R2 lookup benchmark: the counterparty named in a task title among 10 000.

Run: .venv/bin/python bench/r2_bench.py [--counterparties N] [--lookups N] [--rounds N]

Times, in the same run on the same PostgreSQL database, what task creation does for R2:
- naryad, a name as written:  server.clients.service.counterparties_in_title on
  «ООО «Ромашка Лютик 42»: замена ФН» (one indexed query on the first two normal forms,
  then names.best_match in Python);
- naryad, a name in another case: «замена ФН в Ромашке Лютике 42» (the same query);
- naryad, two names: «Ромашка Лютик 42 и Волга Урал 7: ...», refused as ambiguous (the
  same query);
- naryad, a typo: «Рамашка Лютик 42: ...», the refusal path: the lookup that finds nothing,
  then suggest_counterparties (the typo index, then the candidates of the corrected title);
and, as same-run baselines:
- floor: one primary-key SELECT of a counterparty's name through Piccolo, the least any
  lookup costs (ratios against it compare across machines);
- fetch-all: the approach the issue rules out, every name fetched and matched in Python
  (and, for typos, every name scored with rapidfuzz).
Checks that naryad and fetch-all agree on every title they both run, and that the
misspelt counterparty is among the suggestions. Needs PostgreSQL at
NARYAD_TEST_DATABASE_URL; creates and drops its own database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pymorphy3
from rapidfuzz import fuzz, process

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server import db
from server.clients import names
from server.clients import service as clients
from server.clients.tables import Counterparty, CounterpartyName

PG = os.environ.get("NARYAD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
TARGET_P99_MS = 5.0
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
CASES = ["gent", "datv", "accs", "ablt", "loct"]
RUSSIAN = "абвгдежзийклмнопрстуфхцчшщыэюя"
MORPH = pymorphy3.MorphAnalyzer(lang="ru")


def log(msg: str) -> None:
    print(msg, flush=True)


def inflect(label: str, case: str) -> str:
    out = []
    for word in label.split():
        nominative = [p for p in MORPH.parse(word) if p.tag.case == "nomn"]
        form = nominative[0].inflect({case}) if nominative else None
        out.append(form.word.capitalize() if form else word)
    return " ".join(out)


def misspell(rng: random.Random, label: str) -> str:
    """One letter wrong, missing, extra, or two swapped, in one of the label's words (not
    in its number: «Точка 41» is another counterparty than «Точка 42», not a typo)."""
    words = label.split()
    i = rng.choice(
        [k for k, w in enumerate(words) if len(w) >= names.MIN_TYPO_WORD and w.isalpha()] or [0]
    )
    word = words[i]
    j = rng.randrange(1, len(word))  # people rarely get the first letter wrong
    kind = rng.choice(["substitute", "delete", "insert", "swap"])
    if kind == "substitute":
        word = word[:j] + rng.choice(RUSSIAN.replace(word[j], "")) + word[j + 1 :]
    elif kind == "delete":
        word = word[:j] + word[j + 1 :]
    elif kind == "insert":
        word = word[:j] + rng.choice(RUSSIAN) + word[j:]
    else:
        j = min(j, len(word) - 2)
        word = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    words[i] = word
    return " ".join(words)


# --- the fetch-all baseline ---------------------------------------------------------------


async def all_candidates() -> list[names.Candidate]:
    rows = await CounterpartyName.select(
        CounterpartyName.counterparty,
        CounterpartyName.lemmas,
        CounterpartyName.normalized,
        CounterpartyName.spelling,
        CounterpartyName.counterparty.name.as_alias("counterparty_name"),
        CounterpartyName.counterparty.parent.as_alias("parent_id"),
    )
    return [
        names.Candidate(
            r["counterparty"],
            tuple(r["lemmas"].split(" ")),
            r["normalized"],
            r["spelling"],
            r["counterparty_name"],
            r["parent_id"],
        )
        for r in rows
    ]


async def fetch_all_match(title: str) -> list[int]:
    found = names.best_match(title, await all_candidates())
    return [m.candidate.counterparty_id for m in found]


async def fetch_all_typo(title: str) -> list[int]:
    """Every name scored against the title with rapidfuzz: the scan the issue rules out."""
    candidates = await all_candidates()
    normalized = names.normalize(title)
    best = process.extract(
        normalized,
        [c.normalized for c in candidates],
        scorer=fuzz.partial_ratio,
        limit=5,
        score_cutoff=80,
    )
    return [candidates[i].counterparty_id for _, _, i in best]


# --- naryad -------------------------------------------------------------------------------


async def naryad_match(title: str) -> list[int]:
    return [m.counterparty_id for m in await clients.counterparties_in_title(title)]


async def naryad_refusal(title: str) -> list[int]:
    """What task creation does for a title naming no known counterparty."""
    if await clients.counterparties_in_title(title):
        return []
    return [s.id for s in await clients.suggest_counterparties(title)]


async def floor(counterparty_id: int) -> None:
    await Counterparty.select(Counterparty.name).where(Counterparty.id == counterparty_id).first()


async def timed(fn: Callable[[Any], Awaitable[Any]], args: list[Any]) -> list[float]:
    out = []
    for arg in args:
        t0 = time.perf_counter()
        await fn(arg)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# --- the data -----------------------------------------------------------------------------


async def load(dsn: str, rng: random.Random, count: int) -> list[tuple[int, str]]:
    """`count` counterparties «ООО «W1 W2 i»» with the alias «W1 W2 i сеть», indexed by the
    same functions create_counterparty uses (names.name_forms, names.vocabulary)."""
    conn = await asyncpg.connect(dsn)
    cps, name_rows, vocabulary = [], [], {}
    for i in range(count):
        label = f"{rng.choice(WORDS)} {rng.choice(WORDS)} {i}"
        cps.append((i + 1, f"ООО «{label}»"))
        forms = [names.name_forms(s) for s in (f"ООО «{label}»", f"{label} сеть")]
        for f in forms:
            assert f is not None
            name_rows.append(
                (
                    i + 1,
                    f.spelling,
                    f.normalized,
                    " ".join(f.lemmas),
                    f.first_token,
                    f.last_token,
                    len(f.normalized),
                )
            )
        vocabulary.update(names.vocabulary(f for f in forms if f is not None))
    await conn.executemany(
        "INSERT INTO counterparties (id, name, aliases, email_domains, created_at) "
        "VALUES ($1, $2, '[]', '[]', now())",
        cps,
    )
    await conn.execute("SELECT setval('counterparties_id_seq', $1)", count)
    await conn.executemany(
        "INSERT INTO counterparty_names "
        "(counterparty, spelling, normalized, lemmas, first_token, last_token, length) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        name_rows,
    )
    await conn.executemany(
        "INSERT INTO counterparty_words (variant, word, lemma) VALUES ($1, $2, $3)",
        [(v, w, lemma) for w, lemma in vocabulary.items() for v in sorted(names.deletions(w))],
    )
    await conn.execute("ANALYZE counterparties")
    await conn.execute("ANALYZE counterparty_names")
    await conn.execute("ANALYZE counterparty_words")
    await conn.close()
    log(
        f"    {len(name_rows)} names and aliases, "
        f"{sum(len(names.deletions(w)) for w in vocabulary)} typo-index rows"
    )
    return [(cid, name.removeprefix("ООО «").removesuffix("»")) for cid, name in cps]


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--counterparties", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
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
        labels = await load(dsn, rng, args.counterparties)
        n = args.lookups
        picks = [rng.choice(labels) for _ in range(n)]
        problems = [rng.choice(PROBLEMS) for _ in range(n)]
        written = [f"ООО «{label}»: {p}" for (_, label), p in zip(picks, problems, strict=True)]
        inflected = [
            f"{p} в {inflect(label, rng.choice(CASES))}"
            for (_, label), p in zip(picks, problems, strict=True)
        ]
        others = [
            rng.choice([x for x in rng.sample(labels, 2) if x[1] != label]) for _, label in picks
        ]
        two = [
            f"{label} и {other}: {p}"
            for (_, label), (_, other), p in zip(picks, others, problems, strict=True)
        ]
        typos = [
            f"{misspell(rng, label)}: {p}" for (_, label), p in zip(picks, problems, strict=True)
        ]

        log("==> checking answers")
        for titles in (written, inflected, two):
            for title in titles[:50]:
                assert await naryad_match(title) == await fetch_all_match(title), title
        for (cid, _), title in zip(picks, written, strict=True):
            assert await naryad_match(title) == [cid], title
        for (cid, _), title in zip(picks, inflected, strict=True):
            assert await naryad_match(title) == [cid], title
        for title in two:
            assert len(await naryad_match(title)) == 2, title
        hits = 0
        for (cid, _), title in zip(picks, typos, strict=True):
            hits += cid in (await naryad_refusal(title) or await naryad_match(title))
        log(f"    misspelt counterparty suggested for {hits} of {n} typo titles")

        log(f"==> timing, {args.rounds} rounds")
        ids = [cid for cid, _ in picks]
        paths: list[tuple[str, Callable[[Any], Awaitable[Any]], list[Any]]] = [
            ("floor: one primary-key SELECT", floor, ids),
            ("naryad: name as written", naryad_match, written),
            ("naryad: name in another case", naryad_match, inflected),
            ("naryad: two names, refused", naryad_match, two),
            ("naryad: typo, refused + suggestions", naryad_refusal, typos),
        ]
        for _, fn, arg in paths:
            await timed(fn, arg[:30])  # warm-up: connections, caches, prepared plans
        samples: dict[str, list[float]] = {label: [] for label, _, _ in paths}
        for _ in range(args.rounds):
            # Interleaved, title by title: whatever else runs on the machine slows every
            # path alike, and the ratios to the floor stay fair.
            for i in range(n):
                for label, fn, arg in paths:
                    samples[label] += await timed(fn, [arg[i]])
        few = max(20, n // 10)
        samples["fetch-all: match in Python"] = await timed(fetch_all_match, written[:few])
        samples["fetch-all: rapidfuzz scan (typo)"] = await timed(fetch_all_typo, typos[:few])
        base50 = pct(samples[paths[0][0]], 50)
        base99 = pct(samples[paths[0][0]], 99)
        log(
            f"\n== R2 among {args.counterparties} counterparties "
            f"({2 * args.counterparties} names and aliases), "
            f"{n} titles x {args.rounds} rounds per path =="
        )
        log(f"  {'path':<38} {'p50 ms':>7} {'p99 ms':>7} {'p50 x floor':>12} {'p99 x floor':>12}")
        for label, values in samples.items():
            log(
                f"  {label:<38} {pct(values, 50):7.2f} {pct(values, 99):7.2f} "
                f"{pct(values, 50) / base50:12.1f} {pct(values, 99) / base99:12.1f}"
            )
        worst = max(pct(v, 99) for label, v in samples.items() if label.startswith("naryad"))
        verdict = "met" if worst <= TARGET_P99_MS else "NOT met"
        log(f"  target: every naryad path p99 <= {TARGET_P99_MS} ms: {verdict} ({worst:.2f} ms)")
        slow = pct(samples["fetch-all: match in Python"], 50) / pct(samples[paths[1][0]], 50)
        log(f"  fetch-all / naryad (p50, name as written): {slow:.0f}x")
        log(f"  load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    finally:
        if engine.pool is not None:  # type: ignore[attr-defined]
            await engine.close_connection_pool()  # type: ignore[attr-defined]
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
