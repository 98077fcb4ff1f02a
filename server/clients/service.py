"""Counterparties, contacts, sites, and the R2 lookup of a counterparty in a title."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from piccolo.custom_types import Combinable

from server import db
from server.clients import names
from server.clients.events import SiteSaved
from server.clients.schemas import (
    ContactIn,
    ContactOut,
    CounterpartyIn,
    CounterpartyOut,
    GeocodeCandidate,
    SiteIn,
    SiteOut,
)
from server.clients.tables import Contact, Counterparty, CounterpartyName, CounterpartyWord, Site
from server.lib import clock, events
from server.lib.addresses import is_email
from server.lib.errors import InvalidInput, NotFound
from server.lib.search import contains_pattern

_DOMAIN = re.compile(r"^(?=.{3,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def is_email_domain(domain: str) -> bool:
    """A lower-case domain such as 'example.ru' (no '@')."""
    return bool(_DOMAIN.match(domain))


class CounterpartyMatch(msgspec.Struct):
    counterparty_id: int
    name: str
    matched: str  # the normalised name or alias found in the title


class NameSuggestion(msgspec.Struct):
    """A one-tap fix for an R2 refusal: submit `title` with `counterparty_id` = `id`."""

    id: int
    name: str
    title: str


def _counterparty_out(row: dict[str, Any]) -> CounterpartyOut:
    return CounterpartyOut(
        id=row["id"],
        name=row["name"],
        aliases=row["aliases"] or [],
        email_domains=row["email_domains"] or [],
        parent_id=row["parent"],
        created_at=row["created_at"],
        category=row["category"],
        language=row["language"],
        archived=bool(row["archived"]),
    )


async def create_counterparty(data: CounterpartyIn) -> CounterpartyOut:
    forms: list[names.NameForms] = []
    for spelling in [data.name, *data.aliases]:
        form = names.name_forms(spelling)
        if form is None:
            raise InvalidInput("client.no_words_besides_quotes_2", spelling=spelling)
        if all(f.normalized != form.normalized for f in forms):
            forms.append(form)
    domains = []
    for domain in data.email_domains:
        domain = domain.strip().lower().lstrip("@")
        if not _DOMAIN.match(domain):
            raise InvalidInput("client.not_e_mail_domain", domain=domain)
        domains.append(domain)
    async with db.transaction():
        if data.parent_id is not None and not await Counterparty.exists().where(
            Counterparty.id == data.parent_id
        ):
            raise InvalidInput("client.parent_id_no_such", parent_id=data.parent_id)
        row = Counterparty(
            name=data.name.strip(),
            aliases=[a.strip() for a in data.aliases],
            email_domains=domains,
            parent=data.parent_id,
            category=data.category.strip().lower() if data.category else None,
            language=data.language,
            created_at=clock.now(),
        )
        await row.save()
        await save_names(row.id, forms)
    return await get_counterparty(row.id)


async def save_names(counterparty_id: int, forms: list[names.NameForms]) -> None:
    """Index a counterparty's spellings for R2: its names, and new words for the typo index."""
    await CounterpartyName.insert(
        *[
            CounterpartyName(
                counterparty=counterparty_id,
                spelling=f.spelling,
                normalized=f.normalized,
                lemmas=" ".join(f.lemmas),
                first_token=f.first_token,
                last_token=f.last_token,
                length=len(f.normalized),
            )
            for f in forms
        ]
    )
    words = names.vocabulary(forms)
    if not words:
        return
    known = await CounterpartyWord.select(CounterpartyWord.word).where(
        CounterpartyWord.word.is_in(sorted(words))
    )
    new = sorted(words.keys() - {r["word"] for r in known})
    if new:
        await CounterpartyWord.insert(
            *[
                CounterpartyWord(variant=v, word=w, lemma=words[w])
                for w in new
                for v in sorted(names.deletions(w))
            ]
        )


async def get_counterparty(counterparty_id: int) -> CounterpartyOut:
    row = (
        await Counterparty.select()
        .where(Counterparty.id == counterparty_id)
        .first()
        .output(load_json=True)
    )
    if row is None:
        raise NotFound("client.counterparty_not_found", counterparty_id=counterparty_id)
    return _counterparty_out(row)


async def list_counterparties(
    q: str | None, limit: int = 100, *, archived: bool | None = False
) -> list[CounterpartyOut]:
    """Current counterparties (the pickers), archived ones (`archived=True`) or all (None)."""
    query = Counterparty.select().order_by(Counterparty.name).limit(limit).output(load_json=True)
    if archived is not None:
        query = query.where(Counterparty.archived.eq(archived))
    if q and (norm := names.normalize(q)):
        ids = CounterpartyName.select(CounterpartyName.counterparty).where(
            CounterpartyName.normalized.like(contains_pattern(norm))
        )
        found: Combinable = Counterparty.id.is_in(ids)
        if archived is not False:
            # Archived counterparties are out of the R2 names index: read their own names.
            rows = (
                await Counterparty.select(Counterparty.id, Counterparty.name, Counterparty.aliases)
                .where(Counterparty.archived.eq(True))
                .output(load_json=True)
            )
            hits = [
                r["id"]
                for r in rows
                if any(norm in names.normalize(s) for s in [r["name"], *(r["aliases"] or [])])
            ]
            if hits:
                found = found | Counterparty.id.is_in(hits)
        query = query.where(found)
    return [_counterparty_out(r) for r in await query]


# R2 runs on every task creation: written SQL, ~0.6 ms less per lookup than the ORM's
# query building (bench/r2_bench.py). Same SQL on PostgreSQL and SQLite.
_CANDIDATES_SQL = """
SELECT n.counterparty, n.lemmas, n.normalized, n.spelling,
    c.name AS counterparty_name, c.parent AS parent_id
FROM counterparty_names n JOIN counterparties c ON c.id = n.counterparty
WHERE n.first_token IN ({keys}) AND n.last_token IN ({keys})
"""
# The refusal path's typo index: the normal forms of known words one edit from the title's.
_TYPO_SQL = "SELECT DISTINCT lemma FROM counterparty_words WHERE variant IN ({probe})"


def _placeholders(values: list[str]) -> str:
    return ", ".join("{}" for _ in values)


def _as_candidates(rows: list[dict[str, Any]]) -> list[names.Candidate]:
    return [
        names.Candidate(
            counterparty_id=r["counterparty"],
            lemmas=tuple(r["lemmas"].split(" ")),
            normalized=r["normalized"],
            spelling=r["spelling"],
            counterparty_name=r["counterparty_name"],
            parent_id=r["parent_id"],
        )
        for r in rows
    ]


async def _candidates(keys: list[str]) -> list[names.Candidate]:
    """The one indexed query: spellings whose first and last normal forms occur in the title."""
    if not keys:
        return []
    sql = _CANDIDATES_SQL.format(keys=_placeholders(keys))
    return _as_candidates(await CounterpartyName.raw(sql, *keys, *keys))


async def counterparties_in_title(title: str) -> list[CounterpartyMatch]:
    """R2: the counterparties a title names, in any grammatical case (names.best_match).

    One indexed query fetches only the spellings whose first and last normal forms occur in
    the title, so the cost does not grow with the number of counterparties. One result: the
    counterparty; more: the title is ambiguous; none: it names no known counterparty.
    """
    words = names.read_title(title)
    found = names.best_match(words, await _candidates(names.title_keys(words)))
    return [
        CounterpartyMatch(
            counterparty_id=m.candidate.counterparty_id,
            name=m.candidate.counterparty_name,
            matched=m.candidate.normalized,
        )
        for m in found
    ]


async def find_counterparty_in_title(title: str) -> CounterpartyMatch | None:
    """The one counterparty the title names, or None (none, or more than one)."""
    found = await counterparties_in_title(title)
    return found[0] if len(found) == 1 else None


async def suggest_counterparties(title: str, limit: int = 5) -> list[NameSuggestion]:
    """For a title that names no known counterparty: the counterparties it would name with a
    misspelt word corrected, closest first, each with the corrected title.

    Two indexed queries, bounded by the title's words, not by the number of names: the typo
    index gives the normal forms of known words one edit from the title's words, then those
    and the title's own fetch the spellings the corrected title could contain.
    """
    words = names.read_title(title)
    probe = names.typo_probe(words)
    if not probe:
        return []
    rows = await CounterpartyWord.raw(_TYPO_SQL.format(probe=_placeholders(probe)), *probe)
    if not rows:
        return []
    keys = sorted({*names.title_keys(words), *(r["lemma"] for r in rows)})
    found = names.suggest(title, words, await _candidates(keys), limit)
    return [NameSuggestion(id=s.counterparty_id, name=s.name, title=s.title) for s in found]


async def title_names_counterparty(title: str, counterparty_id: int) -> bool:
    """True when the title names this counterparty (any of its spellings, in any case)."""
    words = names.read_title(title)
    rows = await CounterpartyName.select(CounterpartyName.lemmas).where(
        CounterpartyName.counterparty == counterparty_id
    )
    return any(names.contains_name(words, r["lemmas"].split(" ")) for r in rows)


async def create_contact(data: ContactIn) -> ContactOut:
    email = data.email.strip().lower() if data.email else None
    if email is not None and not is_email(email):
        raise InvalidInput("client.not_e_mail_address", email=data.email)
    async with db.transaction():
        if data.counterparty_id is not None:
            await require_counterparty(data.counterparty_id)
        row = Contact(
            name=data.name.strip(),
            email=email,
            phone=data.phone,
            counterparty=data.counterparty_id,
            created_at=clock.now(),
        )
        await row.save()
    return ContactOut(
        id=row.id,
        name=row.name,
        email=row.email,
        phone=row.phone,
        counterparty_id=data.counterparty_id,
    )


async def list_contacts(
    counterparty_id: int | None, limit: int = 200, *, archived: bool | None = False
) -> list[ContactOut]:
    query = Contact.select().order_by(Contact.name).limit(limit)
    if counterparty_id is not None:
        query = query.where(Contact.counterparty == counterparty_id)
    if archived is not None:
        query = query.where(Contact.archived.eq(archived))
    return [contact_out(r) for r in await query]


def contact_out(r: dict[str, Any]) -> ContactOut:
    return ContactOut(
        id=r["id"],
        name=r["name"],
        email=r["email"],
        phone=r["phone"],
        counterparty_id=r["counterparty"],
        archived=bool(r["archived"]),
    )


async def create_site(data: SiteIn) -> SiteOut:
    if (data.lat is None) != (data.lon is None):
        raise InvalidInput("client.give_both_lat_lon")
    async with db.transaction():
        await require_counterparty(data.counterparty_id)
        row = Site(
            counterparty=data.counterparty_id,
            name=data.name.strip(),
            address=data.address.strip(),
            lat=data.lat,
            lon=data.lon,
            created_at=clock.now(),
        )
        await row.save()
        await events.emit(
            SiteSaved(
                site_id=row.id,
                created=True,
                address_changed=True,
                point_given=data.lat is not None,
                at=row.created_at,
            )
        )
        saved = await Site.select().where(Site.id == row.id).first().output(load_json=True)
    assert saved is not None
    return site_out(saved)


async def list_sites(
    counterparty_id: int | None, limit: int = 500, *, archived: bool | None = False
) -> list[SiteOut]:
    query = Site.select().order_by(Site.name).limit(limit)
    if counterparty_id is not None:
        query = query.where(Site.counterparty == counterparty_id)
    if archived is not None:
        query = query.where(Site.archived.eq(archived))
    return [site_out(r) for r in await query]


def site_out(r: dict[str, Any]) -> SiteOut:
    return SiteOut(
        id=r["id"],
        counterparty_id=r["counterparty"],
        name=r["name"],
        address=r["address"],
        lat=r["lat"],
        lon=r["lon"],
        archived=bool(r["archived"]),
        geocode_status=r.get("geocode_status") or "manual",
        geocode_reason=r.get("geocode_reason"),
        geocode_candidates=msgspec.convert(
            _json_list(r.get("geocode_candidates")), list[GeocodeCandidate]
        ),
    )


def _json_list(value: Any) -> list[Any]:
    """A JSON column as a list, whether or not the select decoded it."""
    if isinstance(value, str):
        value = msgspec.json.decode(value)
    return list(value or [])


async def require_counterparty(counterparty_id: int) -> None:
    """A current counterparty to file a contact or site under; archived ones are refused."""
    row = (
        await Counterparty.select(Counterparty.name, Counterparty.archived)
        .where(Counterparty.id == counterparty_id)
        .first()
    )
    if row is None:
        raise InvalidInput("client.counterparty_id_no_such", counterparty_id=counterparty_id)
    if row["archived"]:
        raise InvalidInput(
            "client.counterparty_id_archived_choose",
            counterparty_id=counterparty_id,
            name=row["name"],
        )
