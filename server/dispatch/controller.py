"""Dispatch over HTTP: geocoding choices, positions, nearest engineers, the day route and
the board. Employees only; clients never see where anyone is."""

from __future__ import annotations

import datetime as dt
from typing import Any

from litestar import Controller, Request, get, post, put

from server.clients import service as clients
from server.clients.schemas import SiteOut
from server.clients.tables import Site
from server.dispatch import geocoding, service
from server.dispatch.schemas import (
    BoardOut,
    ChooseCandidateIn,
    HomeBaseIn,
    HomeBaseOut,
    LocationIn,
    LocationOut,
    NearestEngineer,
    RouteOut,
    SharingIn,
    SharingOut,
)
from server.lib.actor import Actor
from server.lib.errors import NotFound
from server.lib.guards import DIRECTORY_WRITERS, EMPLOYEES, roles_allowed

ActorRequest = Request[Actor, str, Any]
ENGINEERS = roles_allowed("engineer")


async def _site(site_id: int) -> SiteOut:
    row = await Site.select().where(Site.id == site_id).first().output(load_json=True)
    if row is None:
        raise NotFound("dispatch.site_not_found", site_id=site_id)
    return clients.site_out(row)


class DispatchController(Controller):
    path = "/api"
    tags = ["dispatch"]

    @post("/sites/{site_id:int}/geocode", guards=[DIRECTORY_WRITERS], status_code=202)
    async def geocode_again(self, site_id: int) -> SiteOut:
        """Ask the geocoder again (not its cache); the site is `pending` until it answers."""
        await geocoding.request_geocoding(site_id)
        return await _site(site_id)

    @post("/sites/{site_id:int}/geocode/choose", guards=[DIRECTORY_WRITERS], status_code=200)
    async def choose_candidate(self, site_id: int, data: ChooseCandidateIn) -> SiteOut:
        """Pick one of an ambiguous address's candidates as the site's point (`manual`)."""
        await geocoding.choose_candidate(site_id, data.index)
        return await _site(site_id)

    @get("/me/location-sharing", guards=[EMPLOYEES])
    async def sharing(self, request: ActorRequest) -> SharingOut:
        return await service.get_sharing(request.user)

    @put("/me/location-sharing", guards=[EMPLOYEES])
    async def set_sharing(self, data: SharingIn, request: ActorRequest) -> SharingOut:
        """Switch sharing on or off; off forgets the positions shared so far."""
        return await service.set_sharing(request.user, data.enabled)

    @post("/me/location", guards=[ENGINEERS], status_code=201)
    async def location(self, data: LocationIn, request: ActorRequest) -> LocationOut:
        """The phone's position while sharing is on (409 when it is off); kept 24 h."""
        return await service.record_location(request.user, data)

    @get("/users/{user_id:int}/home-base", guards=[EMPLOYEES])
    async def home_base(self, user_id: int) -> HomeBaseOut:
        return await service.get_home_base(user_id)

    @put("/users/{user_id:int}/home-base", guards=[DIRECTORY_WRITERS])
    async def set_home_base(self, user_id: int, data: HomeBaseIn) -> HomeBaseOut:
        """Where the engineer's day starts when nothing fresher is known; nulls remove it."""
        return await service.set_home_base(user_id, data)

    @get("/tasks/{task_id:int}/nearest-engineers", guards=[DIRECTORY_WRITERS])
    async def nearest(
        self, task_id: int, request: ActorRequest, limit: int = 5
    ) -> list[NearestEngineer]:
        """Who may take the task, nearest to its site first (geodesic metres)."""
        return await service.nearest_engineers(request.user, task_id, limit)

    @get("/me/route", guards=[ENGINEERS])
    async def route(
        self,
        request: ActorRequest,
        date: dt.date | None = None,
        lat: float | None = None,
        lon: float | None = None,
    ) -> RouteOut:
        """My visits for the day in a suggested order, with distances, rough ETAs and a
        link that opens the route in the phone's maps app."""
        return await service.day_route(request.user, date, lat, lon)

    @get("/dispatch/board", guards=[DIRECTORY_WRITERS])
    async def board(self, group: int | None = None, status: str | None = None) -> BoardOut:
        """Open field visits and engineers with their positions, for the office's map."""
        return await service.board(group, status)
