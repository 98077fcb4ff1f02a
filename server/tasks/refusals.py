"""R11 refusal reasons: the list admins keep (GET/POST/PATCH /api/refusal-reasons).

Refusing a task names one of them (`reason_id`, server/tasks/transitions.py refuse_task),
so the dashboard can count refusals by reason. Reasons are retired (`active: false`), never
deleted: the refusals that named them keep their meaning.
"""

from __future__ import annotations

from typing import Any

from server import db
from server.lib.errors import Conflict, InvalidInput, NotFound
from server.tasks.schemas import RefusalReasonIn, RefusalReasonOut, RefusalReasonPatch
from server.tasks.tables import RefusalReason


def _out(row: dict[str, Any]) -> RefusalReasonOut:
    return RefusalReasonOut(id=row["id"], name=row["name"], active=bool(row["active"]))


def _name(value: str) -> str:
    name = " ".join(value.split())
    if not name:
        raise InvalidInput("task.refusal_reason_needs_name")
    return name


async def _require_unique(name: str, except_id: int | None = None) -> None:
    query = RefusalReason.select(RefusalReason.id).where(RefusalReason.name == name)
    if except_id is not None:
        query = query.where(RefusalReason.id != except_id)
    if await query.first() is not None:
        raise Conflict("task.refusal_reason_named_already", name=name)


async def list_reasons(active: bool | None = None) -> list[RefusalReasonOut]:
    query = RefusalReason.select().order_by(RefusalReason.id)
    if active is not None:
        query = query.where(RefusalReason.active == active)
    return [_out(r) for r in await query]


async def get_reason(reason_id: int) -> RefusalReasonOut:
    row = await RefusalReason.select().where(RefusalReason.id == reason_id).first()
    if row is None:
        raise NotFound("task.refusal_reason_not_found", reason_id=reason_id)
    return _out(row)


async def name_to_refuse_with(reason_id: int) -> str:
    """The name of an active reason (refuse_task): unknown or retired ones are a 422."""
    row = await RefusalReason.select().where(RefusalReason.id == reason_id).first()
    if row is None:
        raise InvalidInput(
            "r11.reason_id_no_such",
            reason_id=reason_id,
            rule="R11",
        )
    if not row["active"]:
        raise InvalidInput(
            "r11.refusal_reason_no_longer",
            name=row["name"],
            rule="R11",
        )
    return str(row["name"])


async def create_reason(data: RefusalReasonIn) -> RefusalReasonOut:
    name = _name(data.name)
    async with db.transaction():
        await _require_unique(name)
        rows = await RefusalReason.insert(RefusalReason(name=name, active=True)).returning(
            RefusalReason.id
        )
    return await get_reason(rows[0]["id"])


async def update_reason(reason_id: int, data: RefusalReasonPatch) -> RefusalReasonOut:
    values: dict[Any, Any] = {}
    async with db.transaction():
        await get_reason(reason_id)
        if data.name is not None:
            values[RefusalReason.name] = _name(data.name)
            await _require_unique(values[RefusalReason.name], except_id=reason_id)
        if data.active is not None:
            values[RefusalReason.active] = data.active
        if values:
            await RefusalReason.update(values).where(RefusalReason.id == reason_id)
    return await get_reason(reason_id)
