"""The knowledge base over HTTP: articles, sanitised Markdown, full-text search on both
engines (PostgreSQL morphology, SQLite exact words), clients and public articles,
suggestions for a request title, articles linked to tasks."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from naryad_harness import Backend
from piccolo.querystring import QueryString

from server.kb import service as kb
from server.kb.markdown import summary


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
    # suggestions: any word, but a Russian stop word («не», «у») alone matches nothing
    await _article(
        backend, p["engineer"], title="Сканер не видит штрихкод", body="Протрите окно.", public=True
    )
    assert await _search(backend, p["client"], "у нас касса не печатает", "suggest") == []
    assert await _search(backend, p["client"], "сканеры не работают", "suggest") == [
        "Сканер не видит штрихкод"
    ]


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


@pytest.mark.sqlite
async def test_hits_carry_a_summary_instead_of_the_body(backend: Backend) -> None:
    """Search and suggestions return hits: the article without body and body_html, with
    the start of its text (README: the knowledge base); the article itself keeps both."""
    p = await _people(backend)
    long_body = "## Шаги\n\n**Перезагрузите** кассу. " + "Проверьте бумагу и ленту. " * 20
    art = await _article(
        backend, p["engineer"], title="Касса не печатает чек", body=long_body, public=True
    )
    assert art["summary"].startswith("Шаги Перезагрузите кассу. Проверьте бумагу")
    assert len(art["summary"]) <= 201 and art["summary"].endswith("…")
    assert "<" not in art["summary"] and "**" not in art["summary"]
    for path, key, who in (
        ("search", "q", p["engineer"]),
        ("search", "q", p["client"]),
        ("suggest", "title", p["client"]),
    ):
        resp = await backend.http.get(
            f"/api/kb/{path}", params={key: "касса чек"}, headers=who["headers"]
        )
        assert resp.status_code == 200, resp.text
        [hit] = resp.json()["items"]
        assert "body" not in hit and "body_html" not in hit
        assert hit == {
            "id": art["id"],
            "title": "Касса не печатает чек",
            "summary": art["summary"],
            "tags": [],
            "public": True,
            "author": art["author"],
            "created_at": art["created_at"],
            "updated_at": art["updated_at"],
        }
    resp = await backend.http.patch(
        f"/api/kb/articles/{art['id']}",
        json={"body": "Коротко: *замените* ленту."},
        headers=p["engineer"]["headers"],
    )
    assert resp.json()["summary"] == "Коротко: замените ленту."


def test_a_summary_ends_on_a_whole_word() -> None:
    assert summary("  два   слова ") == "два слова"
    text = "слово " * 50
    cut = summary(text, 20)
    assert cut == "слово слово слово…"
    assert summary("а" * 300, 10) == "а" * 10 + "…"


async def test_postgres_search_uses_the_gin_index_without_a_pending_list(
    backend: Backend,
) -> None:
    """Over a few thousand articles the planner answers every search query through the
    GIN index on the stored tsvector, and the index takes new entries directly
    (fastupdate off: no pending list that every search would read); the vector is kept
    in the row (storage MAIN)."""
    conn = await asyncpg.connect(backend.url)
    try:
        options = await conn.fetchval(
            "SELECT reloptions FROM pg_class WHERE relname = 'kb_articles_search'"
        )
        assert options == ["fastupdate=off"]
        # the vector ts_rank reads stays in the row, not in the TOAST table
        storage = await conn.fetchval(
            "SELECT attstorage FROM pg_attribute "
            "WHERE attrelid = 'kb_articles'::regclass AND attname = 'search'"
        )
        assert storage == b"m"  # a "char"
        await conn.execute(
            "INSERT INTO kb_articles (title, search_text, public) "
            "SELECT CASE WHEN g % 30 = 0 THEN 'Касса ' ELSE 'Принтер ' END || g, "
            "'проверьте питание и кабели ' || g, g % 4 <> 0 FROM generate_series(1, 3000) g"
        )
        await conn.execute("ANALYZE kb_articles")
        for public_only in (False, True):
            for any_word in (False, True):
                sql = kb.search_sql(False, public_only=public_only, any_word=any_word)
                params = kb.search_params(False, "кассы", any_word=any_word, limit=20)
                compiled, args = QueryString(sql, *params).compile_string(engine_type="postgres")
                plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {compiled}", *args))
                assert "Bitmap Index Scan on kb_articles_search" in plan, plan
                assert "Seq Scan" not in plan, plan
        found = await conn.fetch(compiled, *args)
        assert len(found) == 20 and all(r["title"].startswith("Касса ") for r in found)
    finally:
        await conn.close()
