"""R2 matcher, property-based: names are found however they are decorated, titles
without a known name are rejected, and the longest name wins."""

from __future__ import annotations

import msgspec
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from server.clients import names
from server.clients import service as clients
from server.clients.schemas import CounterpartyIn

# Words made from a small alphabet, so generated titles are plausible and collide often.
WORD = st.text(alphabet="абвгдеклмнорстxyzк", min_size=2, max_size=7).filter(
    lambda w: w not in names.LEGAL_FORMS
)
NAME = st.lists(WORD, min_size=1, max_size=3).map(" ".join)
LEGAL = st.sampled_from(["", "ООО ", "ооо ", "ИП ", "АО ", "LLC ", "ЗАО ", "Ltd "])
QUOTES = st.sampled_from([("", ""), ("«", "»"), ("“", "”"), ('"', '"'), ("'", "'")])
SEPARATOR = st.sampled_from([" ", ": ", ", ", " — ", " - ", "! "])
FILLER = st.lists(WORD, max_size=4).map(" ".join)


def _random_case(draw, text: str) -> str:
    flags = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.upper() if f else c for c, f in zip(text, flags, strict=True))


@st.composite
def decorated_title(draw, name: str) -> str:
    """`name` embedded in a title with random case, quotes, legal form and neighbours."""
    open_q, close_q = draw(QUOTES)
    shown = draw(LEGAL) + open_q + _random_case(draw, name) + close_q
    before, after = draw(FILLER), draw(FILLER)
    return f"{before}{draw(SEPARATOR) if before else ''}{shown}{draw(SEPARATOR)}{after}".strip()


@given(data=st.data(), known=st.lists(NAME, min_size=1, max_size=6, unique=True))
def test_any_known_name_in_any_decorated_title_is_found(data, known):
    target = data.draw(st.sampled_from(known))
    title = data.draw(decorated_title(target))
    candidates = [(i + 1, names.normalize(n)) for i, n in enumerate(known)]
    found = names.best_match(title, candidates)
    assert found is not None
    # the winner is in the title and no longer known name is
    assert names.contains(names.tokens(title), found[1].split(" "))
    assert len(found[1]) >= len(names.normalize(target))


@given(known=st.lists(NAME, min_size=1, max_size=6, unique=True), title=FILLER)
def test_titles_without_a_known_name_are_rejected(known, title):
    title_tokens = names.tokens(title)
    assume(not any(names.contains(title_tokens, names.tokens(n)) for n in known))
    candidates = [(i + 1, names.normalize(n)) for i, n in enumerate(known)]
    assert names.best_match(title, candidates) is None


@given(data=st.data(), short=NAME, extra=WORD)
def test_the_longest_name_wins(data, short, extra):
    long = f"{short} {extra}"
    title = data.draw(decorated_title(long))
    # ids in both orders: the answer must not depend on which row came first
    for candidates in (
        [(1, names.normalize(short)), (2, names.normalize(long))],
        [(2, names.normalize(long)), (1, names.normalize(short))],
    ):
        assert names.best_match(title, candidates) == (2, names.normalize(long))


def test_normalisation_examples():
    assert names.normalize("ООО «Ромашка»") == "ромашка"
    assert names.normalize("  ИП   Сидоров  ") == "сидоров"
    assert names.normalize("“Coffee House” LLC") == "coffee house"
    assert names.normalize("Пекарня «Хлебница-2»") == "пекарня хлебница 2"
    assert names.normalize("Ёлка") == "елка"
    assert not names.contains(names.tokens("Ромашковый чай"), ["ромашка"])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
async def test_database_lookup_agrees_with_the_matcher(backend, data):
    """The indexed query fetches every candidate the matcher needs (PostgreSQL)."""
    created: dict[str, int] = {}
    known = ["Ромашка", "Ромашка Центр", "Кофе Хаус", "Кофе Хаус Арбат", "Coffee House", "Лютик"]
    existing = {c.name: c.id for c in await clients.list_counterparties(None, limit=1000)}
    for name in known:
        if name not in existing:
            cp = await clients.create_counterparty(msgspec.convert({"name": name}, CounterpartyIn))
            existing[name] = cp.id
        created[name] = existing[name]
    target = data.draw(st.sampled_from(known))
    title = data.draw(decorated_title(target))
    found = await clients.find_counterparty_in_title(title)
    expected = names.best_match(title, [(i, names.normalize(n)) for n, i in created.items()])
    assert found is not None and expected is not None
    assert (found.counterparty_id, found.matched) == expected
