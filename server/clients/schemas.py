from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
Id = Annotated[int, msgspec.Meta(ge=1)]


class CounterpartyIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    aliases: list[Name] = []
    email_domains: list[Annotated[str, msgspec.Meta(min_length=3, max_length=253)]] = []
    parent_id: Id | None = None
    # SLA rules may match on it, e.g. "vip"
    category: Annotated[str, msgspec.Meta(min_length=1, max_length=50)] | None = None
    language: Literal["ru", "en"] = "ru"


class CounterpartyOut(msgspec.Struct):
    id: int
    name: str
    aliases: list[str]
    email_domains: list[str]
    parent_id: int | None
    created_at: dt.datetime | None = None
    category: str | None = None
    language: str = "ru"


class ContactIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    email: Annotated[str, msgspec.Meta(max_length=320)] | None = None
    phone: Annotated[str, msgspec.Meta(max_length=50)] | None = None
    counterparty_id: Id | None = None


class ContactOut(msgspec.Struct):
    id: int
    name: str
    email: str | None
    phone: str | None
    counterparty_id: int | None


class SiteIn(msgspec.Struct, forbid_unknown_fields=True):
    counterparty_id: Id
    name: Name
    address: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)] | None = None
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)] | None = None


class SiteOut(msgspec.Struct):
    id: int
    counterparty_id: int
    name: str
    address: str
    lat: float | None
    lon: float | None
