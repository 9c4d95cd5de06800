"""Photos people upload: checked by content, turned upright, stripped, re-encoded.

Pillow decides what a file is (never its name). A decompression bomb (a small file
that unpacks into a huge image) is refused before it is decoded; a truncated file
fails to load; anything not JPEG or PNG is refused. What we keep is a fresh encoding
of the pixels only, so no EXIF (GPS included), ICC or text chunk survives.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps, UnidentifiedImageError

from experience.core.errors import RuleError

MB = 1024 * 1024
#: larger than any phone camera, far smaller than a bomb
MAX_PIXELS = 50_000_000
WEB_SIZE = 1280

MESSAGES = {
    "empty": _l("The photo is empty."),
    "too_large": _l("The photo is larger than %(limit)s MB."),
    "not_image": _l("This file is not a JPG or PNG photo."),
    "broken": _l("The photo is damaged or incomplete. Please choose it again."),
    "too_many_pixels": _l("The photo has too many pixels to be processed."),
    "mismatch": _l("The file's name says %(named)s but it contains %(found)s. Please send the original photo."),
}

_NAMED = {"jpg": "JPEG", "jpeg": "JPEG", "jpe": "JPEG", "png": "PNG"}


@dataclass
class CleanImage:
    original: bytes  # upright, no metadata, as JPEG (or PNG for PNG input)
    web: bytes  # at most WEB_SIZE on its longer side, JPEG
    extension: str
    width: int
    height: int


def clean_photo(data: bytes, *, filename: str = "", max_bytes: int = 10 * MB) -> CleanImage:
    """The content decides what a file is; a name that claims something else (a PNG
    called .jpg) is refused too, since it is a renamed or tampered file.

    :raises RuleError: empty, too_large, not_image, broken, too_many_pixels or mismatch.
    """
    if not data:
        raise RuleError("empty", MESSAGES["empty"])
    if len(data) > max_bytes:
        raise RuleError("too_large", MESSAGES["too_large"], limit=max_bytes // MB)
    image = _open_checked(data, filename)
    fmt = image.format
    image = ImageOps.exif_transpose(image)  # upright, as the camera meant it
    if fmt == "PNG":
        pixels = image.convert("RGBA") if image.mode in ("RGBA", "LA", "P") else image.convert("RGB")
        original, extension = _encode(pixels, "PNG"), "png"
        flat = Image.new("RGB", pixels.size, "white")
        flat.paste(pixels, mask=pixels.split()[-1] if pixels.mode == "RGBA" else None)
    else:
        flat = image.convert("RGB")
        original, extension = _encode(flat, "JPEG", quality=90), "jpg"
    web = flat.copy()
    web.thumbnail((WEB_SIZE, WEB_SIZE))
    return CleanImage(original, _encode(web, "JPEG", quality=82), extension, flat.width, flat.height)


def _open_checked(data: bytes, filename: str) -> Image.Image:
    """The image, decoded, once its format, name, size and structure have passed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            probe = Image.open(io.BytesIO(data))
            if probe.format not in ("JPEG", "PNG"):
                raise RuleError("not_image", MESSAGES["not_image"])
            named = _NAMED.get(filename.rsplit(".", 1)[-1].lower()) if "." in filename else None
            if named and named != probe.format:
                raise RuleError("mismatch", MESSAGES["mismatch"], named=named, found=probe.format)
            if probe.width * probe.height > MAX_PIXELS:
                raise RuleError("too_many_pixels", MESSAGES["too_many_pixels"])
            probe.verify()  # structure and checksums (PNG chunks up to IEND), without decoding
            # WeasyPrint sets Pillow's process-wide LOAD_TRUNCATED_IMAGES, so a cut-off JPEG
            # would load silently: look for its end-of-image marker ourselves.
            if probe.format == "JPEG" and not data.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9"):
                raise RuleError("broken", MESSAGES["broken"])
            image = Image.open(io.BytesIO(data))
            image.load()  # a truncated file fails here
    except RuleError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise RuleError("too_many_pixels", MESSAGES["too_many_pixels"]) from e
    except UnidentifiedImageError as e:
        raise RuleError("not_image", MESSAGES["not_image"]) from e
    except (OSError, SyntaxError, ValueError) as e:
        raise RuleError("broken", MESSAGES["broken"]) from e
    return image


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)  # no exif=, no icc_profile=, no pnginfo=: nothing carried over
    return buf.getvalue()
