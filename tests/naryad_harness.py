"""Shared test harness (imported as `naryad_harness`): real PostgreSQL, real SQLite,
real HTTP. The fixtures that use it are in conftest.py.

* PostgreSQL comes from NARYAD_TEST_DATABASE_URL (scripts/test starts it); a fresh database
  is created per session and migrated with the real migrations. If it is unreachable the
  suite fails — nothing is skipped.
* The API runs as a real uvicorn process per backend; tests talk HTTP to it.
* The test process also points Piccolo at the same database, to build data through the
  services and to check what the server wrote.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec

from server import db
from server.accounts import service as accounts
from server.accounts.schemas import UserIn
from server.clients import service as clients
from server.clients.schemas import CounterpartyIn, SiteIn
from server.sla import admin as sla_admin
from server.tasks.tables import Template

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("NARYAD_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
SEEDED_GROUPS = ("Бухгалтерия", "Доставка", "Выездные инженеры", "Ремонт", "Удалённая техподдержка")
# Children first, so deleting works without cascades on SQLite.
DATA_TABLES = (
    "kb_task_articles",
    "kb_articles",
    "task_ratings",
    "task_signoffs",
    "engineer_positions",
    "engineer_dispatch",
    "geocode_cache",
    "task_checklist_items",
    "template_checklist_items",
    "maintenance_occurrences",
    "maintenance_plans",
    "task_labour",
    "contract_tasks",
    "contracts",
    "task_equipment",
    "equipment",
    "equipment_kinds",
    "imap_messages",
    "telegram_poll_offsets",
    "inbound_mail_attachments",
    "inbound_mails",
    "intake_tasks",
    "telegram_updates",
    "telegram_chats",
    "mail_addresses",
    "task_documents",
    "task_signatures",
    "task_spec_unlocks",
    "task_spec_lines",
    "price_items",
    "sla_fired",
    "sla_rules",
    "sla_calendar_days",
    "sla_calendars",
    "notifications",
    "push_subscriptions",
    "notification_preferences",
    "idempotency_keys",
    "task_watchers",
    "task_comments",
    "task_events",
    "task_attachments",
    "tasks",
    "auth_tokens",
    "group_memberships",
    "users",
    "sites",
    "contacts",
    "counterparty_names",
    "counterparty_words",
    "counterparties",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


class Server:
    """A real `uvicorn` process serving create_app for one database."""

    def __init__(
        self, database_url: str, workers: int = 1, extra_env: dict[str, str] | None = None
    ):
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ}
        env.pop("NARYAD_REDIS_URL", None)  # jobs in-process, unless a test asks for a Redis
        env.update(
            {
                "NARYAD_DATABASE_URL": database_url,
                "NARYAD_LOG_LEVEL": "WARNING",
                "NARYAD_PUBLIC_URL": self.base_url,
                **(extra_env or {}),
            }
        )
        self.log = open(ROOT / "test-output" / f"server-{self.port}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "server.app:app_from_env",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--no-access-log",
            ],
            env=env,
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited early; see {self.log.name}")
            try:
                if httpx.get(f"{self.base_url}/schema/openapi.json", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start in 30 s; see {self.log.name}")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class Backend:
    """One test's view of a running Naryad: HTTP client plus data factories."""

    def __init__(self, kind: str, url: str, server: Server):
        self.kind = kind
        self.url = url
        self.server = server
        # English error details, so assertions read the words a developer wrote; the Russian
        # default is tested in tests/test_error_messages.py.
        self.http = httpx.AsyncClient(
            base_url=server.base_url, timeout=30, headers={"Accept-Language": "en"}
        )
        self._seq = 0

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    async def user(
        self,
        *roles: str,
        groups: tuple[str, ...] = (),
        counterparty_id: int | None = None,
        surname: str | None = None,
        login: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Create a user through the service and log in over HTTP; returns user + headers."""
        n = self._next()
        group_ids = [await accounts.group_id_by_name(g) for g in groups]
        login = login or f"{roles[0]}{n}"
        surname = surname or f"Тестов{n}"
        user = await accounts.create_user(
            msgspec.convert(
                {
                    "login": login,
                    "password": "secret-pass",
                    "full_name": f"{surname} {roles[0].title()}",
                    "surname": surname,
                    "roles": list(roles),
                    "group_ids": group_ids,
                    "counterparty_id": counterparty_id,
                    **extra,
                },
                UserIn,
            )
        )
        resp = await self.http.post(
            "/api/auth/login", json={"login": login, "password": "secret-pass"}
        )
        assert resp.status_code == 200, resp.text
        token = resp.json()["token"]
        return {**msgspec.to_builtins(user), "headers": {"Authorization": f"Bearer {token}"}}

    async def counterparty(
        self,
        name: str,
        aliases: list[str] | None = None,
        parent_id: int | None = None,
        email_domains: list[str] | None = None,
        category: str | None = None,
    ) -> dict[str, Any]:
        cp = await clients.create_counterparty(
            CounterpartyIn(
                name=name,
                aliases=aliases or [],
                parent_id=parent_id,
                email_domains=email_domains or [],
                category=category,
            )
        )
        return msgspec.to_builtins(cp)  # type: ignore[no-any-return]

    async def site(self, counterparty_id: int, name: str = "Точка", **kw: Any) -> dict[str, Any]:
        site = await clients.create_site(
            SiteIn(
                counterparty_id=counterparty_id,
                name=name,
                address=kw.pop("address", "Москва"),
                **kw,
            )
        )
        return msgspec.to_builtins(site)  # type: ignore[no-any-return]

    async def create_task(self, who: dict[str, Any], **body: Any) -> httpx.Response:
        return await self.http.post("/api/tasks", json=body, headers=who["headers"])


# Templates are seeded rows, not test data: tests (the access matrix and the fuzzer, as
# admins) edit them, so every test starts from the templates as migrated.
_SEEDED_TEMPLATES: dict[str, list[dict[str, Any]]] = {}


async def _restore_templates(url: str) -> None:
    rows = _SEEDED_TEMPLATES.get(url)
    if rows is None:
        _SEEDED_TEMPLATES[url] = await Template.select()
        return
    for row in rows:
        values = {Template._meta.get_column_by_name(k): v for k, v in row.items() if k != "id"}
        await Template.update(values).where(Template.id == row["id"])


async def _clean(url: str) -> None:
    engine = db.configure_database(url)
    if db.is_sqlite(engine):
        for table in DATA_TABLES:
            await engine.run_ddl(f"DELETE FROM {table}")
    else:
        await engine.run_ddl(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE")
    placeholders = ", ".join(f"'{g}'" for g in SEEDED_GROUPS)
    await engine.run_ddl(f"DELETE FROM work_groups WHERE name NOT IN ({placeholders})")
    # Tests switch automations on and off; every test starts from the defaults.
    await sla_admin.restore_default_automations()
    await _restore_templates(url)
