"""R2: how counterparty names are compared with task titles, as Russians write them.

A name and a title are both read as lower-case words: quotes and other punctuation split
words and disappear, ё is read as е, and legal forms (ООО, ИП, LLC...) are dropped.

Grammatical case. Each word of a name is stored as its normal form (pymorphy3, read as a
nominative: «Северная звезда» → северный звезда), once, when the name is saved. Each word
of a title stands for itself and for every normal form pymorphy3 gives it («пабе» → паб,
«Сидорова» → сидоров). A name is "in" a title when each of its normal forms is among
those of consecutive title words: «Патрик паб» is in "в Патрик пабе", «Ромашка» is not
in "Ромашковый чай". A word always matches itself, so Latin names and names written as
they were saved match exactly as before.

Which counterparty a title names (`best_match`): a match lying inside a longer match is
dropped (the restaurant «Кофе Хаус Арбат» over its chain «Кофе Хаус»), and so is a chain
named beside one of its own restaurants. If what is left names more than one counterparty,
the title is ambiguous and the caller must ask, never pick.

Typos (`typo_probe`, `suggest`): the words of every name are kept in a vocabulary under
each of their one-letter deletions (symmetric delete), so the known words one edit away
from a title's word — one letter wrong, missing, extra, or two letters swapped — are found
by an indexed lookup, never by a scan of all names; their normal forms then fetch the
spellings the corrected title could contain, like any lookup. Words with digits are not in
it: «Точка 41» is another counterparty than «Точка 42», not a typo of it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import pymorphy3

LEGAL_FORMS = frozenset(
    {"ооо", "оао", "зао", "пао", "ао", "нао", "ип", "llc", "ltd", "inc", "gmbh", "плc"}
)
# Shorter words are neither corrected nor used to correct: too many of them are one edit
# away from each other ("дом", "мир", "чек").
MIN_TYPO_WORD = 4
# The index columns first_token / last_token are varchar(100).
KEY_LENGTH = 100
_WORD = re.compile(r"[^\W_]+")
_QUOTES = re.compile(r"[«»\"“”„‟'‘’`]")


@functools.cache
def _morph() -> pymorphy3.MorphAnalyzer:
    # Loaded with the first name or title read, not at start; the dictionaries take ~0.2 s
    # and ~24 MB, the modules with rapidfuzz ~6 MB (issue 21).
    import pymorphy3

    return pymorphy3.MorphAnalyzer(lang="ru")


def _plain(word: str) -> str:
    return word.lower().replace("ё", "е")


def _parses(word: str) -> list[pymorphy3.analyzer.Parse]:
    try:
        return list(_morph().parse(word))
    except ValueError:  # a character Unicode has no name for (unassigned, private use)
        return []


@functools.lru_cache(maxsize=100_000)
def word_keys(word: str) -> frozenset[str]:
    """A title word and every normal form it may be of (`word` is lower-case, ё as е)."""
    return frozenset({word, *(_plain(p.normal_form) for p in _parses(word))})


@functools.lru_cache(maxsize=100_000)
def lemma(word: str) -> str:
    """The normal form of a word of a name, read as a nominative where it can be one."""
    parses = _parses(word)
    nominative = [p for p in parses if p.tag.case == "nomn"]
    return _plain((nominative or parses)[0].normal_form) if parses else word


def tokens(text: str) -> list[str]:
    words = _WORD.findall(_plain(text))
    return [w for w in words if w not in LEGAL_FORMS]


def normalize(text: str) -> str:
    """The canonical written form stored in counterparty_names.normalized."""
    return " ".join(tokens(text))


def deletions(word: str) -> set[str]:
    """`word` and every word one letter shorter: the keys of the typo index. Words with
    digits are not typos of each other («Точка 41» is not «Точка 42»)."""
    if len(word) < MIN_TYPO_WORD or not word.isalpha():
        return set()
    return {word, *(word[:i] + word[i + 1 :] for i in range(len(word)))}


def short_name(spelling: str) -> str:
    """A spelling as a title would carry it: «ООО «Ромашка»» → «Ромашка»."""
    words = _QUOTES.sub(" ", spelling).split()
    kept = [w for w in words if _plain(w).strip(".,:;") not in LEGAL_FORMS]
    return " ".join(kept or words)


# --- names, at save time ------------------------------------------------------------------


class NameForms(NamedTuple):
    """One spelling (name or alias) of a counterparty, as stored in counterparty_names."""

    spelling: str
    normalized: str  # the words as written: «ООО «Северная звезда»» → "северная звезда"
    lemmas: tuple[str, ...]  # their normal forms: ("северный", "звезда")

    @property
    def first_token(self) -> str:
        return self.lemmas[0][:KEY_LENGTH]

    @property
    def last_token(self) -> str:
        return self.lemmas[-1][:KEY_LENGTH]


def name_forms(spelling: str) -> NameForms | None:
    """None when the spelling has no words besides quotes and legal forms."""
    words = tokens(spelling)
    if not words:
        return None
    return NameForms(spelling.strip(), " ".join(words), tuple(lemma(w) for w in words))


def vocabulary(forms: Iterable[NameForms]) -> dict[str, str]:
    """Word → the normal form names use for it: the typo index's words, as written and in
    normal form (a typo is made in the word as written: «Севеная» for «Северная»)."""
    out: dict[str, str] = {}
    for f in forms:
        for written, normal in zip(f.normalized.split(" "), f.lemmas, strict=True):
            for word in (written, normal):
                if deletions(word) and len(word) <= KEY_LENGTH and len(normal) <= KEY_LENGTH:
                    out[word] = normal
    return out


# --- titles -------------------------------------------------------------------------------


class Word(NamedTuple):
    start: int  # where the word is in the title as written
    end: int
    keys: frozenset[str]


def read_title(title: str) -> list[Word]:
    words = []
    for m in _WORD.finditer(title):
        text = _plain(m.group())
        if text not in LEGAL_FORMS:
            words.append(Word(m.start(), m.end(), word_keys(text)))
    return words


def title_keys(words: Sequence[Word]) -> list[str]:
    """What to look the title's candidates up by (first_token / last_token IN ...)."""
    return sorted({k[:KEY_LENGTH] for w in words for k in w.keys})


# --- matching -----------------------------------------------------------------------------


class Candidate(NamedTuple):
    """A stored spelling of a counterparty, with what choosing between matches needs."""

    counterparty_id: int
    lemmas: tuple[str, ...]
    normalized: str = ""
    spelling: str = ""
    counterparty_name: str = ""
    parent_id: int | None = None


class Match(NamedTuple):
    candidate: Candidate
    start: int  # the title words [start, end) that name it
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


def occurrences(words: Sequence[Word], lemmas: Sequence[str]) -> list[int]:
    """Where the name with these normal forms starts among the title's words."""
    n = len(lemmas)
    if n == 0:
        return []
    return [
        i
        for i in range(len(words) - n + 1)
        if all(lemmas[k] in words[i + k].keys for k in range(n))
    ]


def contains_name(words: Sequence[Word], lemmas: Sequence[str]) -> bool:
    return bool(occurrences(words, lemmas))


def all_matches(words: Sequence[Word], candidates: Iterable[Candidate]) -> list[Match]:
    return [
        Match(c, i, i + len(c.lemmas)) for c in candidates for i in occurrences(words, c.lemmas)
    ]


def _covers(a: Match, b: Match) -> bool:
    return a.start <= b.start and b.end <= a.end and a.size > b.size


def choose(matches: Sequence[Match]) -> list[Match]:
    """The counterparties these matches name: one match each, in title order.

    A match inside a longer one is dropped, and so is a chain named beside one of its own
    restaurants. One result: the counterparty. More: the title is ambiguous. The answer
    does not depend on the order the candidates came in.
    """
    kept = [m for m in matches if not any(_covers(o, m) for o in matches)]
    children_of = {m.candidate.parent_id for m in kept}
    kept = [m for m in kept if m.candidate.counterparty_id not in children_of]
    best: dict[int, Match] = {}
    for m in kept:
        current = best.get(m.candidate.counterparty_id)
        if current is None or _rank(m) < _rank(current):
            best[m.candidate.counterparty_id] = m
    return sorted(best.values(), key=lambda m: (m.start, m.candidate.counterparty_id))


def _rank(m: Match) -> tuple[int, int, int, str]:
    return (-m.size, -len(m.candidate.normalized), m.start, m.candidate.normalized)


def best_match(title: str | Sequence[Word], candidates: Iterable[Candidate]) -> list[Match]:
    """The counterparties the title names (see `choose`); empty when it names none."""
    words = read_title(title) if isinstance(title, str) else title
    return choose(all_matches(words, candidates))


# --- typos --------------------------------------------------------------------------------


def typo_probe(words: Sequence[Word]) -> list[str]:
    """The typo-index keys to look up: each title word and its deletions, and a word one
    letter short of a known word («аус» for «хаус»)."""
    probe = {k for w in words for k in w.keys if len(k) == MIN_TYPO_WORD - 1 and k.isalpha()}
    return sorted(probe.union(*(deletions(k) for w in words for k in w.keys)))


def corrections(words: Sequence[Word], candidates: Iterable[Candidate]) -> list[set[str]]:
    """For each title word, the candidates' words one edit away from it (one letter wrong,
    missing, extra, or two swapped), other than its own forms."""
    from rapidfuzz.distance import OSA

    known = {
        x
        for c in candidates
        for x in (*c.normalized.split(" "), *c.lemmas)
        if len(x) >= MIN_TYPO_WORD and x.isalpha()
    }
    out: list[set[str]] = []
    for w in words:
        keys = [k for k in w.keys if k.isalpha()]
        out.append(
            {
                x
                for x in known
                if x not in w.keys
                and any(
                    abs(len(x) - len(k)) <= 1 and OSA.distance(x, k, score_cutoff=1) <= 1
                    for k in keys
                )
            }
        )
    return out


class Suggestion(NamedTuple):
    counterparty_id: int
    name: str  # the counterparty's name
    title: str  # the title with the misspelt words replaced by the name


def suggest(
    title: str, words: Sequence[Word], candidates: Iterable[Candidate], limit: int = 5
) -> list[Suggestion]:
    """Counterparties the title would name with some of its words corrected, each with the
    title that names it: the misspelt span replaced by the spelling as a title carries it.

    `candidates` must include every spelling whose first and last normal forms are among
    the title's or its corrections' (what the typo index finds). Closest first: fewer
    corrected words, then the longer name, then the older counterparty.
    """
    candidates = list(candidates)
    fixes = corrections(words, candidates)
    fixed = [
        Word(w.start, w.end, w.keys.union(*map(word_keys, f))) if f else w
        for w, f in zip(words, fixes, strict=True)
    ]
    ranked: dict[int, tuple[tuple[int, int, int], Suggestion]] = {}
    for m in all_matches(fixed, candidates):
        changed = sum(
            1 for k in range(m.start, m.end) if m.candidate.lemmas[k - m.start] not in words[k].keys
        )
        if not changed:
            continue
        c = m.candidate
        start, end = words[m.start].start, words[m.end - 1].end
        rank = (changed, -m.size, c.counterparty_id)
        new_title = title[:start] + short_name(c.spelling or c.counterparty_name) + title[end:]
        current = ranked.get(c.counterparty_id)
        if current is None or rank < current[0]:
            ranked[c.counterparty_id] = (
                rank,
                Suggestion(c.counterparty_id, c.counterparty_name, new_title),
            )
    return [s for _, s in sorted(ranked.values())[:limit]]
