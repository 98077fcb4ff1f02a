"""Geocoding site addresses with geopy's Nominatim client (issue 17).

Never in a request: saving a site (SiteSaved) marks it `pending` inside the change's
transaction and, after the commit, enqueues `geocode_site` (arq, or a task in this process).
The job asks the cache first (answers are kept by normalised address), then the geocoder at
NARYAD_GEOCODER_URL through geopy's RateLimiter (one request per geocoder_min_delay_s per
process), and writes the answer only if the address is still the one it looked up.

Statuses: `found` (one place, or several within AMBIGUITY_M of the first), `ambiguous`
(candidates to choose from), `not_found`, `failed` (an outage, a 429 or a 5xx: the reason is
kept and the site is tried again at geocode_retry_at, the delay doubling up to a day) and
`manual` (the point was set by hand or chosen among candidates, or no geocoder is set).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import threading
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit

import msgspec

from server import db
from server import settings as process_settings
from server.clients.schemas import GeocodeCandidate
from server.clients.tables import Site
from server.dispatch.tables import GeocodeCache
from server.lib import background, clock
from server.lib.errors import Conflict, InvalidInput, NotFound
from server.lib.geo import geodesic
from server.lib.logs import get_logger
from server.settings import Settings

log = get_logger("naryad.geocoding")

PENDING, FOUND, AMBIGUOUS = "pending", "found", "ambiguous"
NOT_FOUND, FAILED, MANUAL = "not_found", "failed", "manual"
STATUSES = (PENDING, FOUND, AMBIGUOUS, NOT_FOUND, FAILED, MANUAL)
# Places farther apart than this are different answers (a street and a town of one name);
# nearer ones are the same building told several ways (the house, its entrance, the shop).
AMBIGUITY_M = 300.0
MAX_CANDIDATES = 5
# A kick lost between the commit and the queue is picked up by the sweep after this.
PENDING_GRACE = dt.timedelta(minutes=2)
MAX_RETRY = dt.timedelta(days=1)
SWEEP_BATCH = 20
JOB = "geocode_site"
OFF_REASON = "geocoding is off (NARYAD_GEOCODER_URL is unset): set the point by hand"

_PUNCTUATION = re.compile(r"[^\w/-]+")


def normalise_address(address: str) -> str:
    """The cache key: case, ё, punctuation and spacing do not make another address."""
    return " ".join(_PUNCTUATION.sub(" ", address.lower().replace("ё", "е")).split())[:500]


class Answer(msgspec.Struct, frozen=True):
    status: str  # found | ambiguous | not_found
    lat: float | None = None
    lon: float | None = None
    display_name: str = ""
    candidates: list[GeocodeCandidate] = msgspec.field(default_factory=list)


def answer_from(places: list[tuple[float, float, str]]) -> Answer:
    """Classify the geocoder's places (best first)."""
    if not places:
        return Answer(NOT_FOUND)
    lat, lon, name = places[0]
    candidates = [GeocodeCandidate(lat=p[0], lon=p[1], display_name=p[2]) for p in places]
    if any(geodesic((lat, lon), (p[0], p[1])).meters > AMBIGUITY_M for p in places[1:]):
        return Answer(AMBIGUOUS, candidates=candidates[:MAX_CANDIDATES])
    return Answer(FOUND, lat=lat, lon=lon, display_name=name)


class Geocoder:
    """geopy's Nominatim pointed at NARYAD_GEOCODER_URL (its `/search`), rate-limited.

    geopy's client is synchronous: calls run in a thread, and the RateLimiter (thread-safe)
    spaces them out for the whole process."""

    def __init__(self, settings: Settings) -> None:
        # geopy (with aiohttp and requests) is loaded when a geocoder is configured and first
        # used, not at start.
        from geopy.extra.rate_limiter import RateLimiter
        from geopy.geocoders import Nominatim

        assert settings.geocoder_url
        parts = urlsplit(settings.geocoder_url)
        self.nominatim = Nominatim(
            user_agent=settings.geocoder_user_agent,
            domain=(parts.netloc + parts.path).rstrip("/"),
            scheme=parts.scheme or "https",
            timeout=settings.geocoder_timeout_s,
        )
        delay = settings.geocoder_min_delay_s
        self.search: Callable[..., Any] = RateLimiter(
            self.nominatim.geocode,
            min_delay_seconds=delay,
            max_retries=1,
            error_wait_seconds=max(delay, 1.0),
            swallow_exceptions=False,
        )

    def _lookup(self, address: str) -> Answer:
        found = self.search(address, exactly_one=False, limit=MAX_CANDIDATES) or []
        return answer_from([(loc.latitude, loc.longitude, loc.address) for loc in found])

    async def lookup(self, address: str) -> Answer:
        return await asyncio.to_thread(self._lookup, address)


_geocoders: dict[tuple[Any, ...], Geocoder] = {}
_geocoders_lock = threading.Lock()


def geocoder(settings: Settings) -> Geocoder | None:
    """One per process and configuration, so the rate limit holds across jobs."""
    if not settings.geocoder_url:
        return None
    key = (
        settings.geocoder_url,
        settings.geocoder_user_agent,
        settings.geocoder_min_delay_s,
        settings.geocoder_timeout_s,
    )
    with _geocoders_lock:
        if key not in _geocoders:
            _geocoders[key] = Geocoder(settings)
        return _geocoders[key]


def job_id(site_id: int, query: str, attempts: int, refresh: bool = False) -> str:
    digest = hashlib.sha1(query.encode()).hexdigest()[:12]
    suffix = f":r{clock.now().timestamp():.0f}" if refresh else ""
    return f"geocode:{site_id}:{digest}:{attempts}{suffix}"


# --- inside a site's transaction -----------------------------------------------------------


async def mark_site(site_id: int, *, address_changed: bool, point_given: bool) -> None:
    """What a saved site's status becomes (SiteSaved, phase during); the lookup itself is
    enqueued after the commit."""
    row = await Site.select(Site.address, Site.lat).where(Site.id == site_id).first()
    if row is None:
        return
    settings = process_settings.current()
    query = normalise_address(row["address"] or "")
    common: dict[Any, Any] = {
        Site.geocode_candidates: [],
        Site.geocode_attempts: 0,
        Site.geocode_query: query,
    }
    if point_given and row["lat"] is not None:
        await Site.update(
            {
                **common,
                Site.geocode_status: MANUAL,
                Site.geocode_reason: "the point was set by hand",
                Site.geocode_retry_at: None,
            }
        ).where(Site.id == site_id)
        return
    if not settings.geocoder_url or not query:
        reason = OFF_REASON if query else "the site has no address: set the point by hand"
        await Site.update(
            {
                **common,
                Site.geocode_status: MANUAL,
                Site.geocode_reason: reason,
                Site.geocode_retry_at: None,
            }
        ).where(Site.id == site_id)
        return
    if not (address_changed or point_given):
        return
    # The old point belongs to the old address: better none than a wrong one.
    await Site.update(
        {
            **common,
            Site.lat: None,
            Site.lon: None,
            Site.geocode_status: PENDING,
            Site.geocode_reason: None,
            Site.geocode_retry_at: clock.now() + PENDING_GRACE,
        }
    ).where(Site.id == site_id)
    await kick_after_commit(site_id, query, 0)


async def kick_after_commit(site_id: int, query: str, attempts: int, refresh: bool = False) -> None:
    async def kick() -> None:
        await background.enqueue(
            JOB, site_id, refresh, job_id=job_id(site_id, query, attempts, refresh)
        )

    await db.on_commit(kick, name=f"geocode site {site_id}")


# --- the job --------------------------------------------------------------------------------


async def _cached(query: str) -> Answer | None:
    row = (
        await GeocodeCache.select()
        .where(GeocodeCache.query_key == query)
        .first()
        .output(load_json=True)
    )
    if row is None:
        return None
    return Answer(
        row["status"],
        lat=row["lat"],
        lon=row["lon"],
        display_name=row["display_name"],
        candidates=msgspec.convert(row["candidates"] or [], list[GeocodeCandidate]),
    )


async def _remember(query: str, answer: Answer) -> None:
    async with db.transaction():
        await GeocodeCache.delete().where(GeocodeCache.query_key == query)
        await GeocodeCache.insert(
            GeocodeCache(
                query_key=query,
                status=answer.status,
                lat=answer.lat,
                lon=answer.lon,
                display_name=answer.display_name,
                candidates=msgspec.to_builtins(answer.candidates),
                created_at=clock.now(),
            )
        )


async def geocode_site(site_id: int, *, refresh: bool = False) -> str:
    """Geocode one site; returns its status. Idempotent: a site that is no longer pending
    or failed (answered, set by hand, address changed meanwhile) is left alone, unless
    `refresh` (the office's "geocode again", `naryad geocode --all --refresh`)."""
    settings = process_settings.current()
    row = await Site.select().where(Site.id == site_id).first()
    if row is None:
        return "gone"
    if row["geocode_status"] not in (PENDING, FAILED) and not refresh:
        return str(row["geocode_status"])
    query = normalise_address(row["address"] or "")
    client = geocoder(settings)
    if client is None or not query:
        await Site.update(
            {
                Site.geocode_status: MANUAL,
                Site.geocode_reason: OFF_REASON,
                Site.geocode_retry_at: None,
            }
        ).where(Site.id == site_id)
        return MANUAL
    answer = None if refresh else await _cached(query)
    if answer is None:
        from geopy.exc import GeopyError  # loaded already: `client` is geopy's Nominatim

        try:
            answer = await client.lookup(row["address"])
        except GeopyError as exc:
            return await _failed(site_id, query, row["geocode_attempts"] or 0, exc)
        await _remember(query, answer)
    return await _apply(site_id, query, answer)


def _still_the_same(site_id: int, query: str) -> Any:
    return (Site.id == site_id) & (Site.geocode_query == query)


async def _apply(site_id: int, query: str, answer: Answer) -> str:
    changes: dict[Any, Any] = {
        Site.geocode_status: answer.status,
        Site.geocode_candidates: msgspec.to_builtins(answer.candidates),
        Site.geocode_retry_at: None,
        Site.geocode_attempts: 0,
        Site.geocoded_at: clock.now(),
        Site.geocode_reason: None,
    }
    if answer.status == FOUND:
        changes[Site.lat], changes[Site.lon] = answer.lat, answer.lon
    elif answer.status == NOT_FOUND:
        changes[Site.geocode_reason] = "the geocoder knows no place at this address"
    elif answer.status == AMBIGUOUS:
        changes[Site.geocode_reason] = (
            f"{len(answer.candidates)} places match this address: choose one or set the point"
        )
    async with db.transaction():
        updated = (
            await Site.update(changes).where(_still_the_same(site_id, query)).returning(Site.id)
        )
    if not updated:
        return "stale"  # the address changed meanwhile; its own job answers for it
    log.info("site geocoded", site_id=site_id, status=answer.status)
    return answer.status


async def _failed(site_id: int, query: str, attempts: int, exc: Exception) -> str:
    settings = process_settings.current()
    attempts += 1
    delay = min(dt.timedelta(seconds=settings.geocoder_retry_s * 2 ** (attempts - 1)), MAX_RETRY)
    reason = f"the geocoder did not answer ({type(exc).__name__}: {exc}); retried later"
    async with db.transaction():
        await Site.update(
            {
                Site.geocode_status: FAILED,
                Site.geocode_reason: reason[:500],
                Site.geocode_attempts: attempts,
                Site.geocode_retry_at: clock.now() + delay,
                Site.geocoded_at: clock.now(),
            }
        ).where(_still_the_same(site_id, query))
    log.warning("geocoding failed", site_id=site_id, attempts=attempts, error=repr(exc))
    return FAILED


async def sweep(now: dt.datetime | None = None) -> dict[str, int]:
    """Retry what failed once its time has come, and pending sites whose kick was lost."""
    if not process_settings.current().geocoder_url:
        return {}
    now = now or clock.now()
    rows = (
        await Site.select(Site.id)
        .where(
            Site.geocode_status.is_in([PENDING, FAILED])
            & (Site.geocode_retry_at <= now)
            & (Site.archived.eq(False))
        )
        .order_by(Site.geocode_retry_at)
        .limit(SWEEP_BATCH)
    )
    counts: dict[str, int] = {}
    for r in rows:
        status = await geocode_site(r["id"])
        counts[status] = counts.get(status, 0) + 1
    return counts


# --- the office's choices -------------------------------------------------------------------


async def _site_row(site_id: int) -> dict[str, Any]:
    row = await Site.select().where(Site.id == site_id).first().output(load_json=True)
    if row is None:
        raise NotFound("dispatch.site_not_found", site_id=site_id)
    return cast("dict[str, Any]", row)


async def choose_candidate(site_id: int, index: int) -> None:
    """The office picks one of an ambiguous address's places: the site's point, `manual`."""
    async with db.transaction():
        row = await _site_row(site_id)
        candidates = row["geocode_candidates"] or []
        if row["geocode_status"] != AMBIGUOUS or not candidates:
            raise Conflict(
                "dispatch.site_no_candidates_choose",
                site_id=site_id,
                geocode_status=row["geocode_status"],
            )
        if not 0 <= index < len(candidates):
            raise InvalidInput("dispatch.index_choose", value=len(candidates) - 1)
        chosen = candidates[index]
        await Site.update(
            {
                Site.lat: chosen["lat"],
                Site.lon: chosen["lon"],
                Site.geocode_status: MANUAL,
                Site.geocode_reason: f"chosen among {len(candidates)} places: "
                f"{chosen['display_name']}"[:500],
                Site.geocode_retry_at: None,
            }
        ).where(Site.id == site_id)


async def request_geocoding(site_id: int) -> None:
    """Look the address up again now, asking the geocoder rather than the cache."""
    settings = process_settings.current()
    if not settings.geocoder_url:
        raise Conflict("dispatch.geocoding_off")
    async with db.transaction():
        row = await _site_row(site_id)
        query = normalise_address(row["address"] or "")
        await Site.update(
            {
                Site.geocode_status: PENDING,
                Site.geocode_reason: None,
                Site.geocode_query: query,
                Site.geocode_retry_at: clock.now() + PENDING_GRACE,
            }
        ).where(Site.id == site_id)
        await kick_after_commit(site_id, query, row["geocode_attempts"] or 0, refresh=True)


async def geocode_all(
    *, refresh: bool = False, include_manual: bool = False, echo: Callable[[str], None]
) -> dict[str, int]:
    """`naryad geocode --all`: every current site with an address, one after another at
    the geocoder's rate, with a line of progress per site. Points set by hand are kept
    unless `include_manual`."""
    if not process_settings.current().geocoder_url:
        raise Conflict("dispatch.geocoding_off")
    where: Any = Site.archived.eq(False)
    if not include_manual:
        where &= Site.geocode_status.not_in([MANUAL]) | Site.lat.is_null()
    rows = await Site.select(Site.id, Site.name, Site.address).where(where).order_by(Site.id)
    counts: dict[str, int] = {}
    for n, r in enumerate(rows, 1):
        query = normalise_address(r["address"] or "")
        async with db.transaction():
            await Site.update(
                {
                    Site.geocode_status: PENDING,
                    Site.geocode_query: query,
                    Site.geocode_reason: None,
                    Site.geocode_retry_at: clock.now() + PENDING_GRACE,
                }
            ).where(Site.id == r["id"])
        status = await geocode_site(r["id"], refresh=refresh)
        counts[status] = counts.get(status, 0) + 1
        echo(f"[{n}/{len(rows)}] site {r['id']} «{r['name']}», {r['address']}: {status}")
    return counts
