"""A Naryad server that takes mail, per backend, shared by the mail tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from channel_fakes import mail_env
from naryad_harness import Backend, Server


@pytest.fixture(scope="session")
def mail_servers() -> Iterator[dict[str, Server]]:
    started: dict[str, Server] = {}
    yield started
    for server in started.values():
        server.stop()


@pytest.fixture
async def mb(backend: Backend, mail_servers: dict[str, Server]) -> AsyncIterator[Backend]:
    if backend.kind not in mail_servers:
        mail_servers[backend.kind] = await asyncio.to_thread(Server, backend.url, 1, mail_env())
    b = Backend(backend.kind, backend.url, mail_servers[backend.kind])
    yield b
    await b.http.aclose()
