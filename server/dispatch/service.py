"""Where engineers are, who is nearest to a visit, and an engineer's day (issue 17).

An engineer's position is the freshest of: the position they shared while on duty (kept
LOCATION_TTL, only while sharing is on), the place of their last check-in (arrive), and
their home base. Clients never see any of it: every endpoint is for employees.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from server import db
from server import settings as process_settings
from server.accounts.tables import Membership, User
from server.clients.tables import Site
from server.dispatch import routing
from server.dispatch.schemas import (
    BoardEngineer,
    BoardOut,
    BoardVisit,
    HomeBaseIn,
    HomeBaseOut,
    LocationIn,
    LocationOut,
    NearestEngineer,
    Position,
    RouteOut,
    RouteSite,
    RouteStop,
    RouteTask,
    SharingOut,
)
from server.dispatch.tables import EngineerDispatch, EngineerPosition
from server.lib import clock
from server.lib.actor import Actor
from server.lib.errors import Conflict, InvalidInput, NotFound
from server.lib.geo import geodesic
from server.tasks.schemas import Ref, UserRef
from server.tasks.service import get_task, template_as_created, template_out
from server.tasks.statuses import OPEN_WORK, Status
from server.tasks.tables import Task, Template
from server.tasks.workflow import may_work

LOCATION_TTL = dt.timedelta(hours=24)
SHARE_INTERVAL_S = 300
ALGORITHM = "nearest neighbour from the start, improved by 2-opt; straight-line distances"
# Visits that wait for the engineer to come: the day's route goes through these.
ROUTE_STATUSES = (Status.ACCEPTED, Status.EN_ROUTE)


# --- sharing, positions, home bases ---------------------------------------------------------


async def _profile(user_id: int) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await EngineerDispatch.select().where(EngineerDispatch.user == user_id).first()
    )
    return row


async def _save_profile(user_id: int, changes: dict[Any, Any]) -> None:
    now = clock.now()
    if await _profile(user_id) is None:
        await EngineerDispatch.insert(EngineerDispatch(user=user_id, updated_at=now))
    await EngineerDispatch.update({**changes, EngineerDispatch.updated_at: now}).where(
        EngineerDispatch.user == user_id
    )


async def get_sharing(actor: Actor) -> SharingOut:
    row = await _profile(actor.id)
    return SharingOut(enabled=bool(row and row["share_location"]), interval_s=SHARE_INTERVAL_S)


async def set_sharing(actor: Actor, enabled: bool) -> SharingOut:
    """Switching sharing off forgets every position shared so far."""
    if enabled and not actor.has_role("engineer"):
        raise InvalidInput("dispatch.only_engineers_share_their")
    async with db.transaction():
        await _save_profile(actor.id, {EngineerDispatch.share_location: enabled})
        if not enabled:
            await EngineerPosition.delete().where(EngineerPosition.user == actor.id)
    return await get_sharing(actor)


async def record_location(actor: Actor, data: LocationIn) -> LocationOut:
    row = await _profile(actor.id)
    if not (row and row["share_location"]):
        raise Conflict("dispatch.location_sharing_off_switch")
    now = clock.now()
    async with db.transaction():
        await EngineerPosition.insert(
            EngineerPosition(
                user=actor.id, lat=data.lat, lon=data.lon, accuracy_m=data.accuracy_m, at=now
            )
        )
        # Kept a day: older positions of anyone go with each new one (an index range).
        await EngineerPosition.delete().where(EngineerPosition.at < now - LOCATION_TTL)
    return LocationOut(lat=data.lat, lon=data.lon, at=now, accuracy_m=data.accuracy_m)


async def set_home_base(user_id: int, data: HomeBaseIn) -> HomeBaseOut:
    if (data.lat is None) != (data.lon is None):
        raise InvalidInput("dispatch.lat_lon_give_both")
    user = await User.select(User.roles).where(User.id == user_id).first().output(load_json=True)
    if user is None:
        raise NotFound("dispatch.user_not_found", user_id=user_id)
    if "engineer" not in (user["roles"] or []):
        raise InvalidInput("dispatch.user_not_engineer_only", user_id=user_id)
    async with db.transaction():
        await _save_profile(
            user_id,
            {
                EngineerDispatch.home_lat: data.lat,
                EngineerDispatch.home_lon: data.lon,
                EngineerDispatch.home_label: data.label.strip(),
            },
        )
    return HomeBaseOut(user_id=user_id, lat=data.lat, lon=data.lon, label=data.label.strip())


async def get_home_base(user_id: int) -> HomeBaseOut:
    row = await _profile(user_id)
    if row is None:
        return HomeBaseOut(user_id=user_id, lat=None, lon=None)
    return HomeBaseOut(
        user_id=user_id, lat=row["home_lat"], lon=row["home_lon"], label=row["home_label"]
    )


async def positions(user_ids: list[int], now: dt.datetime | None = None) -> dict[int, Position]:
    """The freshest known position of each user (three queries whatever their number)."""
    if not user_ids:
        return {}
    now = now or clock.now()
    found: dict[int, Position] = {}
    shared = (
        await EngineerPosition.select(
            EngineerPosition.user, EngineerPosition.lat, EngineerPosition.lon, EngineerPosition.at
        )
        .where(EngineerPosition.user.is_in(user_ids) & (EngineerPosition.at >= now - LOCATION_TTL))
        .order_by(EngineerPosition.at, ascending=False)
    )
    for r in shared:
        at = db.stored_datetime(r["at"])
        if r["user"] not in found:
            found[r["user"]] = Position(lat=r["lat"], lon=r["lon"], source="location", at=at)
    checkins = (
        await Task.select(Task.assignee, Task.checkin_lat, Task.checkin_lon, Task.arrived_at)
        .where(
            Task.assignee.is_in(user_ids)
            & Task.checkin_lat.is_not_null()
            & Task.arrived_at.is_not_null()
        )
        .order_by(Task.arrived_at, ascending=False)
        .limit(20 * len(user_ids))
    )
    for r in checkins:
        at = db.stored_datetime(r["arrived_at"])
        known = found.get(r["assignee"])
        if known is None or (known.at is not None and at > known.at):
            found[r["assignee"]] = Position(
                lat=r["checkin_lat"], lon=r["checkin_lon"], source="checkin", at=at
            )
    homes = await EngineerDispatch.select().where(
        EngineerDispatch.user.is_in(user_ids) & EngineerDispatch.home_lat.is_not_null()
    )
    for r in homes:
        found.setdefault(r["user"], Position(lat=r["home_lat"], lon=r["home_lon"], source="home"))
    return found


async def open_task_counts(user_ids: list[int]) -> dict[int, int]:
    """Tasks each user holds and works on (accepted, en route, on site, waiting)."""
    if not user_ids:
        return {}
    rows = await Task.select(Task.assignee).where(
        Task.assignee.is_in(user_ids) & Task.status.is_in([str(s) for s in OPEN_WORK])
    )
    counts: dict[int, int] = {}
    for r in rows:
        counts[r["assignee"]] = counts.get(r["assignee"], 0) + 1
    return counts


# --- nearest engineers ------------------------------------------------------------------------


async def _active_employees() -> list[dict[str, Any]]:
    users = await (
        User.select(User.id, User.full_name, User.roles)
        .where(User.active.eq(True))
        .order_by(User.id)
        .output(load_json=True)
    )
    memberships = await Membership.select(Membership.user, Membership.group)
    groups: dict[int, set[int]] = {}
    for m in memberships:
        groups.setdefault(m["user"], set()).add(m["group"])
    return [
        {**u, "roles": list(u["roles"] or []), "group_ids": groups.get(u["id"], set())}
        for u in users
        if "client" not in (u["roles"] or []) and u["roles"]
    ]


async def nearest_engineers(actor: Actor, task_id: int, limit: int = 5) -> list[NearestEngineer]:
    """Who may take the task (R7), nearest first by geodesic distance to its site. Those
    with no known position come last (distance null), so the office can still assign."""
    if not 1 <= limit <= 50:
        raise InvalidInput("dispatch.limit")
    await get_task(actor, task_id)  # 404 for what the caller cannot see
    task = await Task.select().where(Task.id == task_id).first().output(load_json=True)
    assert task is not None
    template_row = (
        await Template.select()
        .where(Template.id == task["template"])
        .first()
        .output(load_json=True)
    )
    assert template_row is not None
    template = template_as_created(template_out(template_row), task)
    site = (
        await Site.select(Site.lat, Site.lon, Site.name).where(Site.id == task["site"]).first()
        if task["site"]
        else None
    )
    if site is None or site["lat"] is None:
        raise Conflict("dispatch.task_no_site_point", task_id=task_id)
    target = (site["lat"], site["lon"])
    people = [
        u
        for u in await _active_employees()
        if may_work(template, task["group"], u["roles"], u["group_ids"])
    ]
    ids = [u["id"] for u in people]
    where = await positions(ids)
    counts = await open_task_counts(ids)
    result = []
    for u in people:
        pos = where.get(u["id"])
        result.append(
            NearestEngineer(
                user=UserRef(id=u["id"], full_name=u["full_name"]),
                distance_m=round(geodesic(target, (pos.lat, pos.lon)).meters, 1) if pos else None,
                open_tasks=counts.get(u["id"], 0),
                position_at=pos.at if pos else None,
                source=pos.source if pos else None,
            )
        )
    result.sort(key=lambda e: (e.distance_m is None, e.distance_m or 0.0, e.open_tasks, e.user.id))
    return result[:limit]


# --- the engineer's day -----------------------------------------------------------------------


def _zone() -> ZoneInfo:
    return ZoneInfo(process_settings.current().timezone)


def navigator_url(points: list[tuple[float, float]], start: Position | None) -> str | None:
    """A link that opens the route with its waypoints in the phone's maps app: Yandex
    (rtext=a~b~c, any number of points) or Google (origin, destination, up to 9 waypoints;
    the app drops the rest)."""
    if not points:
        return None
    fmt = "{:.6f},{:.6f}".format
    if process_settings.current().route_navigator == "google":
        url = "https://www.google.com/maps/dir/?api=1&travelmode=driving"
        if start is not None:
            url += "&origin=" + fmt(start.lat, start.lon)
        url += "&destination=" + fmt(*points[-1])
        if len(points) > 1:
            url += "&waypoints=" + quote("|".join(fmt(*p) for p in points[:-1]), safe=",")
        return url
    # Yandex: an empty first point means "from where I am".
    first = fmt(start.lat, start.lon) if start is not None else ""
    return "https://yandex.ru/maps/?rtt=auto&rtext=" + "~".join([first, *(fmt(*p) for p in points)])


def _route_task(r: dict[str, Any]) -> RouteTask:
    return RouteTask(id=r["id"], number=r["number"], title=r["title"], status=r["status"])


def _route_site(r: dict[str, Any]) -> RouteSite | None:
    if r["site.id"] is None:
        return None
    return RouteSite(
        id=r["site.id"],
        name=r["site.name"],
        address=r["site.address"],
        lat=r["site.lat"],
        lon=r["site.lon"],
    )


async def day_route(
    actor: Actor,
    day: dt.date | None = None,
    start_lat: float | None = None,
    start_lon: float | None = None,
) -> RouteOut:
    """The caller's visits for `day` in a suggested order: those accepted or on the way,
    plus those postponed until that day. Starts at the given point (the phone's position),
    else the freshest known one (today), else the home base."""
    settings = process_settings.current()
    now = clock.now()
    today = now.astimezone(_zone()).date()
    day = day or today
    if day < today:
        raise InvalidInput("dispatch.date_route_planned_today", today=today)
    if (start_lat is None) != (start_lon is None):
        raise InvalidInput("dispatch.lat_lon_give_both_2")
    day_end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), _zone())
    columns = (
        Task.id,
        Task.number,
        Task.title,
        Task.status,
        Task.site.id,
        Task.site.name,
        Task.site.address,
        Task.site.lat,
        Task.site.lon,
    )
    rows = (
        await Task.select(*columns)
        .where(
            (Task.assignee == actor.id)
            & Task.has_departure.eq(True)
            & (
                Task.status.is_in([str(s) for s in ROUTE_STATUSES])
                | ((Task.status == str(Status.POSTPONED)) & (Task.postponed_until < day_end))
            )
        )
        .order_by(Task.id)
    )
    start: Position | None
    if start_lat is not None and start_lon is not None:
        start = Position(lat=start_lat, lon=start_lon, source="given", at=now)
    else:
        known = (await positions([actor.id], now)).get(actor.id)
        if day > today:
            home = await get_home_base(actor.id)
            if home.lat is not None and home.lon is not None:
                known = Position(lat=home.lat, lon=home.lon, source="home")
        start = known
    placed = [r for r in rows if r["site.lat"] is not None]
    unplaced = [_route_task(r) for r in rows if r["site.lat"] is None]
    points = [(r["site.lat"], r["site.lon"]) for r in placed]
    if start is None and points:
        # Nowhere known to start from: the route starts at its first visit.
        start = Position(lat=points[0][0], lon=points[0][1], source="first_visit")
    order, legs = routing.plan((start.lat, start.lon), points) if start else ([], [])
    speed_ms = settings.route_speed_kmh * 1000 / 3600
    leave = now if day == today else dt.datetime.combine(day, dt.time(9), _zone())
    stops: list[RouteStop] = []
    travelled = 0.0
    for index, leg in zip(order, legs, strict=True):
        travelled += leg
        r = placed[index]
        stops.append(
            RouteStop(
                task=_route_task(r),
                site=_route_site(r),
                leg_m=round(leg, 1),
                eta_at=leave + dt.timedelta(seconds=round(travelled / speed_ms)),
            )
        )
    ordered_points = [points[i] for i in order]
    return RouteOut(
        date=day,
        start=start,
        stops=stops,
        unplaced=unplaced,
        distance_m=round(travelled, 1),
        duration_s=round(travelled / speed_ms),
        speed_kmh=settings.route_speed_kmh,
        algorithm=ALGORITHM,
        navigator_url=navigator_url(ordered_points, start),
        next_stop_geo_uri=(
            "geo:{0:.6f},{1:.6f}?q={0:.6f},{1:.6f}".format(*ordered_points[0])
            if ordered_points
            else None
        ),
    )


# --- the dispatch board -----------------------------------------------------------------------


async def board(group_id: int | None = None, status: str | None = None) -> BoardOut:
    """Today's open field visits (queued and held) and the engineers, for the office."""
    settings = process_settings.current()
    statuses = [str(s) for s in (Status.NEW, *OPEN_WORK)]
    if status:
        if status not in statuses:
            raise InvalidInput("dispatch.status_one", statuses=", ".join(statuses))
        statuses = [status]
    where = Task.has_departure.eq(True) & Task.status.is_in(statuses)
    if group_id is not None:
        where &= Task.group == group_id
    rows = await (
        Task.select(
            Task.id,
            Task.number,
            Task.title,
            Task.status,
            Task.template.code,
            Task.group.id,
            Task.group.name,
            Task.assignee.id,
            Task.assignee.full_name,
            Task.counterparty.name,
            Task.site.id,
            Task.site.name,
            Task.site.address,
            Task.site.lat,
            Task.site.lon,
        )
        .where(where)
        .order_by(Task.id)
        .limit(500)
    )
    visits = [
        BoardVisit(
            task=_route_task(r),
            template=r["template.code"],
            group=Ref(id=r["group.id"], name=r["group.name"]) if r["group.id"] else None,
            assignee=(
                UserRef(id=r["assignee.id"], full_name=r["assignee.full_name"])
                if r["assignee.id"]
                else None
            ),
            site=_route_site(r),
            counterparty=r["counterparty.name"],
        )
        for r in rows
    ]
    people = [u for u in await _active_employees() if "engineer" in u["roles"]]
    if group_id is not None:
        people = [u for u in people if group_id in u["group_ids"]]
    ids = [u["id"] for u in people]
    where_now = await positions(ids)
    counts = await open_task_counts(ids)
    engineers = [
        BoardEngineer(
            user=UserRef(id=u["id"], full_name=u["full_name"]),
            position=where_now.get(u["id"]),
            open_tasks=counts.get(u["id"], 0),
            group_ids=sorted(u["group_ids"]),
        )
        for u in people
    ]
    return BoardOut(
        visits=visits,
        engineers=engineers,
        tile_url=settings.map_tile_url,
        tile_attribution=settings.map_tile_attribution,
    )
