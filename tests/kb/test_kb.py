"""The knowledge base over HTTP: articles, sanitised Markdown, full-text search on both
engines (PostgreSQL morphology, SQLite exact words), clients and public articles,
suggestions for a request title, articles linked to tasks."""

from __future__ import annotations

from typing import Any

import pytest
from naryad_harness import Backend


async def _people(b: Backend) -> dict[str, Any]:
    cp = await b.counterparty("Ромашка")
    return {
        "cp": cp,
        "engineer": await b.user("engineer", groups=("Удалённая техподдержка",)),
        "client": await b.user("client", counterparty_id=cp["id"]),
    }


async def _article(b: Backend, who: dict[str, Any], **body: Any) -> dict[str, Any]:
    resp = await b.http.post("/api/kb/articles", json=body, headers=who["headers"])
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def _search(b: Backend, who: dict[str, Any], q: str, path: str = "search") -> list[str]:
    key = "title" if path == "suggest" else "q"
    resp = await b.http.get(f"/api/kb/{path}", params={key: q}, headers=who["headers"])
    assert resp.status_code == 200, resp.text
    return [a["title"] for a in resp.json()["items"]]


@pytest.mark.sqlite
async def test_articles_are_markdown_rendered_safely(backend: Backend) -> None:
    p = await _people(backend)
    art = await _article(
        backend,
        p["engineer"],
        title="Касса не печатает чек",
        body="# Шаги\n\n**Перезагрузите** кассу.<script>alert(1)</script>\n\n"
        "[ссылка](javascript:alert(1)) <img src=x onerror=alert(1)>",
        tags=["Касса", "АТОЛ"],
        public=True,
    )
    assert "<strong>Перезагрузите</strong>" in art["body_html"]
    # raw HTML in the source is shown as text, never run
    assert "<script" not in art["body_html"] and "<img" not in art["body_html"]
    assert "&lt;script&gt;" in art["body_html"]
    assert 'href="javascript' not in art["body_html"]
    assert art["tags"] == ["касса", "атол"] and art["author"]["id"] == p["engineer"]["id"]
    resp = await backend.http.patch(
        f"/api/kb/articles/{art['id']}",
        json={"body": "Новый *текст*", "public": False},
        headers=p["engineer"]["headers"],
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["body_html"] == "<p>Новый <em>текст</em></p>\n"
    assert resp.json()["public"] is False
    # clients: public articles only, and no writing
    resp = await backend.http.get(f"/api/kb/articles/{art['id']}", headers=p["client"]["headers"])
    assert resp.status_code == 404
    resp = await backend.http.post(
        "/api/kb/articles", json={"title": "x"}, headers=p["client"]["headers"]
    )
    assert resp.status_code == 403
    resp = await backend.http.patch(
        f"/api/kb/articles/{art['id']}", json={"public": True}, headers=p["engineer"]["headers"]
    )
    listed = await backend.http.get("/api/kb/articles", headers=p["client"]["headers"])
    assert [a["id"] for a in listed.json()["items"]] == [art["id"]]


@pytest.mark.sqlite
async def test_search_finds_words_and_hides_internal_articles_from_clients(
    backend: Backend,
) -> None:
    p = await _people(backend)
    await _article(
        backend,
        p["engineer"],
        title="Касса не печатает чек",
        body="Проверьте бумагу в кассе.",
        public=True,
    )
    await _article(backend, p["engineer"], title="VPN office router", body="Reset the router.")
    await _article(
        backend, p["engineer"], title="Внутреннее: пароль кассы", body="касса 1234", public=False
    )
    assert set(await _search(backend, p["engineer"], "касса")) == {
        "Касса не печатает чек",
        "Внутреннее: пароль кассы",
    }
    assert await _search(backend, p["client"], "касса") == ["Касса не печатает чек"]
    assert await _search(backend, p["engineer"], "router") == ["VPN office router"]
    assert await _search(backend, p["engineer"], "бумагу чек") == ["Касса не печатает чек"]
    assert await _search(backend, p["engineer"], "принтер") == []
    # quotes, brackets and operators typed by a person are no error
    for q in ('касса" OR NOT (', "*", "NEAR(", "-"):
        resp = await backend.http.get(
            "/api/kb/search", params={"q": q}, headers=p["engineer"]["headers"]
        )
        assert resp.status_code == 200, (q, resp.text)
    assert await _search(backend, p["engineer"], "") == []
    # suggestions while a client types a title: any of its words, public only
    assert await _search(backend, p["client"], "не печатает принтер", "suggest") == [
        "Касса не печатает чек"
    ]


async def test_postgres_search_knows_russian_morphology(backend: Backend) -> None:
    p = await _people(backend)
    await _article(
        backend, p["engineer"], title="Касса", body="Как заменить фискальный накопитель."
    )
    await _article(backend, p["engineer"], title="Printers", body="Clean the printing head.")
    assert await _search(backend, p["engineer"], "кассы") == ["Касса"]
    assert await _search(backend, p["engineer"], "накопителя") == ["Касса"]
    assert await _search(backend, p["engineer"], "printer") == ["Printers"]


@pytest.mark.sqlite
async def test_engineers_link_articles_to_tasks(backend: Backend) -> None:
    p = await _people(backend)
    office = await backend.user("office")
    public = await _article(backend, p["engineer"], title="Касса", public=True)
    internal = await _article(backend, p["engineer"], title="Пароли", public=False)
    task = (
        await backend.create_task(office, template="remote_support", title="Ромашка: касса")
    ).json()
    path = f"/api/tasks/{task['id']}/articles"
    for art in (public, internal, public):
        resp = await backend.http.post(
            path, json={"article_id": art["id"]}, headers=p["engineer"]["headers"]
        )
        assert resp.status_code == 201, resp.text
    assert {a["id"] for a in resp.json()} == {public["id"], internal["id"]}
    seen = await backend.http.get(path, headers=p["client"]["headers"])
    assert [a["id"] for a in seen.json()] == [public["id"]]
    resp = await backend.http.post(
        path, json={"article_id": public["id"]}, headers=p["client"]["headers"]
    )
    assert resp.status_code == 403
