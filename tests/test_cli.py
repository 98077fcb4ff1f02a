"""The `naryad` command, run as a newcomer would: real processes, a fresh SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

COMMANDS = ["migrate", "create-user", "seed-demo", "serve", "worker"]


def naryad(*args: str, db_url: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    env.pop("NARYAD_REDIS_URL", None)
    if db_url:
        env["NARYAD_DATABASE_URL"] = db_url
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_every_command_has_help(command):
    result = naryad(*([command] if command else []), "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
    if command is None:
        for name in COMMANDS:
            assert name in result.stdout


def test_migrate_seed_demo_and_create_user_on_sqlite(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    first = naryad("migrate", db_url=url)
    assert first.returncode == 0, first.stderr
    again = naryad("migrate", db_url=url)
    assert again.returncode == 0, again.stderr  # idempotent

    seeded = naryad("seed-demo", db_url=url)
    assert seeded.returncode == 0, seeded.stderr
    assert "password for all: naryad-demo" in seeded.stdout
    for login in ("admin", "office", "checker", "ivanov", "petrov", "smirnova", "volkov"):
        assert f"  {login} " in seeded.stdout
    twice = naryad("seed-demo", db_url=url)
    assert "not added" in twice.stdout

    made = naryad(
        "create-user",
        "--login",
        "newbie",
        "--password",
        "long-password",
        "--full-name",
        "Новиков Иван",
        "--surname",
        "Новиков",
        "--role",
        "engineer",
        "--group",
        "Выездные инженеры",
        db_url=url,
    )
    assert made.returncode == 0, made.stderr
    assert "created user newbie" in made.stdout
    dup = naryad(
        "create-user",
        "--login",
        "newbie",
        "--password",
        "long-password",
        "--full-name",
        "X",
        "--surname",
        "X",
        "--role",
        "engineer",
        db_url=url,
    )
    assert dup.returncode == 1 and "already taken" in dup.stderr
    bad_group = naryad(
        "create-user",
        "--login",
        "n2",
        "--password",
        "long-password",
        "--full-name",
        "X",
        "--surname",
        "X",
        "--role",
        "engineer",
        "--group",
        "Нет такой",
        db_url=url,
    )
    assert bad_group.returncode == 1 and "Нет такой" in bad_group.stderr


async def test_seed_demo_builds_a_believable_company(tmp_path: Path):
    """Check the demo's content through the database the CLI wrote."""
    from server import db
    from server.accounts.tables import User
    from server.attachments.tables import TaskAttachment
    from server.clients.tables import Contact, Counterparty, Site
    from server.demo import TASKS
    from server.pricing.tables import PriceItem, SpecificationLine, TaskSignature
    from server.tasks.tables import Task

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    assert naryad("migrate", db_url=url).returncode == 0
    assert naryad("seed-demo", db_url=url).returncode == 0
    db.configure_database(url)
    assert await Counterparty.count() >= 10
    assert await Counterparty.count().where(Counterparty.parent.is_not_null()) >= 3
    assert await Site.count() >= 8
    assert await Task.count() == len(TASKS)
    # Issue 15: every field visit on a site with coordinates, contacts, a price list, and
    # finished visits with their specification, photo and signature.
    visits = await Task.select(Task.site.lat, Task.site.lon, Task.status).where(
        Task.template.code == "field_visit"
    )
    assert visits and all(v["site.lat"] is not None and v["site.lon"] is not None for v in visits)
    assert await Contact.count() >= 10 and await PriceItem.count() >= 10
    finished = [v for v in visits if v["status"] in ("done", "completed")]
    assert len(finished) >= 3
    assert await TaskSignature.count() >= len(finished)
    assert await TaskAttachment.count() >= len(finished)
    assert await SpecificationLine.count() >= 3 * len(finished)
    templates = {r["template.code"] for r in await Task.select(Task.template.code)}
    assert templates == {"accounting", "delivery", "field_visit", "repair", "remote_support"}
    statuses = {r["status"] for r in await Task.select(Task.status)}
    assert statuses == {
        "new",
        "accepted",
        "en_route",
        "in_progress",
        "done",
        "completed",
        "postponed",
        "cancelled",
    }
    users = await User.select(User.login).output(as_list=True)
    assert {"admin", "office", "checker"} <= set(users)


def test_bad_settings_give_a_clear_error(tmp_path: Path):
    result = naryad("migrate", db_url="mysql://nope")
    assert result.returncode == 1
    assert "NARYAD_DATABASE_URL" in result.stderr and "Traceback" not in result.stderr
