import io
import os
import struct
import zlib

import pytest
from PIL import Image

from experience.core.errors import RuleError
from experience.core.images import clean_photo


def jpeg_with_exif(orientation: int = 6, size=(400, 200)) -> bytes:
    image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    exif = Image.Exif()
    exif[0x0112] = orientation  # rotate 90° when shown
    exif[0x8825] = {2: (39.0, 54.0, 0.0), 4: (116.0, 23.0, 0.0)}  # GPS: Beijing
    exif[0x010F] = "PhoneMaker"
    buf = io.BytesIO()
    image.save(buf, "JPEG", exif=exif, quality=90)
    return buf.getvalue()


def test_photo_is_turned_upright_and_stripped():
    cleaned = clean_photo(jpeg_with_exif())
    assert (cleaned.width, cleaned.height) == (200, 400)  # rotated by its orientation
    for data in (cleaned.original, cleaned.web):
        image = Image.open(io.BytesIO(data))
        assert not image.getexif() and "exif" not in image.info and "icc_profile" not in image.info
        # in the segments before the picture's coded data (in which, noise being noise, any
        # three bytes turn up now and then: "GPS" failed this test once in some fifty runs)
        headers = data[: data.index(b"\xff\xda")]
        assert b"PhoneMaker" not in headers and b"GPS" not in headers and b"Exif" not in headers


def test_web_copy_is_small():
    big = Image.frombytes("RGB", (3000, 2000), os.urandom(3000 * 2000 * 3))
    buf = io.BytesIO()
    big.save(buf, "JPEG", quality=85)
    web = Image.open(io.BytesIO(clean_photo(buf.getvalue()).web))
    assert max(web.size) == 1280


def test_png_with_text_chunk_is_stripped():
    image = Image.new("RGBA", (50, 50), (255, 0, 0, 128))
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "secret location")
    buf = io.BytesIO()
    image.save(buf, "PNG", pnginfo=info)
    cleaned = clean_photo(buf.getvalue())
    assert cleaned.extension == "png" and b"secret location" not in cleaned.original


def _bomb() -> bytes:
    """A tiny PNG that claims 100,000 × 100,000 pixels."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + chunk(b"IEND", b"")
    )


def _png_named_jpg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (10, 10)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    "data, code",
    [
        (b"", "empty"),
        (b"<html><script>alert(1)</script></html>", "not_image"),
        (jpeg_with_exif()[:3000], "broken"),  # truncated
        (_bomb(), "too_many_pixels"),
        (b"GIF89a" + b"\x00" * 50, "not_image"),
    ],
)
def test_bad_photos_refused(data, code):
    with pytest.raises(RuleError) as e:
        clean_photo(data)
    assert e.value.code == code


def test_png_named_jpg_is_refused_and_judged_by_content_without_a_name():
    with pytest.raises(RuleError) as e:
        clean_photo(_png_named_jpg(), filename="现场.jpg")
    assert e.value.code == "mismatch"
    assert clean_photo(_png_named_jpg(), filename="现场.png").extension == "png"
    assert clean_photo(_png_named_jpg()).extension == "png"


def test_over_10_mb_refused():
    with pytest.raises(RuleError) as e:
        clean_photo(b"\xff\xd8" + b"\x00" * (10 * 1024 * 1024))
    assert e.value.code == "too_large"


def test_truncated_photo_refused_even_after_weasyprint_is_loaded():
    import weasyprint  # noqa: F401  (it sets Pillow's LOAD_TRUNCATED_IMAGES for the whole process)
    from PIL import ImageFile

    assert ImageFile.LOAD_TRUNCATED_IMAGES
    with pytest.raises(RuleError) as e:
        clean_photo(jpeg_with_exif()[:3000])
    assert e.value.code == "broken"
