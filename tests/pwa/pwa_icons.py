"""Draws the PWA's icons (pwa/icons/icon-192.png, icon-512.png) with zlib and struct only.

A blue square with a white «Н» and an amber underline, all inside the central 80 %, so the
512 px icon also serves as the maskable one. Run `python tests/pwa/pwa_icons.py` to redraw
them after a change here; test_pwa checks the committed files are what this draws.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

BLUE = (11, 87, 208)
WHITE = (255, 255, 255)
AMBER = (255, 191, 71)
SIZES = (192, 512)
ICONS = Path(__file__).resolve().parents[2] / "pwa" / "icons"


def _pixel(u: float, v: float) -> tuple[int, int, int]:
    """Colour at (u, v) in the unit square."""
    if 0.27 <= v <= 0.73:
        if 0.27 <= u <= 0.37 or 0.63 <= u <= 0.73:
            return WHITE
        if 0.37 < u < 0.63 and 0.455 <= v <= 0.545:
            return WHITE
    if 0.27 <= u <= 0.73 and 0.77 <= v <= 0.81:
        return AMBER
    return BLUE


def _chunk(tag: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(tag + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)


def draw(size: int) -> bytes:
    """A size×size RGB PNG."""
    rows = b"".join(
        b"\0"
        + bytes(
            channel for x in range(size) for channel in _pixel((x + 0.5) / size, (y + 0.5) / size)
        )
        for y in range(size)
    )
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows, 9))
        + _chunk(b"IEND", b"")
    )


if __name__ == "__main__":
    for size in SIZES:
        (ICONS / f"icon-{size}.png").write_bytes(draw(size))
        print(f"wrote {ICONS / f'icon-{size}.png'}")
