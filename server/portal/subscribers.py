"""Wiring of the portal into tasks: single-task reads carry the client's rating."""

from __future__ import annotations

from server.portal.service import TASK_RATING_SQL, apply_rating, fill_rating
from server.tasks import extensions

extensions.on_single_read(fill_rating)
extensions.read_in_sql(fill_rating, TASK_RATING_SQL, apply_rating)
