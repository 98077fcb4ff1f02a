"""Cross-site request refusal for cookie-authenticated writes (CSRF).

A browser attaches the session cookie to a request another site makes it send; it also
says where the request comes from (`Origin`, and `Sec-Fetch-Site` in current browsers).
A write carried by the cookie must come from Naryad's own origin: NARYAD_PUBLIC_URL, or
the Host the request was sent to (so the demo works on both 127.0.0.1 and localhost; a
cookie is never sent to a host it was not set for). Requests with neither header do not
come from a browser page (curl, scripts) and pass; bearer-token requests are not checked
at all — no browser adds that header on its own.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from litestar.connection import ASGIConnection

from server.lib.errors import Forbidden

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url.strip().lower())
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    port = parts.port or _DEFAULT_PORTS[parts.scheme]
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port}"


def allowed_origins(public_url: str, host_header: str | None) -> set[str]:
    allowed = {o for o in [_origin_of(public_url)] if o}
    if host_header:
        for scheme in _DEFAULT_PORTS:
            origin = _origin_of(f"{scheme}://{host_header}")
            if origin:
                allowed.add(origin)
    return allowed


def cross_site_refusal(
    connection: ASGIConnection[Any, Any, Any, Any], public_url: str
) -> Forbidden | None:
    """The refusal for a write from another site, or None when it comes from our pages."""
    if connection.scope.get("method", "GET") in SAFE_METHODS:
        return None
    origin = connection.headers.get("origin")
    site = connection.headers.get("sec-fetch-site")
    if origin is not None:
        normalized = _origin_of(origin)
        if normalized and normalized in allowed_origins(public_url, connection.headers.get("host")):
            return None
        source = f"Origin: {origin or '(empty)'}"
    elif site is not None:
        if site.lower() in ("same-origin", "none"):
            return None
        source = f"Sec-Fetch-Site: {site}"
    else:
        return None
    return Forbidden(
        "request.cross_site",
        source=source,
        public_url=public_url.rstrip("/"),
        extra={"code": "request.cross_site"},
    )
