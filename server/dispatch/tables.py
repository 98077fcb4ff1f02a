"""Dispatch (issue 17): the geocoding cache, where engineers are, their home bases."""

from piccolo.columns import (
    JSON,
    Boolean,
    DoublePrecision,
    ForeignKey,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from server.accounts.tables import User


class GeocodeCache(Table, tablename="geocode_cache"):
    """The geocoder's answer per normalised address (server/dispatch/geocoding.py), so a
    second site at one address, a re-save or `naryad geocode --all` asks it nothing.
    Only answers are kept (found, ambiguous, not_found); an outage is never cached."""

    id: Serial
    query_key = Varchar(length=500, unique=True)
    status = Varchar(length=20)
    lat = DoublePrecision(null=True, default=None)
    lon = DoublePrecision(null=True, default=None)
    display_name = Text(default="")
    candidates = JSON(default=[])
    created_at = Timestamptz()


class EngineerPosition(Table, tablename="engineer_positions"):
    """Positions an engineer shared while on duty (POST /api/me/location), kept 24 hours
    and never shown to clients."""

    id: Serial
    user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    lat = DoublePrecision()
    lon = DoublePrecision()
    accuracy_m = DoublePrecision(null=True, default=None)
    at = Timestamptz(index=True)


class EngineerDispatch(Table, tablename="engineer_dispatch"):
    """Per engineer: whether they share their position, and an optional home base (where
    the day starts when nothing fresher is known)."""

    id: Serial
    user = ForeignKey(User, on_delete=OnDelete.cascade, unique=True)
    share_location = Boolean(default=False)
    home_lat = DoublePrecision(null=True, default=None)
    home_lon = DoublePrecision(null=True, default=None)
    home_label = Varchar(length=255, default="")
    updated_at = Timestamptz()
