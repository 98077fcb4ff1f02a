"""Editing the directory (issue 13): counterparties, contacts and sites change in place,
are archived instead of deleted, and duplicate contacts are merged.

Every edit is one transaction: a refused field leaves the whole row as it was. Archiving
takes a counterparty's names out of the R2 index (and restoring puts them back), so the
title matcher never sees archived counterparties; tasks and print forms keep showing them.
"""

from __future__ import annotations

from typing import Any, TypeVar

from piccolo.table import Table

from server import db
from server.clients import names
from server.clients import service as clients
from server.clients.events import ContactsMerged, SiteSaved
from server.clients.schemas import (
    ContactOut,
    ContactPatch,
    CounterpartyOut,
    CounterpartyPatch,
    SiteOut,
    SitePatch,
)
from server.clients.tables import Contact, Counterparty, CounterpartyName, Site
from server.lib import clock, events
from server.lib.actor import Actor
from server.lib.addresses import is_email
from server.lib.errors import InvalidInput, NotFound
from server.lib.patches import named_fields

T = TypeVar("T", bound=Table)
# Serialises parent changes on PostgreSQL, so two concurrent edits cannot close a cycle.
_PARENTS_LOCK = 712_013


async def _one(table: type[T], row_id: int, what: str, *, lock: bool = False) -> dict[str, Any]:
    query = table.select().where(table._meta.primary_key == row_id)
    if lock and not db.is_sqlite():
        query = query.lock_rows()
    row: dict[str, Any] | None = await query.first().output(load_json=True)
    if row is None:
        raise NotFound("client.not_found", what=what, row_id=row_id)
    return row


async def _locked(table: type[T], row_id: int, what: str) -> dict[str, Any]:
    """The row, locked until the transaction ends (SELECT … FOR UPDATE on PostgreSQL; on
    SQLite the IMMEDIATE transaction already holds the write lock)."""
    return await _one(table, row_id, what, lock=True)


def _text(field: str, value: str) -> str:
    value = value.strip()
    if not value:
        raise InvalidInput("client.must_not_blank", field=field)
    return value


# --- counterparties --------------------------------------------------------------------------


def _name_forms(name: str, aliases: list[str]) -> list[names.NameForms]:
    """The R2 index entries of a name and its aliases; each must hold a word a title can show."""
    forms: list[names.NameForms] = []
    for field, spelling in [("name", name), *(("aliases", a) for a in aliases)]:
        form = names.name_forms(spelling)
        if form is None:
            raise InvalidInput("client.no_words_besides_quotes", field=field, spelling=spelling)
        if all(f.normalized != form.normalized for f in forms):
            forms.append(form)
    return forms


def _domain(value: str) -> str:
    domain = value.strip().lower().lstrip("@")
    if not clients.is_email_domain(domain):
        raise InvalidInput("client.email_domains_not_e", value=value)
    return domain


async def _check_parent(counterparty_id: int, parent_id: int) -> None:
    """parent_id must be a current counterparty that is not this one nor below it."""
    if parent_id == counterparty_id:
        raise InvalidInput("client.parent_id_counterparty_cannot")
    if not db.is_sqlite():
        await Counterparty.raw("SELECT pg_advisory_xact_lock({})", _PARENTS_LOCK)
    parent = (
        await Counterparty.select(Counterparty.name, Counterparty.archived)
        .where(Counterparty.id == parent_id)
        .first()
    )
    if parent is None:
        raise InvalidInput("client.parent_id_no_such", parent_id=parent_id)
    if parent["archived"]:
        raise InvalidInput("client.parent_id_archived", parent_id=parent_id, name=parent["name"])
    seen: set[int] = set()
    current: int | None = parent_id
    while current is not None and current not in seen:
        if current == counterparty_id:
            raise InvalidInput(
                "client.parent_id_belongs_counterparty", parent_id=parent_id, name=parent["name"]
            )
        seen.add(current)
        row = (
            await Counterparty.select(Counterparty.parent).where(Counterparty.id == current).first()
        )
        current = row["parent"] if row else None


async def update_counterparty(counterparty_id: int, patch: CounterpartyPatch) -> CounterpartyOut:
    """Change the fields named in `patch`. New names and aliases reach the R2 index in the
    same transaction; `archived` takes them out of it (or puts them back)."""
    given = named_fields(patch)
    async with db.transaction():
        row = await _locked(Counterparty, counterparty_id, "counterparty")
        changes: dict[Any, Any] = {}
        name, aliases = row["name"], list(row["aliases"] or [])
        if "name" in given:
            name = changes[Counterparty.name] = _text("name", given["name"])
        if "aliases" in given:
            aliases = changes[Counterparty.aliases] = [
                _text("aliases", a) for a in given["aliases"]
            ]
        if "email_domains" in given:
            domains = [_domain(d) for d in given["email_domains"]]
            changes[Counterparty.email_domains] = list(dict.fromkeys(domains))
        if "parent_id" in given:
            if given["parent_id"] is not None:
                await _check_parent(counterparty_id, given["parent_id"])
            changes[Counterparty.parent] = given["parent_id"]
        if "category" in given:
            changes[Counterparty.category] = (given["category"] or "").strip().lower() or None
        if "language" in given:
            changes[Counterparty.language] = given["language"]
        was_archived = bool(row["archived"])
        archived = given.get("archived", was_archived)
        if "archived" in given:
            changes[Counterparty.archived] = archived
        if changes:
            await Counterparty.update(changes).where(Counterparty.id == counterparty_id)
        if "name" in given or "aliases" in given or archived != was_archived:
            forms = _name_forms(name, aliases)
            await CounterpartyName.delete().where(CounterpartyName.counterparty == counterparty_id)
            if not archived:
                await clients.save_names(counterparty_id, forms)
    return await clients.get_counterparty(counterparty_id)


# --- contacts ------------------------------------------------------------------------------


def _email(value: str | None) -> str | None:
    email = value.strip().lower() if value else None
    if email is not None and not is_email(email):
        raise InvalidInput("client.email_not_e_mail", value=value)
    return email


async def get_contact(contact_id: int) -> ContactOut:
    return clients.contact_out(await _one(Contact, contact_id, "contact"))


async def update_contact(contact_id: int, patch: ContactPatch) -> ContactOut:
    """Change the fields named in `patch`. A new counterparty_id is where the contact's
    next mail lands (R5); its earlier mail tasks are fixed by apply-counterparty."""
    given = named_fields(patch)
    async with db.transaction():
        await _locked(Contact, contact_id, "contact")
        changes: dict[Any, Any] = {}
        if "name" in given:
            changes[Contact.name] = _text("name", given["name"])
        if "email" in given:
            changes[Contact.email] = _email(given["email"])
        if "phone" in given:
            changes[Contact.phone] = (given["phone"] or "").strip() or None
        if "counterparty_id" in given:
            if given["counterparty_id"] is not None:
                await clients.require_counterparty(given["counterparty_id"])
            changes[Contact.counterparty] = given["counterparty_id"]
        if "archived" in given:
            changes[Contact.archived] = given["archived"]
        if changes:
            await Contact.update(changes).where(Contact.id == contact_id)
    return await get_contact(contact_id)


async def merge_contacts(actor: Actor, contact_id: int, into_id: int) -> ContactOut:
    """Merge a duplicate into `into_id` and delete it. Every row that refers to the duplicate
    moves to the survivor (ContactsMerged; the tasks moved record it in their history); the
    survivor keeps its own values and takes the e-mail, phone and counterparty it lacked.

    Deleted rather than archived: nothing refers to it any more, and a twin with the same
    e-mail would leave mail intake two contacts to choose from."""
    if into_id == contact_id:
        raise InvalidInput("client.into_id_contact_cannot")
    async with db.transaction():
        query = Contact.select().where(Contact.id.is_in([contact_id, into_id])).order_by(Contact.id)
        if not db.is_sqlite():
            query = query.lock_rows()  # both rows, in id order: no deadlock between merges
        rows = {r["id"]: r for r in await query}
        if contact_id not in rows:
            raise NotFound("client.contact_not_found", contact_id=contact_id)
        if into_id not in rows:
            raise NotFound("client.into_id_contact_not", into_id=into_id)
        duplicate, survivor = rows[contact_id], rows[into_id]
        if survivor["archived"]:
            raise InvalidInput(
                "client.into_id_contact_archived", into_id=into_id, contact_id=contact_id
            )
        gaps: dict[Any, Any] = {
            column: duplicate[key]
            for column, key in (
                (Contact.email, "email"),
                (Contact.phone, "phone"),
                (Contact.counterparty, "counterparty"),
            )
            if survivor[key] is None and duplicate[key] is not None
        }
        if gaps:
            await Contact.update(gaps).where(Contact.id == into_id)
        await events.emit(
            ContactsMerged(
                from_contact_id=contact_id,
                into_contact_id=into_id,
                from_name=duplicate["name"],
                from_email=duplicate["email"],
                actor_id=actor.id,
                at=clock.now(),
            )
        )
        await Contact.delete().where(Contact.id == contact_id)
    return await get_contact(into_id)


# --- sites -----------------------------------------------------------------------------------


async def update_site(site_id: int, patch: SitePatch) -> SiteOut:
    given = named_fields(patch)
    async with db.transaction():
        row = await _locked(Site, site_id, "site")
        changes: dict[Any, Any] = {}
        if "name" in given:
            changes[Site.name] = _text("name", given["name"])
        if "address" in given:
            changes[Site.address] = _text("address", given["address"])
        if "lat" in given or "lon" in given:
            lat, lon = given.get("lat", row["lat"]), given.get("lon", row["lon"])
            if (lat is None) != (lon is None):
                raise InvalidInput("client.lat_lon_give_both")
            changes[Site.lat], changes[Site.lon] = lat, lon
        if "counterparty_id" in given:
            await clients.require_counterparty(given["counterparty_id"])
            changes[Site.counterparty] = given["counterparty_id"]
        if "archived" in given:
            changes[Site.archived] = given["archived"]
        if changes:
            await Site.update(changes).where(Site.id == site_id)
        address_changed = Site.address in changes and changes[Site.address] != row["address"]
        point_given = "lat" in given or "lon" in given
        if address_changed or point_given:
            await events.emit(
                SiteSaved(
                    site_id=site_id,
                    created=False,
                    address_changed=address_changed,
                    point_given=point_given,
                    at=clock.now(),
                )
            )
    return clients.site_out(await _one(Site, site_id, "site"))
