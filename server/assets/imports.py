"""Equipment from a CSV or XLSX file: every row is checked as creation checks it, and the
file is imported whole or not at all (a report says which rows were accepted or why not).

Columns (a header row; names in English or Russian, any case): counterparty (its name or
id), site (its name, optional), kind (a code), model, serial, installed_on,
warranty_until, notes, and one column per custom attribute of the kind (its name, or
`attr:<name>`). Dates are 2026-12-31 or 31.12.2026.
"""

from __future__ import annotations

import base64
import binascii
import csv
import datetime as dt
import io
import sqlite3
import zipfile
from typing import Any

import asyncpg
import msgspec

from server import db
from server.assets import service
from server.assets.schemas import AttributeSpec, ImportIn, ImportReport, ImportRow
from server.assets.tables import Equipment, EquipmentKind
from server.clients.tables import Counterparty, Site
from server.lib import clock
from server.lib.errors import InvalidInput

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000
COLUMNS: dict[str, tuple[str, ...]] = {
    "counterparty": ("counterparty", "counterparty_id", "client", "контрагент", "клиент"),
    "site": ("site", "site_name", "объект", "объект обслуживания"),
    "kind": ("kind", "type", "вид", "тип"),
    "model": ("model", "модель"),
    "serial": (
        "serial",
        "serial_number",
        "serial number",
        "серийный номер",
        "зав. номер",
        "заводской номер",
    ),
    "installed_on": ("installed_on", "installed", "дата установки", "установлено"),
    "warranty_until": ("warranty_until", "warranty", "гарантия до", "гарантия"),
    "notes": ("notes", "note", "примечание", "примечания"),
}
_ALIASES = {alias: field for field, aliases in COLUMNS.items() for alias in aliases}


def _decode(data: ImportIn) -> tuple[str, bytes]:
    try:
        raw = base64.b64decode(data.data_base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("equipment.data_base_not_valid") from exc
    if not raw:
        raise InvalidInput("equipment.data_base_file_empty")
    if len(raw) > MAX_BYTES:
        raise InvalidInput("equipment.data_base_file_larger", value=MAX_BYTES // 1024 // 1024)
    fmt = data.format
    if fmt is None:
        name = data.filename.lower()
        fmt = "xlsx" if name.endswith(".xlsx") or raw[:2] == b"PK" else "csv"
    return fmt, raw


def _cell(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return "" if value is None else value


def _table(fmt: str, raw: bytes) -> list[list[Any]]:
    if fmt == "xlsx":
        from openpyxl import load_workbook  # loaded by the first import, not at start

        try:
            book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
            raise InvalidInput("equipment.data_base_not_readable", exc=exc) from exc
        sheet = book.worksheets[0]
        rows = [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        book.close()
        return rows
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1251")  # Excel's CSV on a Russian Windows
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    return [list(r) for r in csv.reader(io.StringIO(text), delimiter=delimiter)]


def _header(cells: list[Any], attribute_names: set[str]) -> list[str | None]:
    fields: list[str | None] = []
    unknown = []
    for cell in cells:
        name = " ".join(str(cell or "").split()).lower()
        if not name:
            fields.append(None)
        elif name in _ALIASES:
            fields.append(_ALIASES[name])
        elif name.startswith("attr:"):
            fields.append(name)
        elif name in attribute_names:
            fields.append(f"attr:{name}")
        else:
            fields.append(None)
            unknown.append(str(cell))
    if unknown:
        raise InvalidInput(
            "equipment.columns_unknown_column_columns",
            items=", ".join(repr(u) for u in unknown),
            columns=", ".join(COLUMNS),
        )
    for required in ("counterparty", "kind", "model"):
        if required not in fields:
            raise InvalidInput("equipment.columns_file_needs_column", required=required)
    return fields


async def import_equipment(data: ImportIn) -> ImportReport:
    fmt, raw = _decode(data)
    table = [r for r in _table(fmt, raw) if any(str(c).strip() for c in r)]
    if len(table) < 2:
        raise InvalidInput("equipment.data_base_file_header")
    if len(table) - 1 > MAX_ROWS:
        raise InvalidInput("equipment.data_base_most_rows", max_rows=MAX_ROWS)
    kinds = {
        k["code"]: k
        for k in await EquipmentKind.select().output(load_json=True)  # a short admin list
    }
    attribute_names = {a["name"] for k in kinds.values() for a in k["attributes"] or []}
    fields = _header(table[0], attribute_names)

    counterparties: dict[str, list[int]] = {}
    for c in await Counterparty.select(Counterparty.id, Counterparty.name).where(
        Counterparty.archived.eq(False)
    ):
        counterparties.setdefault(service.key(c["name"]), []).append(c["id"])
    sites: dict[tuple[int, str], list[int]] = {}
    for s in await Site.select(Site.id, Site.name, Site.counterparty):
        sites.setdefault((s["counterparty"], service.key(s["name"])), []).append(s["id"])
    existing = {
        (e["kind"], e["model_key"], e["serial_key"]): e["id"]
        for e in await Equipment.select(
            Equipment.id, Equipment.kind, Equipment.model_key, Equipment.serial_key
        ).where(Equipment.serial_key != "")
    }

    report: list[ImportRow] = []
    new_rows: list[Equipment] = []
    seen: dict[tuple[int, str, str], int] = {}
    now = clock.now()
    for number, cells in enumerate(table[1:], start=2):
        values: dict[str, Any] = {}
        for field, cell in zip(fields, cells, strict=False):
            if field is not None:
                values[field] = cell.strip() if isinstance(cell, str) else cell
        errors: list[str] = []
        counterparty_id = _find_counterparty(values.get("counterparty"), counterparties, errors)
        kind = kinds.get(str(values.get("kind") or "").strip())
        if kind is None:
            errors.append(f"kind: unknown equipment kind {values.get('kind')!r}")
        model = " ".join(str(values.get("model") or "").split())
        if not model:
            errors.append("model: must not be blank")
        serial = str(values.get("serial") or "").strip()
        site_id = None
        if values.get("site") and counterparty_id is not None:
            found = sites.get((counterparty_id, service.key(str(values["site"]))), [])
            if len(found) != 1:
                errors.append(
                    f"site: {'no' if not found else 'more than one'} site named "
                    f"{values['site']!r} of this counterparty"
                )
            else:
                site_id = found[0]
        dates: dict[str, dt.date | None] = {}
        for field in ("installed_on", "warranty_until"):
            value = values.get(field)
            if isinstance(value, dt.date):
                dates[field] = value
            elif value:
                try:
                    dates[field] = service.parse_date(str(value))
                except ValueError as exc:
                    errors.append(f"{field}: {exc}")
        attributes: dict[str, Any] = {}
        if kind is not None:
            raw_attributes = {
                f[5:]: v for f, v in values.items() if f.startswith("attr:") and v not in ("", None)
            }
            specs = msgspec.convert(kind["attributes"] or [], list[AttributeSpec])
            try:
                attributes = service.check_attributes(specs, raw_attributes, from_text=True)
            except InvalidInput as exc:
                errors.append(exc.detail)
        if kind is not None and model and service.key(serial):
            unique = (kind["id"], service.key(model), service.key(serial))
            if unique in existing:
                errors.append(
                    f"serial: «{serial}» is already used by equipment #{existing[unique]}"
                )
            elif unique in seen:
                errors.append(f"serial: «{serial}» is already in row {seen[unique]} of this file")
            else:
                seen[unique] = number
        if errors:
            report.append(ImportRow(row=number, status="rejected", errors=errors, serial=serial))
            continue
        assert kind is not None and counterparty_id is not None
        report.append(ImportRow(row=number, status="accepted", serial=serial))
        new_rows.append(
            Equipment(
                counterparty=counterparty_id,
                site=site_id,
                kind=kind["id"],
                model=model,
                serial=serial,
                model_key=service.key(model),
                serial_key=service.key(serial),
                installed_on=dates.get("installed_on"),
                warranty_until=dates.get("warranty_until"),
                notes=str(values.get("notes") or ""),
                attributes=attributes,
                created_at=now,
                updated_at=now,
            )
        )
    rejected = sum(1 for r in report if r.status == "rejected")
    result = ImportReport(imported=False, accepted=len(new_rows), rejected=rejected, rows=report)
    if rejected:
        raise InvalidInput(
            "equipment.import_refused_rows_errors",
            rejected=rejected,
            n_report=len(report),
            extra={"report": msgspec.to_builtins(result)},
        )
    if data.dry_run:
        return result
    ids: list[int] = []
    try:
        async with db.transaction():
            for start in range(0, len(new_rows), 500):
                inserted = await Equipment.insert(*new_rows[start : start + 500]).returning(
                    Equipment.id
                )
                ids.extend(r["id"] for r in inserted)
    except (asyncpg.UniqueViolationError, sqlite3.IntegrityError) as exc:
        raise InvalidInput("equipment.serial_another_import_edit") from exc
    accepted = iter(ids)
    for row in report:
        row.id = next(accepted)
    result.imported = True
    return result


def _find_counterparty(
    value: Any, counterparties: dict[str, list[int]], errors: list[str]
) -> int | None:
    text = str(value or "").strip()
    if not text:
        errors.append("counterparty: must not be blank")
        return None
    if text.isdigit():
        wanted = int(text)
        if any(wanted in ids for ids in counterparties.values()):
            return wanted
    found = counterparties.get(service.key(text), [])
    if len(found) == 1:
        return found[0]
    errors.append(
        f"counterparty: {'no' if not found else 'more than one'} counterparty named {text!r}"
        + ("; use its id" if found else "")
    )
    return None
