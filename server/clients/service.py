"""Counterparties, contacts, sites, and the R2 lookup of a counterparty in a title."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from server import db
from server.clients import names
from server.clients.schemas import (
    ContactIn,
    ContactOut,
    CounterpartyIn,
    CounterpartyOut,
    SiteIn,
    SiteOut,
)
from server.clients.tables import Contact, Counterparty, CounterpartyName, Site
from server.lib import clock
from server.lib.addresses import is_email
from server.lib.errors import InvalidInput, NotFound
from server.lib.search import contains_pattern

_DOMAIN = re.compile(r"^(?=.{3,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class CounterpartyMatch(msgspec.Struct):
    counterparty_id: int
    name: str
    matched: str  # the normalised name or alias found in the title


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
    )


async def create_counterparty(data: CounterpartyIn) -> CounterpartyOut:
    spellings = [data.name, *data.aliases]
    normalized: list[str] = []
    for spelling in spellings:
        norm = names.normalize(spelling)
        if not norm:
            raise InvalidInput(
                f"{spelling!r} has no words besides quotes and legal forms; "
                "give the counterparty a name that a title can contain"
            )
        if norm not in normalized:
            normalized.append(norm)
    domains = []
    for domain in data.email_domains:
        domain = domain.strip().lower().lstrip("@")
        if not _DOMAIN.match(domain):
            raise InvalidInput(f"{domain!r} is not an e-mail domain such as 'example.ru'")
        domains.append(domain)
    async with db.transaction():
        if data.parent_id is not None and not await Counterparty.exists().where(
            Counterparty.id == data.parent_id
        ):
            raise InvalidInput(f"parent_id {data.parent_id}: no such counterparty")
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
        await CounterpartyName.insert(
            *[
                CounterpartyName(
                    counterparty=row.id,
                    normalized=norm,
                    first_token=norm.split(" ", 1)[0],
                    length=len(norm),
                )
                for norm in normalized
            ]
        )
    return await get_counterparty(row.id)


async def get_counterparty(counterparty_id: int) -> CounterpartyOut:
    row = (
        await Counterparty.select()
        .where(Counterparty.id == counterparty_id)
        .first()
        .output(load_json=True)
    )
    if row is None:
        raise NotFound(f"counterparty {counterparty_id} not found")
    return _counterparty_out(row)


async def list_counterparties(q: str | None, limit: int = 100) -> list[CounterpartyOut]:
    query = Counterparty.select().order_by(Counterparty.name).limit(limit).output(load_json=True)
    if q and (norm := names.normalize(q)):
        ids = CounterpartyName.select(CounterpartyName.counterparty).where(
            CounterpartyName.normalized.like(contains_pattern(norm))
        )
        query = query.where(Counterparty.id.is_in(ids))
    return [_counterparty_out(r) for r in await query]


async def find_counterparty_in_title(title: str) -> CounterpartyMatch | None:
    """The counterparty whose longest name or alias occurs in the title, or None.

    One indexed query fetches only the names whose first word appears in the title,
    so the cost does not grow with the number of counterparties.
    """
    title_tokens = names.tokens(title)
    if not title_tokens:
        return None
    rows = await CounterpartyName.select(
        CounterpartyName.counterparty, CounterpartyName.normalized
    ).where(CounterpartyName.first_token.is_in(sorted(set(title_tokens))))
    best = names.best_match(title, [(r["counterparty"], r["normalized"]) for r in rows])
    if best is None:
        return None
    counterparty = (
        await Counterparty.select(Counterparty.name).where(Counterparty.id == best[0]).first()
    )
    assert counterparty is not None  # names cascade-delete with their counterparty
    return CounterpartyMatch(counterparty_id=best[0], name=counterparty["name"], matched=best[1])


async def title_names_counterparty(title: str, counterparty_id: int) -> bool:
    title_tokens = names.tokens(title)
    rows = await CounterpartyName.select(CounterpartyName.normalized).where(
        CounterpartyName.counterparty == counterparty_id
    )
    return any(names.contains(title_tokens, r["normalized"].split(" ")) for r in rows)


async def create_contact(data: ContactIn) -> ContactOut:
    email = data.email.strip().lower() if data.email else None
    if email is not None and not is_email(email):
        raise InvalidInput(f"{data.email!r} is not an e-mail address")
    async with db.transaction():
        if data.counterparty_id is not None:
            await _require_counterparty(data.counterparty_id)
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


async def list_contacts(counterparty_id: int | None, limit: int = 200) -> list[ContactOut]:
    query = Contact.select().order_by(Contact.name).limit(limit)
    if counterparty_id is not None:
        query = query.where(Contact.counterparty == counterparty_id)
    return [
        ContactOut(
            id=r["id"],
            name=r["name"],
            email=r["email"],
            phone=r["phone"],
            counterparty_id=r["counterparty"],
        )
        for r in await query
    ]


async def create_site(data: SiteIn) -> SiteOut:
    if (data.lat is None) != (data.lon is None):
        raise InvalidInput("give both lat and lon, or neither")
    async with db.transaction():
        await _require_counterparty(data.counterparty_id)
        row = Site(
            counterparty=data.counterparty_id,
            name=data.name.strip(),
            address=data.address.strip(),
            lat=data.lat,
            lon=data.lon,
            created_at=clock.now(),
        )
        await row.save()
    return SiteOut(
        id=row.id,
        counterparty_id=data.counterparty_id,
        name=row.name,
        address=row.address,
        lat=row.lat,
        lon=row.lon,
    )


async def list_sites(counterparty_id: int | None, limit: int = 500) -> list[SiteOut]:
    query = Site.select().order_by(Site.name).limit(limit)
    if counterparty_id is not None:
        query = query.where(Site.counterparty == counterparty_id)
    return [
        SiteOut(
            id=r["id"],
            counterparty_id=r["counterparty"],
            name=r["name"],
            address=r["address"],
            lat=r["lat"],
            lon=r["lon"],
        )
        for r in await query
    ]


async def _require_counterparty(counterparty_id: int) -> None:
    if not await Counterparty.exists().where(Counterparty.id == counterparty_id):
        raise InvalidInput(f"counterparty_id {counterparty_id}: no such counterparty")
