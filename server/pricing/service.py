"""Task specifications: lines from the price list or free lines, their amounts and the lock.

* Editable by employees until the task is completed or cancelled; then locked (409) unless
  an admin unlocks it. Every change is a task history event (R12).
* Amounts and totals come from printing.totals.price_lines, the one place of the rounding
  rule, so the API and the printed forms cannot disagree.
* Every write runs in one transaction that first locks the task's row (locked_task): a
  change and a concurrent completion of the task are ordered, so a line is never added to a
  task that was completed a moment earlier.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from printing.documents import MAX_LINES
from printing.totals import LineAmounts, line_amounts, price_lines
from server import db
from server.contracts.tables import ContractTask
from server.lib import clock
from server.lib.actor import Actor
from server.lib.errors import Conflict, Forbidden, InvalidInput, NotFound
from server.pricing import fields
from server.pricing.price_list import find_price_item
from server.pricing.schemas import (
    LineAmountsOut,
    LineIn,
    LineOut,
    LinePatch,
    SpecificationOut,
    TotalsOut,
)
from server.pricing.tables import SpecificationLine, SpecificationUnlock
from server.tasks import service as tasks
from server.tasks.schemas import UserRef
from server.tasks.statuses import CLOSED
from server.tasks.tables import Task


async def locked_task(task_id: int) -> dict[str, Any]:
    """The task's number, status and assignee, locked until the transaction ends.

    On PostgreSQL this is SELECT … FOR UPDATE: a transition's compare-and-swap UPDATE of the
    same row waits for our commit, so "not completed yet" stays true while we write. On
    SQLite the IMMEDIATE transaction already holds the database's write lock."""
    query = Task.select(Task.id, Task.number, Task.status, Task.assignee).where(Task.id == task_id)
    if not db.is_sqlite():
        query = query.lock_rows()
    row = await query.first()
    if row is None:
        raise NotFound("pricing.task_not_found", task_id=task_id)
    row["number"] = row["number"] or row["id"]
    return row


def _require_holder_or_dispatcher(actor: Actor, task: dict[str, Any]) -> None:
    """Only the task's holder, office staff and admins change its specification (issue
    #14): other engineers and checkers read it."""
    if actor.is_dispatcher or task["assignee"] == actor.id:
        return
    raise Forbidden("pricing.only_holder_task_office", number=task["number"])


async def _is_unlocked(task_id: int) -> bool:
    return await SpecificationUnlock.exists().where(SpecificationUnlock.task == task_id)


async def _require_editable(task: dict[str, Any]) -> None:
    if task["status"] in CLOSED and not await _is_unlocked(task["id"]):
        raise Conflict(
            "pricing.specification_task_locked_task",
            number=task["number"],
            status=task["status"],
            id=task["id"],
            extra={"locked": True, "status": task["status"]},
        )


# --- specification: reading ------------------------------------------------------------


class LineNumbers(msgspec.Struct, frozen=True):
    """What printing.totals needs of a line."""

    quantity: Decimal
    price: Decimal
    discount_percent: Decimal
    vat_rate: Decimal | None


def priced_line(r: dict[str, Any]) -> LineNumbers:
    """A stored line's numbers at their column scale, whatever scale the engine returned
    (SQLite hands back 1250.5 for 1250.50)."""
    return LineNumbers(
        quantity=fields.plain_out(r["quantity"]),
        price=fields.money_out(r["price"]),
        discount_percent=fields.plain_out(r["discount_percent"]),
        vat_rate=None if r["vat_rate"] is None else fields.plain_out(r["vat_rate"]),
    )


def _amounts_out(a: LineAmounts) -> LineAmountsOut:
    return LineAmountsOut(gross=a.gross, discount=a.discount, total=a.total, vat=a.vat)


def _line_out(r: dict[str, Any], amounts: LineAmounts) -> LineOut:
    priced = priced_line(r)
    return LineOut(
        id=r["id"],
        task_id=r["task"],
        position=r["position"],
        price_item_id=r["price_item"],
        code=r["price_item.code"],
        kind=r["price_item.kind"],
        name=r["name"],
        unit=r["unit"],
        quantity=priced.quantity,
        price=priced.price,
        discount_percent=priced.discount_percent,
        vat_rate=priced.vat_rate,
        performer=UserRef(r["performer.id"], r["performer.full_name"])
        if r["performer.id"] is not None
        else None,
        amounts=_amounts_out(amounts),
    )


async def line_rows(task_id: int, line_id: int | None = None) -> list[dict[str, Any]]:
    """The task's lines in order (position, then id), with item code and performer name."""
    query = (
        SpecificationLine.select(
            SpecificationLine.id,
            SpecificationLine.task,
            SpecificationLine.position,
            SpecificationLine.price_item,
            SpecificationLine.price_item.code,
            SpecificationLine.price_item.kind,
            SpecificationLine.name,
            SpecificationLine.unit,
            SpecificationLine.quantity,
            SpecificationLine.price,
            SpecificationLine.discount_percent,
            SpecificationLine.vat_rate,
            SpecificationLine.performer.id,
            SpecificationLine.performer.full_name,
        )
        .where(SpecificationLine.task == task_id)
        .order_by(SpecificationLine.position)
        .order_by(SpecificationLine.id)
    )
    if line_id is not None:
        query = query.where(SpecificationLine.id == line_id)
    rows: list[dict[str, Any]] = await query
    return rows


async def get_specification(actor: Actor, task_id: int) -> SpecificationOut:
    """Lines with their amounts and the totals; visible to whoever sees the task."""
    task = await tasks.get_task(actor, task_id)
    unlocked = await _is_unlocked(task_id)
    if actor.is_client_only and (task.status not in CLOSED or unlocked):
        # Clients see prices once the office has published them: the locked specification.
        raise Forbidden("pricing.specification_task_not_published", task_number=task.number)
    rows = await line_rows(task_id)
    pricing = price_lines(priced_line(r) for r in rows)
    t = pricing.totals
    return SpecificationOut(
        task_id=task_id,
        locked=task.status in CLOSED and not unlocked,
        unlocked=unlocked,
        lines=[_line_out(r, a) for r, a in zip(rows, pricing.lines, strict=True)],
        totals=TotalsOut(
            subtotal=t.subtotal,
            discount=t.discount,
            vat=t.vat,
            total=t.total,
            vat_applicable=t.vat_applicable,
        ),
    )


async def _one_line(task_id: int, line_id: int, number: int) -> dict[str, Any]:
    rows = await line_rows(task_id, line_id)
    if not rows:
        raise NotFound("pricing.task_no_specification_line", number=number, line_id=line_id)
    return rows[0]


def _single_line_out(r: dict[str, Any]) -> LineOut:
    p = priced_line(r)
    return _line_out(r, line_amounts(p.quantity, p.price, p.discount_percent, p.vat_rate))


# --- specification: writing ------------------------------------------------------------


_ITEM_FIELDS = ("name", "unit", "price", "vat_rate")


def _item_fields_given(data: LineIn | LinePatch) -> list[str]:
    return [f for f in _ITEM_FIELDS if not isinstance(getattr(data, f), msgspec.UnsetType)]


async def _performer_id(performer_id: int | None) -> int | None:
    if performer_id is not None:
        await tasks.require_employee(performer_id, "performer_id")
    return performer_id


async def contract_discount(task_id: int) -> Decimal:
    """The price-list discount of the service contract the task was linked to at creation."""
    row = (
        await ContractTask.select(ContractTask.contract.discount_bp)
        .where(ContractTask.task == task_id)
        .first()
    )
    basis_points = row["contract.discount_bp"] if row else None
    return (Decimal(basis_points) / 100).quantize(Decimal("0.01")) if basis_points else Decimal(0)


async def add_line(actor: Actor, task_id: int, data: LineIn, *, channel: str = "ui") -> LineOut:
    """Add a price-list line (price_item_id) or a free line (name and price) to the
    specification; 409 once the task is completed or cancelled."""
    fields.require_employee(actor, "change a specification")
    await tasks.get_task(actor, task_id)  # 404 for tasks the caller cannot see
    quantity = fields.quantity(data.quantity)
    if isinstance(data.discount_percent, msgspec.UnsetType):
        discount = (
            await contract_discount(task_id) if data.price_item_id is not None else Decimal(0)
        )
    else:
        discount = fields.percent("discount_percent", data.discount_percent)
    async with db.transaction():
        task = await locked_task(task_id)
        _require_holder_or_dispatcher(actor, task)
        await _require_editable(task)
        if data.price_item_id is not None:
            given = _item_fields_given(data)
            if given:
                raise InvalidInput("pricing.price_list_line_come", given=", ".join(given))
            item = await find_price_item(data.price_item_id)
            if item is None:
                raise InvalidInput("pricing.price_item_id_no", price_item_id=data.price_item_id)
            if item.archived:
                raise InvalidInput("pricing.price_item_archived_choose", code=item.code)
            name, unit, price, vat_rate = item.name, item.unit, item.price, item.vat_rate
        else:
            if isinstance(data.name, msgspec.UnsetType) or isinstance(
                data.price, msgspec.UnsetType
            ):
                raise InvalidInput("pricing.free_line_needs_name")
            name = fields.text("name", data.name)
            unit = (
                "шт" if isinstance(data.unit, msgspec.UnsetType) else fields.text("unit", data.unit)
            )
            price = fields.price(data.price)
            vat_rate = (
                None
                if isinstance(data.vat_rate, msgspec.UnsetType)
                else fields.vat_rate(data.vat_rate)
            )
        performer_id = await _performer_id(data.performer_id)
        count = await SpecificationLine.count().where(SpecificationLine.task == task_id)
        if count >= MAX_LINES:
            raise InvalidInput("pricing.specification_holds_most_lines", max_lines=MAX_LINES)
        position = data.position
        if position is None:
            last = (
                await SpecificationLine.select(SpecificationLine.position)
                .where(SpecificationLine.task == task_id)
                .order_by(SpecificationLine.position, ascending=False)
                .first()
            )
            position = 1 if last is None else last["position"] + 1
        now = clock.now()
        rows = await SpecificationLine.insert(
            SpecificationLine(
                task=task_id,
                price_item=data.price_item_id,
                position=position,
                name=name,
                unit=unit,
                quantity=quantity,
                price=price,
                discount_percent=discount,
                vat_rate=vat_rate,
                performer=performer_id,
                created_by=actor.id,
                created_at=now,
                updated_at=now,
            )
        ).returning(SpecificationLine.id)
        line_id = rows[0]["id"]
        await tasks.record_event(
            task_id,
            actor.id,
            "spec_line_added",
            channel,
            {
                "line_id": line_id,
                "price_item_id": data.price_item_id,
                "name": name,
                "unit": unit,
                "quantity": fields.shown("quantity", quantity),
                "price": fields.shown("price", price),
                "discount_percent": fields.shown("discount_percent", discount),
                "vat_rate": fields.shown("vat_rate", vat_rate),
                "performer_id": performer_id,
            },
            at=now,
        )
    return _single_line_out(await _one_line(task_id, line_id, task["number"]))


async def update_line(
    actor: Actor, task_id: int, line_id: int, patch: LinePatch, *, channel: str = "ui"
) -> LineOut:
    """Change a line. History records each changed field's old and new value."""
    fields.require_employee(actor, "change a specification")
    await tasks.get_task(actor, task_id)
    wanted: dict[str, Any] = {}
    if not isinstance(patch.quantity, msgspec.UnsetType):
        wanted["quantity"] = fields.quantity(patch.quantity)
    if not isinstance(patch.discount_percent, msgspec.UnsetType):
        wanted["discount_percent"] = fields.percent("discount_percent", patch.discount_percent)
    if not isinstance(patch.position, msgspec.UnsetType):
        wanted["position"] = patch.position
    if not isinstance(patch.name, msgspec.UnsetType):
        wanted["name"] = fields.text("name", patch.name)
    if not isinstance(patch.unit, msgspec.UnsetType):
        wanted["unit"] = fields.text("unit", patch.unit)
    if not isinstance(patch.price, msgspec.UnsetType):
        wanted["price"] = fields.price(patch.price)
    if not isinstance(patch.vat_rate, msgspec.UnsetType):
        wanted["vat_rate"] = fields.vat_rate(patch.vat_rate)
    async with db.transaction():
        task = await locked_task(task_id)
        _require_holder_or_dispatcher(actor, task)
        await _require_editable(task)
        row = await _one_line(task_id, line_id, task["number"])
        if row["price_item"] is not None:
            given = _item_fields_given(patch)
            if given:
                raise InvalidInput("pricing.price_list_line_come_2", given=", ".join(given))
        if not isinstance(patch.performer_id, msgspec.UnsetType):
            wanted["performer"] = await _performer_id(patch.performer_id)
        current = {**msgspec.structs.asdict(priced_line(row)), "performer": row["performer.id"]}
        current.update(position=row["position"], name=row["name"], unit=row["unit"])
        changes = {
            field: [fields.shown(field, current[field]), fields.shown(field, value)]
            for field, value in wanted.items()
            if current[field] != value
        }
        if changes:
            now = clock.now()
            columns = SpecificationLine._meta.get_column_by_name
            await SpecificationLine.update(
                {
                    **{columns(field): wanted[field] for field in changes},
                    SpecificationLine.updated_at: now,
                }
            ).where(SpecificationLine.id == line_id)
            await tasks.record_event(
                task_id,
                actor.id,
                "spec_line_changed",
                channel,
                {"line_id": line_id, "name": wanted.get("name", row["name"]), "changes": changes},
                at=now,
            )
    return _single_line_out(await _one_line(task_id, line_id, task["number"]))


async def delete_line(actor: Actor, task_id: int, line_id: int, *, channel: str = "ui") -> LineOut:
    """Remove a line; returns it as it was."""
    fields.require_employee(actor, "change a specification")
    await tasks.get_task(actor, task_id)
    async with db.transaction():
        task = await locked_task(task_id)
        _require_holder_or_dispatcher(actor, task)
        await _require_editable(task)
        removed = _single_line_out(await _one_line(task_id, line_id, task["number"]))
        await SpecificationLine.delete().where(SpecificationLine.id == line_id)
        await tasks.record_event(
            task_id,
            actor.id,
            "spec_line_removed",
            channel,
            {
                "line_id": line_id,
                "name": removed.name,
                "quantity": str(removed.quantity),
                "price": str(removed.price),
                "total": str(removed.amounts.total),
            },
        )
    return removed


async def unlock_specification(
    actor: Actor, task_id: int, *, channel: str = "ui"
) -> SpecificationOut:
    """An admin reopens the specification of a completed or cancelled task (R12 records it).
    Unlocking an unlocked one changes nothing."""
    fields.require_admin(actor, "unlock a specification")
    await tasks.get_task(actor, task_id)
    async with db.transaction():
        task = await locked_task(task_id)
        if task["status"] not in CLOSED:
            raise Conflict(
                "pricing.specification_task_not_locked",
                number=task["number"],
                status=task["status"],
            )
        if not await _is_unlocked(task_id):
            now = clock.now()
            await SpecificationUnlock.insert(
                SpecificationUnlock(task=task_id, unlocked_by=actor.id, unlocked_at=now)
            )
            await tasks.record_event(
                task_id, actor.id, "spec_unlocked", channel, {"status": task["status"]}, at=now
            )
    return await get_specification(actor, task_id)


async def lock_specification(
    actor: Actor, task_id: int, *, channel: str = "ui"
) -> SpecificationOut:
    """An admin locks an unlocked specification again. Locking a locked one changes nothing."""
    fields.require_admin(actor, "lock a specification")
    await tasks.get_task(actor, task_id)
    async with db.transaction():
        task = await locked_task(task_id)
        if task["status"] not in CLOSED:
            raise Conflict(
                "pricing.specification_task_locks_itself",
                number=task["number"],
                status=task["status"],
            )
        removed = (
            await SpecificationUnlock.delete()
            .where(SpecificationUnlock.task == task_id)
            .returning(SpecificationUnlock.id)
        )
        if removed:
            await tasks.record_event(
                task_id, actor.id, "spec_locked", channel, {"status": task["status"]}
            )
    return await get_specification(actor, task_id)
