"""QR code of a task link as a small PNG, made locally (no network, no imaging library)."""

from __future__ import annotations

from functools import lru_cache

from printing.png import GRAY, encode_png

# Pixels per QR module. The form shows the code 20 mm wide with image-rendering: pixelated,
# so edges are sharp at any zoom; 8 px still looks crisp in viewers that smooth images anyway.
_SCALE = 8


# A link is per task: repeated prints of one task reuse the image (a few hundred bytes each).
@lru_cache(maxsize=256)
def qr_png(data: str) -> bytes:
    """A black-on-white QR code (error correction M, one-module quiet zone) as PNG bytes.

    A PNG of the module grid rather than qrcode's SVG: the SVG is one path command per module,
    and WeasyPrint took ~25 ms per form to parse it; the PNG costs nothing to draw.
    """
    import qrcode  # with the first form, not with the server
    import qrcode.constants

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=1)
    code.add_data(data)
    code.make(fit=True)
    rows = []
    for modules in code.get_matrix():
        row = b"".join((b"\x00" if dark else b"\xff") * _SCALE for dark in modules)
        rows.extend([row] * _SCALE)
    size = len(rows)
    return encode_png(size, size, rows, GRAY)
