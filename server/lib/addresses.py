"""What counts as an e-mail address, for every place that accepts one."""

import re

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def is_email(text: str) -> bool:
    """A plausible address (name@domain.tld); delivery is what really proves it."""
    return _EMAIL.fullmatch(text) is not None
