"""Geocoding of site addresses (issue 17): sites gain their geocode status, the reason of a
failure, the candidates of an ambiguous address, the normalised address the status belongs
to, the attempts and the time of the next retry. Existing sites keep what they have:
`manual` (`naryad geocode --all` geocodes them)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import JSON, Integer, Text, Timestamptz, Varchar

ID = "2026-11-28T09:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "geocode status of sites"

COLUMNS = (
    ("geocode_status", Varchar(length=20, default="manual")),
    ("geocode_reason", Text(null=True, default=None)),
    ("geocode_candidates", JSON(default=[])),
    ("geocode_query", Text(null=True, default=None)),
    ("geocode_attempts", Integer(default=0)),
    ("geocode_retry_at", Timestamptz(null=True, default=None, index=True)),
    ("geocoded_at", Timestamptz(null=True, default=None)),
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)
    for name, column in COLUMNS:
        manager.add_column(
            table_class_name="Site",
            tablename="sites",
            column_name=name,
            db_column_name=name,
            column_class=type(column),
            params=dict(column._meta.params),
        )
    return manager
