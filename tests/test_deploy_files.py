"""deploy/ is real: the systemd units pass `systemd-analyze verify`, the Caddy site file
passes `caddy validate` and serves the PWA and the API in front of a real server, the env
template lists every setting with its default, the compose file and the Containerfile name
real commands and files, and a backup restores into a fresh database."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest
import yaml
from naryad_harness import PG_URL, ROOT, Backend, _free_port, _with_database

from server.cli import main as cli
from server.lib.security_headers import HEADERS, PWA_POLICY
from server.settings import Settings
from server.tasks.tables import Task

DEPLOY = ROOT / "deploy"
UNITS = {
    "naryad-api@.service": ["serve"],
    "naryad-worker@.service": ["worker"],
    "naryad-mail-intake.service": ["mail-intake"],
    "naryad-imap-intake.service": ["imap-intake"],
    "naryad-telegram-poll.service": ["telegram", "poll"],
}


def _tool(name: str, package: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if not found:
        pytest.fail(
            f"{name} is not installed: scripts/test installs it (apt-get install {package})"
        )
    return found


def _cli_knows(words: list[str]) -> bool:
    group = cli
    for word in words:
        command = group.commands.get(word) if hasattr(group, "commands") else None  # type: ignore[attr-defined]
        if command is None:
            return False
        group = command
    return True


def test_systemd_units_verify() -> None:
    analyze = _tool("systemd-analyze", "systemd")
    units = sorted(p for p in (DEPLOY / "systemd").iterdir() if p.is_file())
    names = {p.name for p in units}
    assert set(UNITS) | {"naryad.target", "naryad-backup.service", "naryad-backup.timer"} <= names
    for unit, words in UNITS.items():
        text = (DEPLOY / "systemd" / unit).read_text()
        execs = re.findall(r"^ExecStart=/opt/naryad/venv/bin/naryad (.+)$", text, re.M)
        assert len(execs) == 1 and execs[0].split()[: len(words)] == words, unit
        assert _cli_knows(words), f"{unit} runs `naryad {' '.join(words)}`, which does not exist"
        assert "EnvironmentFile=/etc/naryad/env" in text and "User=naryad" in text
    backup = (DEPLOY / "systemd" / "naryad-backup.service").read_text()
    assert "ExecStart=/opt/naryad/app/deploy/backup/naryad-backup" in backup
    # verify checks that every ExecStart is executable: point them at this checkout.
    with tempfile.TemporaryDirectory() as tmp:
        for unit in units:
            text = unit.read_text()
            text = text.replace("/opt/naryad/venv/bin/naryad", str(ROOT / ".venv/bin/naryad"))
            text = text.replace("/opt/naryad/app/", f"{ROOT}/")
            (Path(tmp) / unit.name).write_text(text)
        out = subprocess.run(
            [analyze, "verify", "--man=no", "--generators=no", *sorted(os.listdir(tmp))],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=120,
        )
    # verify returns 0 on unknown keys and bad values too: any word from it is a failure.
    assert out.returncode == 0 and not out.stdout.strip() and not out.stderr.strip(), (
        out.stdout + out.stderr
    )


def _caddyfile(tmp: Path) -> Path:
    path = tmp / "Caddyfile"
    path.write_text(f"{{\n\tadmin off\n}}\nimport {DEPLOY / 'caddy' / 'naryad.caddy'}\n")
    return path


def _caddy_env(tmp: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "HOME": str(tmp),
        "XDG_DATA_HOME": str(tmp / "data"),
        "XDG_CONFIG_HOME": str(tmp / "config"),
        **extra,
    }


@pytest.fixture
def caddy_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="naryad-caddy-") as tmp:
        yield Path(tmp)


def test_caddy_site_file_validates(caddy_dir: Path) -> None:
    caddy = _tool("caddy", "caddy")
    out = subprocess.run(
        [caddy, "validate", "--config", str(_caddyfile(caddy_dir)), "--adapter", "caddyfile"],
        env=_caddy_env(caddy_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and "Valid configuration" in out.stdout + out.stderr, out.stderr


def _start_caddy(caddy: str, tmp: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], Any]:
    log = open(tmp / "caddy.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [caddy, "run", "--config", str(_caddyfile(tmp)), "--adapter", "caddyfile"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return proc, log


def _run(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kw)


async def test_caddy_serves_the_pwa_from_disk_and_proxies_the_api(
    backend: Backend, caddy_dir: Path
) -> None:
    caddy = _tool("caddy", "caddy")
    port = _free_port()
    upstream = backend.server.base_url.removeprefix("http://")
    env = _caddy_env(
        caddy_dir,
        NARYAD_SITE=f"http://127.0.0.1:{port}",
        NARYAD_UPSTREAMS=upstream,
        NARYAD_PWA_DIR=str(ROOT / "pwa"),
    )
    proc, log = await asyncio.to_thread(_start_caddy, caddy, caddy_dir, env)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    page = await http.get("/")
                    break
                except httpx.HTTPError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError(f"caddy did not start: {log.name}") from None
                    await asyncio.sleep(0.2)
            # The PWA: from disk, with the API's own security headers.
            assert page.status_code == 200
            assert page.text == (ROOT / "pwa" / "index.html").read_text()
            assert page.headers["content-security-policy"] == PWA_POLICY
            for name, value in HEADERS.items():
                assert page.headers[name] == value
            sw = await http.get("/sw.js")
            assert sw.status_code == 200 and sw.headers["cache-control"] == "no-cache"
            assert sw.content == (ROOT / "pwa" / "sw.js").read_bytes()
            script = await http.get("/js/app.js")
            assert script.status_code == 200 and "javascript" in script.headers["content-type"]
            # The API and the schema: the server's answers, through the proxy.
            schema = await http.get("/schema/openapi.json")
            assert schema.status_code == 200 and schema.json()["info"]["title"] == "Naryad"
            admin = await backend.user("admin")
            me = await http.get("/api/me", headers=admin["headers"])
            assert me.status_code == 200 and me.json()["login"] == admin["login"]
            assert (await http.get("/api/me")).status_code == 401
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _template_lines() -> dict[str, tuple[bool, str]]:
    """NAME -> (commented, value) for every NARYAD_* line of the env template."""
    found: dict[str, tuple[bool, str]] = {}
    for line in (DEPLOY / "naryad.env.example").read_text().splitlines():
        m = re.match(r"^(#?)(NARYAD_[A-Z0-9_]+)=(.*)$", line)
        if m:
            assert m.group(2) not in found, f"{m.group(2)} is listed twice"
            value = m.group(3)
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            found[m.group(2)] = (m.group(1) == "#", value)
    return found


def test_env_template_lists_every_setting_with_its_default() -> None:
    fields = {f"NARYAD_{f.name.upper()}": f for f in msgspec.structs.fields(Settings)}
    listed = _template_lines()
    assert sorted(set(fields) - set(listed)) == [], "settings missing from the template"
    assert sorted(set(listed) - set(fields)) == [], "the template names unknown settings"
    for name, (commented, value) in listed.items():
        if not commented:
            continue  # a production value to fill in
        default = fields[name].default
        if default is None:
            assert value == "", f"{name}: unset by default, shown as {value!r}"
        else:
            shown = msgspec.convert({fields[name].name: value}, Settings, strict=False)
            assert getattr(shown, fields[name].name) == default, f"{name}={value!r}"
    # the uncommented production values are valid settings
    production = {k: v for k, (c, v) in listed.items() if not c}
    assert Settings.from_env(production).public_url.startswith("https://")


def test_compose_file_and_containerfile() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {
        "postgres",
        "redis",
        "migrate",
        "api",
        "worker",
        "mail-intake",
        "imap-intake",
        "telegram-poll",
        "caddy",
        "backup",
    } <= set(services)
    assert services["api"]["deploy"]["replicas"] >= 2
    assert services["worker"]["deploy"]["replicas"] >= 2
    ours = [s for s in services.values() if s.get("image") == "localhost/naryad:latest"]
    assert len(ours) == 7  # migrate, api, worker, three intakes, backup
    for service in ours:
        command = service["command"]
        if command[0] == "naryad":
            words = []
            for word in command[1:]:
                if word.startswith("-"):
                    break
                words.append(word)
            assert _cli_knows(words), command
        else:
            assert "naryad-backup" in command[-1], command
        assert "postgres:5432" in service["environment"]["NARYAD_DATABASE_URL"]
        assert (DEPLOY / service["build"]["context"] / service["build"]["dockerfile"]).exists()
    assert services["migrate"]["command"] == ["naryad", "migrate"]
    assert services["api"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for volume in services["caddy"]["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("."):
            assert (DEPLOY / source).exists(), volume
    assert services["caddy"]["environment"]["NARYAD_UPSTREAMS"] == "api:8000"

    lines = [
        line
        for line in (DEPLOY / "Containerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0].startswith("FROM ") and "python:3.11" in lines[0]
    for line in lines:
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), line
    assert "USER naryad" in lines
    assert lines[-1] == 'CMD ["naryad", "serve", "--host", "0.0.0.0", "--port", "8000"]'


async def test_backup_restores_into_a_fresh_database(backend: Backend) -> None:
    _tool("pg_dump", "postgresql-client")
    cp = await backend.counterparty("Ромашка")
    office = await backend.user("office")
    for n in range(3):
        resp = await backend.create_task(
            office,
            template="remote_support",
            title=f"Ромашка: касса {n}",
            counterparty_id=cp["id"],
        )
        assert resp.status_code == 201, resp.text
    tasks = await Task.count()
    name = f"naryad_restore_{uuid.uuid4().hex[:8]}"
    target = _with_database(PG_URL, name)
    admin = await asyncpg.connect(PG_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "NARYAD_DATABASE_URL": backend.url, "BACKUP_DIR": tmp}
            out = await asyncio.to_thread(_run, [str(DEPLOY / "backup" / "naryad-backup")], env=env)
            assert out.returncode == 0, out.stderr
            dumps = [line.split()[1] for line in out.stdout.splitlines() if ".dump" in line]
            assert len(dumps) == 1 and dumps[0].startswith(f"{tmp}/naryad-"), out.stdout
            restore = [str(DEPLOY / "backup" / "naryad-restore"), dumps[0], target]
            out = await asyncio.to_thread(_run, restore)
            assert out.returncode == 0, out.stderr
            # a second restore into the now full database is refused
            again = await asyncio.to_thread(_run, restore)
            assert again.returncode == 1 and "not empty" in again.stderr
        restored = await asyncpg.connect(target)
        try:
            assert await restored.fetchval("SELECT count(*) FROM tasks") == tasks == 3
            assert (
                await restored.fetchval(
                    "SELECT count(*) FROM counterparties WHERE name = 'Ромашка'"
                )
                == 1
            )
            source = await asyncpg.connect(backend.url)
            try:
                for table in ("users", "task_events", "migration"):
                    want = await source.fetchval(f"SELECT count(*) FROM {table}")
                    assert await restored.fetchval(f"SELECT count(*) FROM {table}") == want
            finally:
                await source.close()
        finally:
            await restored.close()
        # the restored database is a working Naryad: migrate finds nothing to do
        migrate = [sys.executable, "-m", "server.cli", "migrate"]
        env = {**os.environ, "NARYAD_DATABASE_URL": target}
        out = await asyncio.to_thread(_run, migrate, env=env, cwd=ROOT)
        assert out.returncode == 0, out.stderr
    finally:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.close()
