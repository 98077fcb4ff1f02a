"""Geodesic distances on the WGS-84 ellipsoid, exactly as geopy's `geodesic` computes them,
without importing geopy: its package loads its geocoders with aiohttp and requests (~0.1 s
and 16 MB at start). geopy's `geodesic` is geographiclib's inverse problem on WGS-84 in
kilometres; this is the same call, so distances are bit-for-bit the same.

    geodesic((lat1, lon1), (lat2, lon2)).meters
"""

from __future__ import annotations

from typing import Final, NamedTuple

from geographiclib.geodesic import Geodesic

# geopy.distance.ELLIPSOIDS["WGS-84"]: major axis in km, flattening.
_WGS84_KM: Final = Geodesic(6378.137, 1 / 298.257223563)


# (latitude, longitude) in degrees. The columns they come from are nullable, as geopy's
# untyped `geodesic` let callers pass; a None is a TypeError here as it was there.
Point = tuple[float | None, float | None]


class Distance(NamedTuple):
    meters: float


def geodesic(a: Point, b: Point) -> Distance:
    """The shortest distance over the ellipsoid between two points."""
    km: float = _WGS84_KM.Inverse(a[0], a[1], b[0], b[1], Geodesic.DISTANCE)["s12"]
    return Distance(meters=km * 1000)
