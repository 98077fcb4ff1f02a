"""Editing templates (issue #13): admins PATCH /api/templates/{code}; the change applies to
new tasks only — a task keeps the workflow it was created under (has_departure,
requires_check, requires_completed_works, counterparty_in_title), also across the migration
that started keeping it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from naryad_harness import PG_URL, Backend, _with_database
from piccolo.apps.migrations.commands.base import BaseMigrationManager
from piccolo.apps.migrations.commands.forwards import run_forwards

from server import db
from server.tasks.tables import Template

pytestmark = pytest.mark.sqlite
FIELD = ("Выездные инженеры",)
MIGRATION_ID = "2026-11-28T04:00:00:000000"
MIGRATIONS = Path(__file__).resolve().parent.parent / "server" / "tasks" / "piccolo_migrations"


@pytest.fixture
async def restore_templates(backend: Backend) -> AsyncIterator[None]:
    """Templates are seeded once per database, not per test: put back what a test changed."""
    rows = await Template.select().output(load_json=True)
    yield
    db.configure_database(backend.url)
    for row in rows:
        values = {Template._meta.get_column_by_name(k): v for k, v in row.items() if k != "id"}
        await Template.update(values).where(Template.id == row["id"])


async def _patch(b: Backend, who: dict[str, Any], code: str, body: Any) -> Any:
    return await b.http.patch(f"/api/templates/{code}", json=body, headers=who["headers"])


async def _template(b: Backend, who: dict[str, Any], code: str) -> dict[str, Any]:
    resp = await b.http.get(f"/api/templates/{code}", headers=who["headers"])
    assert resp.status_code == 200, resp.text
    result: dict[str, Any] = resp.json()
    return result


async def _post(b: Backend, who: dict[str, Any], path: str, body: Any = None) -> Any:
    return await b.http.post(path, json=body, headers=who["headers"])


async def _groups(b: Backend, who: dict[str, Any]) -> dict[str, int]:
    resp = await b.http.get("/api/groups", headers=who["headers"])
    return {g["name"]: g["id"] for g in resp.json()}


async def test_admins_edit_templates_office_reads_them(backend, restore_templates):
    admin, office = await backend.user("admin"), await backend.user("office")
    engineer = await backend.user("engineer")
    client = await backend.user("client", counterparty_id=(await backend.counterparty("Р"))["id"])
    listed = await backend.http.get("/api/templates", headers=office["headers"])
    assert listed.status_code == 200 and "field_visit" in [t["code"] for t in listed.json()]
    assert (await _template(backend, office, "field_visit"))["name"] == "Выездная заявка"
    for who in (office, engineer, client):
        assert (await _patch(backend, who, "field_visit", {"name": "Выезд"})).status_code == 403
    assert (
        await backend.http.get("/api/templates/field_visit", headers=client["headers"])
    ).status_code == 403
    groups = await _groups(backend, office)
    resp = await _patch(
        backend,
        admin,
        "field_visit",
        {"name": "  Выезд к клиенту ", "default_group_id": groups["Ремонт"], "channels": ["ui"]},
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["name"] == "Выезд к клиенту" and body["default_group_id"] == groups["Ремонт"]
    assert body["channels"] == ["ui"] and body["code"] == "field_visit"
    assert body["requires_check"] is True  # untouched flags stay
    assert await _template(backend, office, "field_visit") == body
    assert (await _patch(backend, admin, "nope", {"name": "x"})).status_code == 404
    assert (
        await backend.http.get("/api/templates/nope", headers=office["headers"])
    ).status_code == 404


async def test_invalid_template_patches_are_422_naming_the_field(backend, restore_templates):
    admin = await backend.user("admin")
    before = await _template(backend, admin, "repair")
    for body, field in (
        ({"code": "fix"}, "code"),
        ({"colour": "red"}, "colour"),
        ({"channels": ["fax"]}, "channels"),
        ({"channels": "ui"}, "channels"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 151}, "name"),
        ({"default_group_id": 999999}, "default_group_id"),
        ({"default_group_id": None}, "default_group_id"),
        ({"requires_check": "yes"}, "requires_check"),
        ({"has_departure": None}, "has_departure"),
    ):
        resp = await _patch(backend, admin, "repair", body)
        assert resp.status_code == 422, (body, resp.text)
        assert field in resp.json()["detail"], (body, resp.json()["detail"])
    # a bad field spoils the whole request
    resp = await _patch(backend, admin, "repair", {"name": "Починка", "default_group_id": 999999})
    assert resp.status_code == 422
    assert await _template(backend, admin, "repair") == before
    resp = await _patch(backend, admin, "repair", {"channels": ["ui", "phone", "ui"]})
    assert resp.status_code == 200 and resp.json()["channels"] == ["ui", "phone"]


async def test_template_changes_apply_to_new_tasks_only(backend, restore_templates):
    admin, office = await backend.user("admin"), await backend.user("office")
    ivanov = await backend.user("engineer", groups=FIELD, surname="Иванов")
    checker = await backend.user("checker", groups=FIELD)
    await backend.counterparty("Ромашка")
    old = (await backend.create_task(office, template="field_visit", title="Ромашка: касса")).json()
    assert (await _post(backend, ivanov, f"/api/tasks/{old['id']}/accept")).status_code == 200

    flags = {
        "has_departure": False,
        "requires_check": False,
        "requires_completed_works": False,
        "counterparty_in_title": False,
    }
    resp = await _patch(backend, admin, "field_visit", flags)
    assert resp.status_code == 200 and all(resp.json()[k] is v for k, v in flags.items())

    # the old visit keeps departing, arriving, works-before-done, the check and R2
    got = await backend.http.get(f"/api/tasks/{old['id']}", headers=ivanov["headers"])
    assert "depart" in got.json()["actions"] and "start" not in got.json()["actions"]
    assert (await _post(backend, ivanov, f"/api/tasks/{old['id']}/start")).status_code == 409
    for step in ("depart", "arrive"):
        resp = await _post(backend, ivanov, f"/api/tasks/{old['id']}/{step}", {})
        assert resp.status_code == 200, (step, resp.text)
    resp = await _post(backend, ivanov, f"/api/tasks/{old['id']}/done", {})
    assert resp.status_code == 422 and resp.json()["detail"].startswith("R8:")
    resp = await _post(backend, ivanov, f"/api/tasks/{old['id']}/done", {"completed_works": "ФН"})
    assert resp.status_code == 200 and resp.json()["status"] == "done"
    resp = await backend.http.patch(
        f"/api/tasks/{old['id']}", json={"title": "Касса"}, headers=office["headers"]
    )
    assert resp.status_code == 422 and resp.json()["detail"].startswith("R2:")
    assert (await _post(backend, checker, f"/api/tasks/{old['id']}/approve")).status_code == 200

    # a new visit follows the new rules
    new = await backend.create_task(office, template="field_visit", title="Касса без клиента")
    assert new.status_code == 201, new.text
    nid = new.json()["id"]
    assert (await _post(backend, ivanov, f"/api/tasks/{nid}/accept")).status_code == 200
    got = await backend.http.get(f"/api/tasks/{nid}", headers=ivanov["headers"])
    assert "start" in got.json()["actions"] and "depart" not in got.json()["actions"]
    assert (await _post(backend, ivanov, f"/api/tasks/{nid}/start")).status_code == 200
    resp = await _post(backend, ivanov, f"/api/tasks/{nid}/done", {})
    assert resp.status_code == 200 and resp.json()["status"] == "completed"
    resp = await backend.http.patch(
        f"/api/tasks/{nid}", json={"title": "Другая касса"}, headers=office["headers"]
    )
    assert resp.status_code == 200


async def test_channels_and_default_group_apply_to_new_tasks(backend, restore_templates):
    admin, office = await backend.user("admin"), await backend.user("office")
    groups = await _groups(backend, office)
    await backend.counterparty("Ромашка")
    resp = await _patch(
        backend,
        admin,
        "repair",
        {"channels": ["ui", "phone"], "default_group_id": groups["Доставка"]},
    )
    assert resp.status_code == 200
    task = await backend.create_task(office, template="repair", title="Блок", channel="phone")
    assert task.status_code == 201 and task.json()["group"]["name"] == "Доставка"
    resp = await _patch(backend, admin, "remote_support", {"channels": ["ui"]})
    assert resp.status_code == 200
    refused = await backend.create_task(
        office, template="remote_support", title="Ромашка: оплата", channel="phone"
    )
    assert refused.status_code == 422 and refused.json()["detail"].startswith("R3:")
    resp = await _patch(backend, admin, "remote_support", {"allows_completed_on_creation": False})
    assert resp.status_code == 200
    resp = await backend.create_task(
        office, template="remote_support", title="Ромашка: оплата", status="completed"
    )
    assert resp.status_code == 422 and resp.json()["detail"].startswith("R9:")


# --- the migration keeps the rules of tasks that existed before it ---------------------------


def _previous_migration_id() -> str:
    ids = []
    for path in MIGRATIONS.glob("tasks_*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("ID = "):
                ids.append(line.split('"')[1])
    ids.sort()
    return ids[ids.index(MIGRATION_ID) - 1]


@pytest.fixture
async def empty_database(backend_kind: str, tmp_path: Path) -> AsyncIterator[str]:
    if backend_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'before.db'}"
        return
    name = f"naryad_migr_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(PG_URL, timeout=10)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(PG_URL, name)
    finally:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.close()


@pytest.mark.parametrize("backend_kind", ["postgres", "sqlite"])
async def test_the_migration_keeps_existing_tasks_on_their_templates_rules(empty_database):
    engine = db.configure_database(empty_database)
    apps = BaseMigrationManager().get_sorted_app_names()
    for app in apps[: apps.index("tasks")]:
        assert (await run_forwards(app_name=app)).success
    assert (await run_forwards(app_name="tasks", migration_id=_previous_migration_id())).success
    for code in ("field_visit", "repair", "remote_support"):
        await engine.run_ddl(
            "INSERT INTO tasks (template, title, title_search, status, version, created_at, "
            "updated_at) SELECT id, code, code, 'new', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP "
            f"FROM task_templates WHERE code = '{code}'"
        )
    await db.migrate()
    rows = await engine.run_ddl(
        "SELECT title, has_departure, requires_check, requires_completed_works, "
        "counterparty_in_title FROM tasks ORDER BY title"
    )
    got = {r["title"]: {k: bool(v) for k, v in dict(r).items() if k != "title"} for r in rows}
    assert got == {
        "field_visit": dict.fromkeys(
            (
                "has_departure",
                "requires_check",
                "requires_completed_works",
                "counterparty_in_title",
            ),
            True,
        ),
        "remote_support": {
            "has_departure": False,
            "requires_check": False,
            "requires_completed_works": False,
            "counterparty_in_title": True,
        },
        "repair": dict.fromkeys(
            (
                "has_departure",
                "requires_check",
                "requires_completed_works",
                "counterparty_in_title",
            ),
            False,
        ),
    }
    watchers = await engine.run_ddl("SELECT COUNT(*) AS n FROM task_watchers")
    assert watchers[0]["n"] == 0
