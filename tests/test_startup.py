"""Issue 21: a server starts with what serving needs, and loads the rest where it is used.

WeasyPrint, the mail libraries, openpyxl, geopy, icalendar, qrcode, pymorphy3 and rapidfuzz,
black (via Piccolo's migration registry), Pydantic (Litestar's plugin), rich (structlog's
pretty tracebacks), markdown-it and Jinja and, without Redis, redis-py and arq are not
imported by building the app and running its start-up; the first work order still renders,
mail still goes out and the OpenAPI schema (built on first use) still carries the
contract's additions. How fast the start is, is measured by bench/startup_bench.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from geopy.distance import geodesic as geopy_geodesic
from naryad_harness import ROOT, Backend, Server, _free_port

from server import db
from server.clients import service as clients
from server.clients.schemas import ContactIn
from server.lib.geo import geodesic

LAZY = (
    "weasyprint",
    "aiosmtplib",
    "aioimaplib",
    "openpyxl",
    "geopy",
    "icalendar",
    "qrcode",
    "PIL",
    "pymorphy3",
    "rapidfuzz",
    "black",
    "piccolo.conf.apps",
    "redis",
    "arq",
    "pydantic",  # Litestar's Pydantic plugin (server/app.py: NaryadLitestar)
    "rich",  # through structlog (server/lib/logs.py)
    "markdown_it",  # knowledge-base articles, rendered when written
    "jinja2",  # the rating pages and print forms
    "httpx",  # Telegram and Web Push, on first use
)

# Serves the app the way `naryad serve` does (uvicorn, the app factory) with its start-up
# (database pool, jobs in this process, the first sweeps), answers a first request over
# HTTP (urllib: an HTTP client library would itself load what is checked here), then says
# what was imported while it serves.
_START = """
import asyncio, json, socket, sys, urllib.request
import uvicorn

async def main() -> list[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        "server.app:app_from_env", factory=True, host="127.0.0.1", port=port,
        log_level="warning", access_log=False,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "the server stopped while starting"
        await asyncio.sleep(0.05)
    url = f"http://127.0.0.1:{port}/"
    status = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=30).status)
    assert status == 200, status
    await asyncio.sleep(1)  # the in-process sweeps' first round
    modules = sorted(sys.modules)
    server.should_exit = True
    await serving
    return modules
print(json.dumps(asyncio.run(main())))
"""


@pytest.mark.parametrize("engine", ["postgres", "sqlite"])
def test_starting_the_server_does_not_load_what_only_some_requests_use(
    engine: str, pg_url: str, sqlite_url: str
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NARYAD_")}
    env["NARYAD_DATABASE_URL"] = pg_url if engine == "postgres" else sqlite_url
    env["NARYAD_LOG_LEVEL"] = "WARNING"
    result = subprocess.run(
        [sys.executable, "-c", _START],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert "server.app" in loaded and "litestar" in loaded
    assert sorted(m for m in LAZY if m in loaded) == []


def test_distances_are_geopys_to_the_bit() -> None:
    pairs = [
        ((55.7558, 37.6173), (55.7522, 37.6156)),  # across the Kremlin
        ((55.7558, 37.6173), (59.9343, 30.3351)),  # Moscow - St Petersburg
        ((0.0, 0.0), (0.0, 0.0)),
        ((-33.8688, 151.2093), (51.5074, -0.1278)),
        ((89.9, 179.9), (-89.9, -179.9)),
    ]
    for a, b in pairs:
        assert geodesic(a, b).meters == geopy_geodesic(a, b).meters


# --- what loads later still works, in a server that has not loaded it yet ---------------


class _Sink:
    def __init__(self) -> None:
        self.mail: list[Message] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.mail.append(message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[_Sink, int]]:
    sink, port = _Sink(), _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, port
    controller.stop()


async def test_a_fresh_server_renders_its_first_work_order_and_sends_mail(
    tmp_path: Path, smtp: tuple[_Sink, int]
) -> None:
    sink, port = smtp
    url = f"sqlite:///{tmp_path / 'naryad.db'}"
    db.configure_database(url)
    await db.migrate()
    env = {
        "NARYAD_SMTP_HOST": "127.0.0.1",
        "NARYAD_SMTP_PORT": str(port),
        "NARYAD_SMTP_FROM": "naryad@naryad.test",
        "NARYAD_SUPPORT_ADDRESS": "support@naryad.test",
        "NARYAD_MAIL_DOMAIN": "naryad.test",
        "NARYAD_NOTIFY_SWEEP_S": "1",
    }
    server = await asyncio.to_thread(Server, url, 1, env)
    b = Backend("sqlite", url, server)
    try:
        office = await b.user("office")
        cp = await b.counterparty("Ромашка")
        contact = await clients.create_contact(
            ContactIn(name="Иван Клиентов", email="ivan@romashka.test", counterparty_id=cp["id"])
        )
        resp = await b.create_task(
            office,
            template="remote_support",
            title="Ромашка: не печатает чек",
            requester_contact_id=contact.id,
        )
        assert resp.status_code == 201, resp.text
        task = resp.json()

        pdf = await b.http.get(f"/api/tasks/{task['id']}/work-order.pdf", headers=office["headers"])
        assert pdf.status_code == 200, pdf.text
        assert pdf.headers["content-type"].startswith("application/pdf")
        assert pdf.content.startswith(b"%PDF-")

        comment = await b.http.post(
            f"/api/tasks/{task['id']}/comments",
            json={"body": "Здравствуйте! Перезагрузите кассу.", "public": True},
            headers=office["headers"],
        )
        assert comment.status_code == 201, comment.text
        for _ in range(200):
            with sink.lock:
                sent = [m for m in sink.mail if f"[#{task['number']}]" in str(m["Subject"])]
            if sent:
                break
            await asyncio.sleep(0.1)
        assert sent, "no mail reached the SMTP server in 20 s"
        assert sent[0]["To"] == "ivan@romashka.test"

        schema = (await b.http.get("/schema/openapi.json")).json()
        assert "NaryadError" in schema["components"]["schemas"]
        assert "default" in schema["paths"]["/api/tasks"]["get"]["responses"]
    finally:
        await b.http.aclose()
        server.stop()
