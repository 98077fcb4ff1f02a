"""R2: how counterparty names are compared with task titles.

A name and a title are both reduced to lower-case word tokens: quotes and other punctuation
split words and disappear, ё is read as е, and legal forms (ООО, ИП, LLC...) are dropped.
A name is "in" a title when its tokens occur there contiguously, so «Ромашка» matches
"ООО Ромашка: касса" but not "Ромашковый".
"""

from __future__ import annotations

import re

LEGAL_FORMS = frozenset(
    {"ооо", "оао", "зао", "пао", "ао", "нао", "ип", "llc", "ltd", "inc", "gmbh", "плc"}
)
_WORD = re.compile(r"[^\W_]+")


def tokens(text: str) -> list[str]:
    words = _WORD.findall(text.lower().replace("ё", "е"))
    return [w for w in words if w not in LEGAL_FORMS]


def normalize(text: str) -> str:
    """The canonical form stored in counterparty_names.normalized."""
    return " ".join(tokens(text))


def contains(title_tokens: list[str], name_tokens: list[str]) -> bool:
    """True when name_tokens occur contiguously in title_tokens."""
    n = len(name_tokens)
    if n == 0:
        return False
    first = name_tokens[0]
    return any(
        title_tokens[i] == first and title_tokens[i : i + n] == name_tokens
        for i in range(len(title_tokens) - n + 1)
    )


def best_match(title: str, candidates: list[tuple[int, str]]) -> tuple[int, str] | None:
    """Among (counterparty_id, normalised name) pairs, the longest name found in the title.

    Ties between equally long names go to the oldest counterparty (lowest id), so the
    answer never depends on the order rows came back in.
    """
    title_tokens = tokens(title)
    best: tuple[int, str] | None = None
    for counterparty_id, name in candidates:
        if not contains(title_tokens, name.split(" ")):
            continue
        if best is None or (len(name), -counterparty_id) > (len(best[1]), -best[0]):
            best = (counterparty_id, name)
    return best
