"""The SLA sweep runs by itself: in-process inside `naryad serve` (no Redis), and as the
arq cron job of `naryad worker` (real Redis). Each test starts the process and waits, with
a deadline, for the database to show the sweep's work."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
import time

import redis.asyncio as aioredis
from naryad_harness import ROOT, Server

from server.tasks.tables import Task

REDIS_BASE = os.environ.get("NARYAD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_URL = REDIS_BASE.rsplit("/", 1)[0] + "/12"


async def _postponed_task_due_now(backend) -> int:
    engineer = await backend.user("engineer", groups=("Ремонт",))
    task = (await backend.create_task(engineer, template="repair", title="Ремонт")).json()
    await backend.http.post(f"/api/tasks/{task['id']}/accept", headers=engineer["headers"])
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    resp = await backend.http.post(
        f"/api/tasks/{task['id']}/postpone", json={"until": until}, headers=engineer["headers"]
    )
    assert resp.json()["status"] == "postponed"
    # its time has come
    await Task.update(
        {Task.postponed_until: dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)}
    ).where(Task.id == task["id"])
    return int(task["id"])


async def _wait_for_status(task_id: int, status: str, seconds: float = 30) -> str:
    deadline = time.monotonic() + seconds
    current = ""
    while time.monotonic() < deadline:
        current = (await Task.select(Task.status).where(Task.id == task_id).first())["status"]
        if current == status:
            return current
        await asyncio.sleep(0.2)
    return current


async def test_serve_without_redis_runs_the_sweep_in_process(backend):
    task_id = await _postponed_task_due_now(backend)
    server = await asyncio.to_thread(Server, backend.url)  # starts with a sweep
    try:
        assert await _wait_for_status(task_id, "accepted") == "accepted"
    finally:
        server.stop()


async def test_worker_runs_the_sweep_as_arq_cron(backend):
    redis = aioredis.from_url(REDIS_URL)
    await redis.flushdb()
    task_id = await _postponed_task_due_now(backend)
    env = {
        **os.environ,
        "NARYAD_DATABASE_URL": backend.url,
        "NARYAD_REDIS_URL": REDIS_URL,
        "NARYAD_LOG_LEVEL": "INFO",
    }
    log = ROOT / "test-output" / "sla-worker.log"
    worker = await asyncio.create_subprocess_shell(
        f"exec {sys.executable} -m server.cli worker > {log} 2>&1", env=env, cwd=ROOT
    )
    try:
        assert await _wait_for_status(task_id, "accepted") == "accepted"
    finally:
        worker.terminate()
        await asyncio.wait_for(worker.wait(), 15)
        await redis.flushdb()
        await redis.aclose()
