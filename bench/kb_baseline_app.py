"""The knowledge-base benchmark's baselines (bench/kb_bench.py): a bare Litestar app, no
auth, no Piccolo, no shaping, straight through the driver (asyncpg, or sqlite3 on the
event loop), rows returned as JSON:

- `GET /bare?q=`: the least any full-text search costs — ids of the first 20 matches, no
  rank (PostgreSQL `search @@ plainto_tsquery('russian', $1) LIMIT 20` on the same GIN
  index; SQLite `MATCH … LIMIT 20`);
- `GET /same?q=`: exactly the statement GET /api/kb/search runs for an employee
  (`server.kb.service.search_sql`, same arguments): what Naryad's own code adds is the
  difference between this and /api/kb/search.

BENCH_DSN: the PostgreSQL DSN, or sqlite:///path.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import msgspec
from litestar import Litestar, Response, get
from piccolo.querystring import QueryString

from server.db import POSTGRES_SESSION
from server.kb.service import SEARCH_LIMIT, fts5_query, search_params, search_sql

_encoder = msgspec.json.Encoder()
_DSN = os.environ.get("BENCH_DSN", "")
_SQLITE = _DSN.startswith("sqlite:///")
_state: dict[str, Any] = {}

if _SQLITE:
    _BARE = "SELECT rowid AS id FROM kb_articles_fts WHERE kb_articles_fts MATCH ? LIMIT 20"
    _SAME, _ = QueryString(
        search_sql(True, public_only=False, any_word=False),
        *search_params(True, "q", any_word=False, limit=SEARCH_LIMIT),
    ).compile_string(engine_type="sqlite")
else:
    _BARE = "SELECT id FROM kb_articles WHERE search @@ plainto_tsquery('russian', $1) LIMIT 20"
    _SAME, _ = QueryString(
        search_sql(False, public_only=False, any_word=False),
        *search_params(False, "q", any_word=False, limit=SEARCH_LIMIT),
    ).compile_string(engine_type="postgres")


@asynccontextmanager
async def lifespan(_: Litestar) -> AsyncIterator[None]:
    if _SQLITE:
        conn = sqlite3.connect(_DSN.removeprefix("sqlite:///"), check_same_thread=False)
        conn.row_factory = sqlite3.Row
        _state["sqlite"] = conn
        yield
        conn.close()
        return
    _state["pool"] = await asyncpg.create_pool(
        _DSN, min_size=1, max_size=4, server_settings=POSTGRES_SESSION
    )
    yield
    await _state["pool"].close()


async def _fetch(sql: str, *args: Any) -> list[dict[str, Any]]:
    if _SQLITE:
        return [dict(r) for r in _state["sqlite"].execute(sql, args).fetchall()]
    return [dict(r) for r in await _state["pool"].fetch(sql, *args)]


def _json(rows: list[dict[str, Any]]) -> Response[bytes]:
    return Response(_encoder.encode({"items": rows}), media_type="application/json")


@get("/bare")
async def bare(q: str) -> Response[bytes]:
    return _json(await _fetch(_BARE, fts5_query(q, any_word=False) if _SQLITE else q))


@get("/same")
async def same(q: str) -> Response[bytes]:
    return _json(
        await _fetch(_SAME, *search_params(_SQLITE, q, any_word=False, limit=SEARCH_LIMIT))
    )


def create_app() -> Litestar:
    return Litestar([bare, same], lifespan=[lifespan], logging_config=None)
