"""The equipment registry: kinds, equipment, search, service history, and the equipment
of tasks (issue 16).

Tasks know nothing of equipment: a task names it at creation (`TaskIn.equipment_ids`,
carried by TaskCreated to server/assets/subscribers.py, which links it inside the creating
transaction), and single-task reads ask this module for it through tasks.extensions.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any, cast
from zoneinfo import ZoneInfo

import asyncpg
import msgspec

from server import db
from server.assets.schemas import (
    AttributeSpec,
    EquipmentFilter,
    EquipmentIn,
    EquipmentOut,
    EquipmentPage,
    EquipmentPatch,
    EquipmentTask,
    KindIn,
    KindOut,
    Ref,
)
from server.assets.tables import Equipment, EquipmentKind, TaskEquipment
from server.clients.tables import Counterparty, Site
from server.lib import clock
from server.lib.actor import Actor
from server.lib.errors import Conflict, Forbidden, InvalidInput, NotFound
from server.lib.search import contains_pattern
from server.settings import current as current_settings
from server.tasks import service as tasks
from server.tasks.schemas import EquipmentRef, TaskOut
from server.tasks.statuses import CLOSED, Channel

MAX_PAGE = 200
_TRUE = {"1", "true", "yes", "y", "да", "д", "+"}
_FALSE = {"0", "false", "no", "n", "нет", "н", "-", ""}


def _pick(changes: dict[str, Any], field: str, current: Any) -> Any:
    """A PATCH's value for `field`, or the current one when the PATCH leaves it out."""
    return changes.get(field, current)


def key(text: str) -> str:
    """What a model or a serial is compared and searched by."""
    return " ".join(text.split()).lower()


def today() -> dt.date:
    return clock.now().astimezone(ZoneInfo(current_settings().timezone)).date()


# --- kinds -------------------------------------------------------------------------------


def _kind_out(row: dict[str, Any]) -> KindOut:
    return KindOut(
        id=row["id"],
        code=row["code"],
        name=row["name"],
        attributes=msgspec.convert(row["attributes"] or [], list[AttributeSpec]),
    )


async def list_kinds() -> list[KindOut]:
    rows = await EquipmentKind.select().order_by(EquipmentKind.code).output(load_json=True)
    return [_kind_out(r) for r in rows]


async def create_kind(data: KindIn) -> KindOut:
    name = data.name.strip()
    if not name:
        raise InvalidInput("equipment.name_say_what_kind")
    names = [a.name for a in data.attributes]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise InvalidInput("equipment.attributes_declared_more_than", doubled=", ".join(doubled))
    async with db.transaction():
        if await EquipmentKind.exists().where(EquipmentKind.code == data.code):
            raise Conflict("equipment.code_equipment_kind_already", code=data.code)
        row = EquipmentKind(
            code=data.code,
            name=name,
            attributes=msgspec.to_builtins(data.attributes),
            created_at=clock.now(),
        )
        await row.save()
    return KindOut(id=row.id, code=data.code, name=name, attributes=data.attributes)


async def _kind(code: str, field: str = "kind") -> dict[str, Any]:
    row = (
        await EquipmentKind.select()
        .where(EquipmentKind.code == code.strip())
        .first()
        .output(load_json=True)
    )
    if row is None:
        known = (
            ", ".join(k.code for k in await list_kinds()) or "none yet (POST /api/equipment/kinds)"
        )
        raise InvalidInput(
            "equipment.unknown_equipment_kind_known", field=field, code=code, known=known
        )
    return cast("dict[str, Any]", row)


def check_attributes(
    specs: list[AttributeSpec], values: dict[str, Any], *, from_text: bool = False
) -> dict[str, Any]:
    """`values` checked against the kind's declared attributes; the errors name the field.
    `from_text`: values typed as text (an imported file) are read as their declared type."""
    declared = {s.name: s for s in specs}
    errors = []
    result: dict[str, Any] = {}
    for name in values:
        if name not in declared:
            known = ", ".join(declared) or "none"
            errors.append(f"attributes.{name}: the kind declares no such attribute ({known})")
    for spec in specs:
        value = values.get(spec.name)
        if value is None or (from_text and isinstance(value, str) and not value.strip()):
            if spec.required:
                errors.append(f"attributes.{spec.name}: required for this kind")
            continue
        try:
            result[spec.name] = _attribute_value(spec, value, from_text)
        except ValueError as exc:
            errors.append(f"attributes.{spec.name}: {exc}")
    if errors:
        raise InvalidInput("equipment.attributes_invalid", problems="; ".join(errors))
    return result


def _attribute_value(spec: AttributeSpec, value: Any, from_text: bool) -> Any:
    text = value.strip() if isinstance(value, str) else None
    if spec.type == "string":
        if isinstance(value, str):
            if len(value) > 500:
                raise ValueError("at most 500 characters")
            return value.strip()
        if from_text:
            return str(value)
        raise ValueError(f"must be text, got {value!r}")
    if spec.type == "boolean":
        if isinstance(value, bool):
            return value
        if from_text and text is not None and text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise ValueError(f"must be true or false, got {value!r}")
    if spec.type in ("number", "integer"):
        if isinstance(value, bool):
            raise ValueError(f"must be a number, got {value!r}")
        if from_text and text is not None:
            try:
                value = float(text.replace(",", ".")) if spec.type == "number" else int(text)
            except ValueError:
                raise ValueError(
                    f"must be {'a whole' if spec.type == 'integer' else 'a'} number, got {text!r}"
                ) from None
        if spec.type == "integer" and isinstance(value, float) and value.is_integer():
            value = int(value)
        if spec.type == "integer" and not isinstance(value, int):
            raise ValueError(f"must be a whole number, got {value!r}")
        if not isinstance(value, int | float):
            raise ValueError(f"must be a number, got {value!r}")
        return value
    # date
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return parse_date(value).isoformat()
    raise ValueError(f"must be a date like 2026-12-31, got {value!r}")


def parse_date(text: str) -> dt.date:
    text = text.strip()
    for fmt in ("%Y-%m-%d", "%d.%m.%Y", "%d.%m.%y", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"must be a date like 2026-12-31 or 31.12.2026, got {text!r}")


# --- equipment -----------------------------------------------------------------------------

_SELECT = """
SELECT e.id, e.model, e.serial, e.installed_on, e.warranty_until, e.notes, e.attributes,
    e.archived, e.created_at, e.updated_at, cp.id AS cp_id, cp.name AS cp_name,
    s.id AS site_id, s.name AS site_name, k.code AS kind_code, k.name AS kind_name
FROM equipment e
JOIN counterparties cp ON cp.id = e.counterparty
JOIN equipment_kinds k ON k.id = e.kind
LEFT JOIN sites s ON s.id = e.site
"""


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _json(value: Any) -> Any:
    return msgspec.json.decode(value) if isinstance(value, str | bytes) else value


def _out(r: dict[str, Any], on: dt.date) -> EquipmentOut:
    warranty = _date(r["warranty_until"])
    return EquipmentOut(
        id=r["id"],
        counterparty=Ref(r["cp_id"], r["cp_name"]),
        site=Ref(r["site_id"], r["site_name"]) if r["site_id"] is not None else None,
        kind=r["kind_code"],
        kind_name=r["kind_name"],
        model=r["model"],
        serial=r["serial"],
        installed_on=_date(r["installed_on"]),
        warranty_until=warranty,
        under_warranty=warranty is not None and warranty >= on,
        notes=r["notes"],
        attributes=_json(r["attributes"]) or {},
        archived=bool(r["archived"]),
        created_at=db.stored_datetime(r["created_at"]),
        updated_at=db.stored_datetime(r["updated_at"]),
    )


async def _rows(where: str, *args: Any, tail: str = "") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await Equipment.raw(f"{_SELECT} {where} {tail}", *args)
    return rows


async def get_equipment(equipment_id: int, *, with_tasks: bool = True) -> EquipmentOut:
    rows = await _rows("WHERE e.id = {}", equipment_id)
    if not rows:
        raise NotFound("equipment.equipment_not_found", equipment_id=equipment_id)
    item = _out(rows[0], today())
    if with_tasks:
        item.tasks = await equipment_tasks(equipment_id)
    return item


async def equipment_tasks(equipment_id: int, limit: int = 200) -> list[EquipmentTask]:
    rows = (
        await TaskEquipment.select(
            TaskEquipment.task.id,
            TaskEquipment.task.number,
            TaskEquipment.task.title,
            TaskEquipment.task.status,
            TaskEquipment.task.template.code,  # type: ignore[union-attr]
            TaskEquipment.task.created_at,
            TaskEquipment.task.completed_at,
            TaskEquipment.task.assignee.full_name,  # type: ignore[union-attr]
        )
        .where(TaskEquipment.equipment == equipment_id)
        .order_by(TaskEquipment.task.id, ascending=False)
        .limit(limit)
    )
    return [
        EquipmentTask(
            id=r["task.id"],
            number=r["task.number"] or r["task.id"],
            title=r["task.title"],
            status=r["task.status"],
            template=r["task.template.code"],
            created_at=r["task.created_at"],
            completed_at=r["task.completed_at"],
            assignee=r["task.assignee.full_name"],
        )
        for r in rows
    ]


def search_query(f: EquipmentFilter) -> tuple[str, list[Any]]:
    """WHERE and ORDER/LIMIT of a search, with its arguments (the benchmark runs it too)."""
    if not 1 <= f.limit <= MAX_PAGE:
        raise InvalidInput("equipment.limit_must_between", max_page=MAX_PAGE)
    clauses: list[str] = []
    args: list[Any] = []
    if f.q and f.q.strip():
        pattern = contains_pattern(key(f.q))
        clauses.append("(e.serial_key LIKE {} OR e.model_key LIKE {})")
        args += [pattern, pattern]
    for column, value in (
        ("e.counterparty", f.counterparty_id),
        ("e.site", f.site_id),
    ):
        if value is not None:
            clauses.append(f"{column} = {{}}")
            args.append(value)
    if f.kind:
        clauses.append("k.code = {}")
        args.append(f.kind)
    if f.archived is not None:
        clauses.append("e.archived = {}")
        args.append(f.archived)
    if f.cursor is not None:
        clauses.append("e.id < {}")
        args.append(f.cursor)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    return f"{where} ORDER BY e.id DESC LIMIT {{}}", [*args, f.limit + 1]


async def search_equipment(f: EquipmentFilter) -> EquipmentPage:
    """By serial or model (parts of either, any case), counterparty, site, kind."""
    sql, args = search_query(f)
    rows = await _rows(sql, *args)
    more = len(rows) > f.limit
    rows = rows[: f.limit]
    on = today()
    return EquipmentPage(
        items=[_out(r, on) for r in rows],
        next_cursor=str(rows[-1]["id"]) if more and rows else None,
    )


async def _require_counterparty(counterparty_id: int) -> None:
    if not await Counterparty.exists().where(Counterparty.id == counterparty_id):
        raise InvalidInput(
            "equipment.counterparty_id_no_counterparty", counterparty_id=counterparty_id
        )


async def _require_site(site_id: int | None, counterparty_id: int) -> None:
    if site_id is None:
        return
    row = await Site.select(Site.counterparty).where(Site.id == site_id).first()
    if row is None:
        raise InvalidInput("equipment.site_id_no_site", site_id=site_id)
    if row["counterparty"] != counterparty_id:
        raise InvalidInput(
            "equipment.site_id_site_belongs", site_id=site_id, counterparty_id=counterparty_id
        )


async def require_unique_serial(
    kind_id: int, model: str, serial: str, exclude_id: int | None = None
) -> None:
    if not key(serial):
        return
    query = Equipment.select(Equipment.id, Equipment.counterparty.name).where(
        (Equipment.kind == kind_id)
        & (Equipment.model_key == key(model))
        & (Equipment.serial_key == key(serial))
    )
    if exclude_id is not None:
        query = query.where(Equipment.id != exclude_id)
    row = await query.first()
    if row is not None:
        raise InvalidInput(
            "equipment.serial_already_used_equipment",
            value=serial.strip(),
            id=row["id"],
            value2=model.strip(),
            counterparty_name=row["counterparty.name"],
        )


def _is_unique_violation(exc: BaseException) -> bool:
    return isinstance(exc, asyncpg.UniqueViolationError) or (
        isinstance(exc, sqlite3.IntegrityError) and "UNIQUE" in str(exc)
    )


def _clean_model(model: str) -> str:
    model = " ".join(model.split())
    if not model:
        raise InvalidInput("equipment.model_must_not_blank")
    return model


async def create_equipment(data: EquipmentIn) -> EquipmentOut:
    model = _clean_model(data.model)
    serial = data.serial.strip()
    try:
        async with db.transaction():
            await _require_counterparty(data.counterparty_id)
            await _require_site(data.site_id, data.counterparty_id)
            kind = await _kind(data.kind)
            specs = msgspec.convert(kind["attributes"] or [], list[AttributeSpec])
            attributes = check_attributes(specs, data.attributes)
            await require_unique_serial(kind["id"], model, serial)
            now = clock.now()
            row = Equipment(
                counterparty=data.counterparty_id,
                site=data.site_id,
                kind=kind["id"],
                model=model,
                serial=serial,
                model_key=key(model),
                serial_key=key(serial),
                installed_on=data.installed_on,
                warranty_until=data.warranty_until,
                notes=data.notes.strip(),
                attributes=attributes,
                created_at=now,
                updated_at=now,
            )
            await row.save()
    except (asyncpg.UniqueViolationError, sqlite3.IntegrityError) as exc:
        if _is_unique_violation(exc):
            raise InvalidInput("equipment.serial_registered_moment_ago", serial=serial) from exc
        raise
    return await get_equipment(row.id, with_tasks=False)


async def update_equipment(equipment_id: int, patch: EquipmentPatch) -> EquipmentOut:
    changes = {
        f: getattr(patch, f)
        for f in patch.__struct_fields__
        if not isinstance(getattr(patch, f), msgspec.UnsetType)
    }
    try:
        async with db.transaction():
            row = await Equipment.select().where(Equipment.id == equipment_id).first()
            if row is None:
                raise NotFound("equipment.equipment_not_found", equipment_id=equipment_id)
            row = dict(row)
            row["attributes"] = _json(row["attributes"]) or {}
            counterparty_id = _pick(changes, "counterparty_id", row["counterparty"])
            site_id = _pick(changes, "site_id", row["site"])
            if "counterparty_id" in changes:
                await _require_counterparty(counterparty_id)
                if "site_id" not in changes and site_id is not None:
                    site_id = None  # the old site was the old counterparty's
            await _require_site(site_id, counterparty_id)
            if "kind" in changes:
                kind = await _kind(changes["kind"])
            else:
                kind = (
                    await EquipmentKind.select()
                    .where(EquipmentKind.id == row["kind"])
                    .first()
                    .output(load_json=True)
                )
            assert kind is not None
            model = _clean_model(_pick(changes, "model", row["model"]))
            serial = _pick(changes, "serial", row["serial"]).strip()
            specs = msgspec.convert(kind["attributes"] or [], list[AttributeSpec])
            attributes = check_attributes(specs, _pick(changes, "attributes", row["attributes"]))
            await require_unique_serial(kind["id"], model, serial, exclude_id=equipment_id)
            values: dict[Any, Any] = {
                Equipment.counterparty: counterparty_id,
                Equipment.site: site_id,
                Equipment.kind: kind["id"],
                Equipment.model: model,
                Equipment.model_key: key(model),
                Equipment.serial: serial,
                Equipment.serial_key: key(serial),
                Equipment.attributes: attributes,
                Equipment.updated_at: clock.now(),
            }
            for field, column in (
                ("installed_on", Equipment.installed_on),
                ("warranty_until", Equipment.warranty_until),
                ("archived", Equipment.archived),
            ):
                if field in changes:
                    values[column] = changes[field]
            if "notes" in changes:
                values[Equipment.notes] = changes["notes"].strip()
            await Equipment.update(values).where(Equipment.id == equipment_id)
    except (asyncpg.UniqueViolationError, sqlite3.IntegrityError) as exc:
        if _is_unique_violation(exc):
            raise InvalidInput("equipment.serial_registered_another_piece") from exc
        raise
    return await get_equipment(equipment_id)


# --- the equipment of tasks ----------------------------------------------------------------


async def require_linkable(counterparty_id: int | None, ids: list[int]) -> list[int]:
    """`ids` (deduplicated, in order) if each may be linked to a task of `counterparty_id`."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        return []
    if counterparty_id is None:
        raise InvalidInput("equipment.equipment_ids_task_no")
    rows = await Equipment.select(
        Equipment.id,
        Equipment.model,
        Equipment.serial,
        Equipment.archived,
        Equipment.counterparty.id,
        Equipment.counterparty.name,
    ).where(Equipment.id.is_in(ids))
    found = {r["id"]: r for r in rows}
    errors = []
    for equipment_id in ids:
        r = found.get(equipment_id)
        if r is None:
            errors.append(f"no equipment {equipment_id}")
            continue
        label = (
            f"equipment {equipment_id} ({r['model']}{', ' + r['serial'] if r['serial'] else ''})"
        )
        if r["counterparty.id"] != counterparty_id:
            name = (
                await Counterparty.select(Counterparty.name)
                .where(Counterparty.id == counterparty_id)
                .first()
            )
            errors.append(
                f"{label} belongs to «{r['counterparty.name']}», not to the task's "
                f"counterparty «{(name or {}).get('name', counterparty_id)}»"
            )
        elif r["archived"]:
            errors.append(f"{label} is archived")
    if errors:
        raise InvalidInput(
            "equipment.links_invalid", field="equipment_ids", problems="; ".join(errors)
        )
    return ids


async def link_on_creation(task_id: int, counterparty_id: int | None, ids: list[int]) -> None:
    """Inside the creating transaction: a refusal undoes the task too."""
    ids = await require_linkable(counterparty_id, ids)
    if ids:
        now = clock.now()
        await TaskEquipment.insert(
            *[TaskEquipment(task=task_id, equipment=e, created_at=now) for e in ids]
        )


async def set_task_equipment(actor: Actor | None, task_id: int, ids: list[int]) -> TaskOut:
    """The task's equipment becomes `ids` (the office, or the engineer holding the task)."""
    task = (
        await tasks.get_task(actor, task_id)
        if actor is not None
        else await tasks.get_task_unchecked(task_id)
    )
    if actor is not None:
        if actor.is_client_only:
            raise Forbidden("equipment.clients_cannot_change_task")
        holder = task.assignee is not None and task.assignee.id == actor.id
        if not (actor.is_dispatcher or holder):
            raise Forbidden("equipment.only_office_engineer_holding", task_number=task.number)
    if task.status in CLOSED:
        raise Conflict(
            "equipment.task_equipment_stays", task_number=task.number, status=task.status
        )
    async with db.transaction():
        wanted = await require_linkable(task.counterparty.id if task.counterparty else None, ids)
        rows = await TaskEquipment.select(TaskEquipment.equipment).where(
            TaskEquipment.task == task_id
        )
        current = [r["equipment"] for r in rows]
        if set(current) != set(wanted):
            await TaskEquipment.delete().where(
                (TaskEquipment.task == task_id) & TaskEquipment.equipment.not_in(wanted or [0])
            )
            now = clock.now()
            added = [e for e in wanted if e not in current]
            if added:
                await TaskEquipment.insert(
                    *[TaskEquipment(task=task_id, equipment=e, created_at=now) for e in added]
                )
            await tasks.record_event(
                task_id,
                actor.id if actor else None,
                "equipment_changed",
                Channel.UI if actor else Channel.SYSTEM,
                {"old": sorted(current), "new": sorted(wanted)},
                at=now,
            )
    return (
        await tasks.get_task(actor, task_id)
        if actor is not None
        else await tasks.get_task_unchecked(task_id)
    )


# task_equipment() as one PostgreSQL expression over the task row `t`, for answers built in
# one statement (tasks.extensions.read_in_sql); keep the two in step.
TASK_EQUIPMENT_SQL = (
    "SELECT coalesce(json_agg(json_build_array(e.id, k.code, e.model, e.serial) "
    "ORDER BY te.id), '[]') FROM task_equipment te "
    "LEFT JOIN equipment e ON e.id = te.equipment "
    "LEFT JOIN equipment_kinds k ON k.id = e.kind WHERE te.task = t.id"
)


def apply_task_equipment(task: TaskOut, value: list[list[Any]]) -> None:
    task.equipment = [EquipmentRef(id=i, kind=k, model=m, serial=s) for i, k, m, s in value]


async def task_equipment(task_id: int) -> list[EquipmentRef]:
    rows = (
        await TaskEquipment.select(
            TaskEquipment.equipment.id,
            TaskEquipment.equipment.kind.code,  # type: ignore[union-attr]
            TaskEquipment.equipment.model,
            TaskEquipment.equipment.serial,
        )
        .where(TaskEquipment.task == task_id)
        .order_by(TaskEquipment.id)
    )
    return [
        EquipmentRef(
            id=r["equipment.id"],
            kind=r["equipment.kind.code"],
            model=r["equipment.model"],
            serial=r["equipment.serial"],
        )
        for r in rows
    ]
