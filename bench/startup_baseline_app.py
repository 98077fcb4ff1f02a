"""The floor for "a Python ASGI server is up" (bench/startup_bench.py): a bare Litestar app
with one route, started by uvicorn the way `naryad serve` starts Naryad."""

from __future__ import annotations

from litestar import Litestar, get


@get("/", sync_to_thread=False)
def index() -> str:
    return "ok"


def create() -> Litestar:
    return Litestar(route_handlers=[index])
