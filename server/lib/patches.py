"""PATCH bodies: a field left out is msgspec.UNSET, null clears a nullable one."""

from __future__ import annotations

from typing import Any

import msgspec


def named_fields(patch: msgspec.Struct) -> dict[str, Any]:
    """The fields the PATCH names, with their values (None included)."""
    values = ((f, getattr(patch, f)) for f in patch.__struct_fields__)
    return {f: v for f, v in values if not isinstance(v, msgspec.UnsetType)}
