"""PostgreSQL: keep each article's `search` tsvector in its row (storage MAIN).

A search ranks up to 400 matches with ts_rank, which reads each match's tsvector. With
PostgreSQL's default storage (EXTENDED) a row over ~2 kB has its largest value moved to
the TOAST table first — that is the tsvector, a few hundred bytes bigger than the body —
so every ranked match cost three more buffer reads and a detoast: over 10 000 articles a
median of 1 379 buffers per search, against 379 with the vector kept in the row (the body,
body_html and search_text go out first instead; a search never reads those). MAIN still
allows compressing it, and moving it out as the last resort for a huge article.

Existing rows are rewritten (`title = title` recomputes the generated column), then the
GIN index's pending list is merged. SQLite: nothing to do.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-28T12:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "knowledge base: the search tsvector stays in the row"

FORWARDS = (
    "ALTER TABLE kb_articles ALTER COLUMN search SET STORAGE MAIN",
    "UPDATE kb_articles SET title = title",
    "SELECT gin_clean_pending_list('kb_articles_search'::regclass)",
)
BACKWARDS = ("ALTER TABLE kb_articles ALTER COLUMN search SET STORAGE EXTENDED",)


async def _run(statements: tuple[str, ...]) -> None:
    db = engine_finder()
    assert db is not None
    if db.engine_type != "postgres":
        return
    async with db.transaction():
        for statement in statements:
            await db.run_ddl(statement)


async def _forwards() -> None:
    await _run(FORWARDS)


async def _backwards() -> None:
    await _run(BACKWARDS)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="kb", description=DESCRIPTION)
    manager.add_raw(_forwards)
    manager.add_raw_backwards(_backwards)
    return manager
