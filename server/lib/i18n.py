"""Error messages in the reader's language, from one JSON catalogue per language.

Why JSON and not gettext/Babel: the PWA already keeps its words in pwa/i18n/{ru,en}.json with
`{param}` placeholders; the server's catalogue (server/lib/messages/{ru,en}.json) has the same
shape, needs no compile step or new dependency, and its status/template/role/action labels are
checked against the PWA's by a test, so a person sees the same words on a button and in an
error. Keys are stable machine codes (`task.conflict.version`, `r2.counterparty_missing`); the
code travels to the client as `extra.code`.

A parameter whose name says what it holds is shown in words: `status`/`*_status` as a status
label («Новая»), `template` as a template label («Выездная заявка»), `action`, `role`,
`channel`; a list under the plural name (`actions`, `roles`, `channels`, `statuses`,
`templates`) is shown as labels joined by commas. Internal codes never reach a person."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

LANGUAGES = ("ru", "en")
DEFAULT_LANGUAGE = "ru"
_DIR = Path(__file__).with_name("messages")
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
# parameter name -> label section
_KINDS = {
    "status": "status",
    "statuses": "status",
    "template": "template",
    "templates": "template",
    "action": "action",
    "actions": "action",
    "role": "role",
    "roles": "role",
    "channel": "channel",
    "channels": "channel",
    "doing": "doing",
}


@cache
def catalogue(language: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((_DIR / f"{language}.json").read_text(encoding="utf-8"))
    return data


def messages(language: str) -> dict[str, str]:
    found: dict[str, str] = catalogue(language)["messages"]
    return found


def labels(language: str, kind: str) -> dict[str, str]:
    found: dict[str, str] = catalogue(language)["labels"].get(kind, {})
    return found


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def _kind(name: str) -> str | None:
    return _KINDS.get(name) or ("status" if name.endswith("_status") else None)


class Phrase:
    """A part of a message that is itself a catalogue entry, rendered in the same language."""

    def __init__(self, code: str, /, **params: Any) -> None:
        self.code = code
        self.params = params

    def __repr__(self) -> str:
        return f"Phrase({self.code!r}, **{self.params!r})"


def _shown(language: str, name: str, value: Any) -> str:
    if isinstance(value, Phrase):
        return render(value.code, language, value.params)
    kind = _kind(name)
    words = labels(language, kind) if kind else {}
    if isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping):
        items = [words.get(str(v), str(v)) for v in value]
        return ", ".join(items) if items else labels(language, "words").get("nothing", "—")
    if value is None:
        return "—"
    return words.get(str(value), str(value))


def label(language: str, kind: str, value: str) -> str:
    return labels(pick(language), kind).get(value, value)


def pick(language: str | None) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def render(code: str, language: str | None, params: Mapping[str, Any] | None = None) -> str:
    """The message for `code` in `language` (ru if unknown); an unknown code is shown as is."""
    language = pick(language)
    template = messages(language).get(code) or messages("en").get(code)
    if template is None:
        return code
    values = {name: _shown(language, name, value) for name, value in (params or {}).items()}
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def from_accept_language(header: str | None) -> str | None:
    """The first supported language of an Accept-Language header, by q-value; None if none."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, rest = part.strip().partition(";")
        quality = 1.0
        if rest.strip().startswith("q="):
            try:
                quality = float(rest.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, index, primary))
    return min(ranked)[2] if ranked else None
