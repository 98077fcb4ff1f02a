"""The money rule of printing.totals: Decimal, half-up to kopecks, VAT included in prices."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from printing.totals import LineAmounts, line_amounts, price_lines


class Line:
    def __init__(self, quantity: str, price: str, discount: str = "0", vat: str | None = "20"):
        self.quantity = D(quantity)
        self.price = D(price)
        self.discount_percent = D(discount)
        self.vat_rate = None if vat is None else D(vat)


@pytest.mark.parametrize(
    ("quantity", "price", "total"),
    [
        ("1", "0.005", "0.01"),  # exactly half a kopeck goes up
        ("1", "0.004", "0.00"),
        ("1", "2.675", "2.68"),  # binary floats would give 2.67
        ("3", "0.335", "1.01"),  # 1.005 -> 1.01
        ("0.333", "3", "1.00"),  # 0.999
        ("1.5", "1234.57", "1851.86"),  # 1851.855
        ("0", "100", "0.00"),
    ],
)
def test_line_total_rounds_half_up(quantity: str, price: str, total: str) -> None:
    amounts = line_amounts(D(quantity), D(price))
    assert amounts.total == D(total)
    assert amounts.gross == D(total) and amounts.discount == D("0.00")


def test_discount() -> None:
    # 3 × 33.33 = 99.99; −10 % = 89.991 -> 89.99; the discount is the difference.
    amounts = line_amounts(D("3"), D("33.33"), D("10"))
    assert amounts == LineAmounts(
        gross=D("99.99"), discount=D("10.00"), total=D("89.99"), vat=D("0.00")
    )
    # 10.05 −50 % = 5.025 -> 5.03 (half-up); discount 10.05 − 5.03 = 5.02.
    half = line_amounts(D("1"), D("10.05"), D("50"))
    assert (half.total, half.discount) == (D("5.03"), D("5.02"))
    full = line_amounts(D("2"), D("99.99"), D("100"))
    assert (full.gross, full.discount, full.total) == (D("199.98"), D("199.98"), D("0.00"))


@pytest.mark.parametrize(
    ("price", "rate", "vat"),
    [
        ("120", "20", "20.00"),  # 120 × 20 / 120
        ("100", "20", "16.67"),  # 16.666…
        ("0.03", "20", "0.01"),  # 0.005 -> 0.01
        ("0.02", "20", "0.00"),  # 0.00333…
        ("1000", "10", "90.91"),  # 90.909…
        ("1000", "0", "0.00"),
    ],
)
def test_vat_is_included_in_the_price(price: str, rate: str, vat: str) -> None:
    amounts = line_amounts(D("1"), D(price), vat_rate=D(rate))
    assert amounts.total == D(price).quantize(D("0.01"))
    assert amounts.vat == D(vat)


def test_vat_is_taken_from_the_discounted_total() -> None:
    # 1000 −15 % = 850; 850 × 20 / 120 = 141.666… -> 141.67
    assert line_amounts(D("1"), D("1000"), D("15"), D("20")).vat == D("141.67")


def test_totals_are_sums_of_rounded_lines() -> None:
    pricing = price_lines([Line("1", "0.005"), Line("1", "0.005"), Line("1", "0.005")])
    # Rounding the exact sum (0.015) would give 0.02; the printed columns add up to 0.03.
    assert pricing.totals.total == D("0.03")
    assert pricing.totals.subtotal == D("0.03")

    vat_lines = price_lines([Line("1", "0.03"), Line("1", "0.03"), Line("1", "0.03")])
    # 0.005 per line -> 0.01 each; from the 0.09 total it would be 0.015 -> 0.02.
    assert vat_lines.totals.vat == D("0.03")


def test_totals_mix_rates_and_no_vat() -> None:
    pricing = price_lines(
        [
            Line("2", "600", vat="20"),  # 1200, VAT 200.00
            Line("1", "500", discount="10", vat="0"),  # 450, VAT 0
            Line("1", "300", vat=None),  # 300, без НДС
        ]
    )
    t = pricing.totals
    assert (t.subtotal, t.discount, t.total, t.vat) == (
        D("2000.00"),
        D("50.00"),
        D("1950.00"),
        D("200.00"),
    )
    assert t.vat_applicable
    assert [a.vat for a in pricing.lines] == [D("200.00"), D("0.00"), D("0.00")]


def test_no_vat_anywhere() -> None:
    totals = price_lines([Line("1", "100", vat=None)]).totals
    assert totals.vat == D("0.00") and not totals.vat_applicable
    empty = price_lines([]).totals
    assert (empty.total, empty.vat, empty.vat_applicable) == (D("0.00"), D("0.00"), False)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((D("-1"), D("1")), ValueError),
        ((D("1"), D("-0.01")), ValueError),
        ((D("1"), D("1"), D("100.01")), ValueError),
        ((D("1"), D("1"), D("0"), D("-20")), ValueError),
        ((D("NaN"), D("1")), ValueError),
        ((D("Infinity"), D("1")), ValueError),
        ((1.5, D("1")), TypeError),
    ],
)
def test_rejects_bad_numbers(args: tuple[object, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        line_amounts(*args)  # type: ignore[arg-type]


money = st.decimals(min_value=0, max_value=10_000_000, places=2)
quantities = st.decimals(min_value=0, max_value=10_000, places=3)
percents = st.decimals(min_value=0, max_value=100, places=2)


@given(quantities, money, percents, st.one_of(st.none(), percents))
def test_line_invariants(q: D, p: D, d: D, rate: D | None) -> None:
    a = line_amounts(q, p, d, rate)
    assert a.gross - a.discount == a.total
    assert D(0) <= a.vat <= a.total <= a.gross
    for value in (a.gross, a.discount, a.total, a.vat):
        assert value == value.quantize(D("0.01"))
