"""The rating pages of the "task completed" mail (/rate/…) in the reader's language: the
rating user's own language, else the browser's Accept-Language, else Russian — the
choice, the thanks, the comment form and the 401/410 pages alike."""

from __future__ import annotations

import datetime as dt
import os
import re
from typing import Any

import pytest
from naryad_harness import Backend

from server.clients.tables import Contact
from server.lib import i18n
from server.portal import tokens

SECRET = os.environ.get("NARYAD_SECRET_KEY") or "dev-insecure-secret-change-me"
CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
pytestmark = pytest.mark.sqlite


async def _completed_task(b: Backend, client: dict[str, Any]) -> dict[str, Any]:
    engineer = await b.user("engineer", groups=("Удалённая техподдержка",))
    task = (await b.create_task(client, template="remote_support", title="не печатает чек")).json()
    for action, body in (("accept", None), ("start", None), ("done", {"completed_works": "ok"})):
        resp = await b.http.post(
            f"/api/tasks/{task['id']}/{action}", json=body or {}, headers=engineer["headers"]
        )
        assert resp.status_code == 200, (action, resp.text)
    return task  # type: ignore[no-any-return]


def _words(page: str) -> str:
    """The page's own words: the task line (the client's title, in any language) left out."""
    return re.sub(r'<p class="task">.*?</p>', "", page, flags=re.S)


def _link(task: dict[str, Any], *, days_ago: int = 0, **who: int) -> str:
    now = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    return f"/rate/{task['id']}/{tokens.issue(SECRET, task['id'], now=now, **who)}"


async def test_an_english_client_reads_the_rating_pages_in_english(backend: Backend) -> None:
    cp = await backend.counterparty("Ромашка")
    client = await backend.user("client", counterparty_id=cp["id"], language="en")
    task = await _completed_task(backend, client)
    link = _link(task, user_id=client["id"])

    # the choice, then one click: the user's language wins over the browser's
    page = await backend.http.get(link, headers={"Accept-Language": "ru"})
    assert page.status_code == 200, page.text
    assert '<html lang="en">' in page.text and "Rate the work" in page.text
    assert not CYRILLIC.search(_words(page.text)), page.text
    page = await backend.http.get(f"{link}?score=4")
    assert page.status_code == 200, page.text
    assert "Thank you! Your rating: 4 of 5." in page.text
    assert "Comment (optional)" in page.text and ">Send</button>" in page.text
    assert not CYRILLIC.search(_words(page.text)), page.text
    page = await backend.http.post(link, data={"score": "4", "comment": "Quick, thanks"})
    assert page.status_code == 200 and "Thank you, your comment is saved." in page.text

    # refusals are pages in English too: another task's link (401), an expired one (410),
    # a score out of range (422)
    other = (await backend.create_task(client, template="remote_support", title="сеть")).json()
    resp = await backend.http.get(f"/rate/{other['id']}/{link.rsplit('/', 1)[1]}?score=1")
    assert resp.status_code == 401
    assert f"this rating link is not for task #{other['id']}" in resp.text
    assert not CYRILLIC.search(_words(resp.text)), resp.text
    resp = await backend.http.get(f"{_link(task, days_ago=8, user_id=client['id'])}?score=1")
    assert resp.status_code == 410 and "this rating link has expired" in resp.text
    assert not CYRILLIC.search(_words(resp.text)), resp.text
    resp = await backend.http.get(f"{link}?score=9")
    assert resp.status_code == 422 and "1 to 5" in resp.text


async def test_a_russian_client_reads_russian_whatever_the_browser_says(
    backend: Backend,
) -> None:
    cp = await backend.counterparty("Ромашка")
    client = await backend.user("client", counterparty_id=cp["id"])  # language: ru
    task = await _completed_task(backend, client)
    link = _link(task, user_id=client["id"])
    page = await backend.http.get(f"{link}?score=5", headers={"Accept-Language": "en-US,en"})
    assert page.status_code == 200, page.text
    assert '<html lang="ru">' in page.text
    assert "Спасибо! Ваша оценка: 5 из 5." in page.text
    assert "Комментарий (необязательно)" in page.text


async def test_without_a_user_the_browser_decides_else_russian(backend: Backend) -> None:
    """A contact (a client known by e-mail only) has no language of its own, and a forged
    link names nobody: Accept-Language decides, Russian when it names neither language."""
    cp = await backend.counterparty("Ромашка")
    client = await backend.user("client", counterparty_id=cp["id"], language="en")
    task = await _completed_task(backend, client)
    contact = (
        await Contact.insert(
            Contact(counterparty=cp["id"], name="Анна", email="anna@romashka.example")
        ).returning(Contact.id)
    )[0]["id"]
    link = _link(task, contact_id=contact)
    page = await backend.http.get(f"{link}?score=5", headers={"Accept-Language": "en-GB,en"})
    assert page.status_code == 200, page.text
    assert "Thank you! Your rating: 5 of 5." in page.text
    page = await backend.http.get(f"{link}?score=5", headers={"Accept-Language": "de"})
    assert "Спасибо! Ваша оценка: 5 из 5." in page.text

    payload, _, signature = _link(task, user_id=client["id"]).rsplit("/", 1)[1].partition(".")
    forged = f"/rate/{task['id']}/{payload}.{signature[::-1]}?score=1"
    resp = await backend.http.get(forged, headers={"Accept-Language": "en"})
    assert resp.status_code == 401 and '<html lang="en">' in resp.text
    assert "this rating link is not valid" in resp.text
    assert not CYRILLIC.search(_words(resp.text)), resp.text
    resp = await backend.http.get(forged, headers={"Accept-Language": ""})
    assert resp.status_code == 401 and '<html lang="ru">' in resp.text
    assert "ссылка для оценки недействительна" in resp.text


def test_the_rating_page_has_its_words_in_both_languages() -> None:
    ru, en = i18n.labels("ru", "rate_page"), i18n.labels("en", "rate_page")
    assert ru and set(ru) == set(en)
    for key in ru:
        assert i18n.placeholders(ru[key]) == i18n.placeholders(en[key]), key
        assert CYRILLIC.search(ru[key]) and not CYRILLIC.search(en[key]), key
