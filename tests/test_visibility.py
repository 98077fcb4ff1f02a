"""Who sees which task, and who changes what hangs on it (issue #14, README "Who sees which
task"). Engineers see their groups' tasks, those they hold, worked on or watch; checkers,
office and admins see all. Only the holder, office and admins change a task's specification
and attachments; a client attaches to its own tasks when the template takes portal
requests."""

from __future__ import annotations

from typing import Any

import pytest
from naryad_harness import Backend

from server import db
from server.accounts import service as accounts
from server.tasks import service as tasks
from server.tasks.schemas import TaskFilter
from server.tasks.tables import Task

REMOTE = "Удалённая техподдержка"
REPAIR = "Ремонт"
PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
    "gAF/QualzQAAAABJRU5ErkJggg=="
)


async def _world(b: Backend) -> dict[str, Any]:
    w: dict[str, Any] = {
        "office": await b.user("office"),
        "admin": await b.user("admin"),
        "checker": await b.user("checker"),
        "eng_a": await b.user("engineer", groups=(REMOTE,)),
        "eng_b": await b.user("engineer", groups=(REPAIR,)),
    }
    cp = await b.counterparty("Ромашка")
    w["client"] = await b.user("client", counterparty_id=cp["id"])
    resp = await b.create_task(w["office"], template="remote_support", title="Ромашка: касса")
    assert resp.status_code == 201, resp.text
    w["task_a"] = resp.json()["id"]
    resp = await b.create_task(
        w["office"], template="repair", title="Принтер чеков", counterparty_id=cp["id"]
    )
    assert resp.status_code == 201, resp.text
    w["task_b"] = resp.json()["id"]
    return w


async def _get(b: Backend, who: dict[str, Any], path: str) -> int:
    return (await b.http.get(path, headers=who["headers"])).status_code


async def _post(b: Backend, who: dict[str, Any], path: str, body: Any = None) -> Any:
    return await b.http.post(path, json=body or {}, headers=who["headers"])


async def _listed(b: Backend, who: dict[str, Any], query: str = "") -> set[int]:
    resp = await b.http.get(f"/api/tasks?limit=200{query}", headers=who["headers"])
    assert resp.status_code == 200, resp.text
    return {t["id"] for t in resp.json()["items"]}


def _reads(tid: int) -> list[str]:
    return [
        f"/api/tasks/{tid}",
        f"/api/tasks/{tid}/history",
        f"/api/tasks/{tid}/comments",
        f"/api/tasks/{tid}/attachments",
        f"/api/tasks/{tid}/specification",
        f"/api/tasks/{tid}/watchers",
    ]


def _attachment() -> dict[str, Any]:
    return {"filename": "photo.png", "content_type": "image/png", "data_base64": PNG}


@pytest.mark.sqlite
async def test_engineers_see_their_groups_held_worked_and_watched_tasks(backend: Backend) -> None:
    b = backend
    w = await _world(b)
    a, t_b = w["task_a"], w["task_b"]
    # An internal comment and a private photo on the remote-support task.
    assert (await _post(b, w["office"], f"/api/tasks/{a}/comments", {"body": "внутр."})).is_success
    assert (await _post(b, w["office"], f"/api/tasks/{a}/attachments", _attachment())).is_success

    # Group B's engineer sees nothing of group A's task: every read is a 404.
    for path in (*_reads(a), f"/api/tasks/{a}/work-order.pdf"):
        assert await _get(b, w["eng_b"], path) == 404, path
    assert await _listed(b, w["eng_b"]) == {t_b}
    assert await _listed(b, w["eng_a"]) == {a}
    for who in ("office", "admin", "checker"):
        assert await _listed(b, w[who]) >= {a, t_b}, who
        assert await _get(b, w[who], f"/api/tasks/{a}") == 200
    # ... nor can they act on it: the task does not exist for them.
    resp = await _post(b, w["eng_b"], f"/api/tasks/{a}/comments", {"body": "?"})
    assert resp.status_code == 404
    assert (await _post(b, w["eng_b"], f"/api/tasks/{a}/accept")).status_code == 404
    resp = await b.http.get("/api/tasks/export.csv", headers=w["eng_b"]["headers"])
    assert resp.status_code in (200, 403)
    if resp.status_code == 200:
        assert "Ромашка: касса" not in resp.text

    # Watching shows the task; unwatching hides it again.
    resp = await _post(b, w["office"], f"/api/tasks/{a}/watchers", {"user_id": w["eng_b"]["id"]})
    assert resp.status_code == 201, resp.text
    for path in _reads(a):
        assert await _get(b, w["eng_b"], path) == 200, path
    assert a in await _listed(b, w["eng_b"])
    resp = await b.http.delete(
        f"/api/tasks/{a}/watchers/{w['eng_b']['id']}", headers=w["office"]["headers"]
    )
    assert resp.status_code == 200, resp.text
    assert await _get(b, w["eng_b"], f"/api/tasks/{a}") == 404

    # Held, then released: the engineer worked on it, so it stays visible (history).
    resp = await _post(b, w["office"], f"/api/tasks/{t_b}/assign", {"user_id": w["eng_a"]["id"]})
    assert resp.status_code == 200, resp.text
    assert t_b in await _listed(b, w["eng_a"], "&queue=mine")
    assert (await _post(b, w["eng_a"], f"/api/tasks/{t_b}/release")).status_code == 200
    assert await _get(b, w["eng_a"], f"/api/tasks/{t_b}") == 200
    assert await _listed(b, w["eng_a"]) == {a, t_b}
    # ... but it is back in group B's queue, not in engineer A's.
    assert t_b not in await _listed(b, w["eng_a"], "&queue=mine")
    assert t_b in await _listed(b, w["eng_b"], "&queue=mine")


@pytest.mark.sqlite
async def test_only_the_holder_office_and_admins_change_specification_and_attachments(
    backend: Backend,
) -> None:
    b = backend
    w = await _world(b)
    a = w["task_a"]
    line = {"name": "Выезд", "price": "1500", "quantity": "1"}
    spec = f"/api/tasks/{a}/specification/lines"
    files = f"/api/tasks/{a}/attachments"
    # Group A's engineer sees the queued task but does not hold it; the checker sees all.
    for who in ("eng_a", "checker"):
        assert (await _post(b, w[who], spec, line)).status_code == 403, who
        resp = await _post(b, w[who], files, _attachment())
        assert resp.status_code == 403, who
        assert "holder" in resp.json()["detail"]
    for who in ("office", "admin"):
        assert (await _post(b, w[who], spec, line)).status_code == 201, who
        assert (await _post(b, w[who], files, _attachment())).status_code == 201, who
    line_id = await b.http.get(f"/api/tasks/{a}/specification", headers=w["office"]["headers"])
    line_id = line_id.json()["lines"][0]["id"]
    resp = await b.http.patch(
        f"{spec}/{line_id}", json={"quantity": "2"}, headers=w["eng_a"]["headers"]
    )
    assert resp.status_code == 403
    resp = await b.http.delete(f"{spec}/{line_id}", headers=w["eng_a"]["headers"])
    assert resp.status_code == 403

    # Once engineer A accepts, they hold it and may change both.
    assert (await _post(b, w["eng_a"], f"/api/tasks/{a}/accept")).status_code == 200
    assert (await _post(b, w["eng_a"], spec, line)).status_code == 201
    assert (await _post(b, w["eng_a"], files, _attachment())).status_code == 201
    resp = await b.http.patch(
        f"{spec}/{line_id}", json={"quantity": "2"}, headers=w["eng_a"]["headers"]
    )
    assert resp.status_code == 200, resp.text
    # A watcher reads and comments, but does not change them.
    resp = await _post(b, w["office"], f"/api/tasks/{a}/watchers", {"user_id": w["eng_b"]["id"]})
    assert resp.status_code == 201
    assert (await _post(b, w["eng_b"], spec, line)).status_code == 403
    assert (await _post(b, w["eng_b"], files, _attachment())).status_code == 403
    resp = await _post(b, w["eng_b"], f"/api/tasks/{a}/comments", {"body": "посмотрю"})
    assert resp.status_code == 201

    # Clients: on their own tasks whose template takes portal requests (remote support),
    # not on the others (repair), and never on another company's.
    assert (await _post(b, w["client"], files, _attachment())).status_code == 201
    resp = await _post(b, w["client"], f"/api/tasks/{w['task_b']}/attachments", _attachment())
    assert resp.status_code == 403
    assert (await _post(b, w["client"], spec, line)).status_code == 403
    other = await b.user("client", counterparty_id=(await b.counterparty("Лютик"))["id"])
    assert (await _post(b, other, files, _attachment())).status_code == 404


@pytest.mark.sqlite
async def test_the_engineers_visibility_filter_is_answered_by_indexes(backend: Backend) -> None:
    """queue=mine and the plain list stay index-driven. queue=mine needs no visibility
    clause (an engineer sees what they hold and their groups' queues) and reads its slices
    from the open-by-assignee and group/status indexes; the plain list's EXISTS probes use
    the (task, actor) index on task_events and the (task, user) one on task_watchers."""
    b = backend
    w = await _world(b)
    actor = await accounts.actor_for_user(w["eng_a"]["id"])
    assert actor is not None
    plans = []
    for f in (TaskFilter(queue_mine=True), TaskFilter()):
        query = await tasks.build_list_query(actor, f)
        sql, args = query.page_sql(51)
        if db.is_sqlite():
            rows = await Task.raw(f"EXPLAIN QUERY PLAN {sql}", *args)
            plans.append(" ".join(str(r["detail"]) for r in rows))
        else:
            async with db.transaction():
                # On a near-empty table the planner rightly prefers a sequential scan;
                # what matters is that an index answers the probe when it is large.
                await Task.raw("SET LOCAL enable_seqscan = off")
                rows = await Task.raw(f"EXPLAIN {sql}", *args)
            plans.append(" ".join(str(r["QUERY PLAN"]) for r in rows))
    mine, everything = plans
    assert "tasks_open_assignee_id" in mine, mine
    assert "tasks_group_status" in mine or "tasks_group_id" in mine, mine
    assert "task_events" not in mine, mine
    assert "task_events_task_actor" in everything, everything
    assert "task_watchers_task_user" in everything, everything
