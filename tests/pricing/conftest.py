"""Shared setup of the price-list, specification, signature and print-form tests.

Helpers are fixtures, not imports: tests/ has no __init__.py files, and a bare
`import conftest` could pick up another folder's conftest. Data is unique per test (codes
carry a random suffix), so the tests do not depend on the per-test cleanup knowing the
pricing tables.
"""

from __future__ import annotations

import io
import re
import uuid
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

FIELD = ("Выездные инженеры",)
REMOTE = ("Удалённая техподдержка",)
# name -> (roles, backend.user keywords)
CAST: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "admin": (("admin",), {}),
    "office": (("office",), {}),
    "ivanov": (("engineer",), {"groups": FIELD, "surname": "Иванов"}),
    "petrov": (("engineer",), {"groups": FIELD, "surname": "Петров"}),
    "checker": (("checker",), {"groups": FIELD, "surname": "Кузнецов"}),
    "remote": (("engineer",), {"groups": REMOTE, "surname": "Смирнов"}),
    "client": (("client",), {}),
}


class Desk:
    """One test's cast and the API calls the tests repeat."""

    def __init__(self, backend: Any, counterparty: dict[str, Any]):
        self.backend = backend
        self.counterparty = counterparty
        self._people: dict[str, dict[str, Any]] = {}

    async def person(self, who: str) -> dict[str, Any]:
        """The user called `who`, created on first use (each login costs a password hash)."""
        if who not in self._people:
            roles, kw = CAST[who]
            if roles == ("client",):
                kw = {**kw, "counterparty_id": self.counterparty["id"]}
            self._people[who] = await self.backend.user(*roles, **kw)
        return self._people[who]

    async def call(
        self,
        who: str,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        person = await self.person(who)
        return await self.backend.http.request(
            method, path, json=body, headers={**person["headers"], **(headers or {})}
        )

    async def ok(self, who: str, method: str, path: str, body: Any = None, status: int = 200):
        resp = await self.call(who, method, path, body)
        assert resp.status_code == status, (method, path, resp.status_code, resp.text)
        return resp.json()

    async def item(self, **fields: Any) -> dict[str, Any]:
        """A price item created by the admin; the code is unique to this call."""
        body = {
            "code": f"W-{uuid.uuid4().hex[:8]}",
            "name": "Выезд инженера",
            "price": "1250.50",
            "vat_rate": "20",
            **fields,
        }
        return await self.ok("admin", "POST", "/api/price-list", body, 201)

    async def visit(self, **extra: Any) -> dict[str, Any]:
        """A field visit for the test's counterparty, accepted, departed for and checked in by
        Иванов."""
        task = await self.ok(
            "office",
            "POST",
            "/api/tasks",
            {"template": "field_visit", "title": "Ромашка: не печатает чек", **extra},
            201,
        )
        await self.ok("ivanov", "POST", f"/api/tasks/{task['id']}/accept")
        await self.ok("ivanov", "POST", f"/api/tasks/{task['id']}/depart")
        await self.ok("ivanov", "POST", f"/api/tasks/{task['id']}/arrive", {})
        return task

    async def finish_visit(self, task_id: int, works: str = "Заменён фискальный накопитель"):
        """done (completed works) by the engineer, approve by the checker: completed."""
        await self.ok("ivanov", "POST", f"/api/tasks/{task_id}/done", {"completed_works": works})
        return await self.ok("checker", "POST", f"/api/tasks/{task_id}/approve")

    async def line(self, task_id: int, who: str = "ivanov", **body: Any) -> dict[str, Any]:
        return await self.ok(
            who, "POST", f"/api/tasks/{task_id}/specification/lines", body, status=201
        )

    async def spec(self, task_id: int, who: str = "office") -> dict[str, Any]:
        return await self.ok(who, "GET", f"/api/tasks/{task_id}/specification")

    async def history(self, task_id: int, who: str = "office") -> list[dict[str, Any]]:
        return await self.ok(who, "GET", f"/api/tasks/{task_id}/history")


@pytest.fixture
async def desk(backend: Any) -> Desk:
    return Desk(backend, await backend.counterparty("Ромашка"))


def _pdf_text(pdf: bytes) -> str:
    """All pages' text, whitespace (incl. non-breaking spaces in amounts) collapsed."""
    pages = PdfReader(io.BytesIO(pdf)).pages
    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in pages).replace("\xa0", " "))


@pytest.fixture
def pdf_text():
    return _pdf_text
