"""Money arithmetic for a specification: the one place where the rounding rule lives.

The rule (Russian practice, prices include VAT — «в т.ч. НДС»):

1. Every amount is a ``Decimal`` rounded ROUND_HALF_UP to 0.01 (kopecks); floats never appear.
2. Per line, with ``q`` = quantity, ``p`` = price, ``d`` = discount percent, ``r`` = VAT rate:

   * ``gross    = round(q * p)``                  — the amount before the discount;
   * ``total    = round(q * p * (1 - d / 100))``  — what the client pays for the line;
   * ``discount = gross - total``                 — so that gross - discount == total exactly;
   * ``vat      = round(total * r / (100 + r))``  — the VAT already contained in ``total``;
     a line with ``r is None`` is not subject to VAT («без НДС») and has ``vat = 0``.

   Each product is computed exactly (wide decimal context) and rounded once, at the end.
3. Document totals are sums of the rounded line values, never recomputed from unrounded
   figures: ``subtotal = Σ gross``, ``discount = Σ discount``, ``total = Σ total``,
   ``vat = Σ vat``. This is what a person adding up the printed columns gets.

The server calls :func:`price_lines` too, so a stored total and a printed one cannot differ.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Protocol

import msgspec

KOPECK = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)

# 60 significant digits: q * p * (100 - d) for any amount a service company prints stays exact,
# so the only rounding is the explicit one to kopecks.
_PRECISION = 60


class PricedLine(Protocol):
    """What the arithmetic needs from a line; SpecLine and the server's rows both fit."""

    @property
    def quantity(self) -> Decimal: ...

    @property
    def price(self) -> Decimal: ...

    @property
    def discount_percent(self) -> Decimal: ...

    @property
    def vat_rate(self) -> Decimal | None: ...


class LineAmounts(msgspec.Struct, frozen=True):
    """The rounded amounts of one line (all in roubles, two decimal places)."""

    gross: Decimal
    discount: Decimal
    total: Decimal
    vat: Decimal


class Totals(msgspec.Struct, frozen=True):
    """Document totals: sums of the rounded line amounts."""

    subtotal: Decimal
    discount: Decimal
    vat: Decimal
    total: Decimal
    # False when no line is subject to VAT: the form then prints «Без НДС» instead of 0,00.
    vat_applicable: bool


class Pricing(msgspec.Struct, frozen=True):
    lines: list[LineAmounts]
    totals: Totals


def round_money(value: Decimal) -> Decimal:
    """Round to kopecks, half away from zero (0.005 -> 0.01), as accountants do."""
    return value.quantize(KOPECK, rounding=ROUND_HALF_UP)


def line_amounts(
    quantity: Decimal,
    price: Decimal,
    discount_percent: Decimal = ZERO,
    vat_rate: Decimal | None = None,
) -> LineAmounts:
    """Amounts of one line by the rule in the module docstring.

    Raises ValueError for negative or non-finite inputs, a discount outside 0..100 or a VAT
    rate outside 0..100: a wrong sign here would silently print a wrong invoice.
    """
    _check("quantity", quantity)
    _check("price", price)
    _check("discount_percent", discount_percent, upper=HUNDRED)
    if vat_rate is not None:
        _check("vat_rate", vat_rate, upper=HUNDRED)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        gross = round_money(quantity * price)
        total = round_money(quantity * price * (HUNDRED - discount_percent) / HUNDRED)
        vat = ZERO if vat_rate is None else round_money(total * vat_rate / (HUNDRED + vat_rate))
    return LineAmounts(gross=gross, discount=gross - total, total=total, vat=vat)


def price_lines(lines: Iterable[PricedLine]) -> Pricing:
    """Amounts of every line and the document totals (sums of the rounded line amounts)."""
    amounts: list[LineAmounts] = []
    vat_applicable = False
    for line in lines:
        amounts.append(
            line_amounts(line.quantity, line.price, line.discount_percent, line.vat_rate)
        )
        vat_applicable = vat_applicable or line.vat_rate is not None
    totals = Totals(
        subtotal=sum((a.gross for a in amounts), ZERO),
        discount=sum((a.discount for a in amounts), ZERO),
        vat=sum((a.vat for a in amounts), ZERO),
        total=sum((a.total for a in amounts), ZERO),
        vat_applicable=vat_applicable,
    )
    return Pricing(lines=amounts, totals=totals)


def _check(name: str, value: Decimal, *, upper: Decimal | None = None) -> None:
    if not isinstance(value, Decimal):
        # A float would carry binary noise into money; make the caller convert explicitly.
        raise TypeError(f"{name} must be a Decimal, got {type(value).__name__}")
    if not value.is_finite() or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    if upper is not None and value > upper:
        raise ValueError(f"{name} must be <= {upper}, got {value}")
