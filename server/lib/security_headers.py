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

from litestar.datastructures import MutableScopeHeaders
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


async def add_security_headers(message: Message, scope: Scope) -> None:
    """A `before_send` hook: runs for every response, including errors and 404s."""
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    for name, value in HEADERS.items():
        if name not in headers:
            headers[name] = value
    if "Content-Security-Policy" not in headers:
        docs = _is_docs_page(scope.get("path", ""))
        headers["Content-Security-Policy"] = DOCS_POLICY if docs else _pwa_policy()
