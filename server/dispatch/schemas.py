"""The dispatch API's shapes (msgspec). New fields always get defaults."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from server.tasks.schemas import Ref, UserRef

Lat = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Lon = Annotated[float, msgspec.Meta(ge=-180, le=180)]


class LocationIn(msgspec.Struct, forbid_unknown_fields=True):
    lat: Lat
    lon: Lon
    accuracy_m: Annotated[float, msgspec.Meta(ge=0, le=100_000)] | None = None


class LocationOut(msgspec.Struct):
    lat: float
    lon: float
    at: dt.datetime
    accuracy_m: float | None = None


class SharingIn(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool


class SharingOut(msgspec.Struct):
    enabled: bool
    # how often the PWA sends the position while sharing is on
    interval_s: int = 300


class HomeBaseIn(msgspec.Struct, forbid_unknown_fields=True):
    """lat and lon together; both null removes the home base."""

    lat: Lat | None
    lon: Lon | None
    label: Annotated[str, msgspec.Meta(max_length=255)] = ""


class HomeBaseOut(msgspec.Struct):
    user_id: int
    lat: float | None
    lon: float | None
    label: str = ""


class ChooseCandidateIn(msgspec.Struct, forbid_unknown_fields=True):
    index: Annotated[int, msgspec.Meta(ge=0)]


class Position(msgspec.Struct):
    lat: float
    lon: float
    source: str  # location | checkin | home
    at: dt.datetime | None = None


class NearestEngineer(msgspec.Struct):
    user: UserRef
    distance_m: float | None
    open_tasks: int
    position_at: dt.datetime | None
    # where the position comes from: location (shared), checkin (last arrival), home
    source: str | None = None


class RouteTask(msgspec.Struct):
    id: int
    number: int | None
    title: str
    status: str


class RouteSite(msgspec.Struct):
    id: int
    name: str
    address: str
    lat: float | None
    lon: float | None


class RouteStop(msgspec.Struct):
    task: RouteTask
    site: RouteSite | None
    leg_m: float
    eta_at: dt.datetime


class RouteOut(msgspec.Struct):
    date: dt.date
    start: Position | None
    stops: list[RouteStop]
    # visits the route cannot place: no site, or a site without a point
    unplaced: list[RouteTask]
    distance_m: float
    duration_s: float
    speed_kmh: float
    algorithm: str
    navigator_url: str | None
    next_stop_geo_uri: str | None


class BoardVisit(msgspec.Struct):
    task: RouteTask
    template: str
    group: Ref | None
    assignee: UserRef | None
    site: RouteSite | None
    counterparty: str | None


class BoardEngineer(msgspec.Struct):
    user: UserRef
    position: Position | None
    open_tasks: int
    group_ids: list[int]


class BoardOut(msgspec.Struct):
    visits: list[BoardVisit]
    engineers: list[BoardEngineer]
    tile_url: str
    tile_attribution: str
