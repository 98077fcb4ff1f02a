"""Markdown to safe HTML: markdown-it-py renders (raw HTML in the source is not passed
through), nh3 (the Ammonia sanitiser) keeps only harmless tags and attributes."""

from __future__ import annotations

import html
from functools import cache
from typing import TYPE_CHECKING

import nh3

if TYPE_CHECKING:
    from markdown_it import MarkdownIt


@cache
def _md() -> MarkdownIt:
    # made on first use: markdown-it-py costs start-up time a server that renders no article
    # does not need to pay
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "code",
    "pre", "blockquote", "ul", "ol", "li", "a", "img", "table", "thead", "tbody", "tr",
    "th", "td",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}


def render(source: str) -> str:
    return nh3.clean(
        _md().render(source),
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def plain_text(rendered_html: str) -> str:
    """What search indexes: the rendered words without tags."""
    return " ".join(html.unescape(nh3.clean(rendered_html, tags=set())).split())


SUMMARY_LENGTH = 200


def summary(text: str, length: int = SUMMARY_LENGTH) -> str:
    """The start of a plain text, cut after a whole word within `length` characters."""
    text = " ".join(text.split())
    if len(text) <= length:
        return text
    cut = text[: length + 1].rsplit(" ", 1)[0] if " " in text[: length + 1] else text[:length]
    return cut.rstrip(" ,.;:—-") + "…"
