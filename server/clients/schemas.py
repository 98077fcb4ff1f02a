"""API shapes of the directory. PATCH bodies name only the fields to change: a missing
field is left as it is, null clears a nullable one; `archived` takes a row out of pickers
and R2 without deleting it."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
Id = Annotated[int, msgspec.Meta(ge=1)]
Domain = Annotated[str, msgspec.Meta(min_length=3, max_length=253)]
Category = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
Email = Annotated[str, msgspec.Meta(max_length=320)]
Phone = Annotated[str, msgspec.Meta(max_length=50)]
Address = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
Lat = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Lon = Annotated[float, msgspec.Meta(ge=-180, le=180)]
UNSET = msgspec.UNSET
Unset = msgspec.UnsetType


class CounterpartyIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    aliases: list[Name] = []
    email_domains: list[Domain] = []
    parent_id: Id | None = None
    # SLA rules may match on it, e.g. "vip"
    category: Category | None = None
    language: Literal["ru", "en"] = "ru"


class CounterpartyPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name | Unset = UNSET
    aliases: list[Name] | Unset = UNSET
    email_domains: list[Domain] | Unset = UNSET
    parent_id: Id | Unset | None = UNSET
    category: Category | Unset | None = UNSET
    language: Literal["ru", "en"] | Unset = UNSET
    archived: bool | Unset = UNSET


class CounterpartyOut(msgspec.Struct):
    id: int
    name: str
    aliases: list[str]
    email_domains: list[str]
    parent_id: int | None
    created_at: dt.datetime | None = None
    category: str | None = None
    language: str = "ru"
    archived: bool = False


class ContactIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    email: Email | None = None
    phone: Phone | None = None
    counterparty_id: Id | None = None


class ContactPatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name | Unset = UNSET
    email: Email | Unset | None = UNSET
    phone: Phone | Unset | None = UNSET
    # From then on mail from this contact lands with this counterparty (R5).
    counterparty_id: Id | Unset | None = UNSET
    archived: bool | Unset = UNSET


class ContactMergeIn(msgspec.Struct, forbid_unknown_fields=True):
    """Merge the contact into `into_id`: its tasks, comments, mail and notifications move."""

    into_id: Id


class ContactOut(msgspec.Struct):
    id: int
    name: str
    email: str | None
    phone: str | None
    counterparty_id: int | None
    archived: bool = False


class CounterpartyAppliedOut(msgspec.Struct):
    """The mail tasks that received the contact's counterparty."""

    task_ids: list[int]


class SiteIn(msgspec.Struct, forbid_unknown_fields=True):
    counterparty_id: Id
    name: Name
    address: Address
    lat: Lat | None = None
    lon: Lon | None = None


class SitePatch(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    counterparty_id: Id | Unset = UNSET
    name: Name | Unset = UNSET
    address: Address | Unset = UNSET
    lat: Lat | Unset | None = UNSET
    lon: Lon | Unset | None = UNSET
    archived: bool | Unset = UNSET


class GeocodeCandidate(msgspec.Struct):
    """One of the places an ambiguous address may be (server/dispatch)."""

    lat: float
    lon: float
    display_name: str


class SiteOut(msgspec.Struct):
    id: int
    counterparty_id: int
    name: str
    address: str
    lat: float | None
    lon: float | None
    archived: bool = False
    # pending | found | ambiguous | not_found | failed | manual (server/dispatch/geocoding.py)
    geocode_status: str = "manual"
    geocode_reason: str | None = None
    geocode_candidates: list[GeocodeCandidate] = msgspec.field(default_factory=list)
