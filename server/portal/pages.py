"""The rating pages of the "task completed" mail (/rate/…): server-rendered HTML with no
scripts, in the reader's language. The reader is the person the link was made for: their
user's `language`; a contact (known by e-mail only) or a link we did not sign names no
language, so the browser's Accept-Language decides, else Russian. The words are the
catalogue's labels `rate_page` (server/lib/messages/{ru,en}.json); error pages show the
error's own message in the same language."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server.accounts.tables import User
from server.lib import i18n
from server.lib.errors import DomainError
from server.portal import tokens
from server.settings import current as current_settings

if TYPE_CHECKING:
    import jinja2


@cache
def _templates() -> jinja2.Environment:
    # made on first use: only the rating pages need Jinja, so start-up does not load it
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).resolve().parent / "templates"),
        autoescape=True,
    )


async def language(token: str, accept_language: str | None) -> str:
    """The user's own language for a genuine link made for a user; else Accept-Language;
    else ru."""
    claim = tokens.genuine_claim(current_settings().secret_key, token)
    if claim is not None and claim.user_id is not None:
        row = await User.select(User.language).where(User.id == claim.user_id).first()
        if row is not None and row["language"] in i18n.LANGUAGES:
            return str(row["language"])
    return i18n.from_accept_language(accept_language) or i18n.DEFAULT_LANGUAGE


def word(lang: str, key: str, **params: Any) -> str:
    text = i18n.labels(lang, "rate_page")[key]
    for name, value in params.items():
        text = text.replace(f"{{{name}}}", str(value))
    return text


def render(lang: str, **context: Any) -> str:
    words = i18n.labels(lang, "rate_page")
    return (
        _templates()
        .get_template("rate.html")
        .render(
            lang=lang,
            t=words,
            score_label=lambda n: word(lang, "score", score=n),
            **context,
        )
    )


def render_error(lang: str, exc: DomainError) -> str:
    return render(lang, heading=word(lang, "error"), message=exc.message(lang))
