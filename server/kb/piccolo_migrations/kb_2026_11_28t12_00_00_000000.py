"""Search hits without bodies (issue 18): a stored `summary`, and a GIN index that no
search has to read a pending list of.

* `summary`: the start of the body as plain text (server/kb/markdown.py `summary`), what
  GET /api/kb/search returns instead of `body` and `body_html`; filled here for the
  articles already written (frozen copies of the functions below).
* PostgreSQL: `fastupdate = off` on kb_articles_search. With it on (PostgreSQL's default)
  new entries wait in a pending list that every search reads in full until a vacuum merges
  it: after 10 000 new articles the index scan for «кассы» took 1.7 ms instead of 0.07 ms.
  Articles are written seldom and read often, so each write goes into the index itself;
  what earlier writes left in the list is merged here.

Hand-written, like the first kb migration.
"""

import html

import nh3
from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import Serial, Text
from piccolo.engine import engine_finder
from piccolo.engine.sqlite import SQLiteEngine
from piccolo.table import Table

ID = "2026-11-28T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "knowledge base: article summaries for search hits; GIN without a pending list"

SUMMARY_LENGTH = 200
POSTGRES = (
    "ALTER INDEX kb_articles_search SET (fastupdate = off)",
    "SELECT gin_clean_pending_list('kb_articles_search'::regclass)",
)
POSTGRES_BACKWARDS = ("ALTER INDEX kb_articles_search RESET (fastupdate)",)


class Article(Table, tablename="kb_articles"):
    id = Serial(primary_key=True)
    body_html = Text(default="")
    summary = Text(default="")


def _summary(body_html: str) -> str:
    text = " ".join(html.unescape(nh3.clean(body_html, tags=set())).split())
    if len(text) <= SUMMARY_LENGTH:
        return text
    head = text[: SUMMARY_LENGTH + 1]
    cut = head.rsplit(" ", 1)[0] if " " in head else text[:SUMMARY_LENGTH]
    return cut.rstrip(" ,.;:—-") + "…"


class _Manager(MigrationManager):
    async def run(self, backwards=False):
        db = engine_finder()
        assert db is not None
        sqlite = isinstance(db, SQLiteEngine)
        # the engine of this run: a process may migrate more than one database
        Article._meta.db = db
        async with db.transaction():
            if backwards and not self.preview and not sqlite:
                for statement in POSTGRES_BACKWARDS:
                    await db.run_ddl(statement)
            await super().run(backwards=backwards)
            if backwards or self.preview:
                return
            for row in await Article.select(Article.id, Article.body_html):
                await Article.update({Article.summary: _summary(row["body_html"] or "")}).where(
                    Article.id == row["id"]
                )
            if not sqlite:
                for statement in POSTGRES:
                    await db.run_ddl(statement)


async def forwards():
    manager = _Manager(migration_id=ID, app_name="kb", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Article",
        tablename="kb_articles",
        column_name="summary",
        db_column_name="summary",
        column_class_name="Text",
        column_class=Text,
        params={
            "default": "",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": None,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
    )
    return manager
