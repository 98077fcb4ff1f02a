"""Security headers on every response: the PWA's pages, its files, the API, the errors.

The Content-Security-Policy allows exactly what the PWA loads (pwa/): its own scripts and
stylesheets (no inline ones, no eval), images from itself plus `data:` (signatures, photo
previews from the API) and `blob:` (photos chosen on the phone), fetches to itself, its
service worker and manifest. Nobody may frame it. The API's documentation pages under
/schema load their viewer from a CDN with inline code, so they only get frame-ancestors.
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

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
        headers["Content-Security-Policy"] = DOCS_POLICY if docs else PWA_POLICY
