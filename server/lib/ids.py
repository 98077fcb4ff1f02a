"""Ids as the database stores them: PostgreSQL's `serial`/`integer` columns hold 32 bits.

A larger number can name no row; passed on, it makes asyncpg (int32) or sqlite3 (int64)
raise instead of finding nothing. The boundary refuses it first (server/lib/boundary.py);
schemas can say it with `Id`."""

from __future__ import annotations

from typing import Annotated

import msgspec

MAX_ID = 2**31 - 1
MIN_INT = -(2**31)

Id = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]


def in_db_range(value: int) -> bool:
    return MIN_INT <= value <= MAX_ID
