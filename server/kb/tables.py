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
from piccolo.table import Table

from server.accounts.tables import User
from server.tasks.tables import Task


class Article(Table, tablename="kb_articles"):
    """A knowledge-base article: Markdown as written, and its sanitised HTML.

    Full-text search is not a Piccolo column: on PostgreSQL a generated `search` tsvector
    (Russian and English) with a GIN index, on SQLite the FTS5 table `kb_articles_fts` kept
    by triggers; both read `search_text` (the title, the tags and the body as plain text).
    """

    id: Serial
    title = Varchar(length=300)
    body = Text(default="")
    body_html = Text(default="")
    tags = JSON(default=[])
    public = Boolean(default=False, index=True)
    search_text = Text(default="")
    author = ForeignKey(User, null=True, default=None, on_delete=OnDelete.set_null)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    # The start of the body as plain text: what a search hit shows instead of the body.
    summary = Text(default="")


class TaskArticle(Table, tablename="kb_task_articles"):
    """An article an engineer linked to a task (the fix that worked, the manual)."""

    id: Serial
    task = ForeignKey(Task, on_delete=OnDelete.cascade, index=True)
    article = ForeignKey(Article, on_delete=OnDelete.cascade, index=True)
    linked_by = ForeignKey(User, null=True, default=None, on_delete=OnDelete.set_null)
    created_at = Timestamptz()
