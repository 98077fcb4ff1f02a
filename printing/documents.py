"""Input of the print forms: plain data, already read from the database by the caller.

Everything a form shows comes from these structs, so rendering needs no DB and no network.
Text fields are user-entered and are always HTML-escaped by the templates; the length limits
bound the work one render can take (a render runs in a worker with a time limit as well).
Money totals are deliberately not an input: the renderer derives them from ``lines`` with
:func:`printing.totals.price_lines`, so a printed total can never disagree with its lines.
"""

from __future__ import annotations

import datetime as dt
import struct
from decimal import Decimal
from functools import cache
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import msgspec.inspect

from printing.totals import HUNDRED, ZERO

Language = Literal["ru", "en"]

ShortText = Annotated[str, msgspec.Meta(max_length=500)]
LongText = Annotated[str, msgspec.Meta(max_length=20_000)]

MAX_LINES = 1000
# A hand-drawn signature from a phone canvas is a few tens of KB; 1 MB leaves ample room.
MAX_SIGNATURE_BYTES = 1_000_000
# Decompression bombs are tiny PNGs with huge dimensions: bound the pixels, not only bytes.
MAX_SIGNATURE_SIDE = 4000
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# Generous for a service invoice, small enough that Decimal products stay cheap.
_MAX_MONEY = Decimal("1e12")


class Company(msgspec.Struct, frozen=True, kw_only=True):
    """The service company printing the form (the contractor, «Исполнитель»)."""

    name: ShortText
    address: ShortText = ""
    phone: ShortText = ""
    inn: ShortText = ""  # taxpayer id (ИНН)
    email: ShortText = ""

    def __post_init__(self) -> None:
        enforce_lengths(self)


class SpecLine(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the specification (a work or a part). Prices include VAT."""

    name: ShortText
    unit: Annotated[str, msgspec.Meta(max_length=20)] = "шт"
    quantity: Decimal
    price: Decimal
    discount_percent: Decimal = ZERO
    # None means «без НДС» (the company is not a VAT payer), which is not the same as 0 %.
    vat_rate: Decimal | None = None
    performer: ShortText | None = None

    def __post_init__(self) -> None:
        enforce_lengths(self)
        # msgspec cannot put numeric bounds on Decimal, so check here; decoding turns the
        # ValueError into a msgspec.ValidationError naming the field.
        _bounded("quantity", self.quantity, _MAX_MONEY)
        _bounded("price", self.price, _MAX_MONEY)
        _bounded("discount_percent", self.discount_percent, HUNDRED)
        if self.vat_rate is not None:
            _bounded("vat_rate", self.vat_rate, HUNDRED)


class Signature(msgspec.Struct, frozen=True, kw_only=True):
    """The client's signature captured on the engineer's phone."""

    png: Annotated[bytes, msgspec.Meta(max_length=MAX_SIGNATURE_BYTES)]
    signer_name: ShortText = ""
    signed_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        enforce_lengths(self)
        width, height = png_size(self.png)
        if not (0 < width <= MAX_SIGNATURE_SIDE and 0 < height <= MAX_SIGNATURE_SIDE):
            raise ValueError(f"signature image is {width}x{height} pixels, too large")


class ClientSignOff(msgspec.Struct, frozen=True, kw_only=True):
    """The client's answer to the finished visit in the portal: the act accepted, or
    disputed with a comment (issue 18)."""

    decision: Literal["accepted", "disputed"]
    signer_name: ShortText = ""
    at: dt.datetime | None = None
    comment: LongText = ""

    def __post_init__(self) -> None:
        enforce_lengths(self)


class EquipmentLine(msgspec.Struct, frozen=True, kw_only=True):
    """A piece of the client's equipment the work is about."""

    kind: ShortText
    model: ShortText
    serial: ShortText = ""

    def __post_init__(self) -> None:
        enforce_lengths(self)


class ChecklistLine(msgspec.Struct, frozen=True, kw_only=True):
    """A checklist item and what was recorded for it ("" while open)."""

    text: ShortText
    required: bool = False
    value: ShortText = ""

    def __post_init__(self) -> None:
        enforce_lengths(self)


class TaskDocument(msgspec.Struct, frozen=True, kw_only=True):
    """Everything printed on a work order («заказ-наряд») or a completion act («акт»)."""

    company: Company
    number: int | Annotated[str, msgspec.Meta(max_length=40)]
    title: ShortText
    description: LongText = ""
    created_at: dt.datetime
    accepted_at: dt.datetime | None = None
    arrived_at: dt.datetime | None = None
    done_at: dt.datetime | None = None
    # The date printed as the document's own date, and its PDF creation date. Defaults to
    # done_at (acts) / created_at (orders); never "now", so a reprint is byte-identical.
    issued_at: dt.datetime | None = None
    counterparty: ShortText = ""
    site_name: ShortText = ""
    site_address: ShortText = ""
    contact_name: ShortText = ""
    contact_phone: ShortText = ""
    assignee: ShortText = ""
    completed_works: LongText = ""
    lines: Annotated[list[SpecLine], msgspec.Meta(max_length=MAX_LINES)] = []
    signature: Signature | None = None
    # The client's sign-off in the portal (the completion act prints it).
    sign_off: ClientSignOff | None = None
    # Printed as a QR code (and a clickable link) pointing at the task in the app.
    link_url: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    language: Language = "ru"
    # Aware datetimes are shown in this zone; naive ones are taken as already local.
    timezone: ShortText = "Europe/Moscow"
    # The equipment worked on (both forms) and the checklist (the work order).
    equipment: Annotated[list[EquipmentLine], msgspec.Meta(max_length=MAX_LINES)] = []
    checklist: Annotated[list[ChecklistLine], msgspec.Meta(max_length=MAX_LINES)] = []

    def __post_init__(self) -> None:
        enforce_lengths(self)
        if self.link_url is not None and urlsplit(self.link_url).scheme not in ("http", "https"):
            # A javascript: or file: link would become a clickable action inside the PDF.
            raise ValueError("link_url must be an http(s) URL")
        try:
            ZoneInfo(self.timezone)
        except (ValueError, ZoneInfoNotFoundError) as exc:
            raise ValueError(f"unknown timezone {self.timezone!r}") from exc


@cache
def _length_limits(cls: type[msgspec.Struct]) -> dict[str, int]:
    """max_length of each field, read from the field's own Annotated[..., Meta(...)]."""
    limits: dict[str, int] = {}
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    for field in info.fields:
        kinds = (
            field.type.types if isinstance(field.type, msgspec.inspect.UnionType) else (field.type,)
        )
        for kind in kinds:
            max_length = getattr(kind, "max_length", None)
            if max_length is not None:
                limits[field.name] = max_length
    return limits


def enforce_lengths(struct: msgspec.Struct) -> None:
    """Apply the max_length limits on construction too.

    msgspec checks Meta constraints only when decoding; the server builds these structs
    directly from database rows, and the limits are what bound the time of a render.
    """
    for name, limit in _length_limits(type(struct)).items():
        value = getattr(struct, name)
        if isinstance(value, str | bytes | list) and len(value) > limit:
            raise ValueError(f"{name} is longer than {limit}")


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG header, without decoding the image."""
    if len(data) < 24 or not data.startswith(_PNG_MAGIC) or data[12:16] != b"IHDR":
        raise ValueError("signature must be a PNG image")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _bounded(name: str, value: Decimal, upper: Decimal) -> None:
    if not isinstance(value, Decimal):
        # msgspec decodes numbers to Decimal; code building a line by hand must do the same,
        # an int would pass but a float would carry binary noise into money.
        raise TypeError(f"{name} must be a Decimal, got {type(value).__name__}")
    if not value.is_finite() or not (0 <= value <= upper):
        raise ValueError(f"{name} must be between 0 and {upper}, got {value}")
