"""The benchmark's baseline: a bare Litestar endpoint on an asyncpg pool that runs one
fixed SQL statement with fixed arguments (exactly what Naryad runs for the list being
measured, with the same session settings) and returns the rows as JSON. No auth, no
shaping: what the same query costs at the minimum.

Run by bench/api_bench.py: BENCH_DSN, BENCH_SQL and BENCH_ARGS (JSON) come from the
environment.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import msgspec
from litestar import Litestar, Response, get

from server.db import POSTGRES_SESSION

_encoder = msgspec.json.Encoder()
_ARGS = json.loads(os.environ.get("BENCH_ARGS", "[]"))
_state: dict[str, asyncpg.Pool] = {}


@asynccontextmanager
async def lifespan(_: Litestar) -> AsyncIterator[None]:
    _state["pool"] = await asyncpg.create_pool(
        os.environ["BENCH_DSN"], min_size=1, max_size=10, server_settings=POSTGRES_SESSION
    )
    yield
    await _state["pool"].close()


@get("/tasks")
async def tasks() -> Response[bytes]:
    rows = await _state["pool"].fetch(os.environ["BENCH_SQL"], *_ARGS)
    return Response(_encoder.encode([dict(r) for r in rows]), media_type="application/json")


def create_app() -> Litestar:
    return Litestar([tasks], lifespan=[lifespan], logging_config=None)
