"""R2 as Russians write it (issue 12): normal forms of names, and the typo index.

counterparty_names gains the spelling as given, the words' normal forms (`lemmas`) and the
last normal form (`last_token`, indexed with first_token), and first_token becomes the
first normal form; counterparty_words is the typo index. Existing counterparties are
re-indexed from their name and aliases with the matcher's own rules (server/clients/names.py),
in the same transaction as the schema change.

Hand-written: Piccolo runs a migration's raw steps before it adds tables and columns, so the
backfill runs from `run` after them, inside the transaction the manager opens.
"""

import json

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Text, Varchar
from piccolo.columns.indexes import IndexMethod
from piccolo.engine import engine_finder
from piccolo.querystring import QueryString

from server.clients import names

ID = "2026-11-28T02:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "r2 normal forms and typo index"

BATCH = 100


def _params(**params):
    base = {
        "default": "",
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
    }
    return {**base, **params}


async def _insert(db, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    for i in range(0, len(rows), BATCH):
        batch = rows[i : i + BATCH]
        one = "(" + ", ".join("{}" for _ in columns) + ")"
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join(one for _ in batch)
        await db.run_querystring(QueryString(sql, *[v for row in batch for v in row]))


async def reindex_names() -> None:
    db = engine_finder()
    assert db is not None
    await db.run_ddl(
        "CREATE INDEX IF NOT EXISTS counterparty_names_first_last "
        "ON counterparty_names (first_token, last_token)"
    )
    counterparties = await db.run_querystring(
        QueryString("SELECT id, name, aliases FROM counterparties ORDER BY id")
    )
    name_rows: list[tuple] = []
    vocabulary: dict[str, str] = {}
    for row in counterparties:
        aliases = row["aliases"]
        if isinstance(aliases, str):
            aliases = json.loads(aliases)
        forms: list[names.NameForms] = []
        for spelling in [row["name"], *(aliases or [])]:
            form = names.name_forms(spelling)
            if form is not None and all(f.normalized != form.normalized for f in forms):
                forms.append(form)
        for f in forms:
            name_rows.append(
                (
                    row["id"],
                    f.spelling,
                    f.normalized,
                    " ".join(f.lemmas),
                    f.first_token,
                    f.last_token,
                    len(f.normalized),
                )
            )
        vocabulary.update(names.vocabulary(forms))
    await db.run_querystring(QueryString("DELETE FROM counterparty_names"))
    await _insert(
        db,
        "counterparty_names",
        ("counterparty", "spelling", "normalized", "lemmas", "first_token", "last_token", "length"),
        name_rows,
    )
    await db.run_querystring(QueryString("DELETE FROM counterparty_words"))
    await _insert(
        db,
        "counterparty_words",
        ("variant", "word", "lemma"),
        [(v, w, vocabulary[w]) for w in sorted(vocabulary) for v in sorted(names.deletions(w))],
    )


class SchemaThenBackfill(MigrationManager):
    async def run(self, backwards: bool = False):
        db = engine_finder()
        assert db is not None
        async with db.transaction():
            await super().run(backwards=backwards)
            if not backwards and not self.preview:
                await reindex_names()


async def forwards():
    manager = SchemaThenBackfill(migration_id=ID, app_name="clients", description=DESCRIPTION)

    for column_name, column_class, params in [
        ("spelling", Text, {}),
        ("lemmas", Text, {}),
        ("last_token", Varchar, {"length": 100}),
    ]:
        manager.add_column(
            table_class_name="CounterpartyName",
            tablename="counterparty_names",
            column_name=column_name,
            db_column_name=column_name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=_params(**params),
            schema=None,
        )

    manager.add_table(
        class_name="CounterpartyWord", tablename="counterparty_words", schema=None, columns=None
    )
    for column_name, index in (("variant", True), ("word", True), ("lemma", False)):
        manager.add_column(
            table_class_name="CounterpartyWord",
            tablename="counterparty_words",
            column_name=column_name,
            db_column_name=column_name,
            column_class_name="Varchar",
            column_class=Varchar,
            params=_params(length=100, index=index),
            schema=None,
        )

    return manager
