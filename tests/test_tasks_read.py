"""Reading tasks: filters, queue=mine, search, cursor pagination, client visibility."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.sqlite


async def _ids(backend, who, query: str) -> list[int]:
    resp = await backend.http.get(f"/api/tasks?{query}", headers=who["headers"])
    assert resp.status_code == 200, resp.text
    return [t["id"] for t in resp.json()["items"]]


async def test_filters_and_queue_mine(backend):
    office = await backend.user("office")
    field = await backend.user("engineer", groups=("Выездные инженеры",))
    other = await backend.user("engineer", groups=("Доставка",))
    romashka = await backend.counterparty("Ромашка")
    await backend.counterparty("Лютик")

    async def make(**body):
        resp = await backend.create_task(office, **body)
        assert resp.status_code == 201, resp.text
        return resp.json()["id"]

    v_queue = await make(template="field_visit", title="Ромашка: касса")
    v_mine = await make(template="field_visit", title="Лютик: сканер", assignee_id=field["id"])
    v_other = await make(template="field_visit", title="Лютик: весы", assignee_id=other["id"])
    d_queue = await make(template="delivery", title="Ромашка: лента")
    r_queue = await make(template="repair", title="Блок питания")

    assert await _ids(backend, field, "queue=mine") == [v_mine, v_queue]
    assert await _ids(backend, other, "queue=mine") == [d_queue, v_other]
    assert await _ids(backend, office, "status=new") == [r_queue, d_queue, v_queue]
    assert await _ids(backend, office, "status=accepted,new&template=field_visit") == [
        v_other,
        v_mine,
        v_queue,
    ]
    assert await _ids(backend, field, "assignee=me") == [v_mine]
    assert await _ids(backend, office, f"assignee={other['id']}") == [v_other]
    assert await _ids(backend, office, f"counterparty={romashka['id']}") == [d_queue, v_queue]
    groups = {
        g["name"]: g["id"]
        for g in (await backend.http.get("/api/groups", headers=office["headers"])).json()
    }
    assert await _ids(backend, office, f"group={groups['Ремонт']}") == [r_queue]


async def test_search_by_number_and_cyrillic_title_case_insensitively(backend):
    office = await backend.user("office")
    await backend.counterparty("Ромашка")
    a = (
        await backend.create_task(office, template="field_visit", title="Ромашка: НЕ печатает чек")
    ).json()
    b = (await backend.create_task(office, template="field_visit", title="Ромашка: сканер")).json()
    assert await _ids(backend, office, "q=печатает") == [a["id"]]
    assert await _ids(backend, office, "q=СКАНЕР") == [b["id"]]
    assert await _ids(backend, office, f"q={b['number']}") == [b["id"]]
    assert await _ids(backend, office, f"q=%23{a['number']}") == [a["id"]]
    assert await _ids(backend, office, "q=100%25") == []


async def test_cursor_pagination_walks_every_task_once(backend):
    office = await backend.user("office")
    created = []
    for i in range(7):
        resp = await backend.create_task(office, template="repair", title=f"Ремонт {i}")
        created.append(resp.json()["id"])
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = (await backend.http.get(f"/api/tasks?{query}", headers=office["headers"])).json()
        seen += [t["id"] for t in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == sorted(created, reverse=True)


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("status=lost", "unknown status"),
        ("limit=0", "limit"),
        ("limit=1000", "limit"),
        ("limit=abc", "limit"),
        ("cursor=abc", "cursor"),
        ("assignee=him", "assignee"),
        ("queue=theirs", "queue"),
        ("template=teleport", "R1"),
        ("group=-1", "group"),
    ],
)
async def test_bad_list_queries_are_422(backend, query, needle):
    office = await backend.user("office")
    resp = await backend.http.get(f"/api/tasks?{query}", headers=office["headers"])
    assert resp.status_code in (400, 422), resp.text
    assert needle in resp.json()["detail"]


async def test_get_task_and_404(backend):
    office = await backend.user("office")
    task = (await backend.create_task(office, template="repair", title="Ремонт")).json()
    resp = await backend.http.get(f"/api/tasks/{task['id']}", headers=office["headers"])
    assert resp.status_code == 200 and resp.json() == task
    resp = await backend.http.get("/api/tasks/999999", headers=office["headers"])
    assert resp.status_code == 404 and "999999" in resp.json()["detail"]
    resp = await backend.http.get("/api/tasks/999999/history", headers=office["headers"])
    assert resp.status_code == 404


async def test_clients_see_only_their_company_and_chain(backend):
    office = await backend.user("office")
    chain = await backend.counterparty("Кофе Хаус")
    branch = await backend.counterparty("Кофе Хаус Арбат", parent_id=chain["id"])
    await backend.counterparty("Лютик")
    chain_client = await backend.user("client", counterparty_id=chain["id"])
    branch_client = await backend.user("client", counterparty_id=branch["id"])
    t_chain = (
        await backend.create_task(office, template="delivery", title="Кофе Хаус: лента")
    ).json()
    t_branch = (
        await backend.create_task(office, template="delivery", title="Кофе Хаус Арбат: сканер")
    ).json()
    t_other = (await backend.create_task(office, template="delivery", title="Лютик: весы")).json()
    assert await _ids(backend, chain_client, "") == [t_branch["id"], t_chain["id"]]
    assert await _ids(backend, branch_client, "") == [t_branch["id"]]
    hidden = await backend.http.get(f"/api/tasks/{t_other['id']}", headers=branch_client["headers"])
    assert hidden.status_code == 404
    history = await backend.http.get(
        f"/api/tasks/{t_branch['id']}/history", headers=branch_client["headers"]
    )
    assert history.status_code == 200 and [e["kind"] for e in history.json()] == ["created"]
