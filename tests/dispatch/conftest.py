"""Dispatch tests: a Naryad server per backend whose geocoder is a local fake Nominatim
(fake_nominatim.py; geopy's real client talks to it over HTTP) and whose map tiles come
from an address nobody answers (the board must work as a list)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from fake_nominatim import FakeNominatim
from naryad_harness import Backend, Server, _clean

UNREACHABLE_TILES = "http://127.0.0.1:9/{z}/{x}/{y}.png"


@pytest.fixture(scope="session")
def nominatim() -> Iterator[FakeNominatim]:
    fake = FakeNominatim()
    yield fake
    fake.close()


@pytest.fixture(scope="session")
def geo_servers() -> Iterator[dict[str, Server]]:
    started: dict[str, Server] = {}
    yield started
    for server in started.values():
        server.stop()


def geo_env(nominatim: FakeNominatim) -> dict[str, str]:
    return {
        "NARYAD_GEOCODER_URL": nominatim.url,
        "NARYAD_GEOCODER_USER_AGENT": "Naryad tests (dispatch@example.invalid)",
        "NARYAD_GEOCODER_MIN_DELAY_S": "0.01",
        "NARYAD_GEOCODER_TIMEOUT_S": "3",
        "NARYAD_GEOCODER_RETRY_S": "600",
        "NARYAD_MAP_TILE_URL": UNREACHABLE_TILES,
        "NARYAD_ROUTE_SPEED_KMH": "30",
    }


async def _geo_backend(
    kind: str, url: str, servers: dict[str, Server], nominatim: FakeNominatim
) -> Backend:
    await _clean(url)
    nominatim.reset()
    if kind not in servers:
        servers[kind] = await asyncio.to_thread(Server, url, 1, geo_env(nominatim))
    return Backend(kind, url, servers[kind])


@pytest.fixture(params=["postgres", "sqlite"])
async def geo(
    request: pytest.FixtureRequest,
    pg_url: str,
    sqlite_url: str,
    geo_servers: dict[str, Server],
    nominatim: FakeNominatim,
) -> AsyncIterator[Backend]:
    kind = request.param
    url = pg_url if kind == "postgres" else sqlite_url
    b = await _geo_backend(kind, url, geo_servers, nominatim)
    try:
        yield b
    finally:
        await b.http.aclose()


@pytest.fixture
async def geo_postgres(
    pg_url: str, geo_servers: dict[str, Server], nominatim: FakeNominatim
) -> AsyncIterator[Backend]:
    """The same on PostgreSQL only (the browser test: one engine is enough there)."""
    b = await _geo_backend("postgres", pg_url, geo_servers, nominatim)
    try:
        yield b
    finally:
        await b.http.aclose()
