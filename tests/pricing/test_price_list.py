"""Price list: admin CRUD, archiving, search, validation, Decimal as JSON strings (issue 7)."""

from __future__ import annotations

import uuid

import pytest

from server.pricing.tables import PriceItem

pytestmark = pytest.mark.sqlite


async def test_admin_creates_lists_edits_and_archives_items(desk):
    # Price items outlive a test (the cleanup does not know them yet): names carry a tag.
    tag = uuid.uuid4().hex[:6]
    code = f"W-{tag}"
    created = await desk.item(
        code=code,
        name=f"Замена фискального накопителя {tag}",
        unit="усл.",
        price="4500",
        kind="service",
    )
    assert created["code"] == code and created["kind"] == "service"
    # Decimals travel as strings, money always with two decimals, percents without zeros
    assert created["price"] == "4500.00" and created["vat_rate"] == "20"
    assert created["archived"] is False
    product = await desk.item(name="Термолента 57 мм", unit="шт", price=85.5, vat_rate=None)
    assert product["price"] == "85.50" and product["vat_rate"] is None  # None: без НДС

    # employees read the list; q matches code or name, Cyrillic case-insensitively
    listed = await desk.ok("ivanov", "GET", "/api/price-list", None)
    assert {created["id"], product["id"]} <= {i["id"] for i in listed}
    found = await desk.ok("ivanov", "GET", f"/api/price-list?q=ФИСКАЛЬНОГО НАКОПИТЕЛЯ {tag}")
    assert [i["id"] for i in found] == [created["id"]]
    found = await desk.ok("office", "GET", f"/api/price-list?q={code.lower()}")
    assert [i["id"] for i in found] == [created["id"]]
    assert (await desk.ok("office", "GET", f"/api/price-list/{product['id']}"))["name"] == (
        "Термолента 57 мм"
    )

    changed = await desk.ok(
        "admin",
        "PATCH",
        f"/api/price-list/{created['id']}",
        {"price": "4990.90", "vat_rate": None, "name": f"Замена ФН {tag}"},
    )
    assert changed["price"] == "4990.90" and changed["vat_rate"] is None
    assert changed["name"] == f"Замена ФН {tag}" and changed["code"] == code
    found = await desk.ok("office", "GET", f"/api/price-list?q=замена фн {tag}")
    assert [i["id"] for i in found] == [created["id"]]

    archived = await desk.ok(
        "admin", "PATCH", f"/api/price-list/{created['id']}", {"archived": True}
    )
    assert archived["archived"] is True
    current = {i["id"] for i in await desk.ok("office", "GET", "/api/price-list")}
    assert created["id"] not in current and product["id"] in current
    only_archived = await desk.ok("office", "GET", "/api/price-list?archived=true")
    assert created["id"] in {i["id"] for i in only_archived}
    assert product["id"] not in {i["id"] for i in only_archived}
    everything = await desk.ok("office", "GET", "/api/price-list?archived=all")
    assert {created["id"], product["id"]} <= {i["id"] for i in everything}
    services = await desk.ok("office", "GET", "/api/price-list?kind=service&archived=all")
    assert created["id"] in {i["id"] for i in services}
    assert product["id"] not in {i["id"] for i in services}


async def test_only_admins_edit_and_clients_do_not_read(desk):
    body = {"code": f"X-{uuid.uuid4().hex[:6]}", "name": "Настройка", "price": "10"}
    for who in ("office", "ivanov", "client"):
        resp = await desk.call(who, "POST", "/api/price-list", body)
        assert resp.status_code == 403, (who, resp.text)
    item = await desk.item()
    resp = await desk.call("office", "PATCH", f"/api/price-list/{item['id']}", {"price": "1"})
    assert resp.status_code == 403
    resp = await desk.call("client", "GET", "/api/price-list")
    assert resp.status_code == 403
    resp = await desk.call("office", "GET", "/api/price-list/999999")
    assert resp.status_code == 404


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("price", "-1", "price must not be negative"),
        ("price", "10.005", "price may have at most 2 decimal places"),
        ("price", "1e12", "price must be at most 9999999999.99"),
        ("price", "NaN", "price must be a number"),
        ("vat_rate", "120", "vat_rate must be at most 100"),
        ("vat_rate", "-5", "vat_rate must not be negative"),
        ("code", "   ", "code must not be blank"),
        ("name", "", "name must not be blank"),
        ("kind", "gift", "kind"),
        ("price", [], "price"),
    ],
)
async def test_invalid_items_are_refused_with_the_field_named(desk, field, value, message):
    body = {"code": f"V-{uuid.uuid4().hex[:6]}", "name": "Работа", "price": "100", field: value}
    resp = await desk.call("admin", "POST", "/api/price-list", body)
    assert resp.status_code == 422, resp.text
    assert message in resp.json()["detail"]
    assert not await PriceItem.exists().where(PriceItem.code == body["code"])


async def test_codes_are_unique(desk):
    first = await desk.item()
    resp = await desk.call(
        "admin", "POST", "/api/price-list", {"code": first["code"], "name": "Б", "price": "1"}
    )
    assert resp.status_code == 409 and first["code"] in resp.json()["detail"]
    second = await desk.item()
    resp = await desk.call(
        "admin", "PATCH", f"/api/price-list/{second['id']}", {"code": first["code"]}
    )
    assert resp.status_code == 409
    # a failed edit changes nothing, not even the fields that were valid
    resp = await desk.call(
        "admin", "PATCH", f"/api/price-list/{second['id']}", {"name": "Новое", "price": "-3"}
    )
    assert resp.status_code == 422
    assert (await desk.ok("admin", "GET", f"/api/price-list/{second['id']}"))["name"] == (
        second["name"]
    )
    resp = await desk.call("admin", "PATCH", "/api/price-list/999999", {"name": "Новое"})
    assert resp.status_code == 404


async def test_json_numbers_are_read_exactly_and_big_prices_survive_storage(desk):
    # 0.1 as a JSON number must not become 0.1000000000000000055…; the largest price the
    # column holds comes back to the kopeck on SQLite too (it stores through a float).
    small = await desk.item(price=0.1, vat_rate=10.5)
    assert small["price"] == "0.10" and small["vat_rate"] == "10.5"
    big = await desk.item(price="9999999999.99")
    assert big["price"] == "9999999999.99"
    again = await desk.ok("office", "GET", f"/api/price-list/{big['id']}")
    assert again["price"] == "9999999999.99"
