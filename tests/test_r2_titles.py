"""R2 through the API, as Russians write titles (issue 12): names in any grammatical case,
typos refused with one-tap fixes, and two counterparties in one title refused, never guessed.
"""

from __future__ import annotations

from typing import Any

import pytest

from server.tasks import service as tasks
from server.tasks.schemas import TaskIn
from server.tasks.tables import Task

pytestmark = pytest.mark.sqlite


async def _create(backend, who, title: str, **body: Any):
    return await backend.create_task(who, template="field_visit", title=title, **body)


def _suggestions(resp) -> list[dict[str, Any]]:
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["detail"].startswith("R2:"), body
    assert body["extra"]["rule"] == "R2"
    return body["extra"]["suggestions"]  # type: ignore[no-any-return]


async def test_inflected_names_find_their_counterparty(backend):
    office = await backend.user("office")
    pub = await backend.counterparty("Патрик паб")
    romashka = await backend.counterparty("ООО «Ромашка»", aliases=["Ромашка"])
    sidorov = await backend.counterparty("ИП Сидоров", aliases=["Сидоров"])
    bakery = await backend.counterparty("ООО «Пекарня Хлебница»", aliases=["Хлебница"])
    star = await backend.counterparty("АО «Северная звезда»")
    cases = {
        # the seed's own example (field-service-rules.ru.txt)
        "Починить дисконтную систему в Патрик пабе": pub,
        "Не печатает чек в Ромашке": romashka,
        "Привезти ленту для Сидорова": sidorov,
        "Сканер у ИП Сидорова": sidorov,
        "Хлебнице: заменить ФН": bakery,
        "Монтаж POS-терминала в «Северной звезде»": star,
        # nominative and Latin spellings keep working as before
        "Ромашка: касса": romashka,
    }
    for title, counterparty in cases.items():
        resp = await _create(backend, office, title)
        assert resp.status_code == 201, (title, resp.text)
        assert resp.json()["counterparty"]["id"] == counterparty["id"], title
        assert resp.json()["title"] == title  # the title is kept as written


async def test_latin_names_and_aliases_still_match(backend):
    office = await backend.user("office")
    chain = await backend.counterparty("Кофе Хаус", aliases=["Coffee House"])
    resp = await _create(backend, office, 'Доставка в "coffee house", срочно')
    assert resp.status_code == 201 and resp.json()["counterparty"]["id"] == chain["id"]
    resp = await _create(backend, office, "Касса в Кофе Хаусе")
    assert resp.status_code == 201 and resp.json()["counterparty"]["id"] == chain["id"]


async def test_a_typo_is_refused_with_the_closest_names_as_fixes(backend):
    office = await backend.user("office")
    romashka = await backend.counterparty("ООО «Ромашка»", aliases=["Ромашка"])
    await backend.counterparty("Лютик")
    star = await backend.counterparty("АО «Северная звезда»")
    before = await Task.count()

    suggestions = _suggestions(await _create(backend, office, "Рамашка: касса"))
    assert suggestions == [
        {"id": romashka["id"], "name": "ООО «Ромашка»", "title": "Ромашка: касса"}
    ]
    # the fix is one tap away: the suggested title creates the task
    resp = await _create(backend, office, suggestions[0]["title"])
    assert resp.status_code == 201 and resp.json()["counterparty"]["id"] == romashka["id"]

    # a typo in an inflected word of a longer name; the rest of the title is kept
    suggestions = _suggestions(await _create(backend, office, "Монтаж в Северной звизде, касса 4"))
    assert [s["id"] for s in suggestions] == [star["id"]]
    assert suggestions[0]["title"] == "Монтаж в Северная звезда, касса 4"
    resp = await _create(
        backend, office, suggestions[0]["title"], counterparty_id=suggestions[0]["id"]
    )
    assert resp.status_code == 201 and resp.json()["counterparty"]["id"] == star["id"]

    # nothing close: refused with the guidance, and no suggestions
    resp = await _create(backend, office, "Не печатает чек")
    assert _suggestions(resp) == []
    assert "Ромашка: не печатает чек" in resp.json()["detail"]
    assert await Task.count() == before + 2


async def test_two_counterparties_in_one_title_are_refused_with_both(backend):
    office = await backend.user("office")
    romashka = await backend.counterparty("ООО «Ромашка»", aliases=["Ромашка"])
    bakery = await backend.counterparty("ООО «Пекарня Хлебница»", aliases=["Хлебница"])
    before = await Task.count()
    title = "Ромашка и Хлебница: сверить кассы"
    resp = await _create(backend, office, title)
    suggestions = _suggestions(resp)
    assert suggestions == [
        {"id": romashka["id"], "name": "ООО «Ромашка»", "title": title},
        {"id": bakery["id"], "name": "ООО «Пекарня Хлебница»", "title": title},
    ]
    assert "ООО «Ромашка»" in resp.json()["detail"]
    assert "ООО «Пекарня Хлебница»" in resp.json()["detail"]
    # inflected, too
    resp = await _create(backend, office, "Из Ромашки отвезти сканер в Хлебницу")
    assert {s["id"] for s in _suggestions(resp)} == {romashka["id"], bakery["id"]}
    assert await Task.count() == before
    # choosing one (counterparty_id) settles it
    resp = await _create(backend, office, title, counterparty_id=bakery["id"])
    assert resp.status_code == 201 and resp.json()["counterparty"]["id"] == bakery["id"]


async def test_a_chain_restaurant_or_an_alias_is_not_a_second_counterparty(backend):
    office = await backend.user("office")
    chain = await backend.counterparty("Кофе Хаус", aliases=["Coffee House"])
    arbat = await backend.counterparty("Кофе Хаус Арбат", parent_id=chain["id"])
    romashka = await backend.counterparty("ООО «Ромашка»", aliases=["Ромашка Центр"])
    for title, expected in [
        ("Кофе Хаус Арбат: не работает сканер", arbat),
        ("В Кофе Хаусе Арбат не работает сканер", arbat),
        ("Кофе Хаус: доставка ленты в Кофе Хаус Арбат", arbat),  # the chain beside its branch
        ("Coffee House, Кофе Хаус: сверка", chain),  # a name and an alias of one counterparty
        ("ООО «Ромашка» (Ромашка Центр): касса", romashka),
    ]:
        resp = await _create(backend, office, title)
        assert resp.status_code == 201, (title, resp.text)
        assert resp.json()["counterparty"]["id"] == expected["id"], title


async def test_a_given_counterparty_named_in_an_inflected_title(backend):
    office = await backend.user("office")
    sidorov = await backend.counterparty("ИП Сидоров")
    await backend.counterparty("Ромашка")
    resp = await _create(backend, office, "Ключ для Сидорова", counterparty_id=sidorov["id"])
    assert resp.status_code == 201 and resp.json()["counterparty"]["id"] == sidorov["id"]
    resp = await _create(backend, office, "Ключ для Ромашки", counterparty_id=sidorov["id"])
    assert resp.status_code == 422 and resp.json()["detail"].startswith("R2:")


async def test_mail_without_a_single_counterparty_is_not_guessed(backend):
    """Channels that must not lose mail (required=False) get no counterparty, not a guess."""
    await backend.counterparty("Ромашка")
    await backend.counterparty("Хлебница")
    task = await tasks.create_task(
        None,
        TaskIn(title="Ромашка и Хлебница: сверка", template="remote_support"),
        channel="email",
        counterparty_required=False,
    )
    assert task.counterparty is None
