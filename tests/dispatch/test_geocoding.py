"""Geocoding site addresses (issue 17): geopy's Nominatim client against a local fake
Nominatim, in a job after the site is saved, cached by normalised address."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
from typing import Any

import pytest
from conftest import geo_env
from fake_nominatim import FakeNominatim
from naryad_harness import ROOT, Backend

from server import settings as process_settings
from server.dispatch import geocoding
from server.settings import Settings

TVERSKAYA = "Москва, ул. Тверская, 7"
ARBAT = "Москва, ул. Новый Арбат, 21"
SOVETSKAYA = "Советская, 1"
NOWHERE = "Нигдеград, ул. Несуществующая, 999"


async def _office(b: Backend) -> dict[str, Any]:
    return await b.user("office")


async def _site(b: Backend, who: dict[str, Any], address: str, **extra: Any) -> dict[str, Any]:
    cp = await b.counterparty(f"Ромашка {b._next()}")
    resp = await b.http.post(
        "/api/sites",
        json={"counterparty_id": cp["id"], "name": "Магазин", "address": address, **extra},
        headers=who["headers"],
    )
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def _settled(b: Backend, who: dict[str, Any], site: dict[str, Any]) -> dict[str, Any]:
    """The site once its geocoding is no longer pending (the job runs after the commit)."""
    deadline = time.monotonic() + 15
    while True:
        resp = await b.http.get(
            f"/api/sites?counterparty={site['counterparty_id']}", headers=who["headers"]
        )
        row = next(s for s in resp.json() if s["id"] == site["id"])
        if row["geocode_status"] != "pending" or time.monotonic() > deadline:
            return row  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)


@pytest.mark.sqlite
async def test_without_a_geocoder_sites_keep_manual_points(backend: Backend) -> None:
    office = await _office(backend)
    site = await _site(backend, office, TVERSKAYA, lat=55.76, lon=37.61)
    assert site["geocode_status"] == "manual"
    assert (site["lat"], site["lon"]) == (55.76, 37.61)
    bare = await _site(backend, office, ARBAT)
    assert bare["geocode_status"] == "manual"
    assert "NARYAD_GEOCODER_URL" in bare["geocode_reason"]
    assert bare["lat"] is None


async def test_a_saved_site_is_geocoded_by_a_job_not_in_the_request(
    geo: Backend, nominatim: FakeNominatim
) -> None:
    office = await _office(geo)
    nominatim.delay_s = 1.0  # a slow geocoder does not slow the request down
    started = time.monotonic()
    site = await _site(geo, office, TVERSKAYA)
    assert time.monotonic() - started < 0.9
    assert site["geocode_status"] == "pending"
    done = await _settled(geo, office, site)
    assert done["geocode_status"] == "found", done
    # two places within a few metres (the building and a shop in it) are one answer
    assert (done["lat"], done["lon"]) == (55.7602196, 37.6117226)
    [search] = nominatim.searches(TVERSKAYA)
    assert search["ua"] == "Naryad tests (dispatch@example.invalid)"
    assert search["params"]["format"] == "json"


async def test_answers_are_cached_by_normalised_address(
    geo: Backend, nominatim: FakeNominatim
) -> None:
    office = await _office(geo)
    first = await _settled(geo, office, await _site(geo, office, ARBAT))
    second = await _settled(geo, office, await _site(geo, office, "москва ул  новый арбат 21"))
    assert first["geocode_status"] == second["geocode_status"] == "found"
    assert (second["lat"], second["lon"]) == (first["lat"], first["lon"])
    assert len(nominatim.searches()) == 1


async def test_ambiguous_address_offers_candidates_and_the_office_picks_one(
    geo: Backend, nominatim: FakeNominatim
) -> None:
    office = await _office(geo)
    site = await _settled(geo, office, await _site(geo, office, SOVETSKAYA))
    assert site["geocode_status"] == "ambiguous"
    assert site["lat"] is None
    names = [c["display_name"] for c in site["geocode_candidates"]]
    assert len(names) == 3 and "Воронеж" in names[2]
    resp = await geo.http.post(
        f"/api/sites/{site['id']}/geocode/choose", json={"index": 2}, headers=office["headers"]
    )
    assert resp.status_code == 200, resp.text
    chosen = resp.json()
    assert chosen["geocode_status"] == "manual"
    assert (chosen["lat"], chosen["lon"]) == (51.672, 39.211)
    again = await geo.http.post(
        f"/api/sites/{site['id']}/geocode/choose", json={"index": 0}, headers=office["headers"]
    )
    assert again.status_code == 409


async def test_unknown_address_is_not_found(geo: Backend) -> None:
    office = await _office(geo)
    site = await _settled(geo, office, await _site(geo, office, NOWHERE))
    assert site["geocode_status"] == "not_found"
    assert site["geocode_reason"]


async def test_address_change_regeocodes_and_a_hand_set_point_is_manual(geo: Backend) -> None:
    office = await _office(geo)
    site = await _settled(geo, office, await _site(geo, office, TVERSKAYA))
    resp = await geo.http.patch(
        f"/api/sites/{site['id']}", json={"address": ARBAT}, headers=office["headers"]
    )
    assert resp.status_code == 200
    assert resp.json()["geocode_status"] == "pending"
    assert resp.json()["lat"] is None  # the old point belonged to the old address
    moved = await _settled(geo, office, site)
    assert (moved["geocode_status"], moved["lat"], moved["lon"]) == ("found", 55.75222, 37.5875)
    resp = await geo.http.patch(
        f"/api/sites/{site['id']}", json={"lat": 55.7, "lon": 37.5}, headers=office["headers"]
    )
    assert resp.json()["geocode_status"] == "manual"
    assert (resp.json()["lat"], resp.json()["lon"]) == (55.7, 37.5)
    renamed = await geo.http.patch(
        f"/api/sites/{site['id']}", json={"name": "Склад"}, headers=office["headers"]
    )
    assert renamed.json()["geocode_status"] == "manual"  # a new name is not a new place


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_an_outage_leaves_the_site_failed_and_retried_later(
    geo: Backend, nominatim: FakeNominatim, status: int
) -> None:
    office = await _office(geo)
    nominatim.fail_with = status
    site = await _settled(geo, office, await _site(geo, office, ARBAT))
    assert site["geocode_status"] == "failed"
    assert "retried later" in site["geocode_reason"]
    # nothing else is affected: tasks are created as ever
    engineer = await geo.user("engineer", groups=("Выездные инженеры",))
    cp = await geo.counterparty("Лютик")
    created = await geo.create_task(
        office, template="field_visit", title="Лютик: касса", counterparty_id=cp["id"]
    )
    assert created.status_code == 201
    assert engineer["id"]
    # the outage ends; the sweep retries once the retry time has come (not before)
    nominatim.fail_with = None
    previous = process_settings.current()
    process_settings.install(Settings.from_env(geo_env(nominatim)))
    try:
        assert await geocoding.sweep() == {}
        later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=11)
        assert await geocoding.sweep(now=later) == {"found": 1}
    finally:
        process_settings.install(previous)
    fixed = await _settled(geo, office, site)
    assert (fixed["geocode_status"], fixed["lat"]) == ("found", 55.75222)


async def test_geocode_all_from_the_command_line(geo: Backend, nominatim: FakeNominatim) -> None:
    office = await _office(geo)
    nominatim.fail_with = 503
    a = await _settled(geo, office, await _site(geo, office, TVERSKAYA))
    b = await _settled(geo, office, await _site(geo, office, SOVETSKAYA))
    assert a["geocode_status"] == b["geocode_status"] == "failed"
    nominatim.fail_with = None
    env = {**os.environ, **geo_env(nominatim), "NARYAD_DATABASE_URL": geo.url}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "server.cli", "geocode", "--all"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert f"[1/2] site {a['id']}" in done.stdout and ": found" in done.stdout
    assert f"[2/2] site {b['id']}" in done.stdout and ": ambiguous" in done.stdout
    assert "geocoded: ambiguous: 1, found: 1" in done.stdout
