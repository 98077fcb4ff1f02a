"""The `?archived=` filter of the directory's lists: pickers show current rows only."""

from __future__ import annotations

from server.lib.errors import InvalidInput

_ARCHIVED: dict[str, bool | None] = {"false": False, "true": True, "all": None}


def archived_filter(value: str) -> bool | None:
    """false (the default: current rows), true (archived only) or all (None)."""
    try:
        return _ARCHIVED[value.strip().lower()]
    except KeyError:
        raise InvalidInput("request.archived_must_false_true", value=value) from None
