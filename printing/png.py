"""A minimal PNG encoder: enough for QR codes and sample signatures, without an imaging library.

Pillow would do, but it is only a transitive dependency here (through WeasyPrint); these few
lines keep the output byte-stable across Pillow versions as well.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

_MAGIC = b"\x89PNG\r\n\x1a\n"
GRAY = 0  # PNG colour type: one byte per pixel
RGBA = 6  # PNG colour type: four bytes per pixel


def encode_png(width: int, height: int, rows: Sequence[bytes], colour_type: int) -> bytes:
    """PNG bytes for 8-bit ``rows`` (each ``width`` pixels, without the filter byte)."""
    if len(rows) != height:
        raise ValueError(f"expected {height} rows, got {len(rows)}")
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 (none) on every scanline
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return (
        _MAGIC
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))
