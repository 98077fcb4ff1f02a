"""The only way a render may load a resource: bundled files under printing/ and data: URIs.

WeasyPrint fetches whatever a document references (stylesheets, images, fonts), over any
protocol urllib knows. Print forms contain user-entered text; the templates escape it, and
this fetcher is the second wall: even markup that slipped through could not read a local
file or make the server call a URL (SSRF). A refusal raises an ordinary exception, which
WeasyPrint logs as a failed fetch and renders on without the resource.
"""

from __future__ import annotations

import base64
import binascii
import logging
import mimetypes
from pathlib import Path
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from weasyprint.urls import URLFetcher, URLFetcherResponse

from printing.paths import PACKAGE_ROOT as PACKAGE_ROOT

log = logging.getLogger(__name__)
# Bigger than any signature or QR code we embed, small enough not to matter for memory.
MAX_DATA_URL_BYTES = 4_000_000


class ResourceRefused(ValueError):
    """A render asked for something outside printing/ or not a data: URI."""


class BundledOnlyFetcher(URLFetcher):  # type: ignore[misc]  # WeasyPrint is untyped
    """Serves files under ``printing/`` and ``data:`` URIs; refuses every other URL.

    ``served`` and ``refused`` record the URLs asked for, so tests (and logs) can show that
    nothing else was requested. One instance belongs to one thread at a time.
    """

    def __init__(self) -> None:
        # allowed_protocols also guards the inherited urllib machinery, which we never call.
        super().__init__(allowed_protocols=("file", "data"), allow_redirects=False)
        self.served: list[str] = []
        self.refused: list[str] = []

    def fetch(self, url: str, headers: dict[str, str] | None = None) -> URLFetcherResponse:
        try:
            response = self._fetch(url)
        except ResourceRefused:
            self.refused.append(url)
            log.warning("print render refused resource %.200s", url)
            raise
        self.served.append(url)
        return response

    def _fetch(self, url: str) -> URLFetcherResponse:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "data":
            mime, body = decode_data_url(url)
            return URLFetcherResponse(url, body, {"Content-Type": mime})
        if scheme == "file" and parts.netloc in ("", "localhost"):
            path = bundled_path(unquote(parts.path))
            mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": mime})
        raise ResourceRefused(f"only bundled files and data: URIs may be loaded: {url:.200}")


def bundled_path(raw_path: str) -> Path:
    """The real path of a file under printing/, or ResourceRefused.

    resolve() removes '..' segments and follows symlinks before the containment check, so
    neither traversal nor a link pointing outside the package gets through.
    """
    path = Path(raw_path).resolve()
    if not path.is_relative_to(PACKAGE_ROOT) or not path.is_file():
        raise ResourceRefused(f"not a bundled file: {raw_path:.200}")
    return path


def decode_data_url(url: str) -> tuple[str, bytes]:
    """(mime type, body) of an RFC 2397 ``data:`` URL, bounded in size."""
    header, sep, payload = url[len("data:") :].partition(",")
    if not sep:
        raise ResourceRefused("malformed data: URL")
    if len(payload) > MAX_DATA_URL_BYTES * 4 // 3 + 4:
        raise ResourceRefused("data: URL too large")
    params = header.split(";")
    mime = params[0].strip().lower() or "text/plain"
    if params[-1].strip().lower() == "base64":
        try:
            body = base64.b64decode(unquote_to_bytes(payload), validate=False)
        except binascii.Error as exc:
            raise ResourceRefused("malformed base64 in data: URL") from exc
    else:
        body = unquote_to_bytes(payload)
    return mime, body
