"""API shapes of the price list, specifications and signatures.

Money, quantities and percents are ``Decimal``: JSON carries them as strings ("1250.50"),
never as floats. Requests may send strings or plain JSON numbers; numbers are read exactly as
written (msgspec decodes them straight to Decimal), so 0.1 stays 0.1. Responses always send
strings: money with two decimals, quantities and percents without trailing zeros.

PATCH bodies name only the fields to change (a missing field is left as it is; null clears a
nullable one).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

import msgspec

from server.tasks.schemas import UserRef

Id = Annotated[int, msgspec.Meta(ge=1)]
Kind = Literal["work", "service", "product"]
KINDS: tuple[str, ...] = ("work", "service", "product")
Code = Annotated[str, msgspec.Meta(max_length=50)]
Name = Annotated[str, msgspec.Meta(max_length=500)]
Unit = Annotated[str, msgspec.Meta(max_length=20)]
Position = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class PriceItemIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    code: Code
    name: Name
    price: Decimal
    unit: Unit = "шт"
    # null: not subject to VAT («без НДС»).
    vat_rate: Decimal | None = None
    kind: Kind = "work"


class PriceItemPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    code: Code | Unset = UNSET
    name: Name | Unset = UNSET
    price: Decimal | Unset = UNSET
    unit: Unit | Unset = UNSET
    vat_rate: Decimal | Unset | None = UNSET
    kind: Kind | Unset = UNSET
    archived: bool | Unset = UNSET


class PriceItemOut(msgspec.Struct, kw_only=True):
    id: int
    code: str
    name: str
    unit: str
    price: Decimal
    vat_rate: Decimal | None
    kind: str
    archived: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class LineIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A line from the price list (price_item_id: name, unit, price and VAT rate are copied
    from the item) or a free line (name and price required)."""

    quantity: Decimal
    price_item_id: Id | None = None
    name: Name | Unset = UNSET
    unit: Unit | Unset = UNSET
    price: Decimal | Unset = UNSET
    vat_rate: Decimal | Unset | None = UNSET
    # Unset: a price-list line takes the discount of the task's service contract (else 0).
    discount_percent: Decimal | Unset = UNSET
    performer_id: Id | None = None
    # Lines are listed by position, then by id; a new line goes last unless given one.
    position: Position | None = None


class LinePatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Quantity, discount, performer and position change on any line; name, unit, price
    and VAT rate only on free lines (a price-list line keeps the item's)."""

    quantity: Decimal | Unset = UNSET
    discount_percent: Decimal | Unset = UNSET
    performer_id: Id | Unset | None = UNSET
    position: Position | Unset = UNSET
    name: Name | Unset = UNSET
    unit: Unit | Unset = UNSET
    price: Decimal | Unset = UNSET
    vat_rate: Decimal | Unset | None = UNSET


class LineAmountsOut(msgspec.Struct, kw_only=True):
    """By printing.totals: gross = q × p, total = after discount, vat = VAT within total."""

    gross: Decimal
    discount: Decimal
    total: Decimal
    vat: Decimal


class LineOut(msgspec.Struct, kw_only=True):
    id: int
    task_id: int
    position: int
    price_item_id: int | None
    code: str | None
    kind: str | None
    name: str
    unit: str
    quantity: Decimal
    price: Decimal
    discount_percent: Decimal
    vat_rate: Decimal | None
    performer: UserRef | None
    amounts: LineAmountsOut


class TotalsOut(msgspec.Struct, kw_only=True):
    subtotal: Decimal
    discount: Decimal
    vat: Decimal
    total: Decimal
    # False when no line is subject to VAT: print «Без НДС», not 0.00.
    vat_applicable: bool


class SpecificationOut(msgspec.Struct, kw_only=True):
    task_id: int
    # Locked: the task is completed or cancelled and no admin has unlocked it.
    locked: bool
    # An admin reopened it after the task was closed.
    unlocked: bool
    lines: list[LineOut]
    totals: TotalsOut


# A phone's signature pad gives a few tens of KB; the server limit is SIGNATURE_MAX_BYTES.
# The string limit here only bounds the work of decoding an absurd body.
_BASE64_MAX_CHARS = 2_000_000


class SignatureIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The client's signature: a PNG as base64, a data: URL from canvas.toDataURL() is fine."""

    png_base64: Annotated[str, msgspec.Meta(max_length=_BASE64_MAX_CHARS)]
    signer_name: Annotated[str, msgspec.Meta(max_length=200)]


class SignatureOut(msgspec.Struct, kw_only=True):
    task_id: int
    signer_name: str
    signed_at: dt.datetime
    signed_by: UserRef | None
    size: int
    width: int
    height: int
    sha256: str
