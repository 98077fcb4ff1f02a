from piccolo.columns import (
    JSON,
    DoublePrecision,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table


class Counterparty(Table, tablename="counterparties"):
    """A client company; `parent` is the central office of a chain."""

    id: Serial
    name = Varchar(length=255, required=True)
    aliases = JSON(default=[])
    email_domains = JSON(default=[])
    parent: ForeignKey["Counterparty"] = ForeignKey("self", null=True, on_delete=OnDelete.set_null)
    # SLA rules may match on it, e.g. "vip", "standard".
    category = Varchar(length=50, null=True, default=None)
    # The language of the client's documents (work orders, completion acts).
    language = Varchar(length=5, default="ru")
    created_at = Timestamptz()


class CounterpartyName(Table, tablename="counterparty_names"):
    """Normalised names and aliases, indexed by first token for the R2 title matcher."""

    id: Serial
    counterparty = ForeignKey(Counterparty, on_delete=OnDelete.cascade, index=True)
    normalized = Varchar(length=255)
    first_token = Varchar(length=100, index=True)
    length = Integer()


class Contact(Table, tablename="contacts"):
    id: Serial
    name = Varchar(length=255, required=True)
    email = Varchar(length=320, null=True, index=True)
    phone = Varchar(length=50, null=True)
    counterparty = ForeignKey(Counterparty, null=True, on_delete=OnDelete.set_null, index=True)
    created_at = Timestamptz()


class Site(Table, tablename="sites"):
    """A service object: a shop, a restaurant, an office, with its address."""

    id: Serial
    counterparty = ForeignKey(Counterparty, on_delete=OnDelete.restrict, index=True)
    name = Varchar(length=255, required=True)
    address = Text()
    lat = DoublePrecision(null=True, default=None)
    lon = DoublePrecision(null=True, default=None)
    created_at = Timestamptz()
