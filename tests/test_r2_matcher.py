"""R2 matcher, property-based: names are found however they are decorated and in whatever
grammatical case they stand, titles without a known name are rejected, the longest name
wins, two counterparties make a title ambiguous, and a misspelt name is suggested."""

from __future__ import annotations

import random

import msgspec
import pymorphy3
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from server import demo
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
CASES = ["nomn", "gent", "datv", "accs", "ablt", "loct"]
# What titles say around the name; none of it is a demo counterparty's word.
PROBLEMS = st.lists(
    st.sampled_from(
        ["не печатает чек", "замена ФН", "касса", "сканер не читает", "срочно", "в", "у", "для"]
    ),
    max_size=2,
).map(" ".join)
RUSSIAN = "абвгдежзийклмнопрстуфхцчшщъыьэюя"
MORPH = pymorphy3.MorphAnalyzer(lang="ru")


def _candidate(counterparty_id: int, spelling: str, parent_id: int | None = None):
    forms = names.name_forms(spelling)
    assert forms is not None
    return names.Candidate(
        counterparty_id, forms.lemmas, forms.normalized, forms.spelling, spelling, parent_id
    )


def _ids(found: list[names.Match]) -> list[int]:
    return [m.candidate.counterparty_id for m in found]


def _random_case(draw, text: str) -> str:
    flags = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.upper() if f else c for c, f in zip(text, flags, strict=True))


@st.composite
def decorated_title(draw, name: str, filler=FILLER) -> str:
    """`name` embedded in a title with random case, quotes, legal form and neighbours."""
    open_q, close_q = draw(QUOTES)
    shown = draw(LEGAL) + open_q + _random_case(draw, name) + close_q
    before, after = draw(filler), draw(filler)
    return f"{before}{draw(SEPARATOR) if before else ''}{shown}{draw(SEPARATOR)}{after}".strip()


# --- the demo counterparties in every case ------------------------------------------------

DEMO: list[tuple[int, str, int | None]] = []  # (counterparty id, spelling, parent id)
DEMO.extend((1, s, None) for s in [demo.CHAIN[0], *demo.CHAIN[1]])
DEMO.extend((2 + i, r[0], 1) for i, r in enumerate(demo.RESTAURANTS))
DEMO.extend(
    (2 + len(demo.RESTAURANTS) + i, s, None)
    for i, c in enumerate(demo.COUNTERPARTIES)
    for s in [c[0], *c[1]]
)
DEMO_CANDIDATES = [_candidate(cid, s, parent) for cid, s, parent in DEMO]
DEMO_WORDS = names.vocabulary(names.name_forms(s) for _, s, _ in DEMO)  # type: ignore[misc]


def _typo_candidates(
    words: list[names.Word], vocabulary: dict[str, str], candidates: list[names.Candidate]
) -> list[names.Candidate]:
    """What the refusal query (service._TYPO_SQL) fetches: spellings whose first and last
    normal forms are the title's or those of known words sharing a typo-index key with it."""
    probe = set(names.typo_probe(words))
    tokens = set(names.title_keys(words)) | {
        lemma for w, lemma in vocabulary.items() if names.deletions(w) & probe
    }
    return [c for c in candidates if c.lemmas[0] in tokens and c.lemmas[-1] in tokens]


def inflect(spelling: str, case: str) -> str:
    """The spelling with each word put in `case` by pymorphy3, as a person would write it."""
    out = []
    for word in names._WORD.findall(spelling):
        nominative = [p for p in MORPH.parse(word) if p.tag.case == "nomn"]
        form = nominative[0].inflect({case}) if nominative else None
        out.append(form.word if form else word)
    return " ".join(out)


@settings(max_examples=300)
@given(data=st.data(), which=st.sampled_from(DEMO), case=st.sampled_from(CASES))
def test_every_demo_name_in_every_case_finds_its_counterparty(data, which, case):
    counterparty_id, spelling, _ = which
    title = data.draw(decorated_title(inflect(spelling, case), filler=PROBLEMS))
    assert _ids(names.best_match(title, DEMO_CANDIDATES)) == [counterparty_id], title
    own = [c.lemmas for c in DEMO_CANDIDATES if c.counterparty_id == counterparty_id]
    assert any(names.contains_name(names.read_title(title), lemmas) for lemmas in own)


def test_every_demo_name_in_every_case_exhaustively():
    """The same over every spelling x case, in a plain sentence ("касса в ... не работает")."""
    for counterparty_id, spelling, _ in DEMO:
        for case in CASES:
            title = f"касса в {inflect(spelling, case)} не работает"
            found = _ids(names.best_match(title, DEMO_CANDIDATES))
            assert found == [counterparty_id], (title, found)


def _misspell(rng: random.Random, word: str) -> str:
    i = rng.randrange(len(word))
    kind = rng.choice(["substitute", "delete", "insert", "swap"])
    if kind == "substitute":
        return word[:i] + rng.choice(RUSSIAN.replace(word[i], "")) + word[i + 1 :]
    if kind == "delete":
        return word[:i] + word[i + 1 :]
    if kind == "insert":
        return word[:i] + rng.choice(RUSSIAN) + word[i:]
    i = min(i, len(word) - 2)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


@settings(max_examples=300)
@given(which=st.sampled_from(DEMO), seed=st.integers(0, 2**32), problem=PROBLEMS)
def test_a_demo_name_with_one_typo_is_suggested(which, seed, problem):
    counterparty_id, spelling, _ = which
    rng = random.Random(seed)
    words = names.normalize(spelling).split(" ")
    long = [i for i, w in enumerate(words) if len(w) >= names.MIN_TYPO_WORD and w.isalpha()]
    assume(long)
    i = rng.choice(long)
    words[i] = _misspell(rng, words[i])
    title = f"{' '.join(words)}: {problem}".strip(": ")
    read = names.read_title(title)
    found = _ids(names.best_match(read, DEMO_CANDIDATES))
    if counterparty_id in found:
        return  # the "typo" was another form of the same word (ромашка → ромашке)
    suggested = names.suggest(title, read, _typo_candidates(read, DEMO_WORDS, DEMO_CANDIDATES))
    assert counterparty_id in [s.counterparty_id for s in suggested], (title, suggested)
    fixed = next(s for s in suggested if s.counterparty_id == counterparty_id).title
    assert counterparty_id in _ids(names.best_match(fixed, DEMO_CANDIDATES)), fixed


# --- generated names ----------------------------------------------------------------------


@given(
    data=st.data(),
    known=st.lists(NAME, min_size=1, max_size=6, unique_by=names.normalize),
)
def test_any_known_name_in_any_decorated_title_is_found(data, known):
    target = data.draw(st.integers(0, len(known) - 1))
    title = data.draw(decorated_title(known[target]))
    candidates = [_candidate(i + 1, n) for i, n in enumerate(known)]
    words = names.read_title(title)
    size = len(candidates[target].lemmas)
    at = names.occurrences(words, candidates[target].lemmas)
    assert at
    found = names.best_match(title, candidates)
    # the target is named, unless a longer known name around it is
    assert any(
        m.candidate.counterparty_id == target + 1
        or (m.start <= i and i + size <= m.end and m.size > size)
        for m in found
        for i in at
    )


@given(known=st.lists(NAME, min_size=1, max_size=6, unique=True), title=FILLER)
def test_titles_without_a_known_name_are_rejected(known, title):
    keys = {k for w in names.read_title(title) for k in w.keys}
    candidates = [_candidate(i + 1, n) for i, n in enumerate(known)]
    assume(not any(set(c.lemmas) <= keys for c in candidates))
    assert names.best_match(title, candidates) == []


@given(data=st.data(), short=NAME, extra=WORD)
def test_the_longest_name_wins(data, short, extra):
    long = f"{short} {extra}"
    title = data.draw(decorated_title(long))
    # the filler may name the short one on its own: then the title names two
    words = names.read_title(title)
    size = len(_candidate(1, short).lemmas)
    longs = names.occurrences(words, _candidate(2, long).lemmas)
    assume(
        all(
            any(j <= i and i + size <= j + size + 1 for j in longs)
            for i in names.occurrences(words, _candidate(1, short).lemmas)
        )
    )
    # ids in both orders: the answer must not depend on which row came first
    for candidates in (
        [_candidate(1, short), _candidate(2, long)],
        [_candidate(2, long), _candidate(1, short)],
    ):
        assert _ids(names.best_match(title, candidates)) == [2]


@given(data=st.data(), first=NAME, second=NAME)
def test_two_names_in_one_title_are_ambiguous(data, first, second):
    one, two = _candidate(1, first), _candidate(2, second)
    assume(not set(one.lemmas) & set(two.lemmas))
    title = f"{data.draw(decorated_title(first))} и {data.draw(decorated_title(second))}"
    found = names.best_match(title, [two, one])
    assert set(_ids(found)) == {1, 2}
    assert found == sorted(found, key=lambda m: m.start)


def test_a_chain_beside_its_restaurant_and_aliases_name_one_counterparty():
    chain = [_candidate(1, "Кофе Хаус"), _candidate(1, "Coffee House")]
    arbat = _candidate(2, "Кофе Хаус Арбат", parent_id=1)
    other = _candidate(3, "Кофе Хаус Сокол", parent_id=1)
    candidates = [*chain, arbat, other]
    assert _ids(names.best_match("Кофе Хаус: лента для Кофе Хауса Арбат", candidates)) == [2]
    assert _ids(names.best_match("Coffee House (Кофе Хаус): сверка", candidates)) == [1]
    # two restaurants of one chain are two counterparties
    found = names.best_match("Кофе Хаус Арбат и Кофе Хаус Сокол", candidates)
    assert _ids(found) == [2, 3]


def test_normalisation_and_normal_form_examples():
    assert names.normalize("ООО «Ромашка»") == "ромашка"
    assert names.normalize("  ИП   Сидоров  ") == "сидоров"
    assert names.normalize("“Coffee House” LLC") == "coffee house"
    assert names.normalize("Пекарня «Хлебница-2»") == "пекарня хлебница 2"
    assert names.normalize("Ёлка") == "елка"
    forms = names.name_forms("АО «Северная звезда»")
    assert forms is not None and forms.lemmas == ("северный", "звезда")
    assert forms.first_token == "северный" and forms.last_token == "звезда"
    assert names.short_name("ООО «Пекарня Хлебница»") == "Пекарня Хлебница"
    assert names.short_name("ИП Сидоров") == "Сидоров"

    def named(title: str, spelling: str) -> bool:
        return names.contains_name(names.read_title(title), _candidate(1, spelling).lemmas)

    assert named("Починить дисконтную систему в Патрик пабе *Коробов", "Патрик паб")
    assert named("касса у ИП Сидорова", "ИП Сидоров")
    assert named("Ёлке: касса", "Ёлка")
    assert not named("Ромашковый чай", "Ромашка")
    assert not named("Паб: касса", "Патрик паб")


def test_typo_index_finds_words_one_edit_away():
    romashka = [_candidate(1, "Ромашка 42")]
    vocabulary = names.vocabulary([names.name_forms("Ромашка 42")])  # type: ignore[list-item]
    assert vocabulary == {"ромашка": "ромашка"}  # a number is not a typo of another number
    for typo in ["рамашка", "омашка", "ромашкка", "рмоашка", "ромашко"]:
        words = names.read_title(f"{typo} 42: касса")
        found = _typo_candidates(words, vocabulary, romashka)
        assert names.corrections(words, found)[0] == {"ромашка"}, typo
        assert names.suggest(f"{typo} 42: касса", words, found) == [
            names.Suggestion(1, "Ромашка 42", "Ромашка 42: касса")
        ]
    # two edits: not a typo of ромашка; another number is another counterparty
    for title in ["ромшкаа 42: касса", "ромашка 43: касса"]:
        words = names.read_title(title)
        assert names.suggest(title, words, _typo_candidates(words, vocabulary, romashka)) == []


# --- the database lookup -------------------------------------------------------------------


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
    title = data.draw(decorated_title(inflect(target, data.draw(st.sampled_from(CASES)))))
    found = await clients.counterparties_in_title(title)
    expected = names.best_match(title, [_candidate(i, n) for n, i in created.items()])
    assert expected
    assert [(f.counterparty_id, f.matched) for f in found] == [
        (m.candidate.counterparty_id, m.candidate.normalized) for m in expected
    ]
