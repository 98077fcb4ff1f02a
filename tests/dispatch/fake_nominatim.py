"""A small local HTTP server that speaks Nominatim's /search JSON protocol, for geopy's
real client to talk to (no network). Answers come from nominatim_fixtures.json (recorded
in Nominatim's documented format: ambiguous and empty answers included); `fail_with` makes
it answer an HTTP error instead (429 with Retry-After, 500, 503), `delay_s` makes it slow.
Every request is recorded with its query and User-Agent."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES: dict[str, Any] = {
    k: v
    for k, v in json.loads((Path(__file__).parent / "nominatim_fixtures.json").read_text()).items()
    if not k.startswith("_")
}


class FakeNominatim:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_with: int | None = None
        self.delay_s = 0.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                params = {k: v[0] for k, v in parse_qs(parts.query).items()}
                fake.requests.append(
                    {"path": parts.path, "params": params, "ua": self.headers.get("User-Agent")}
                )
                if fake.delay_s:
                    time.sleep(fake.delay_s)
                if parts.path != "/search":
                    self._send(404, {"error": "not found"})
                elif fake.fail_with is not None:
                    headers = {"Retry-After": "1"} if fake.fail_with == 429 else {}
                    self._send(fake.fail_with, {"error": "unavailable"}, headers)
                else:
                    self._send(200, FIXTURES.get(params.get("q", ""), []))

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                raw = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def searches(self, q: str | None = None) -> list[dict[str, Any]]:
        return [
            r
            for r in self.requests
            if r["path"] == "/search" and (q is None or r["params"]["q"] == q)
        ]

    def reset(self) -> None:
        self.requests.clear()
        self.fail_with = None
        self.delay_s = 0.0

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
