from piccolo.columns import (
    JSON,
    Boolean,
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
    # Archived instead of deleted: out of pickers and R2, still on old tasks and forms.
    archived = Boolean(default=False)
    created_at = Timestamptz()


class CounterpartyName(Table, tablename="counterparty_names"):
    """Names and aliases for the R2 title matcher (server/clients/names.py), written when
    the counterparty is saved: the words as written and their normal forms. Indexed by the
    first and the last normal form (first_token, last_token: equal for a one-word name); the
    last word is what tells a chain's restaurants apart («Кофе Хаус Арбат»)."""

    id: Serial
    counterparty = ForeignKey(Counterparty, on_delete=OnDelete.cascade, index=True)
    spelling = Text()  # the name or alias as given, e.g. «ООО «Северная звезда»»
    normalized = Varchar(length=255)  # "северная звезда"
    lemmas = Text()  # "северный звезда"
    first_token = Varchar(length=100, index=True)  # "северный"
    last_token = Varchar(length=100)  # "звезда"
    length = Integer()


class CounterpartyWord(Table, tablename="counterparty_words"):
    """The R2 typo index: every word of every name, as written and in its normal form, under
    itself and each of its one-letter deletions (symmetric delete: a word one edit from a
    title's word shares a key with it). Each word is stored once, whichever names use it."""

    id: Serial
    variant = Varchar(length=100, index=True)
    word = Varchar(length=100, index=True)
    lemma = Varchar(length=100)  # the normal form names use for it: what to look names up by


class Contact(Table, tablename="contacts"):
    id: Serial
    name = Varchar(length=255, required=True)
    email = Varchar(length=320, null=True, index=True)
    phone = Varchar(length=50, null=True)
    counterparty = ForeignKey(Counterparty, null=True, on_delete=OnDelete.set_null, index=True)
    archived = Boolean(default=False)
    created_at = Timestamptz()


class Site(Table, tablename="sites"):
    """A service object: a shop, a restaurant, an office, with its address."""

    id: Serial
    counterparty = ForeignKey(Counterparty, on_delete=OnDelete.restrict, index=True)
    name = Varchar(length=255, required=True)
    address = Text()
    lat = DoublePrecision(null=True, default=None)
    lon = DoublePrecision(null=True, default=None)
    archived = Boolean(default=False)
    created_at = Timestamptz()
    # Geocoding of the address (server/dispatch): pending, found, ambiguous (candidates to
    # choose from), not_found, failed (geocode_reason; tried again at geocode_retry_at) or
    # manual (the point was set by hand, or no geocoder is configured). geocode_query is the
    # normalised address the status belongs to: a result for an older address is dropped.
    geocode_status = Varchar(length=20, default="manual")
    geocode_reason = Text(null=True, default=None)
    geocode_candidates = JSON(default=[])
    geocode_query = Text(null=True, default=None)
    geocode_attempts = Integer(default=0)
    geocode_retry_at = Timestamptz(null=True, default=None, index=True)
    geocoded_at = Timestamptz(null=True, default=None)
