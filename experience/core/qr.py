"""QR codes as PNG bytes, a PNG ``data:`` URI, or an inline ``<svg>`` element.

All three encode with error correction M (about 15 % of the symbol may be damaged or
covered and it still reads) and a quiet zone of ``border`` modules, which scanners need.
What goes *into* the code (a URL, a versioned token) is the caller's business.
"""

from __future__ import annotations

import base64
import io

import qrcode
from qrcode.constants import ERROR_CORRECT_M
from qrcode.exceptions import DataOverflowError
from qrcode.image.pil import PilImage


def _qr(data: str, *, box_size: int = 10, border: int = 4) -> qrcode.QRCode:
    """The smallest symbol that holds ``data``.

    :raises ValueError: if ``data`` is too long for any QR code (2,331 bytes of UTF-8 at
        level M; keep payloads to a short URL or token: small codes scan faster).
    """
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M, box_size=box_size, border=border)
    qr.add_data(data)
    try:
        qr.make(fit=True)
    except (DataOverflowError, ValueError) as e:  # qrcode 8.2 says "Invalid version (was 41...)"
        raise ValueError(f"{len(data.encode())} bytes is too long for a QR code") from e
    return qr


def qr_png(data: str, *, box_size: int = 10, border: int = 4) -> bytes:
    """A black-on-white PNG; each module is ``box_size`` pixels, the quiet zone ``border`` modules."""
    image = _qr(data, box_size=box_size, border=border).make_image(image_factory=PilImage)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def qr_data_uri(data: str, *, box_size: int = 10, border: int = 4) -> str:
    """``qr_png`` as a ``data:image/png;base64,...`` URI, for ``<img src>`` in PDFs."""
    return "data:image/png;base64," + base64.b64encode(qr_png(data, box_size=box_size, border=border)).decode()


def qr_svg(data: str) -> str:
    """An ``<svg>`` element (no XML declaration) to inline into HTML.

    It has a ``viewBox`` in modules and no width or height, so CSS sizes it (give it
    both, e.g. ``width: 40mm; height: 40mm``). The quiet zone is drawn as a white
    square, so the code also reads on a coloured background. Dark modules are merged
    into horizontal runs: one short path, and no hairline seams between modules.
    """
    matrix = _qr(data).get_matrix()  # booleans, quiet zone included
    n = len(matrix)
    runs = []
    for y, row in enumerate(matrix):
        x = 0
        while x < n:
            if not row[x]:
                x += 1
                continue
            start = x
            while x < n and row[x]:
                x += 1
            runs.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" shape-rendering="crispEdges">'
        f'<rect width="{n}" height="{n}" fill="#fff"/><path fill="#000" d="{"".join(runs)}"/></svg>'
    )
