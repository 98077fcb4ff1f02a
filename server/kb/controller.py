"""HTTP for the knowledge base: articles, search, suggestions, articles of a task."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, patch, post

from server.kb import service
from server.kb.schemas import (
    ArticleIn,
    ArticleOut,
    ArticlePage,
    ArticlePatch,
    HitPage,
    TaskArticleIn,
)
from server.lib.actor import Actor
from server.lib.guards import ANYONE, EMPLOYEES

KbRequest = Request[Actor, str, Any]


class KnowledgeBaseController(Controller):
    path = "/api/kb"
    tags = ["knowledge base"]
    guards = [ANYONE]

    @post("/articles", guards=[EMPLOYEES], status_code=201)
    async def create_article(self, data: ArticleIn, request: KbRequest) -> ArticleOut:
        """JSON {"title", "body" (Markdown), "tags"?, "public"?}: employees write articles."""
        return await service.create_article(request.user, data)

    @get("/articles")
    async def list_articles(
        self, request: KbRequest, tag: str | None = None, limit: int = 100
    ) -> ArticlePage:
        """Newest first; clients see public articles only."""
        return ArticlePage(await service.list_articles(request.user, tag, limit))

    @get("/articles/{article_id:int}")
    async def get_article(self, article_id: int, request: KbRequest) -> ArticleOut:
        return await service.get_article(request.user, article_id)

    @patch("/articles/{article_id:int}", guards=[EMPLOYEES])
    async def edit_article(
        self, article_id: int, data: ArticlePatch, request: KbRequest
    ) -> ArticleOut:
        return await service.edit_article(request.user, article_id, data)

    @get("/search")
    async def search(self, request: KbRequest, q: str = "") -> HitPage:
        """Full-text search, every word must match (PostgreSQL: Russian and English
        morphology; SQLite: exact words); best first, at most 20. Hits carry `summary`
        instead of `body`/`body_html` (GET /api/kb/articles/{id} has those)."""
        return HitPage(await service.search(request.user, q))

    @get("/suggest")
    async def suggest(self, request: KbRequest, title: str = "") -> HitPage:
        """Articles for a request title being typed: any of its words, at most five
        (hits, as in search)."""
        return HitPage(await service.search(request.user, title, any_word=True))


class TaskArticlesController(Controller):
    path = "/api/tasks/{task_id:int}/articles"
    tags = ["knowledge base"]
    guards = [ANYONE]

    @get("/")
    async def task_articles(self, task_id: int, request: KbRequest) -> list[ArticleOut]:
        return await service.task_articles(request.user, task_id)

    @post("/", guards=[EMPLOYEES], status_code=201)
    async def link_article(
        self, task_id: int, data: TaskArticleIn, request: KbRequest
    ) -> list[ArticleOut]:
        """JSON {"article_id"}: link an article to the task (the articles linked)."""
        return await service.link_article(request.user, task_id, data.article_id)
