"""Schemathesis against the app's own OpenAPI schema (issue 14), as admin, office, engineer
and client: no request, however odd, may get a 5xx.

A real server on a database of its own, seeded with a few rows so that small ids exist.
For every operation schemathesis sends the schema's edge cases (coverage phase: boundary
numbers, empty and odd strings, missing and extra fields) and a bounded number of generated
requests, valid and invalid. The 5xx check is strict. Whether responses match the schema is
checked too, and what does not match is listed in test-output/fuzz-conformance.txt (not a
failure: those are contract gaps for the endpoints' owners, README "Known gaps").

NARYAD_FUZZ_EXAMPLES (default 10) sets the generated requests per operation and role.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from naryad_harness import PG_URL, ROOT, Server, _with_database
from schemathesis.checks import load_all_checks, not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.pytest.lazy import get_all_tests

from server import db
from server.accounts import service as accounts
from server.accounts.schemas import UserIn
from server.clients import service as clients
from server.clients.schemas import CounterpartyIn, SiteIn

EXAMPLES = int(os.environ.get("NARYAD_FUZZ_EXAMPLES", "10"))
PASSWORD = "fuzz-password"
ROLES = ("admin", "office", "engineer", "client")
# Never fuzzed: it would only end the session the other operations use.
SKIPPED = {("POST", "/api/auth/logout")}


@dataclass
class Target:
    base_url: str
    database_url: str
    password_hash: str
    roles: dict[str, list[str]]  # login -> roles, restored after the fuzzer edits users
    tokens: dict[str, str] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)
    # "role METHOD path" -> {"what schemathesis saw (status code)": an example's detail}
    nonconforming: dict[str, dict[str, str]] = field(default_factory=dict)
    calls: int = 0
    timings: list[tuple[float, int, str]] = field(default_factory=list)

    def login(self, role: str) -> dict[str, str]:
        if role not in self.tokens:
            resp = httpx.post(
                f"{self.base_url}/api/auth/login",
                json={"login": f"fuzz-{role}", "password": PASSWORD},
                timeout=60,
            )
            assert resp.status_code == 200, resp.text
            self.tokens[role] = resp.json()["token"]
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def intact(self, role: str) -> bool:
        """Is our session alive and still of its role? (The fuzzer edits users too.)"""
        resp = httpx.get(f"{self.base_url}/api/me", headers=self.login(role), timeout=60)
        return resp.status_code == 200 and resp.json()["roles"] == [role]

    def restore_users(self) -> None:
        """The fuzzer may deactivate our users, change their roles or passwords."""

        async def restore() -> None:
            conn = await asyncpg.connect(self.database_url)
            try:
                for login, roles in self.roles.items():
                    await conn.execute(
                        "UPDATE users SET active = true, password_hash = $1, roles = $2 "
                        "WHERE login = $3",
                        self.password_hash,
                        msgspec.json.encode(roles).decode(),
                        login,
                    )
            finally:
                await conn.close()

        asyncio.run(restore())
        self.tokens.clear()


async def _seed(url: str) -> None:
    db.configure_database(url)
    await db.migrate()
    cp = await clients.create_counterparty(
        CounterpartyIn(name="Ромашка", aliases=[], email_domains=["romashka.ru"])
    )
    await clients.create_site(SiteIn(counterparty_id=cp.id, name="Кафе", address="Москва"))
    groups = [await accounts.group_id_by_name("Удалённая техподдержка")]
    for role in ROLES:
        await accounts.create_user(
            msgspec.convert(
                {
                    "login": f"fuzz-{role}",
                    "password": PASSWORD,
                    "full_name": f"Фаззов {role}",
                    "surname": "Фаззов",
                    "roles": [role],
                    "group_ids": [] if role == "client" else groups,
                    "counterparty_id": cp.id if role == "client" else None,
                },
                UserIn,
            )
        )


@pytest.fixture(scope="session")
async def fuzz_target(pg_url: str) -> AsyncIterator[Target]:
    admin = await asyncpg.connect(PG_URL)
    name = f"naryad_fuzz_{uuid.uuid4().hex[:8]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(PG_URL, name)
    server = None
    try:
        await _seed(url)
        server = await asyncio.to_thread(Server, url)
        conn = await asyncpg.connect(url)
        try:
            password_hash = await conn.fetchval(
                "SELECT password_hash FROM users WHERE login = 'fuzz-admin'"
            )
        finally:
            await conn.close()
        target = Target(
            base_url=server.base_url,
            database_url=url,
            password_hash=password_hash,
            roles={f"fuzz-{role}": [role] for role in ROLES},
        )
        yield target
    finally:
        if server is not None:
            await asyncio.to_thread(server.stop)
        db.configure_database(pg_url)  # back to the session's database for later tests
        engine = db._engines.pop(url, None)
        if engine is not None and getattr(engine, "pool", None) is not None:
            await engine.close_connection_pool()  # type: ignore[attr-defined]
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.close()


@pytest.fixture(scope="session")
def api_schema(fuzz_target: Target) -> Any:
    schema = schemathesis.openapi.from_url(f"{fuzz_target.base_url}/schema/openapi.json")
    schema.config.update(base_url=fuzz_target.base_url)
    schema.config.phases.coverage.unexpected_methods = {"options"}
    schema.config.generation.update(
        max_examples=EXAMPLES,
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        no_shrink=True,
        deterministic=True,
        database="none",
    )
    return schema


def _error_code(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    extra = body.get("extra") if isinstance(body, dict) else None
    return str(extra.get("code", "")) if isinstance(extra, dict) else ""


def _detail(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("detail", ""))[:200] if isinstance(body, dict) else ""


def _fuzz(role: str, target: Target, case: Any) -> None:
    if (case.method.upper(), case.path) in SKIPPED:
        return
    headers = {**(case.headers or {}), **target.login(role), "Accept-Language": "en"}
    response = case.call(headers=headers, timeout=60)
    target.calls += 1
    label = f"{role} {case.method.upper()} {case.path}"
    if response.status_code >= 500:
        target.server_errors.append(
            f"{label} -> {response.status_code} {response.text[:300]}\n  {case.as_curl_command()}"
        )
    try:
        case.validate_response(response, excluded_checks=[not_a_server_error])
    except (AssertionError, BaseExceptionGroup) as exc:  # the contract is not kept
        failures = getattr(exc, "exceptions", (exc,))
        why = f"{response.status_code} {_error_code(response)}".strip()
        found = target.nonconforming.setdefault(label, {})
        for failure in failures:
            title = f"{getattr(failure, 'title', type(failure).__name__)} ({why})"
            found.setdefault(title, _detail(response))
    changed_users = case.path.startswith(("/api/users", "/api/me")) and case.method.upper() != "GET"
    if changed_users and response.status_code < 300 and not target.intact(role):
        target.restore_users()


def _run_all_operations(role: str, target: Target, api_schema: Any) -> None:
    """schemathesis' own per-operation Hypothesis tests (what `schema.parametrize()` runs:
    explicit examples, coverage cases, then generated ones), called one after another.
    (Its pytest wrapper for fixture-loaded schemas does not run on pytest 9.)"""
    load_all_checks()
    target.server_errors.clear()
    target.nonconforming.clear()
    target.timings.clear()
    target.calls = 0
    target.restore_users()  # whatever an earlier role's run did to our users
    # Schemathesis' coverage cases (boundary values, NULs, huge numbers, wrong types, OPTIONS)
    # for the admin, who reaches every handler; generated requests for everyone.
    api_schema.config.phases.coverage.enabled = role == "admin"
    explicit = settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )

    def test(case: Any) -> None:
        _fuzz(role, target, case)

    operations = 0
    started = time.monotonic()
    for result in get_all_tests(
        schema=api_schema, test_func=test, settings=explicit, given_kwargs={}
    ):
        operation, run = result.ok()  # an invalid operation in our own schema is a bug
        operations += 1
        before, op_started = target.calls, time.monotonic()
        run()
        target.timings.append(
            (time.monotonic() - op_started, target.calls - before, f"{role} {operation.label}")
        )
    assert operations > 50, operations
    timings = ROOT / "test-output" / f"fuzz-timings-{role}.txt"
    timings.write_text(
        f"{time.monotonic() - started:.1f} s, {target.calls} calls\n"
        + "".join(f"{t:6.2f} s {n:5d} {label}\n" for t, n, label in sorted(target.timings)[::-1])
    )
    report = ROOT / "test-output" / f"fuzz-conformance-{role}.txt"
    report.write_text(
        "".join(
            f"{label}: {title}: {detail}\n"
            for label, titles in sorted(target.nonconforming.items())
            for title, detail in sorted(titles.items())
        )
    )
    assert target.server_errors == [], "\n".join(target.server_errors[:30])


@pytest.mark.parametrize("role", ROLES)
def test_no_request_gets_a_server_error(role: str, fuzz_target: Target, api_schema: Any) -> None:
    _run_all_operations(role, fuzz_target, api_schema)
