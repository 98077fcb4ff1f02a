"""The numbers and texts of price items and specification lines: what is accepted, and the
form they are sent and printed in. Shared by the price list and the specification.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from printing.totals import HUNDRED, KOPECK
from server.lib.actor import Actor
from server.lib.errors import Forbidden, InvalidInput

# The largest values the NUMERIC(12, …) columns hold (see tables.py for why 12 digits).
MAX_PRICE = Decimal("9999999999.99")
MAX_QUANTITY = Decimal("999999999.999")
_MONEY_PLACES = 2
_QUANTITY_PLACES = 3
_PERCENT_PLACES = 2


def checked_number(
    field: str, value: Decimal, *, places: int, upper: Decimal, positive: bool = False
) -> Decimal:
    """``value`` at the column's scale, or InvalidInput naming the field and the limit."""
    if not value.is_finite():
        raise InvalidInput("pricing.must_number_got", field=field, value=value)
    if positive and value <= 0:
        raise InvalidInput("pricing.must_greater_than_got", field=field, value=value)
    if value < 0:
        raise InvalidInput("pricing.must_not_negative_got", field=field, value=value)
    if value > upper:
        raise InvalidInput("pricing.must_most_got", field=field, upper=upper, value=value)
    step = Decimal(1).scaleb(-places)
    if value != value.quantize(step):
        # Rounding silently would change what the person typed; say what is allowed instead.
        raise InvalidInput(
            "pricing.may_most_decimal_places", field=field, places=places, value=value
        )
    return value.quantize(step)


def price(value: Decimal) -> Decimal:
    return checked_number("price", value, places=_MONEY_PLACES, upper=MAX_PRICE)


def quantity(value: Decimal) -> Decimal:
    return checked_number(
        "quantity", value, places=_QUANTITY_PLACES, upper=MAX_QUANTITY, positive=True
    )


def percent(field: str, value: Decimal) -> Decimal:
    return checked_number(field, value, places=_PERCENT_PLACES, upper=HUNDRED)


def vat_rate(value: Decimal | None) -> Decimal | None:
    return None if value is None else percent("vat_rate", value)


def money_out(value: Decimal) -> Decimal:
    """Money as sent and printed: two decimals, whatever scale the engine returned."""
    return value.quantize(KOPECK)


def plain_out(value: Decimal) -> Decimal:
    """Quantities and percents without trailing zeros and never in exponent form: 2, 0.8."""
    value = value.normalize()
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


def text(field: str, value: str) -> str:
    """Whitespace collapsed; blank is refused."""
    cleaned = " ".join(value.split())
    if not cleaned:
        raise InvalidInput("pricing.must_not_blank", field=field)
    return cleaned


def shown(field: str, value: Any) -> Any:
    """A value as history shows it: numbers as strings, money with two decimals."""
    if not isinstance(value, Decimal):
        return value
    return str(money_out(value) if field == "price" else plain_out(value))


def require_employee(actor: Actor, action: str) -> None:
    if actor.is_client_only:
        raise Forbidden("pricing.clients_cannot_ask_service", doing=action)


def require_admin(actor: Actor, action: str) -> None:
    if not actor.has_role("admin"):
        raise Forbidden("pricing.only_admins", doing=action)
