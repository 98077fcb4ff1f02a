"""The render's URL fetcher: bundled files under printing/ and data: URIs, nothing else."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from weasyprint import HTML

from printing.fetcher import (
    MAX_DATA_URL_BYTES,
    PACKAGE_ROOT,
    BundledOnlyFetcher,
    ResourceRefused,
)

FONT = PACKAGE_ROOT / "fonts" / "DejaVuSans.ttf"


def test_serves_bundled_files_and_data_urls() -> None:
    fetcher = BundledOnlyFetcher()
    response = fetcher.fetch(FONT.as_uri())
    assert response.read() == FONT.read_bytes()

    response = fetcher.fetch("data:image/svg+xml;base64," + base64.b64encode(b"<svg/>").decode())
    assert (response.content_type, response.read()) == ("image/svg+xml", b"<svg/>")
    response = fetcher.fetch("data:text/plain,a%20b")
    assert response.read() == b"a b"
    assert fetcher.refused == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x.png",
        "https://example.com/style.css",
        "ftp://example.com/file",
        "file:///etc/passwd",
        "file:///etc/hostname",
        # '..' out of the package, raw and percent-encoded
        (PACKAGE_ROOT / "fonts").as_uri() + "/../../pyproject.toml",
        (PACKAGE_ROOT / "fonts").as_uri() + "/%2e%2e/%2e%2e/pyproject.toml",
        # a host in a file URL would be a network share
        "file://fileserver" + FONT.as_posix(),
        # a directory is not a bundled file
        PACKAGE_ROOT.as_uri(),
        "javascript:alert(1)",
        "data:text/plain;base64",  # no comma: malformed
    ],
)
def test_refuses_everything_else(url: str) -> None:
    fetcher = BundledOnlyFetcher()
    with pytest.raises(ResourceRefused):
        fetcher.fetch(url)
    assert fetcher.refused == [url]


def test_refuses_oversized_data_url() -> None:
    payload = base64.b64encode(b"\0" * (MAX_DATA_URL_BYTES + 10)).decode()
    with pytest.raises(ResourceRefused):
        BundledOnlyFetcher().fetch("data:image/png;base64," + payload)


def test_is_the_second_wall_even_for_raw_markup(trap_server: Any) -> None:
    """If markup ever slipped past the templates' escaping, it could still fetch nothing."""
    base = trap_server.base
    fetcher = BundledOnlyFetcher()
    html = (
        f'<link rel="stylesheet" href="{base}/a.css">'
        '<link rel="stylesheet" href="file:///etc/passwd">'
        f"<style>body {{ background: url({base}/b.png) }}</style>"
        f'<p>text</p><img src="{base}/c.png"><img src="file:///etc/shadow">'
    )
    pdf = HTML(string=html, url_fetcher=fetcher).write_pdf()

    assert pdf is not None and pdf.startswith(b"%PDF-")  # refusals do not abort the render
    assert trap_server.requests == []
    assert set(fetcher.refused) == {
        f"{base}/a.css",
        "file:///etc/passwd",
        f"{base}/b.png",
        f"{base}/c.png",
        "file:///etc/shadow",
    }
    assert fetcher.served == []
