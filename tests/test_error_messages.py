"""Errors in the reader's language (issue 15): every error has a stable `extra.code` and a
message from server/lib/messages/{ru,en}.json; Russian by default, English on request; a
person never reads an internal status, template or channel code."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from server.lib import errors, i18n

pytestmark = pytest.mark.sqlite
ROOT = Path(__file__).resolve().parent.parent
FIELD = ("Выездные инженеры",)
# Internal codes a person must not read (status, template and channel codes).
RAW_CODES = re.compile(
    r"'(new|accepted|en_route|in_progress|waiting_client|done|completed|postponed|cancelled)'"
    r"|\b(field_visit|remote_support|en_route|in_progress|waiting_client)\b"
)
CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
# Keyword arguments of an error that are not message parameters.
NOT_PARAMS = {"rule", "extra", "retry_after_s"}


def _raised_codes() -> dict[str, list[tuple[str, set[str]]]]:
    """Every code given to a DomainError subclass (or an i18n.Phrase) in server/, found by
    reading the source: {code: [(where, keyword parameters)]}."""
    trees = {p: ast.parse(p.read_text()) for p in sorted((ROOT / "server").rglob("*.py"))}
    names = {"DomainError", "Phrase"}
    while True:  # the error classes, subclasses of subclasses included
        more = {
            node.name
            for tree in trees.values()
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
            and any(getattr(b, "id", getattr(b, "attr", None)) in names for b in node.bases)
        }
        if more <= names:
            break
        names |= more
    found: dict[str, list[tuple[str, set[str]]]] = {}
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", None))
            if name not in names:
                continue
            first = node.args[0]
            options = [first.body, first.orelse] if isinstance(first, ast.IfExp) else [first]
            params = {k.arg for k in node.keywords if k.arg and k.arg not in NOT_PARAMS}
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            for option in options:
                if isinstance(option, ast.Constant) and isinstance(option.value, str):
                    found.setdefault(option.value, []).append((where, params))
    return found


def test_every_raised_code_has_a_russian_and_an_english_message():
    raised = _raised_codes()
    assert len(raised) > 250  # the scan sees the whole server
    codes = set(raised) | set(errors._HTTP_CODES.values())
    codes |= {"request.invalid", "request.internal", "request.error"}
    for code in sorted(codes):
        ru, en = i18n.messages("ru").get(code), i18n.messages("en").get(code)
        assert ru and en, f"{code}: no message in {'ru' if not ru else 'en'}"
        assert i18n.placeholders(ru) == i18n.placeholders(en), code
        assert CYRILLIC.search(ru), f"{code}: the Russian message is not in Russian: {ru}"
        for where, params in raised.get(code, []):
            missing = i18n.placeholders(en) - params
            assert not missing, f"{where}: {code} needs {sorted(missing)}"
    # and nothing in the catalogue is left over from code that no longer raises it
    assert set(i18n.messages("ru")) == set(i18n.messages("en")) == codes


def test_no_message_is_a_raw_english_sentence_in_code():
    """A constructed error's first argument is a code, never a sentence."""
    for code, uses in _raised_codes().items():
        assert re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)*", code), (code, uses[0][0])


def test_the_labels_are_the_pwas_words():
    for language in i18n.LANGUAGES:
        pwa = json.loads((ROOT / "pwa" / "i18n" / f"{language}.json").read_text())
        for kind in ("status", "template", "role", "action"):
            for key, word in pwa[kind].items():
                assert i18n.labels(language, kind)[key] == word, (language, kind, key)


def test_render_shows_words_for_codes_and_lists():
    text = i18n.render(
        "task.conflict.transition",
        "ru",
        {
            "action": "depart",
            "task_number": 7,
            "status": "new",
            "template": "field_visit",
            "actions": ["accept", "assign"],
        },
    )
    assert text == (
        "нельзя выполнить «Выехал» для задачи №7: она в статусе «Новая»; из статуса «Новая» "
        "задача «Выездная заявка» допускает: Принять, Назначить"
    )
    assert i18n.render(
        "task.conflict.transition",
        "en",
        {
            "action": "depart",
            "task_number": 1,
            "status": "completed",
            "template": "repair",
            "actions": [],
        },
    ).endswith("from “Completed” a “Repair” task allows: nothing")
    assert i18n.from_accept_language("de-DE,en;q=0.8,ru;q=0.9") == "ru"
    assert i18n.from_accept_language("en-US,en;q=0.9") == "en"
    assert i18n.from_accept_language("de, fr") is None


@pytest.fixture
async def crew(backend):
    await backend.counterparty("Ромашка")
    return {
        "office": await backend.user("office"),
        "ivanov": await backend.user("engineer", groups=FIELD, surname="Иванов"),
    }


def _russian(who):
    """A request with no Accept-Language: the user's own language (ru by default) decides."""
    return {**who["headers"], "Accept-Language": ""}


def _assert_russian(body, code):
    assert body["extra"]["code"] == code, body
    assert CYRILLIC.search(body["detail"]), body["detail"]
    assert not RAW_CODES.search(body["detail"]), body["detail"]


async def test_a_russian_user_reads_russian_errors_with_extra_code(backend, crew):
    office, iv = crew["office"], crew["ivanov"]
    task = (
        await backend.create_task(office, template="field_visit", title="Ромашка: касса")
    ).json()
    tid = task["id"]
    # 409: depart from new
    resp = await backend.http.post(f"/api/tasks/{tid}/depart", headers=_russian(iv))
    assert resp.status_code == 409
    _assert_russian(resp.json(), "task.conflict.transition")
    assert "«Новая»" in resp.json()["detail"] and "«Выездная заявка»" in resp.json()["detail"]
    assert "Принять" in resp.json()["detail"]
    # R2 422: the rule stays in front, and in extra
    resp = await backend.http.post(
        "/api/tasks",
        json={"template": "field_visit", "title": "Касса не печатает чек"},
        headers=_russian(office),
    )
    assert resp.status_code == 422 and resp.json()["detail"].startswith("R2: ")
    _assert_russian(resp.json(), "r2.counterparty_missing")
    assert resp.json()["extra"]["rule"] == "R2"
    # stale If-Match 409
    resp = await backend.http.post(
        f"/api/tasks/{tid}/accept", headers={**_russian(iv), "If-Match": "7"}
    )
    assert resp.status_code == 409
    _assert_russian(resp.json(), "task.conflict.version")
    assert "обновите" in resp.json()["detail"] and resp.json()["extra"]["current_version"] == 1
    # 404
    resp = await backend.http.post("/api/tasks/999999/accept", headers=_russian(iv))
    assert resp.status_code == 404
    _assert_russian(resp.json(), "task.not_found")
    # a body that does not validate: 422 with the field named
    resp = await backend.http.post(
        "/api/tasks", json={"template": "field_visit", "title": 5}, headers=_russian(office)
    )
    assert resp.status_code == 422
    _assert_russian(resp.json(), "request.invalid")
    assert "title" in resp.json()["detail"] and resp.json()["extra"]["field"] == "title"
    # Litestar's own refusals carry a code too: no route, not signed in
    resp = await backend.http.get("/api/no-such-thing", headers=_russian(iv))
    assert resp.status_code == 404
    _assert_russian(resp.json(), "request.not_found")
    resp = await backend.http.get(
        "/api/tasks", headers={"Authorization": "Bearer no-such-token", "Accept-Language": "ru"}
    )
    assert resp.status_code == 401
    _assert_russian(resp.json(), "request.unauthorized")


async def test_accept_language_chooses_english_and_the_profile_language_is_the_fallback(
    backend, crew
):
    office = crew["office"]
    english = await backend.user("engineer", groups=FIELD, surname="Smith", language="en")
    task = (
        await backend.create_task(office, template="field_visit", title="Ромашка: касса")
    ).json()
    path = f"/api/tasks/{task['id']}/depart"
    # the request's Accept-Language (the PWA sends the language the person chose)
    resp = await backend.http.post(
        path, headers={**crew["ivanov"]["headers"], "Accept-Language": "en-GB,en;q=0.9"}
    )
    detail = resp.json()["detail"]
    assert resp.status_code == 409 and detail.startswith("cannot “Depart” task #")
    assert "“New”" in detail and "“Field visit”" in detail and not CYRILLIC.search(detail)
    assert not RAW_CODES.search(detail)
    # no header: the user's profile language
    resp = await backend.http.post(path, headers=_russian(english))
    assert resp.status_code == 409 and not CYRILLIC.search(resp.json()["detail"])
    resp = await backend.http.post(path, headers=_russian(crew["ivanov"]))
    assert CYRILLIC.search(resp.json()["detail"])
    # a language we do not speak falls back to the profile's
    resp = await backend.http.post(path, headers={**english["headers"], "Accept-Language": "de"})
    assert not CYRILLIC.search(resp.json()["detail"])


def test_the_pwa_sends_its_language_and_shows_the_servers_detail():
    api = (ROOT / "pwa" / "js" / "api.js").read_text()
    assert "'Accept-Language': language()" in api
    assert "new ApiError(resp.status, data?.detail" in api
