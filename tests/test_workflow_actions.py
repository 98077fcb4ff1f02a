"""A task's `actions` are the PWA's source of truth (the card shows exactly those buttons),
so for every template × reachable status × role, every action the server lists must then be
accepted by the server (issue #12). Each listed action is tried on a fresh task brought to
that status, by the person who was offered it."""

from __future__ import annotations

import datetime as dt

ALL_GROUPS = ("Бухгалтерия", "Доставка", "Выездные инженеры", "Ремонт", "Удалённая техподдержка")
TITLES = {
    "field_visit": "Ромашка: касса",
    "remote_support": "Ромашка: оплата",
    "delivery": "Ромашка: лента",
    "repair": "Ромашка: блок питания",
    "accounting": "Ромашка: счёт",
}
# How the holder brings a task to each status ("reply" is a public comment: R10 then makes
# the task wait for the client).
DEPARTURE_PATHS = {
    "new": [],
    "accepted": ["accept"],
    "en_route": ["accept", "depart"],
    "in_progress": ["accept", "depart", "arrive"],
    "waiting_client": ["accept", "reply"],
    "done": ["accept", "depart", "arrive", "done"],
    "completed": ["accept", "depart", "arrive", "done", "approve"],
    "postponed": ["accept", "postpone"],
    "cancelled": ["refuse"],
}
OFFICE_PATHS = {
    "new": [],
    "accepted": ["accept"],
    "in_progress": ["accept", "start"],
    "waiting_client": ["accept", "reply"],
    "completed": ["accept", "done"],
    "postponed": ["accept", "postpone"],
    "cancelled": ["refuse"],
}


async def test_every_offered_action_is_accepted(backend):
    admin = await backend.user("admin")
    romashka = await backend.counterparty("Ромашка")
    cast = {
        "holder": await backend.user("engineer", groups=ALL_GROUPS, surname="Иванов"),
        "peer": await backend.user("engineer", groups=ALL_GROUPS, surname="Петров"),
        "outsider": await backend.user("engineer", surname="Чужой"),
        "office": await backend.user("office"),
        "checker": await backend.user("checker", groups=ALL_GROUPS, surname="Кузнецов"),
        "admin": admin,
        "client": await backend.user("client", counterparty_id=romashka["id"]),
    }
    holder, peer = cast["holder"], cast["peer"]
    # R10's "a public reply waits for the client" for every template, so waiting_client
    # is reachable everywhere.
    automations = (await backend.http.get("/api/sla/automations", headers=admin["headers"])).json()
    for a in automations:
        if a["kind"] == "public_reply_waiting":
            resp = await backend.http.patch(
                f"/api/sla/automations/{a['id']}", json={"enabled": True}, headers=admin["headers"]
            )
            assert resp.status_code == 200, resp.text
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    bodies = {
        "assign": {"user_id": holder["id"]},
        "arrive": {},
        "done": {"completed_works": "Заменил ФН"},
        "return": {"reason": "Нет фото"},
        "postpone": {"until": until, "reason": "Клиент просит"},
        "redirect": {"user_id": peer["id"], "call_back": False},
        "refuse": {"reason": "Дубль"},
    }

    async def step(task_id: int, action: str, who: dict) -> None:
        if action == "reply":
            path, body = f"/api/tasks/{task_id}/comments", {"body": "Смотрю", "public": True}
        else:
            path, body = f"/api/tasks/{task_id}/{action}", bodies.get(action)
        if action == "approve":
            who = cast["checker"]
        resp = await backend.http.post(path, json=body, headers=who["headers"])
        assert resp.status_code in (200, 201), (action, resp.text)

    async def task_at(template: str, path: list[str], status: str) -> int:
        resp = await backend.create_task(cast["office"], template=template, title=TITLES[template])
        assert resp.status_code == 201, resp.text
        task_id: int = resp.json()["id"]
        for action in path:
            await step(task_id, action, holder)
        got = await backend.http.get(f"/api/tasks/{task_id}", headers=admin["headers"])
        assert got.json()["status"] == status, (template, path, got.json()["status"])
        return task_id

    refused = []
    tried = 0
    offered_somewhere: set[str] = set()
    for template in TITLES:
        paths = DEPARTURE_PATHS if template == "field_visit" else OFFICE_PATHS
        for status, path in paths.items():
            probe = await task_at(template, path, status)
            for role, who in cast.items():
                resp = await backend.http.get(f"/api/tasks/{probe}", headers=who["headers"])
                if role in ("client", "outsider") and resp.status_code == 404:
                    continue  # not theirs to see (another group's work, another company's)
                assert resp.status_code == 200, (role, resp.text)
                for action in resp.json()["actions"]:
                    offered_somewhere.add(action)
                    task_id = await task_at(template, path, status)
                    answer = await backend.http.post(
                        f"/api/tasks/{task_id}/{action}",
                        json=bodies.get(action),
                        headers=who["headers"],
                    )
                    tried += 1
                    if answer.status_code != 200:
                        refused.append((template, status, role, action, answer.text[:200]))
    assert refused == [], "\n".join(map(str, refused))
    # the test would pass vacuously if nothing were offered
    assert tried > 150
    assert offered_somewhere == {
        "accept",
        "assign",
        "depart",
        "arrive",
        "start",
        "done",
        "approve",
        "return",
        "release",
        "postpone",
        "resume",
        "redirect",
        "refuse",
    }
