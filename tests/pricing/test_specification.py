"""Task specification: lines, totals by the stated rounding rule, validation, the lock after
completion, admin unlock, history (issue 7)."""

from __future__ import annotations

import asyncio
from decimal import ROUND_HALF_UP, Decimal

import pytest

from server.pricing.tables import SpecificationLine
from server.tasks.tables import TaskEvent

pytestmark = pytest.mark.sqlite


def kopecks(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def expected_line(q: str, p: str, d: str = "0", r: str | None = None) -> dict[str, str]:
    """The rule, by hand: gross = q·p, total = q·p·(1 − d/100), VAT inside the total."""
    qd, pd, dd = Decimal(q), Decimal(p), Decimal(d)
    gross = kopecks(qd * pd)
    total = kopecks(qd * pd * (100 - dd) / 100)
    vat = Decimal("0.00") if r is None else kopecks(total * Decimal(r) / (100 + Decimal(r)))
    return {
        "gross": str(gross),
        "discount": str(gross - total),
        "total": str(total),
        "vat": str(vat),
    }


def sums(lines: list[dict[str, str]]) -> dict[str, str]:
    return {
        key: str(sum((Decimal(line[key]) for line in lines), Decimal("0.00")))
        for key in ("gross", "discount", "total", "vat")
    }


async def _line_count(task_id: int) -> int:
    return await SpecificationLine.count().where(SpecificationLine.task == task_id)


async def _event_kinds(task_id: int) -> list[str]:
    rows = (
        await TaskEvent.select(TaskEvent.kind)
        .where(TaskEvent.task == task_id)
        .order_by(TaskEvent.id)
    )
    return [r["kind"] for r in rows]


async def test_lines_from_the_price_list_and_free_lines_with_exact_totals(desk):
    item = await desk.item(name="Выезд инженера", unit="выезд", price="1250.50", vat_rate="20")
    task = await desk.visit()
    tid = task["id"]
    ivanov = await desk.person("ivanov")

    from_list = await desk.line(
        tid,
        price_item_id=item["id"],
        quantity="2",
        discount_percent="10",
        performer_id=ivanov["id"],
    )
    # name, unit, price and VAT rate are copied from the item
    assert from_list["name"] == "Выезд инженера" and from_list["unit"] == "выезд"
    assert from_list["price"] == "1250.50" and from_list["vat_rate"] == "20"
    assert from_list["code"] == item["code"] and from_list["kind"] == "work"
    assert from_list["performer"] == {"id": ivanov["id"], "full_name": ivanov["full_name"]}
    assert from_list["amounts"] == expected_line("2", "1250.50", "10", "20")
    assert from_list["amounts"] == {
        "gross": "2501.00",
        "discount": "250.10",
        "total": "2250.90",
        "vat": "375.15",
    }

    free = await desk.line(tid, name="Кабель UTP, м", unit="м", quantity=3, price="333.33")
    assert free["price_item_id"] is None and free["vat_rate"] is None  # без НДС by default
    assert free["amounts"] == expected_line("3", "333.33")
    # half a kopeck rounds up: 0.5 × 10.05 = 5.025 → 5.03; VAT 5.03·20/120 = 0.8383 → 0.84
    half = await desk.line(tid, name="Стяжка", quantity="0.5", price="10.05", vat_rate="20")
    assert half["amounts"] == expected_line("0.5", "10.05", "0", "20")
    assert half["amounts"]["total"] == "5.03" and half["amounts"]["vat"] == "0.84"
    tiny = await desk.line(
        tid, name="Изолента", quantity="0.333", price=0.1, vat_rate="10", discount_percent="2.5"
    )
    assert tiny["quantity"] == "0.333" and tiny["price"] == "0.10"
    assert tiny["amounts"] == expected_line("0.333", "0.10", "2.5", "10")

    spec = await desk.spec(tid, "ivanov")
    assert [line["id"] for line in spec["lines"]] == [
        from_list["id"],
        free["id"],
        half["id"],
        tiny["id"],
    ]
    assert [line["position"] for line in spec["lines"]] == [1, 2, 3, 4]
    expected = sums(
        [
            expected_line("2", "1250.50", "10", "20"),
            expected_line("3", "333.33"),
            expected_line("0.5", "10.05", "0", "20"),
            expected_line("0.333", "0.10", "2.5", "10"),
        ]
    )
    assert spec["totals"] == {
        "subtotal": expected["gross"],
        "discount": expected["discount"],
        "vat": expected["vat"],
        "total": expected["total"],
        "vat_applicable": True,
    }
    assert spec["totals"]["total"] == "3255.95"  # 2250.90 + 999.99 + 5.03 + 0.03
    assert spec["locked"] is False and spec["unlocked"] is False

    # an item edited later does not change the line already in the specification
    await desk.ok("admin", "PATCH", f"/api/price-list/{item['id']}", {"price": "9999"})
    assert (await desk.spec(tid))["lines"][0]["price"] == "1250.50"


async def test_edit_and_delete_lines_write_history(desk):
    item = await desk.item(price="100", vat_rate=None)
    task = await desk.visit()
    tid = task["id"]
    line = await desk.line(tid, price_item_id=item["id"], quantity="1")
    free = await desk.line(tid, "office", name="Доставка", quantity="1", price="500")
    petrov = await desk.person("petrov")

    changed = await desk.ok(
        "ivanov",
        "PATCH",
        f"/api/tasks/{tid}/specification/lines/{line['id']}",
        {"quantity": "3", "discount_percent": "50", "performer_id": petrov["id"], "position": 9},
    )
    assert changed["quantity"] == "3" and changed["discount_percent"] == "50"
    assert changed["performer"]["id"] == petrov["id"] and changed["position"] == 9
    assert changed["amounts"] == expected_line("3", "100.00", "50")
    # free lines may change anything
    renamed = await desk.ok(
        "office",
        "PATCH",
        f"/api/tasks/{tid}/specification/lines/{free['id']}",
        {"name": "Доставка курьером", "price": "450.5", "vat_rate": "20", "performer_id": None},
    )
    assert renamed["name"] == "Доставка курьером" and renamed["price"] == "450.50"
    assert renamed["vat_rate"] == "20"
    spec = await desk.spec(tid)
    assert [x["id"] for x in spec["lines"]] == [free["id"], line["id"]]  # by position

    removed = await desk.ok(
        "ivanov", "DELETE", f"/api/tasks/{tid}/specification/lines/{free['id']}"
    )
    assert removed["id"] == free["id"] and removed["amounts"]["total"] == "450.50"
    spec = await desk.spec(tid)
    assert [x["id"] for x in spec["lines"]] == [line["id"]]
    assert spec["totals"]["total"] == "150.00" and spec["totals"]["vat_applicable"] is False
    resp = await desk.call("ivanov", "DELETE", f"/api/tasks/{tid}/specification/lines/{free['id']}")
    assert resp.status_code == 404

    events = [e for e in await desk.history(tid) if e["kind"].startswith("spec_")]
    assert [e["kind"] for e in events] == [
        "spec_line_added",
        "spec_line_added",
        "spec_line_changed",
        "spec_line_changed",
        "spec_line_removed",
    ]
    assert events[0]["actor"]["full_name"].startswith("Иванов")
    assert events[0]["data"]["price"] == "100.00" and events[0]["data"]["quantity"] == "1"
    assert events[2]["data"]["changes"] == {
        "quantity": ["1", "3"],
        "discount_percent": ["0", "50"],
        "performer": [None, petrov["id"]],
        "position": [1, 9],
    }
    assert events[3]["data"]["changes"]["price"] == ["500.00", "450.50"]
    assert events[4]["data"]["name"] == "Доставка курьером"
    # clients see no prices before the office publishes (locks) the specification
    # (issue 18), and not these internal events
    resp = await desk.call("client", "GET", f"/api/tasks/{tid}/specification")
    assert resp.status_code == 403, resp.text
    assert not [e for e in await desk.history(tid, "client") if e["kind"].startswith("spec_")]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "Работа", "price": "10", "quantity": "0"}, "quantity must be greater than 0"),
        ({"name": "Работа", "price": "10", "quantity": "-1"}, "quantity must be greater than 0"),
        ({"name": "Работа", "price": "10", "quantity": "0.0001"}, "at most 3 decimal places"),
        ({"name": "Работа", "price": "-0.01", "quantity": "1"}, "price must not be negative"),
        (
            {"name": "Работа", "price": "10", "quantity": "1", "discount_percent": "100.5"},
            "discount_percent must be at most 100",
        ),
        (
            {"name": "Работа", "price": "10", "quantity": "1", "discount_percent": "-1"},
            "discount_percent must not be negative",
        ),
        ({"name": "Работа", "price": "10", "quantity": "1", "vat_rate": "101"}, "vat_rate"),
        ({"name": "Работа", "quantity": "1"}, "a free line needs a name and a price"),
        ({"price": "10", "quantity": "1"}, "a free line needs a name and a price"),
        ({"name": "  ", "price": "10", "quantity": "1"}, "name must not be blank"),
        (
            {"name": "Работа", "price": "10", "quantity": "1", "performer_id": 999999},
            "performer_id",
        ),
        ({"price_item_id": 999999, "quantity": "1"}, "no such price item"),
        ({"name": "Работа", "price": "10"}, "quantity"),
        ({"name": "Работа", "price": "10", "quantity": "1", "extra": 1}, "extra"),
    ],
)
async def test_invalid_lines_are_refused_and_nothing_is_written(desk, body, message):
    task = await desk.visit()
    before = await _event_kinds(task["id"])
    resp = await desk.call("ivanov", "POST", f"/api/tasks/{task['id']}/specification/lines", body)
    assert resp.status_code == 422, resp.text
    assert message in resp.json()["detail"]
    assert await _line_count(task["id"]) == 0
    assert await _event_kinds(task["id"]) == before


async def test_price_list_lines_keep_the_items_values(desk):
    item = await desk.item(price="700")
    archived = await desk.item(price="1")
    await desk.ok("admin", "PATCH", f"/api/price-list/{archived['id']}", {"archived": True})
    task = await desk.visit()
    tid = task["id"]
    path = f"/api/tasks/{tid}/specification/lines"
    resp = await desk.call(
        "ivanov", "POST", path, {"price_item_id": item["id"], "quantity": "1", "price": "1"}
    )
    assert resp.status_code == 422 and "price of a price-list line" in resp.json()["detail"]
    resp = await desk.call("ivanov", "POST", path, {"price_item_id": archived["id"], "quantity": 1})
    assert resp.status_code == 422 and "archived" in resp.json()["detail"]
    line = await desk.line(tid, price_item_id=item["id"], quantity="1")
    resp = await desk.call(
        "ivanov", "PATCH", f"{path}/{line['id']}", {"quantity": "5", "name": "Другое"}
    )
    assert resp.status_code == 422 and "name" in resp.json()["detail"]
    # the rejected patch changed nothing, not even its valid quantity
    assert (await desk.spec(tid))["lines"][0]["quantity"] == "1"


async def test_who_may_read_and_change_a_specification(desk, backend):
    task = await desk.visit()
    tid = task["id"]
    line = await desk.line(tid, name="Настройка", quantity="1", price="10")
    path = f"/api/tasks/{tid}/specification"
    resp = await desk.call(
        "client", "POST", f"{path}/lines", {"name": "x", "price": 1, "quantity": 1}
    )
    assert resp.status_code == 403
    resp = await desk.call("client", "DELETE", f"{path}/lines/{line['id']}")
    assert resp.status_code == 403
    other = await backend.counterparty("Лютик")
    stranger = await backend.user("client", counterparty_id=other["id"])
    resp = await backend.http.get(path, headers=stranger["headers"])
    assert resp.status_code == 404
    resp = await desk.call("ivanov", "GET", "/api/tasks/999999/specification")
    assert resp.status_code == 404
    # a line of another task is not reachable through this one
    other_task = await desk.visit()
    resp = await desk.call(
        "ivanov",
        "PATCH",
        f"/api/tasks/{other_task['id']}/specification/lines/{line['id']}",
        {"quantity": "2"},
    )
    assert resp.status_code == 404


async def test_locked_after_a_visit_is_completed_and_admins_unlock_with_history(desk):
    task = await desk.visit()
    tid = task["id"]
    line = await desk.line(tid, name="Диагностика", quantity="1", price="1000")
    await desk.ok("ivanov", "POST", f"/api/tasks/{tid}/done", {"completed_works": "Диагностика"})
    # done is not completed yet: still editable while the checker looks at it
    await desk.line(tid, name="Выезд", quantity="1", price="500")
    completed = await desk.ok("checker", "POST", f"/api/tasks/{tid}/approve")
    assert completed["status"] == "completed"

    spec = await desk.spec(tid)
    assert spec["locked"] is True and spec["totals"]["total"] == "1500.00"
    path = f"/api/tasks/{tid}/specification"
    for who, method, url, body in (
        ("ivanov", "POST", f"{path}/lines", {"name": "Ещё", "quantity": "1", "price": "1"}),
        ("office", "PATCH", f"{path}/lines/{line['id']}", {"quantity": "2"}),
        ("admin", "DELETE", f"{path}/lines/{line['id']}", None),
    ):
        resp = await desk.call(who, method, url, body)
        assert resp.status_code == 409, (method, resp.text)
        assert "locked" in resp.json()["detail"] and "“Completed”" in resp.json()["detail"]
    assert await _line_count(tid) == 2

    for who in ("office", "ivanov", "checker"):
        assert (await desk.call(who, "POST", f"{path}/unlock")).status_code == 403
    unlocked = await desk.ok("admin", "POST", f"{path}/unlock")
    assert unlocked["locked"] is False and unlocked["unlocked"] is True
    await desk.ok("admin", "POST", f"{path}/unlock")  # again: nothing more happens
    fixed = await desk.ok("office", "PATCH", f"{path}/lines/{line['id']}", {"price": "900"})
    assert fixed["amounts"]["total"] == "900.00"
    relocked = await desk.ok("admin", "POST", f"{path}/lock")
    assert relocked["locked"] is True and relocked["totals"]["total"] == "1400.00"
    resp = await desk.call("office", "PATCH", f"{path}/lines/{line['id']}", {"price": "1"})
    assert resp.status_code == 409

    events = [e for e in await desk.history(tid) if e["kind"] in ("spec_unlocked", "spec_locked")]
    assert [e["kind"] for e in events] == ["spec_unlocked", "spec_locked"]
    admin = await desk.person("admin")
    assert all(e["actor"]["id"] == admin["id"] for e in events)
    assert events[0]["data"] == {"status": "completed"}


async def test_remote_support_locks_on_done_and_open_tasks_need_no_unlock(desk):
    task = await desk.ok(
        "office", "POST", "/api/tasks", {"template": "remote_support", "title": "Ромашка: 1С"}, 201
    )
    tid = task["id"]
    path = f"/api/tasks/{tid}/specification"
    resp = await desk.call("admin", "POST", f"{path}/unlock")
    assert resp.status_code == 409 and "not locked" in resp.json()["detail"]
    resp = await desk.call("admin", "POST", f"{path}/lock")
    assert resp.status_code == 409
    await desk.ok("remote", "POST", f"/api/tasks/{tid}/accept")
    await desk.line(
        tid, "remote", name="Удалённая настройка", unit="час", quantity="1.5", price="2000"
    )
    done = await desk.ok("remote", "POST", f"/api/tasks/{tid}/done", {"completed_works": "Готово"})
    assert done["status"] == "completed"
    resp = await desk.call(
        "remote", "POST", f"{path}/lines", {"name": "Ещё час", "quantity": "1", "price": "2000"}
    )
    assert resp.status_code == 409 and "locked" in resp.json()["detail"]
    assert (await desk.spec(tid))["totals"]["total"] == "3000.00"


async def test_cancelled_tasks_are_locked_too(desk):
    task = await desk.visit()
    await desk.line(task["id"], name="Выезд", quantity="1", price="500")
    await desk.ok(
        "ivanov", "POST", f"/api/tasks/{task['id']}/refuse", {"reason": "Клиент отказался"}
    )
    resp = await desk.call(
        "ivanov",
        "POST",
        f"/api/tasks/{task['id']}/specification/lines",
        {"name": "Ещё", "quantity": "1", "price": "1"},
    )
    assert resp.status_code == 409 and "“Cancelled”" in resp.json()["detail"]


async def test_idempotency_key_adds_a_line_once(desk):
    task = await desk.visit()
    path = f"/api/tasks/{task['id']}/specification/lines"
    body = {"name": "Выезд", "quantity": "1", "price": "500"}
    key = {"Idempotency-Key": "offline-outbox-1"}
    first, second = await asyncio.gather(
        desk.call("ivanov", "POST", path, body, key), desk.call("ivanov", "POST", path, body, key)
    )
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert await _line_count(task["id"]) == 1
    assert (await _event_kinds(task["id"])).count("spec_line_added") == 1


async def test_concurrent_additions_and_completion_never_leave_a_line_after_the_lock(desk):
    """A line is either in before the task completes or refused: never added afterwards."""
    task = await desk.ok(
        "office",
        "POST",
        "/api/tasks",
        {"template": "remote_support", "title": "Ромашка: касса"},
        201,
    )
    tid = task["id"]
    await desk.ok("remote", "POST", f"/api/tasks/{tid}/accept")
    path = f"/api/tasks/{tid}/specification/lines"

    async def add(n: int):
        return await desk.call(
            "remote", "POST", path, {"name": f"Работа {n}", "quantity": 1, "price": n}
        )

    done, *adds = await asyncio.gather(
        desk.call("remote", "POST", f"/api/tasks/{tid}/done", {"completed_works": "Готово"}),
        *(add(n) for n in range(1, 9)),
    )
    assert done.status_code == 200
    assert {r.status_code for r in adds} <= {201, 409}
    added = sorted(r.json()["id"] for r in adds if r.status_code == 201)
    assert sorted(line["id"] for line in (await desk.spec(tid))["lines"]) == added
    # every accepted addition committed before the completion (event ids follow commits here:
    # each is inserted while its transaction holds the task's lock)
    kinds = await _event_kinds(tid)
    assert "spec_line_added" not in kinds[kinds.index("completed") :]
