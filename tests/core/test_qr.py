"""QR codes read back as a scanner would: PNG directly, SVG after WeasyPrint and rasterising."""

import base64
import io
import re
import subprocess

import pytest
import zxingcpp
from PIL import Image

from experience.core.pdf import render_pdf
from experience.core.qr import qr_data_uri, qr_png, qr_svg

SHORT = "https://exp.example.org/c/3f9K2"
LONG = (
    "https://exp.example.org/checkin/scan?event=2024-110105-0017&guest="
    + "aB3dE6gH9jK2mN5pQ8sT" * 6
    + "&v=1&name=%E7%8E%8B%E5%A0%83"
)


def _read(image: Image.Image) -> list[zxingcpp.Barcode]:
    return [b for b in zxingcpp.read_barcodes(image) if b.format == zxingcpp.BarcodeFormat.QRCode]


@pytest.mark.parametrize("text", [SHORT, LONG, "王堃 喆 犇 报名码 0042"])
def test_png_reads_back(text):
    [code] = _read(Image.open(io.BytesIO(qr_png(text))))
    assert code.text == text and code.ec_level == "M"


def test_png_size_follows_box_size_and_border():
    small, large = (Image.open(io.BytesIO(qr_png(SHORT, box_size=b, border=2))) for b in (4, 8))
    assert small.format == "PNG" and large.size[0] == 2 * small.size[0]
    assert small.size[0] % 4 == 0  # whole modules, quiet zone included


def test_data_uri_is_the_png():
    uri = qr_data_uri(SHORT)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == qr_png(SHORT)


def test_svg_is_an_inline_element_that_scales():
    svg = qr_svg(SHORT)
    assert svg.startswith("<svg ") and svg.endswith("</svg>") and "<?xml" not in svg
    assert re.search(r'viewBox="0 0 (\d+) \1"', svg)
    assert not re.search(r"<svg[^>]* (width|height)=", svg)  # CSS decides the size


@pytest.mark.parametrize("text", [SHORT, LONG])
def test_svg_in_a_weasyprint_pdf_reads_back(app, tmp_path, text):
    html = (
        "<html><head><style>@page { size: A4; margin: 15mm } .qr svg { width: 45mm; height: 45mm }</style>"
        f'</head><body><p>签到码</p><div class="qr">{qr_svg(text)}</div></body></html>'
    )
    (tmp_path / "qr.pdf").write_bytes(render_pdf(html))
    subprocess.run(
        ["pdftoppm", "-r", "150", "-png", "-singlefile", tmp_path / "qr.pdf", tmp_path / "page"],
        check=True,
        capture_output=True,
    )
    with Image.open(tmp_path / "page.png") as page:
        assert [code.text for code in _read(page)] == [text]


def test_largest_payload_fits_and_one_more_byte_raises():
    [code] = _read(Image.open(io.BytesIO(qr_png("x" * 2331, box_size=4))))
    assert code.text == "x" * 2331
    with pytest.raises(ValueError, match="too long"):
        qr_png("x" * 2332)
    with pytest.raises(ValueError, match="too long"):
        qr_svg("x" * 5000)
