"""The knowledge base (issue 18): articles, their links to tasks, and full-text search.

Hand-written: the tables are frozen copies of server/kb/tables.py as of this migration.
Search is engine-specific and made after the tables in the same transaction:
* PostgreSQL: a generated tsvector column `search` (the title weighted A; Russian and
  English configurations, so «кассы» finds «касса» and "printers" finds "printer") and a
  GIN index on it;
* SQLite: an external-content FTS5 table over title and search_text, kept by triggers
  (unicode61 folds case, Cyrillic included; words match exactly).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import (
    JSON,
    Boolean,
    ForeignKey,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.engine import engine_finder
from piccolo.engine.sqlite import SQLiteEngine
from piccolo.table import Table

ID = "2026-11-28T10:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "knowledge base with full-text search"


class User(Table, tablename="users"):
    id = Serial(primary_key=True)


class Task(Table, tablename="tasks"):
    id = Serial(primary_key=True)


class Article(Table, tablename="kb_articles"):
    title = Varchar(length=300)
    body = Text(default="")
    body_html = Text(default="")
    tags = JSON(default=[])
    public = Boolean(default=False, index=True)
    search_text = Text(default="")
    author = ForeignKey(User, null=True, default=None, on_delete=OnDelete.set_null)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class TaskArticle(Table, tablename="kb_task_articles"):
    task = ForeignKey(Task, on_delete=OnDelete.cascade, index=True)
    article = ForeignKey(Article, on_delete=OnDelete.cascade, index=True)
    linked_by = ForeignKey(User, null=True, default=None, on_delete=OnDelete.set_null)
    created_at = Timestamptz()


NEW_TABLES = (Article, TaskArticle)
COMMON = (
    "CREATE UNIQUE INDEX IF NOT EXISTS kb_task_articles_task_article "
    "ON kb_task_articles (task, article)",
)
POSTGRES = (
    "ALTER TABLE kb_articles ADD COLUMN search tsvector GENERATED ALWAYS AS ("
    "setweight(to_tsvector('russian', title), 'A') || "
    "setweight(to_tsvector('english', title), 'A') || "
    "to_tsvector('russian', search_text) || to_tsvector('english', search_text)) STORED",
    "CREATE INDEX IF NOT EXISTS kb_articles_search ON kb_articles USING GIN (search)",
)
SQLITE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS kb_articles_fts USING fts5("
    "title, search_text, content='kb_articles', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    # `ORDER BY rank` is bm25 with the title weighted ten times the rest
    "INSERT INTO kb_articles_fts(kb_articles_fts, rank) VALUES ('rank', 'bm25(10.0, 1.0)')",
    "CREATE TRIGGER IF NOT EXISTS kb_articles_fts_insert AFTER INSERT ON kb_articles BEGIN "
    "INSERT INTO kb_articles_fts(rowid, title, search_text) "
    "VALUES (new.id, new.title, new.search_text); END",
    "CREATE TRIGGER IF NOT EXISTS kb_articles_fts_delete AFTER DELETE ON kb_articles BEGIN "
    "INSERT INTO kb_articles_fts(kb_articles_fts, rowid, title, search_text) "
    "VALUES ('delete', old.id, old.title, old.search_text); END",
    "CREATE TRIGGER IF NOT EXISTS kb_articles_fts_update AFTER UPDATE ON kb_articles BEGIN "
    "INSERT INTO kb_articles_fts(kb_articles_fts, rowid, title, search_text) "
    "VALUES ('delete', old.id, old.title, old.search_text); "
    "INSERT INTO kb_articles_fts(rowid, title, search_text) "
    "VALUES (new.id, new.title, new.search_text); END",
)


class _Manager(MigrationManager):
    async def run(self, backwards=False):
        db = engine_finder()
        assert db is not None
        async with db.transaction():
            await super().run(backwards=backwards)
            if not backwards and not self.preview:
                engine_specific = SQLITE if isinstance(db, SQLiteEngine) else POSTGRES
                for statement in (*COMMON, *engine_specific):
                    await db.run_ddl(statement)


async def forwards():
    manager = _Manager(migration_id=ID, app_name="kb", description=DESCRIPTION)
    for table in NEW_TABLES:
        name, tablename = table.__name__, table._meta.tablename
        manager.add_table(class_name=name, tablename=tablename)
        for column in table._meta.non_default_columns:
            manager.add_column(
                table_class_name=name,
                tablename=tablename,
                column_name=column._meta.name,
                db_column_name=column._meta.db_column_name,
                column_class=type(column),
                params=dict(column._meta.params),
            )
    return manager
