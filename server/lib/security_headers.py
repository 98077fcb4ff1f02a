"""Security headers on every response: the PWA's pages, its files, the API, the errors.

The Content-Security-Policy allows exactly what the PWA loads (pwa/): its own scripts and
stylesheets (no inline ones, no eval), images from itself plus `data:` (signatures, photo
previews from the API) and `blob:` (photos chosen on the phone), fetches to itself, its
service worker and manifest. Nobody may frame it. The API's documentation pages under
/schema load their viewer from a CDN with inline code, so they only get frame-ancestors.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from litestar.types import Message, Scope

from server import settings as process_settings

PWA_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
DOCS_POLICY = "frame-ancestors 'none'"


@functools.cache
def _with_tiles(tile_url: str) -> str:
    """The dispatch board's map tiles (NARYAD_MAP_TILE_URL) are images from their host."""
    parts = urlsplit(tile_url.replace("{s}", "*"))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return PWA_POLICY
    origin = f"{parts.scheme}://{parts.netloc.replace('{', '').replace('}', '')}"
    return PWA_POLICY.replace("img-src 'self' data: blob:", f"img-src 'self' data: blob: {origin}")


def _pwa_policy() -> str:
    try:
        tile_url = process_settings.current().map_tile_url
    except RuntimeError:  # settings not installed (a bare app in a unit test)
        return PWA_POLICY
    return _with_tiles(tile_url) if tile_url else PWA_POLICY


HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _is_docs_page(path: str) -> bool:
    return path.startswith("/schema") and not path.endswith((".json", ".yaml", ".yml"))


_RAW_HEADERS = [(name.lower().encode(), value.encode()) for name, value in HEADERS.items()]
_CSP = b"content-security-policy"


@functools.cache
def _encoded(policy: str) -> bytes:
    return policy.encode()


async def add_security_headers(message: Message, scope: Scope) -> None:
    """A `before_send` hook: runs for every response, including errors and 404s.

    It works on the message's raw header list (names are lower-case bytes in ASGI): a
    header the response set itself is kept; the others are appended, with one pass over
    what is there (MutableScopeHeaders searched the list once per header asked for)."""
    if message["type"] != "http.response.start":
        return
    headers = list(message.get("headers") or ())
    present = {bytes(name).lower() for name, _ in headers}
    for name, value in _RAW_HEADERS:
        if name not in present:
            headers.append((name, value))
    if _CSP not in present:
        docs = _is_docs_page(scope.get("path", ""))
        headers.append((_CSP, _encoded(DOCS_POLICY if docs else _pwa_policy())))
    message["headers"] = headers
