"""R7 under real concurrency: many engineers press Accept at once; exactly one wins.

Real parallel HTTP clients (one connection pool each) against uvicorn processes on the
same database; no sleeps anywhere."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest
from naryad_harness import Server

from server.tasks.tables import Task, TaskEvent

FIELD = ("Выездные инженеры",)


async def _race(backend, engineers, base_urls, tasks_n: int, rounds: int) -> None:
    office = await backend.user("office")
    await backend.counterparty("Ромашка")
    names = {e["id"]: e["full_name"] for e in engineers}
    # One connection per engineer, like one phone each.
    clients = [
        httpx.AsyncClient(
            base_url=base_urls[i % len(base_urls)],
            headers=e["headers"],
            timeout=60,
            limits=httpx.Limits(max_connections=1),
        )
        for i, e in enumerate(engineers)
    ]
    try:
        for _ in range(rounds):
            task_ids = []
            for n in range(tasks_n):
                resp = await backend.create_task(
                    office, template="field_visit", title=f"Ромашка: касса {n}"
                )
                task_ids.append(resp.json()["id"])

            # Everyone walks the same list at once, so each task is pressed by all of them
            # at nearly the same moment; a little shuffling varies who arrives first.
            async def press_all(
                client: httpx.AsyncClient, task_ids: list[int]
            ) -> list[httpx.Response]:
                order = task_ids[:]
                for i in range(0, len(order) - 1, 2):
                    if random.random() < 0.5:
                        order[i], order[i + 1] = order[i + 1], order[i]
                by_task = {}
                for t in order:
                    by_task[t] = await client.post(f"/api/tasks/{t}/accept")
                return [by_task[t] for t in task_ids]

            per_client = await asyncio.gather(*[press_all(c, task_ids) for c in clients])
            calls = [(c, e, t) for c, e in zip(clients, engineers, strict=True) for t in task_ids]
            responses = [r for rs in per_client for r in rs]
            winners: dict[int, list[int]] = {t: [] for t in task_ids}
            losers: dict[int, list[httpx.Response]] = {t: [] for t in task_ids}
            for (_, engineer, t), resp in zip(calls, responses, strict=True):
                if resp.status_code == 200:
                    winners[t].append(engineer["id"])
                else:
                    assert resp.status_code == 409, resp.text
                    losers[t].append(resp)
            for t in task_ids:
                assert len(winners[t]) == 1, (t, winners[t])
                winner = winners[t][0]
                assert len(losers[t]) == len(engineers) - 1
                for resp in losers[t]:
                    assert names[winner] in resp.json()["detail"]
                    assert resp.json()["extra"]["assignee"]["id"] == winner
                row = (
                    await Task.select(Task.assignee, Task.version, Task.status)
                    .where(Task.id == t)
                    .first()
                )
                assert row == {"assignee": winner, "version": 2, "status": "accepted"}
                events = (
                    await TaskEvent.select(TaskEvent.kind, TaskEvent.actor)
                    .where(TaskEvent.task == t)
                    .order_by(TaskEvent.id)
                )
                assert events == [
                    {"kind": "created", "actor": office["id"]},
                    {"kind": "accepted", "actor": winner},
                ]
    finally:
        for c in clients:
            await c.aclose()


async def test_fifty_engineers_race_on_twenty_tasks_postgres(backend):
    engineers = [await backend.user("engineer", groups=FIELD) for _ in range(50)]
    await _race(backend, engineers, [backend.server.base_url], tasks_n=20, rounds=3)


async def test_race_across_two_server_processes(backend):
    second = await asyncio.to_thread(Server, backend.url)
    try:
        engineers = [await backend.user("engineer", groups=FIELD) for _ in range(20)]
        await _race(
            backend, engineers, [backend.server.base_url, second.base_url], tasks_n=10, rounds=2
        )
    finally:
        second.stop()


@pytest.mark.sqlite
async def test_race_holds_on_the_embedded_default_too(backend):
    engineers = [await backend.user("engineer", groups=FIELD) for _ in range(10)]
    await _race(backend, engineers, [backend.server.base_url], tasks_n=5, rounds=1)
