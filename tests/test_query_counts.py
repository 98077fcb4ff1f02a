"""How many SQL statements the hot paths run per HTTP request (issue 21, target 2).

A real uvicorn process on a real PostgreSQL database, wrapped so that every statement the
request's task sends is counted (tests/query_counter.py says how). Counted: authentication,
the endpoint's SQL, transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE) and
the pool's reset of a released connection. Not counted: asyncpg's one-off type
introspection on a fresh connection, and tasks the request spawns (after-commit kicks),
which run off the request's path — both are printed.

Each endpoint has one ceiling below: what it takes today. A change that adds a statement
fails here; a change that saves some lowers its number.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from naryad_harness import Backend, _clean
from query_counter import COUNT_HEADER, RESULTS_PATH, CountingServer

from server.accounts import service as accounts
from server.assets.tables import Equipment, EquipmentKind, TaskEquipment
from server.contracts.tables import Contract, ContractTask
from server.lib.errors import DomainError
from server.portal.tables import TaskRating
from server.tasks import service, transitions
from server.tasks.tables import Task, TaskEvent, TaskWatcher

FIELD = ("Выездные инженеры",)

# Statements per request, all included (see the module's docstring). One number each.
CEILINGS = {
    "list": 2,
    "get": 2,
    "create": 18,
    "accept": 4,  # issue 21's target
    "accept_pwa": 5,  # as the PWA sends it: Idempotency-Key and If-Match
    "depart": 6,
    "arrive": 7,
    "comment": 6,
    "done": 9,
}

_ids = itertools.count(1)


@pytest.fixture
async def counting(pg_url: str) -> AsyncIterator[Backend]:
    await _clean(pg_url)
    server = await asyncio.to_thread(CountingServer, pg_url)
    backend = Backend("postgres", pg_url, server)  # type: ignore[arg-type]
    try:
        yield backend
    finally:
        await backend.http.aclose()
        server.stop()


async def _counted(
    backend: Backend, method: str, path: str, who: dict[str, Any], body: Any = None, **headers: str
) -> tuple[Any, dict[str, Any]]:
    key = str(next(_ids))
    resp = await backend.http.request(
        method, path, json=body, headers={**who["headers"], COUNT_HEADER: key, **headers}
    )
    assert resp.status_code in (200, 201), (method, path, resp.text)
    counts = (await backend.http.get(f"{RESULTS_PATH}{key}")).json()
    return resp.json(), counts


async def _walk(backend: Backend, crew: dict[str, Any], site_id: int) -> dict[str, Any]:
    """The engineer's day on one visit; returns the counts per endpoint."""
    office, iv = crew["office"], crew["ivanov"]
    counts: dict[str, Any] = {}
    body = {"template": "field_visit", "title": "Ромашка: касса", "site_id": site_id}
    task, counts["create"] = await _counted(backend, "POST", "/api/tasks", office, body)
    tid = task["id"]
    _, counts["list"] = await _counted(backend, "GET", "/api/tasks?queue=mine", iv)
    _, counts["get"] = await _counted(backend, "GET", f"/api/tasks/{tid}", iv)
    accepted, counts["accept"] = await _counted(backend, "POST", f"/api/tasks/{tid}/accept", iv)
    assert accepted["assignee"]["id"] == iv["id"]
    _, counts["depart"] = await _counted(backend, "POST", f"/api/tasks/{tid}/depart", iv)
    arrival = {"lat": 55.7580, "lon": 37.6135}
    _, counts["arrive"] = await _counted(backend, "POST", f"/api/tasks/{tid}/arrive", iv, arrival)
    note = {"body": "На месте, меняю ФН", "public": False}
    _, counts["comment"] = await _counted(backend, "POST", f"/api/tasks/{tid}/comments", iv, note)
    works = {"completed_works": "Заменил ФН"}
    _, counts["done"] = await _counted(backend, "POST", f"/api/tasks/{tid}/done", iv, works)
    # The PWA sends every action through its outbox: Idempotency-Key and If-Match.
    task, _ = await _counted(backend, "POST", "/api/tasks", office, body)
    accepted, counts["accept_pwa"] = await _counted(
        backend,
        "POST",
        f"/api/tasks/{task['id']}/accept",
        iv,
        **{"Idempotency-Key": uuid.uuid4().hex, "If-Match": str(task["version"])},
    )
    assert accepted["status"] == "accepted"
    return counts


async def test_hot_paths_stay_within_their_statement_counts(counting: Backend) -> None:
    backend = counting
    cp = await backend.counterparty("Ромашка")
    site = await backend.site(cp["id"], name="Тверская", lat=55.7575, lon=37.6130)
    crew = {
        "office": await backend.user("office"),
        "ivanov": await backend.user("engineer", groups=FIELD, surname="Иванов"),
    }
    await _walk(backend, crew, site["id"])  # warm: connections, prepared statements, caches
    counts = await _walk(backend, crew, site["id"])
    print()
    print(f"{'endpoint':<12}{'total':>6}{'auth':>6}{'sql':>6}{'tx':>6}{'reset':>6}  (ceiling)")
    for name, c in counts.items():
        print(
            f"{name:<12}{c['total']:>6}{c['auth']:>6}{c['sql']:>6}{c['tx']:>6}{c['reset']:>6}"
            f"  ({CEILINGS[name]}; introspection {c['introspection']},"
            f" background {c['background']})"
        )
    for name, c in counts.items():
        print(f"--- {name}")
        for line in c["statements"]:
            print("   ", line)
    over = {n: (c["total"], CEILINGS[n]) for n, c in counts.items() if c["total"] > CEILINGS[n]}
    assert not over, f"statements per request above the ceiling (count, ceiling): {over}"


# --- the fast paths answer and decide as the general ones do --------------------------


async def test_one_statement_answer_equals_the_single_read(backend: Backend) -> None:
    """What other domains add to a single-task read, read in SQL inside a transition's
    statement (tasks.extensions.read_in_sql), equals what their Python fillers read."""
    office = await backend.user("office")
    watcher = await backend.user("engineer", groups=FIELD, surname="Смотров")
    cp = await backend.counterparty("Ромашка")
    task = await backend.create_task(office, template="field_visit", title="Ромашка: касса")
    assert task.status_code == 201, task.text
    tid = task.json()["id"]
    now = dt.datetime.now(dt.UTC)
    kind = EquipmentKind(code="pos", name="Касса", created_at=now)
    await kind.save()
    for model, serial in (("АТОЛ 30Ф", "001"), ("Штрих-М", "")):
        piece = Equipment(
            counterparty=cp["id"],
            kind=kind.id,
            model=model,
            serial=serial,
            model_key=model.lower(),
            serial_key=serial,
            created_at=now,
            updated_at=now,
        )
        await piece.save()
        await TaskEquipment(task=tid, equipment=piece.id, created_at=now).save()
    contract = Contract(
        counterparty=cp["id"], number="ТО-1", starts_on=now.date(), created_at=now, updated_at=now
    )
    await contract.save()
    await ContractTask.delete().where(ContractTask.task == tid)
    await ContractTask(task=tid, contract=contract.id, outside_contract=True, created_at=now).save()
    rated = now.replace(microsecond=123456)
    rating = TaskRating(task=tid, score=4, comment="быстро", rated_by="Иванова")
    rating.first_rated_at = rating.rated_at = rated
    await rating.save()
    resp = await backend.http.post(
        f"/api/tasks/{tid}/watchers", json={"user_id": watcher["id"]}, headers=office["headers"]
    )
    assert resp.status_code == 201, resp.text
    follow = await backend.create_task(office, template="field_visit", title="Ромашка: снова")
    await Task.update({Task.parent_task: tid}).where(Task.id == follow.json()["id"])

    actor = await accounts.actor_for_user(office["id"])
    assert actor is not None
    by_fillers = msgspec.to_builtins(await service.get_task(actor, tid))
    in_sql = msgspec.to_builtins(await transitions._read_answer(tid, actor))
    assert in_sql == by_fillers
    assert in_sql["equipment"] and in_sql["contract"] and in_sql["rating"]
    assert in_sql["outside_contract"] is True and in_sql["watchers"] and in_sql["follow_ups"]


async def _outcome(call: Any) -> Any:
    try:
        task = await call
    except DomainError as exc:
        return type(exc).__name__, exc.code
    return "ok", task.status, task.assignee.id if task.assignee else None, task.actions


async def test_accept_at_once_decides_as_the_general_path(backend: Backend) -> None:
    """R7 for accept as the fast path's WHERE (transitions._may_accept) against the
    general path's checks, for every kind of caller and queue: same answer, same writes."""
    office = await backend.user("office")
    await backend.counterparty("Ромашка")
    callers = {
        "engineer": await backend.user("engineer", groups=FIELD),
        "engineer_repair": await backend.user("engineer", groups=("Ремонт",)),
        "engineer_alone": await backend.user("engineer"),
        "office": office,
        "admin": await backend.user("admin"),
        "checker_field": await backend.user("checker", groups=FIELD),
        "checker_alone": await backend.user("checker"),
        "office_engineer": await backend.user("office", "engineer"),
        "accountant": await backend.user("office", groups=("Бухгалтерия",)),
        "checker_accounting": await backend.user("checker", groups=("Бухгалтерия",)),
    }
    kinds = {
        "field_visit": ("field_visit", "Ромашка: касса"),
        "repair": ("repair", "Блок питания"),
        "remote": ("remote_support", "Ромашка: оплата"),
        "accounting": ("accounting", "Ромашка: акт сверки"),
    }
    compared = 0
    for caller_name, caller in callers.items():
        actor = await accounts.actor_for_user(caller["id"])
        assert actor is not None
        for kind_name, (template, title) in kinds.items():
            for variant in ("queued", "no_group", "watched", "taken", "stale"):
                pair = []
                for _ in range(2):
                    resp = await backend.create_task(office, template=template, title=title)
                    assert resp.status_code == 201, resp.text
                    pair.append(resp.json())
                ids = [t["id"] for t in pair]
                if variant == "no_group":
                    await Task.update({Task.group: None}).where(Task.id.is_in(ids))
                if variant == "watched":
                    for t in ids:
                        await TaskWatcher(
                            task=t, user=caller["id"], created_at=dt.datetime.now(dt.UTC)
                        ).save()
                if variant == "taken":
                    for t in ids:
                        await backend.http.post(
                            f"/api/tasks/{t}/assign",
                            json={"user_id": callers["engineer"]["id"]},
                            headers=office["headers"],
                        )
                version = 99 if variant == "stale" else None
                fast = await _outcome(
                    transitions.accept_task(actor, ids[0], expected_version=version)
                )
                general = await _outcome(
                    transitions.accept_task(actor, ids[1], expected_version=version, at_once=False)
                )
                assert fast == general, (caller_name, kind_name, variant, fast, general)
                written = []
                for t in ids:
                    row = (
                        await Task.select(Task.status, Task.assignee, Task.version, Task.reacted_at)
                        .where(Task.id == t)
                        .first()
                    )
                    assert row is not None
                    row["reacted_at"] = row["reacted_at"] is not None
                    events = (
                        await TaskEvent.select(
                            TaskEvent.kind, TaskEvent.actor, TaskEvent.data, TaskEvent.internal
                        )
                        .where(TaskEvent.task == t)
                        .order_by(TaskEvent.id)
                        .output(load_json=True)
                    )
                    written.append((row, events))
                assert written[0] == written[1], (caller_name, kind_name, variant, written)
                compared += 1
    assert compared == len(callers) * len(kinds) * 5
