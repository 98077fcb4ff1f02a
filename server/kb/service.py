"""The knowledge base: articles in Markdown, full-text search, articles linked to tasks.

Employees write and read every article; clients read public ones only (an internal
article is a 404 for them, as if it did not exist).
"""

from __future__ import annotations

import json
import re
from typing import Any

from server import db
from server.kb import markdown
from server.kb.schemas import ArticleHit, ArticleIn, ArticleOut, ArticlePatch
from server.kb.tables import Article, TaskArticle
from server.lib import clock
from server.lib.actor import Actor
from server.lib.errors import Forbidden, InvalidInput, NotFound
from server.lib.patches import named_fields
from server.tasks import service as tasks
from server.tasks.schemas import UserRef
from server.tasks.statuses import Channel

SEARCH_LIMIT = 20
SUGGEST_LIMIT = 5
_WORD = re.compile(r"\w+", re.UNICODE)

_COLUMNS = (
    Article.id,
    Article.title,
    Article.body,
    Article.body_html,
    Article.summary,
    Article.tags,
    Article.public,
    Article.created_at,
    Article.updated_at,
    Article.author.id,
    Article.author.full_name,
)


def _out(r: dict[str, Any]) -> ArticleOut:
    return ArticleOut(
        id=r["id"],
        title=r["title"],
        body=r["body"],
        body_html=r["body_html"],
        summary=r["summary"],
        tags=list(r["tags"] or []),
        public=bool(r["public"]),
        author=UserRef(r["author.id"], r["author.full_name"]) if r["author.id"] else None,
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def _tags(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(" ".join(t.split()).lower() for t in tags if t.strip()))


def _derived(title: str, body: str, tags: list[str]) -> dict[Any, Any]:
    html = markdown.render(body)
    plain = markdown.plain_text(html)
    return {
        Article.body_html: html,
        Article.summary: markdown.summary(plain),
        Article.search_text: " ".join([*tags, plain]),
    }


async def create_article(actor: Actor, data: ArticleIn) -> ArticleOut:
    title = " ".join(data.title.split())
    if not title:
        raise InvalidInput("kb.title_must_not_blank")
    tags = _tags(data.tags)
    now = clock.now()
    derived = _derived(title, data.body, tags)
    async with db.transaction():
        rows = await Article.insert(
            Article(
                title=title,
                body=data.body,
                body_html=derived[Article.body_html],
                summary=derived[Article.summary],
                tags=tags,
                public=data.public,
                search_text=derived[Article.search_text],
                author=actor.id,
                created_at=now,
                updated_at=now,
            )
        ).returning(Article.id)
        return await get_article(actor, rows[0]["id"])


async def get_article(actor: Actor, article_id: int) -> ArticleOut:
    query = Article.select(*_COLUMNS).where(Article.id == article_id).output(load_json=True)
    if actor.is_client_only:
        query = query.where(Article.public.eq(True))
    row = await query.first()
    if row is None:
        raise NotFound("kb.article_not_found", article_id=article_id)
    return _out(row)


async def list_articles(actor: Actor, tag: str | None, limit: int = 100) -> list[ArticleOut]:
    if not 1 <= limit <= 200:
        raise InvalidInput("kb.limit_must_between")
    query = Article.select(*_COLUMNS).order_by(Article.updated_at, ascending=False)
    if actor.is_client_only:
        query = query.where(Article.public.eq(True))
    rows = await query.output(load_json=True)
    if tag:
        wanted = " ".join(tag.split()).lower()
        rows = [r for r in rows if wanted in (r["tags"] or [])]
    return [_out(r) for r in rows[:limit]]


async def edit_article(actor: Actor, article_id: int, patch: ArticlePatch) -> ArticleOut:
    fields = named_fields(patch)
    async with db.transaction():
        current = await get_article(actor, article_id)
        title = " ".join(fields.get("title", current.title).split())
        if not title:
            raise InvalidInput("kb.title_must_not_blank")
        body = fields.get("body", current.body)
        tags = _tags(fields.get("tags", current.tags))
        values: dict[Any, Any] = {
            Article.title: title,
            Article.body: body,
            Article.tags: tags,
            Article.public: fields.get("public", current.public),
            Article.updated_at: clock.now(),
            **_derived(title, body, tags),
        }
        await Article.update(values).where(Article.id == article_id)
        return await get_article(actor, article_id)


# --- full-text search ----------------------------------------------------------------------

# PostgreSQL: the Russian configuration stems («кассы» → касс), the English one English
# words; either matching is a hit. `any` (suggestions while a title is typed) matches any
# word instead of all of them, through the Russian configuration only: it drops Russian
# stop words and stems Latin-script words with the English stemmer anyway, while the
# English one keeps «не», «у», «нас» as words — any of which matches nearly every article.
_PG_ALL = "(websearch_to_tsquery('russian', {q}) || websearch_to_tsquery('english', {q}))"
_PG_ANY = "replace(plainto_tsquery('russian', {q})::text, '&', '|')::tsquery"


# Ranking every match of a common word (half the base says «касса») is what makes search
# slow, so each engine ranks at most this many matches; a search that broad is refined by
# a second word anyway.
RANK_WINDOW = 400

# What a hit carries: everything of an article but its body (body, body_html), which
# readers fetch from GET /api/kb/articles/{id}. A body may be 200 000 characters; twenty of
# them would cost more than the search itself.
_HIT_COLUMNS = (
    "a.id, a.title, a.summary, a.tags, a.public, a.created_at, a.updated_at, "
    "a.author AS author_id, u.full_name AS author_name"
)


def search_sql(engine_is_sqlite: bool, *, public_only: bool, any_word: bool) -> str:
    """The whole search as one statement: the matches (GIN index on the stored tsvector /
    FTS5), the first RANK_WINDOW of them ranked, the best `limit` with their hit columns.
    Placeholders: search_params (the query — on PostgreSQL twice for every word, Russian
    and English — then the limit)."""
    if engine_is_sqlite:
        # FTS5 orders by its `rank` (bm25, the title weighted: the migration) without
        # scoring the whole table; the public filter applies to the ranked window.
        visible = " WHERE a.public" if public_only else ""
        return (
            f"SELECT {_HIT_COLUMNS} FROM (SELECT rowid, rank FROM kb_articles_fts "
            f"WHERE kb_articles_fts MATCH {{}} ORDER BY rank LIMIT {RANK_WINDOW}) f "
            f"JOIN kb_articles a ON a.id = f.rowid LEFT JOIN users u ON u.id = a.author"
            f"{visible} ORDER BY f.rank, a.id DESC LIMIT {{}}"
        )
    visible = " AND a.public" if public_only else ""
    # The tsquery is made once, in a CTE: written out where it is used instead, a cached
    # (generic) plan parses the text again for every ranked row — 4 ms instead of 1.
    query = (_PG_ANY if any_word else _PG_ALL).replace("{q}", "{}")
    return (
        f"WITH s AS (SELECT {query} AS q), "
        "m AS (SELECT a.id, a.search FROM kb_articles a, s "
        f"WHERE a.search @@ s.q{visible} LIMIT {RANK_WINDOW}), "
        "r AS (SELECT m.id, ts_rank(m.search, s.q) AS rank FROM m, s "
        "ORDER BY rank DESC, m.id DESC LIMIT {}) "
        f"SELECT {_HIT_COLUMNS} FROM r JOIN kb_articles a ON a.id = r.id "
        "LEFT JOIN users u ON u.id = a.author ORDER BY r.rank DESC, r.id DESC"
    )


def search_params(engine_is_sqlite: bool, text: str, *, any_word: bool, limit: int) -> list[Any]:
    """The arguments of search_sql for `text`; empty when there is nothing to look for."""
    text = text.strip()
    if engine_is_sqlite:
        match = fts5_query(text, any_word=any_word)
        return [match, limit] if match else []
    if not text:
        return []
    return [text, limit] if any_word else [text, text, limit]  # Russian (, English), limit


def fts5_query(text: str, *, any_word: bool) -> str:
    """User words as FTS5 phrases: quoting keeps operators and punctuation literal."""
    words = [f'"{w}"' for w in _WORD.findall(text) if not any_word or len(w) > 2]
    return (" OR " if any_word else " ").join(words)


async def search_rows(
    text: str, *, public_only: bool, any_word: bool, limit: int
) -> list[dict[str, Any]]:
    """The hits' rows, best first: one query, nothing per hit."""
    sqlite = db.is_sqlite()
    params = search_params(sqlite, text, any_word=any_word, limit=limit)
    if not params:
        return []
    sql = search_sql(sqlite, public_only=public_only, any_word=any_word)
    rows: list[dict[str, Any]] = await Article.raw(sql, *params)
    return rows


def _hit(r: dict[str, Any]) -> ArticleHit:
    tags = r["tags"]
    return ArticleHit(
        id=r["id"],
        title=r["title"],
        summary=r["summary"],
        tags=list(json.loads(tags) if isinstance(tags, str) else tags or []),
        public=bool(r["public"]),
        author=UserRef(r["author_id"], r["author_name"]) if r["author_id"] else None,
        created_at=db.stored_datetime(r["created_at"]),
        updated_at=db.stored_datetime(r["updated_at"]),
    )


async def search(actor: Actor, text: str, *, any_word: bool = False) -> list[ArticleHit]:
    """GET /api/kb/search (every word) and /api/kb/suggest (any word, at most five)."""
    if len(text) > 500:
        raise InvalidInput("kb.search_text_most_characters")
    limit = SUGGEST_LIMIT if any_word else SEARCH_LIMIT
    rows = await search_rows(text, public_only=actor.is_client_only, any_word=any_word, limit=limit)
    return [_hit(r) for r in rows]


# --- articles of a task -----------------------------------------------------------------------


async def task_articles(actor: Actor, task_id: int) -> list[ArticleOut]:
    await tasks.get_task(actor, task_id)  # 404 for tasks the caller cannot see
    links = await TaskArticle.select(TaskArticle.article).where(TaskArticle.task == task_id)
    ids = [r["article"] for r in links]
    if not ids:
        return []
    query = (
        Article.select(*_COLUMNS)
        .where(Article.id.is_in(ids))
        .order_by(Article.title)
        .output(load_json=True)
    )
    if actor.is_client_only:
        query = query.where(Article.public.eq(True))
    return [_out(r) for r in await query]


async def link_article(actor: Actor, task_id: int, article_id: int) -> list[ArticleOut]:
    """An employee links an article to a task (twice changes nothing); R12 history."""
    if actor.is_client_only:
        raise Forbidden("kb.only_employees_link_articles")
    await tasks.get_task(actor, task_id)
    article = await get_article(actor, article_id)
    async with db.transaction():
        exists = await TaskArticle.exists().where(
            (TaskArticle.task == task_id) & (TaskArticle.article == article_id)
        )
        if not exists:
            await TaskArticle.insert(
                TaskArticle(
                    task=task_id, article=article_id, linked_by=actor.id, created_at=clock.now()
                )
            )
            await tasks.record_event(
                task_id,
                actor.id,
                "article_linked",
                Channel.UI,
                {"article_id": article_id, "title": article.title},
                internal=not article.public,
            )
    return await task_articles(actor, task_id)
