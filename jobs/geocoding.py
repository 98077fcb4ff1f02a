"""Geocoding jobs (issue 17): one site after it is saved, and the sweep that retries
failures when their time comes and picks up pending sites whose kick was lost.

Both are idempotent: geocode_site does nothing to a site that is no longer pending or
failed, and writes an answer only while the site's address is the one looked up."""

from __future__ import annotations

from typing import Any

from server.dispatch import geocoding

GEOCODING_SWEEP_SECONDS = 60


async def geocode_site(ctx: dict[str, Any] | None, site_id: int, refresh: bool = False) -> str:
    return await geocoding.geocode_site(site_id, refresh=refresh)


async def sweep_geocoding(ctx: dict[str, Any] | None = None) -> dict[str, int]:
    return await geocoding.sweep()


JOBS = {geocoding.JOB: geocode_site}
