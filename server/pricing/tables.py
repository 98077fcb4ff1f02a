"""Price list, task specifications, client signatures and stored print forms.

Money columns are NUMERIC with at most 12 significant digits on purpose: Piccolo's SQLite
adapter writes a Decimal as a float, and 12 digits survive that round trip exactly (a double
holds 15); PostgreSQL stores them exactly anyway. The service rejects anything finer or larger.
"""

from piccolo.columns import (
    Boolean,
    Bytea,
    ForeignKey,
    Integer,
    Numeric,
    OnDelete,
    Serial,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from server.accounts.tables import User
from server.tasks.tables import Task

MONEY = (12, 2)
QUANTITY = (12, 3)
PERCENT = (5, 2)


class PriceItem(Table, tablename="price_items"):
    """A work, service or product the company sells; archived items stay for old lines."""

    id: Serial
    code = Varchar(length=50, unique=True)
    name = Varchar(length=500)
    # Lower-cased "code name" for `q` search: SQLite's LIKE folds ASCII only, not Cyrillic.
    search_text = Varchar(length=560)
    unit = Varchar(length=20)
    price = Numeric(digits=MONEY)
    # None: not subject to VAT («без НДС»), which is not the same as a 0 % rate.
    vat_rate = Numeric(digits=PERCENT, null=True, default=None)
    kind = Varchar(length=20)
    archived = Boolean(default=False)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class SpecificationLine(Table, tablename="task_spec_lines"):
    """One line of a task's specification: a copy of a price item, or a free line.

    Name, unit, price and VAT rate are copied when the line is added, so later price-list
    changes never alter a specification the client has already seen or signed."""

    id: Serial
    task = ForeignKey(Task, on_delete=OnDelete.cascade, index=True)
    price_item = ForeignKey(PriceItem, null=True, on_delete=OnDelete.restrict)
    position = Integer()
    name = Varchar(length=500)
    unit = Varchar(length=20)
    quantity = Numeric(digits=QUANTITY)
    price = Numeric(digits=MONEY)
    discount_percent = Numeric(digits=PERCENT)
    vat_rate = Numeric(digits=PERCENT, null=True, default=None)
    performer = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    created_by = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class SpecificationUnlock(Table, tablename="task_spec_unlocks"):
    """An admin reopened the specification of a completed or cancelled task.

    A specification locks by itself when its task is closed; this row, while it exists,
    overrides that. Locking again deletes it; the task's history keeps both events."""

    id: Serial
    task = ForeignKey(Task, on_delete=OnDelete.cascade, unique=True)
    unlocked_by = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    unlocked_at = Timestamptz()


class TaskSignature(Table, tablename="task_signatures"):
    """The client's current signature on a task (a new one replaces it)."""

    id: Serial
    task = ForeignKey(Task, on_delete=OnDelete.cascade, unique=True)
    png = Bytea()
    sha256 = Varchar(length=64)
    signer_name = Varchar(length=200)
    signed_by = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    signed_at = Timestamptz()


class StoredDocument(Table, tablename="task_documents"):
    """A rendered print form kept with its task, keyed by the hash of everything it shows.

    (task, kind, language, content_hash) is unique: the same data is rendered once, and a
    change of the data adds a row; older rows stay as the record of what was printed."""

    id: Serial
    task = ForeignKey(Task, on_delete=OnDelete.cascade, index=True)
    kind = Varchar(length=30)
    language = Varchar(length=5)
    content_hash = Varchar(length=64)
    pdf = Bytea()
    size = Integer()
    created_at = Timestamptz()
