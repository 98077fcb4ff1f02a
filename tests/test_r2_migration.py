"""The R2 migration (clients 2026-11-28T02:00:00) re-indexes counterparties saved before it,
on PostgreSQL and on SQLite: names in any case and typos work for them too."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from naryad_harness import PG_URL, _with_database
from piccolo.apps.migrations.commands.forwards import run_forwards
from piccolo.querystring import QueryString

from server import db
from server.clients import names
from server.clients import service as clients

BEFORE = "2026-11-24T08:00:35:246157"  # the last clients migration before R2's
R2 = "2026-11-28T02:00:00:000000"
OLD = [  # (name, aliases) as an older Naryad stored them
    ("ООО «Ромашка»", ["Ромашка"]),
    ("АО «Северная звезда»", ["Северная звезда", "Звезда"]),
    ("Патрик паб", []),
]


@pytest.fixture(params=["postgres", "sqlite"])
async def fresh_database(request, tmp_path: Path) -> AsyncIterator[str]:
    previous = db.current_engine()
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        try:
            yield url
        finally:
            db.use_engine(previous)
        return
    name = f"naryad_r2_migration_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(PG_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(PG_URL, name)
    finally:
        db.use_engine(previous)
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.close()


async def _rows(engine, sql: str, *args) -> list[dict]:
    return [dict(r) for r in await engine.run_querystring(QueryString(sql, *args))]


async def test_the_migration_reindexes_names_saved_before_it(fresh_database):
    engine = db.configure_database(fresh_database)
    result = await run_forwards(app_name="clients", migration_id=BEFORE)
    assert result.success, result.message
    ids = {}
    for name, aliases in OLD:
        await _rows(
            engine,
            "INSERT INTO counterparties (name, aliases, email_domains, language, created_at) "
            "VALUES ({}, {}, '[]', 'ru', CURRENT_TIMESTAMP)",
            name,
            json.dumps(aliases, ensure_ascii=False),
        )
        (row,) = await _rows(engine, "SELECT id FROM counterparties WHERE name = {}", name)
        ids[name] = row["id"]
        # the old index: one row per normalised spelling, keyed by its first written word
        for norm in dict.fromkeys(names.normalize(s) for s in [name, *aliases]):
            await _rows(
                engine,
                "INSERT INTO counterparty_names (counterparty, normalized, first_token, length) "
                "VALUES ({}, {}, {}, {})",
                ids[name],
                norm,
                norm.split(" ")[0],
                len(norm),
            )

    result = await run_forwards(app_name="clients", migration_id=R2)
    assert result.success, result.message

    rows = await _rows(
        engine,
        "SELECT counterparty, spelling, normalized, lemmas, first_token, last_token "
        "FROM counterparty_names ORDER BY counterparty, id",
    )
    star = ids["АО «Северная звезда»"]
    assert [r for r in rows if r["counterparty"] == star] == [
        {
            "counterparty": star,
            "spelling": "АО «Северная звезда»",
            "normalized": "северная звезда",
            "lemmas": "северный звезда",
            "first_token": "северный",
            "last_token": "звезда",
        },
        {
            "counterparty": star,
            "spelling": "Звезда",
            "normalized": "звезда",
            "lemmas": "звезда",
            "first_token": "звезда",
            "last_token": "звезда",
        },
    ]
    assert len(rows) == 4  # «Ромашка» once: the alias normalises like the name
    words = {r["word"] for r in await _rows(engine, "SELECT DISTINCT word FROM counterparty_words")}
    assert {"ромашка", "северная", "северный", "звезда", "патрик"} <= words

    # the matcher works for them: cases, typos, and a given counterparty named in a case
    found = await clients.counterparties_in_title("Монтаж терминала в Северной звезде")
    assert [m.counterparty_id for m in found] == [star]
    found = await clients.counterparties_in_title("Починить дисконтную систему в Патрик пабе")
    assert [m.counterparty_id for m in found] == [ids["Патрик паб"]]
    suggestions = await clients.suggest_counterparties("Рамашка: касса")
    assert [(s.id, s.title) for s in suggestions] == [(ids["ООО «Ромашка»"], "Ромашка: касса")]
    assert await clients.title_names_counterparty("Касса в Ромашке", ids["ООО «Ромашка»"])
