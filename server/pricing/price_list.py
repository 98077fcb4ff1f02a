"""The price list: works, services and products the company sells (admin data).

Items are archived, never deleted: specification lines keep pointing at them. A line copies
an item's name, unit, price and VAT rate when it is added, so editing an item here never
changes a specification already shown to a client.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import msgspec

from server import db
from server.lib import clock
from server.lib.actor import Actor
from server.lib.errors import Conflict, NotFound
from server.lib.search import contains_pattern
from server.pricing import fields
from server.pricing.schemas import PriceItemIn, PriceItemOut, PriceItemPatch
from server.pricing.tables import PriceItem

_COLUMNS = (
    PriceItem.id,
    PriceItem.code,
    PriceItem.name,
    PriceItem.unit,
    PriceItem.price,
    PriceItem.vat_rate,
    PriceItem.kind,
    PriceItem.archived,
    PriceItem.created_at,
    PriceItem.updated_at,
)


def _item_out(r: dict[str, Any]) -> PriceItemOut:
    return PriceItemOut(
        id=r["id"],
        code=r["code"],
        name=r["name"],
        unit=r["unit"],
        price=fields.money_out(r["price"]),
        vat_rate=None if r["vat_rate"] is None else fields.plain_out(r["vat_rate"]),
        kind=r["kind"],
        archived=bool(r["archived"]),
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def _search_text(code: str, name: str) -> str:
    return f"{code} {name}".lower()


def _code_taken(code: str) -> Conflict:
    return Conflict("pricing.price_list_already_item", code=code)


@asynccontextmanager
async def _unique_code(code: str) -> AsyncIterator[None]:
    """A concurrent twin that got past the check fails on the unique index: same 409."""
    try:
        yield
    except (asyncpg.UniqueViolationError, sqlite3.IntegrityError) as exc:
        raise _code_taken(code) from exc


async def find_price_item(item_id: int) -> PriceItemOut | None:
    row = await PriceItem.select(*_COLUMNS).where(PriceItem.id == item_id).first()
    return None if row is None else _item_out(row)


async def get_price_item(item_id: int) -> PriceItemOut:
    item = await find_price_item(item_id)
    if item is None:
        raise NotFound("pricing.price_item_not_found", item_id=item_id)
    return item


async def list_price_items(
    *, q: str | None = None, archived: bool | None = False, kind: str | None = None
) -> list[PriceItemOut]:
    """The price list by code. archived: False (default) current items, True archived only,
    None both; q matches code or name, case-insensitively (Cyrillic too)."""
    query = PriceItem.select(*_COLUMNS).order_by(PriceItem.code)
    if archived is not None:
        query = query.where(PriceItem.archived == archived)
    if kind:
        query = query.where(PriceItem.kind == kind)
    if q and q.strip():
        query = query.where(PriceItem.search_text.like(contains_pattern(q.strip().lower())))
    return [_item_out(r) for r in await query]


async def create_price_item(actor: Actor, data: PriceItemIn) -> PriceItemOut:
    fields.require_admin(actor, "edit the price list")
    code = fields.text("code", data.code)
    name = fields.text("name", data.name)
    unit = fields.text("unit", data.unit)
    price = fields.price(data.price)
    vat_rate = fields.vat_rate(data.vat_rate)
    now = clock.now()
    async with _unique_code(code), db.transaction():
        if await PriceItem.exists().where(PriceItem.code == code):
            raise _code_taken(code)
        rows = await PriceItem.insert(
            PriceItem(
                code=code,
                name=name,
                search_text=_search_text(code, name),
                unit=unit,
                price=price,
                vat_rate=vat_rate,
                kind=data.kind,
                archived=False,
                created_at=now,
                updated_at=now,
            )
        ).returning(PriceItem.id)
    return await get_price_item(rows[0]["id"])


async def update_price_item(actor: Actor, item_id: int, patch: PriceItemPatch) -> PriceItemOut:
    """Change an item, or archive it with archived=True (and bring it back with False)."""
    fields.require_admin(actor, "edit the price list")
    values: dict[Any, Any] = {}
    if not isinstance(patch.code, msgspec.UnsetType):
        values[PriceItem.code] = fields.text("code", patch.code)
    if not isinstance(patch.name, msgspec.UnsetType):
        values[PriceItem.name] = fields.text("name", patch.name)
    if not isinstance(patch.unit, msgspec.UnsetType):
        values[PriceItem.unit] = fields.text("unit", patch.unit)
    if not isinstance(patch.price, msgspec.UnsetType):
        values[PriceItem.price] = fields.price(patch.price)
    if not isinstance(patch.vat_rate, msgspec.UnsetType):
        values[PriceItem.vat_rate] = fields.vat_rate(patch.vat_rate)
    if not isinstance(patch.kind, msgspec.UnsetType):
        values[PriceItem.kind] = patch.kind
    if not isinstance(patch.archived, msgspec.UnsetType):
        values[PriceItem.archived] = patch.archived
    new_code: str | None = values.get(PriceItem.code)
    async with _unique_code(new_code or ""), db.transaction():
        current = await get_price_item(item_id)
        if (
            new_code is not None
            and new_code != current.code
            and await PriceItem.exists().where(PriceItem.code == new_code)
        ):
            raise _code_taken(new_code)
        if values:
            values[PriceItem.search_text] = _search_text(
                values.get(PriceItem.code, current.code), values.get(PriceItem.name, current.name)
            )
            values[PriceItem.updated_at] = clock.now()
            await PriceItem.update(values).where(PriceItem.id == item_id)
    return await get_price_item(item_id)
