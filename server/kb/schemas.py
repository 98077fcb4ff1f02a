from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from server.tasks.schemas import UserRef

Id = Annotated[int, msgspec.Meta(ge=1)]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
Body = Annotated[str, msgspec.Meta(max_length=200_000)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
Tags = Annotated[list[Tag], msgspec.Meta(max_length=20)]
UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class ArticleIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Title
    body: Body = ""
    tags: Tags = msgspec.field(default_factory=list)
    public: bool = False


class ArticlePatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: Title | Unset = UNSET
    body: Body | Unset = UNSET
    tags: Tags | Unset = UNSET
    public: bool | Unset = UNSET


class ArticleOut(msgspec.Struct):
    id: int
    title: str
    body: str
    # The body as HTML, sanitised (nh3): safe to show as it is.
    body_html: str
    # The start of the body as plain text (at most ~200 characters), for lists and hits.
    summary: str
    tags: list[str]
    public: bool
    author: UserRef | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ArticlePage(msgspec.Struct):
    items: list[ArticleOut]


class ArticleHit(msgspec.Struct):
    """A search or suggestion hit: an article without `body` and `body_html` (the reader
    opens GET /api/kb/articles/{id} for those), with its `summary`."""

    id: int
    title: str
    summary: str
    tags: list[str]
    public: bool
    author: UserRef | None
    created_at: dt.datetime
    updated_at: dt.datetime


class HitPage(msgspec.Struct):
    items: list[ArticleHit]


class TaskArticleIn(msgspec.Struct, forbid_unknown_fields=True):
    article_id: Id
