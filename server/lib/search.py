"""Text search patterns shared by the list endpoints."""


def contains_pattern(text: str) -> str:
    """A LIKE pattern for 'contains text'. Piccolo's like() has no ESCAPE clause,
    so user-typed wildcards are dropped rather than interpreted."""
    return "%" + text.replace("%", "").replace("_", "") + "%"
