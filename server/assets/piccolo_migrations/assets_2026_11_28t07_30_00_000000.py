"""Equipment search by any part of a serial or model: trigram indexes on PostgreSQL.

`LIKE '%…%'` cannot use a b-tree; with pg_trgm it uses a GIN index instead of reading all
equipment (bench/README.md). pg_trgm ships with PostgreSQL and is a trusted extension
(PostgreSQL 13+): the database owner may create it. Where it cannot be created, the search
still works, by a scan. SQLite: nothing to do.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-28T07:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "equipment trigram search"


async def trigram_indexes() -> None:
    db = engine_finder()
    assert db is not None
    if db.engine_type != "postgres":
        return
    async with db.transaction() as transaction:
        savepoint = await transaction.savepoint("trgm")
        try:
            await db.run_ddl("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except Exception:  # not available or not allowed: keep the scan
            await savepoint.rollback_to()
            return
        await db.run_ddl(
            "CREATE INDEX IF NOT EXISTS equipment_search_trgm ON equipment "
            "USING gin (serial_key gin_trgm_ops, model_key gin_trgm_ops)"
        )


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="assets", description=DESCRIPTION)
    manager.add_raw(trigram_indexes)
    return manager
