"""Wiring of the portal into tasks: single-task reads carry the client's rating."""

from __future__ import annotations

from server.portal.service import fill_rating
from server.tasks import extensions

extensions.on_single_read(fill_rating)
