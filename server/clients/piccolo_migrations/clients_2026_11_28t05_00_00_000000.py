"""Archiving instead of deleting (issue 13): counterparties, contacts and sites gain
`archived`. Existing rows are current (false)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Boolean
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-28T05:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "archived counterparties, contacts and sites"

TABLES = (("Counterparty", "counterparties"), ("Contact", "contacts"), ("Site", "sites"))


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="clients", description=DESCRIPTION)
    for class_name, tablename in TABLES:
        manager.add_column(
            table_class_name=class_name,
            tablename=tablename,
            column_name="archived",
            db_column_name="archived",
            column_class_name="Boolean",
            column_class=Boolean,
            params={
                "default": False,
                "null": False,
                "primary_key": False,
                "unique": False,
                "index": False,
                "index_method": IndexMethod.btree,
                "choices": None,
                "db_column_name": None,
                "secret": False,
            },
            schema=None,
        )
    return manager
