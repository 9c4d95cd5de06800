"""The rules of photo (平面类) and video (视频类) works, by their content, never their names.

Pure functions over local files: no request, no database. The storage interface hands
them a local copy; the background worker calls them (PyAV and Pillow's decoders are heavy
and stay out of the web workers). The original file is never changed: it is the work.

Photos (附件1 二.(二)): JPG, 5 MB to 15 MB as Windows counts them, a real and complete
JPEG, with a full caption. Videos (附件1 二.(三)): MP4, at most 3 minutes by the longest
stream, complete; where a browser will not play the original, a playable copy.

Running time: ``make_playable_copy`` re-encodes a whole video on one thread. The worker
process that runs it should lower its own priority first (``os.nice(10)`` or more) so that
check-in and the pages keep the CPU during event week; the call belongs where the worker
starts, not here.
"""

from __future__ import annotations

import io
import math
import os
import unicodedata
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

from flask import current_app, has_app_context
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from experience.core.errors import RuleError


class _PyAV:
    """PyAV (and FFmpeg's libraries, some 18 MB) loaded at the first use: the web workers
    import this module for its limits and caption fields, and only the background worker
    probes and converts videos."""

    def __getattr__(self, name: str):
        import av

        return getattr(av, name)


av = _PyAV()

#: 1 MB as Windows shows a file's size (and as the call for works means it)
MB = 1_048_576

# -- Photos ---------------------------------------------------------------------------------

PHOTO_MIN_BYTES = 5 * MB
PHOTO_MAX_BYTES = 15 * MB
#: photos in one work: a single picture or a set (组照); ten sets a bound on what one work
#: asks of the screening panel and on its storage (at most 150 MB), and is more than any
#: photo set in past calls for works
PHOTOS_MAX = 10
#: the decompression-bomb limit: a 102-megapixel medium-format camera fits (its 15 MB JPEG is
#: plausible), while decoding one takes at most ~480 MB (CMYK) in the worker. Pillow's own
#: limit (89 MP warns, 179 MP refuses) is left as it is for the rest of the app.
PHOTO_MAX_PIXELS = 120_000_000
#: the long side of the preview shown on screens and the thumbnail in lists
SCREEN_SIZE = 1920
THUMB_SIZE = 480

# -- Videos ---------------------------------------------------------------------------------

VIDEO_MAX_SECONDS = 180
#: a frame's tolerance never buys more than this (a crafted "0.01 fps" would buy 100 s)
_MAX_FRAME_TOLERANCE = 1.0
#: per file, unless the app's WORKS_VIDEO_MAX_BYTES says otherwise. Three minutes of 1080p
#: from a phone (H.264 at 16–30 Mbit/s) is 360–680 MB, a typical 1080p export at 10–20 Mbit/s
#: 225–450 MB; 1 GiB allows 47 Mbit/s on average, which also takes most phones' 4K HEVC.
VIDEO_MAX_BYTES = 1024 * MB
#: ISO-BMFF brands of MP4 (ISO/IEC 14496-12/-14, DASH, Apple's M4V, Sony's XAVC/MSNV)
MP4_BRANDS = frozenset(
    {"isom", "iso2", "iso3", "iso4", "iso5", "iso6", "iso7", "iso8", "iso9", "mp41", "mp42", "avc1", "dash",
     "M4V ", "M4VH", "M4VP", "mmp4", "MSNV", "XAVC", "f4v ", "cmfc", "cmf2"}
)  # fmt: skip
QUICKTIME_BRAND = "qt  "
#: the playable copy's frame fits in this box (the copy is for viewing; the original stays the work)
COPY_BOX = (1920, 1080)

MESSAGES = {
    # photos
    "photo_too_small": _l(
        "The photo is %(size)s MB; a photo must be 5 MB to 15 MB. Please upload the original photo from "
        "the camera (not one sent through a chat app, which shrinks it)."
    ),
    "photo_too_large": _l(
        "The photo is %(size)s MB; a photo must be 5 MB to 15 MB. Please export it again as JPG at a "
        "slightly lower quality and upload that."
    ),
    "photo_png": _l(
        "This file is a PNG image with a .jpg name, not a JPG photo. Please export it as JPG and upload that."
    ),
    "photo_html": _l(
        "This file is a web page, not a photo (perhaps saved from a browser). Please upload the photo file itself."
    ),
    "photo_not_jpeg": _l("This file is not a JPG photo. Please upload the photo as a JPG file."),
    "photo_truncated": _l(
        "The photo is incomplete: the file ends before the picture does (the upload or a copy was cut off). "
        "Please upload it again from the original."
    ),
    "photo_broken": _l(
        "The photo is damaged and cannot be shown. Please open it on your computer to check it, "
        "then upload the original again."
    ),
    "photo_too_many_pixels": _l(
        "The photo has more than %(limit)s million pixels, more than can be processed. "
        "Please reduce its size in an image editor and upload it again."
    ),
    "photos_too_many": _l("A photo work may have at most %(limit)s photos."),
    "caption_missing": _l("Please fill in the caption's %(field)s."),
    "caption_too_long": _l("The caption's %(field)s may have at most %(limit)s characters."),
    # videos
    "video_empty": _l("The video file is empty. Please choose the video again."),
    "video_too_large": _l(
        "The video is larger than %(limit)s MB. Please export it again as MP4 (H.264, 1080p) and upload that."
    ),
    "video_webm": _l(
        "This file is a WebM video with an .mp4 name, not an MP4. Please export it as MP4 (H.264) and upload that."
    ),
    "video_quicktime": _l(
        "This file is a QuickTime (.mov) video with an .mp4 name. Please export it as MP4 (H.264) and upload that."
    ),
    "video_not_mp4": _l("This file is not an MP4 video. Please export the video as MP4 (H.264) and upload that."),
    "video_incomplete": _l(
        "The video is incomplete or damaged (the upload or a copy may have been cut off). Please upload it "
        "again; if this happens again, export it again as MP4 (H.264)."
    ),
    "video_no_picture": _l("This MP4 file has no picture, only sound. Please upload the video itself."),
    "video_too_long": _l(
        "The video lasts %(duration)s; a video work may last at most 3 minutes (3:00). Please shorten it, "
        "export it again as MP4 and upload that."
    ),
    "video_copy_failed": _l(
        "The video could not be converted for playing in browsers. Please export it again as MP4 (H.264) "
        "and upload that."
    ),
}


def _refuse(code: str, **params) -> RuleError:
    return RuleError(code, MESSAGES[code], **params)


def _mb(size: int) -> str:
    """A size the way Windows shows it beside the file, one decimal."""
    return f"{size / MB:.1f}"


# -- Photos ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhotoInfo:
    #: as the photo is shown, once its EXIF orientation is applied
    width: int
    height: int
    #: bytes of the original
    size: int


def check_photo_count(count: int) -> None:
    """:raises RuleError: ``photos_too_many`` beyond ``PHOTOS_MAX``."""
    if count > PHOTOS_MAX:
        raise _refuse("photos_too_many", limit=PHOTOS_MAX)


def check_jpeg(source: str | os.PathLike | BinaryIO) -> PhotoInfo:
    """A photo work's file (a local path, or a binary stream read from where it is), judged
    by its size and then by its content.

    :raises RuleError: ``photo_too_small``/``photo_too_large`` (``size`` in MB, from the file's
        size before its content is looked at), ``photo_png``, ``photo_html``, ``photo_not_jpeg``,
        ``photo_too_many_pixels``, ``photo_truncated`` or ``photo_broken``.
    """
    if hasattr(source, "read"):
        data = source.read(PHOTO_MAX_BYTES + 1)  # never more than one byte past the limit
        size = len(data)
    else:
        size = os.stat(source).st_size
        data = b""
    if size < PHOTO_MIN_BYTES:
        raise _refuse("photo_too_small", size=_mb(size))
    if size > PHOTO_MAX_BYTES:
        raise _refuse("photo_too_large", size=_mb(size))
    if not data:
        with open(source, "rb") as f:
            data = f.read(PHOTO_MAX_BYTES + 1)
    if not data.startswith(b"\xff\xd8\xff"):
        raise _refuse(_what_else(data))
    image = _open_jpeg(data)
    width, height = image.size
    if width * height > PHOTO_MAX_PIXELS:
        raise _refuse(
            "photo_too_many_pixels", megapixels=round(width * height / 1e6), limit=PHOTO_MAX_PIXELS // 1_000_000
        )
    # WeasyPrint sets Pillow's process-wide LOAD_TRUNCATED_IMAGES, under which a cut-off
    # JPEG loads without complaint: the end-of-image marker is looked for here instead.
    if _jpeg_end(data) is None:
        raise _refuse("photo_truncated")
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise _refuse("photo_broken") from e
    if image.getexif().get(0x0112) in (5, 6, 7, 8):  # turned a quarter when shown
        width, height = height, width
    return PhotoInfo(width=width, height=height, size=size)


def _what_else(data: bytes) -> str:
    """The refusal that names what a file claiming to be a JPEG really is."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "photo_png"
    head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<meta", b"<!--", b"<?xml")):
        return "photo_html"
    return "photo_not_jpeg"


def _open_jpeg(data: bytes) -> Image.Image:
    """Pillow's reading of the header (nothing decoded yet)."""
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 MP on; PHOTO_MAX_PIXELS is the limit that applies here.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as e:
        raise _refuse("photo_too_many_pixels", limit=PHOTO_MAX_PIXELS // 1_000_000) from e
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise _refuse("photo_broken") from e
    # MPO: a JPEG with more pictures after the first (phones' depth and HDR maps)
    if image.format not in ("JPEG", "MPO"):
        raise _refuse("photo_not_jpeg")
    return image


def _jpeg_end(data: bytes) -> int | None:
    """Where the first picture's end-of-image marker (FFD9) ends, walking the segments from
    the start; None when the file ends first.

    Searching for FFD9 from the end would not do: the EXIF thumbnail inside a photo is a
    JPEG with its own FFD9, and Samsung phones append data after the picture's end.
    """
    n, i = len(data), 2
    while i + 1 < n:
        if data[i] != 0xFF:
            return None
        while i + 1 < n and data[i + 1] == 0xFF:  # fill bytes before a marker
            i += 1
        marker = data[i + 1]
        i += 2
        if marker == 0xD9:
            return i
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            continue
        length = int.from_bytes(data[i : i + 2], "big")
        if length < 2 or i + length > n:
            return None
        # a scan (SOS) is followed by its coded data, up to the next marker
        i = _scan_end(data, i + length) if marker == 0xDA else i + length
        if i is None:
            return None
    return None


def _scan_end(data: bytes, i: int) -> int | None:
    """Where a scan's coded data ends: at the next marker that is not FF00 (a coded FF),
    RSTn (a restart) or FFFF (fill); None when the file ends first."""
    n = len(data)
    while True:
        i = data.find(b"\xff", i)
        if i < 0 or i + 1 >= n:
            return None
        following = data[i + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            i += 1
            continue
        return i


def photo_previews(source: str | os.PathLike | BinaryIO) -> tuple[bytes, bytes]:
    """(screen JPEG, thumbnail JPEG) of a photo that passed ``check_jpeg``: upright, in sRGB,
    long side ``SCREEN_SIZE`` and ``THUMB_SIZE`` (never enlarged), with no metadata at all
    (no EXIF, GPS, XMP or ICC profile: browsers take untagged pictures as sRGB)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = Image.open(source if hasattr(source, "read") else os.fspath(source))
        # Decode at 1/2, 1/4 or 1/8 scale where that still leaves the screen size: much
        # less memory and time than the full picture.
        image.draft("RGB", (SCREEN_SIZE, SCREEN_SIZE))
        image.load()
    icc = image.info.get("icc_profile")
    image = _to_srgb(image, icc)
    image = ImageOps.exif_transpose(image)
    screen = image.copy()
    screen.thumbnail((SCREEN_SIZE, SCREEN_SIZE), Image.Resampling.LANCZOS)
    thumb = screen.copy()
    thumb.thumbnail((THUMB_SIZE, THUMB_SIZE), Image.Resampling.LANCZOS)
    return _bare_jpeg(screen, quality=85), _bare_jpeg(thumb, quality=80)


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """The picture's colours in sRGB, so that dropping its profile changes nothing visible
    (a phone's Display P3 or a camera's Adobe RGB would look dull otherwise)."""
    if icc:
        try:
            converted = ImageCms.profileToProfile(
                image, ImageCms.ImageCmsProfile(io.BytesIO(icc)), ImageCms.createProfile("sRGB"), outputMode="RGB"
            )
        except (ImageCms.PyCMSError, OSError, ValueError):
            converted = None  # a broken profile: the pixels as they are
        if converted is not None:
            converted.info = dict(image.info)  # keeps the orientation for exif_transpose
            return converted
    if image.mode == "RGB":
        return image
    converted = image.convert("RGB")
    converted.info = dict(image.info)
    return converted


def _bare_jpeg(image: Image.Image, *, quality: int) -> bytes:
    image.info = {}  # nothing of the original's metadata may ride along
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality, optimize=True, progressive=True)
    return buf.getvalue()


# -- Captions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaptionField:
    name: str
    label: object  # lazy string
    max_length: int
    help: object | None = None


#: 附件1 二.(二): every photo carries a true caption with all of these
CAPTION_FIELDS = (
    CaptionField("creator", _l("Creator"), 100),
    CaptionField("taken_at", _l("Time taken"), 50, _l("For example 2024-06-18 or June 2024.")),
    CaptionField("place", _l("Place taken"), 100),
    CaptionField("description", _l("Description of the picture"), 500),
    CaptionField("key_people", _l("Names of key people"), 200, _l("Write 无 when there is no one to name.")),
    CaptionField("background", _l("Important background"), 500),
)


def check_caption(values: Mapping[str, object]) -> dict[str, str]:
    """The caption's parts, trimmed, once every one is filled in and short enough
    ("无" is a valid answer for the key people; unknown keys are dropped).

    :raises RuleError: ``caption_missing`` (``field``: the first missing part's label,
        ``missing``: the names of all missing parts) or ``caption_too_long`` (``field``,
        ``name``, ``limit``).
    """
    caption = {}
    for field in CAPTION_FIELDS:
        value = unicodedata.normalize("NFC", str(values.get(field.name) or ""))
        # line breaks may stay in the longer parts; other control characters never show
        value = "".join(c for c in value if c == "\n" or unicodedata.category(c) != "Cc").strip()
        caption[field.name] = value
    missing = [f for f in CAPTION_FIELDS if not caption[f.name]]
    if missing:
        raise _refuse("caption_missing", field=missing[0].label, missing=tuple(f.name for f in missing))
    for field in CAPTION_FIELDS:
        if len(caption[field.name]) > field.max_length:
            raise _refuse("caption_too_long", field=field.label, name=field.name, limit=field.max_length)
    return caption


# -- Videos ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoInfo:
    #: the longest audio or video stream, from its packets' timestamps
    duration_s: float
    width: int
    height: int
    video_codec: str
    audio_codec: str | None
    #: the ftyp box's major brand, e.g. "isom"
    brand: str
    frame_rate: float
    #: Chromium and WeChat's browser play the original as it is (``needs_playable_copy``)
    playable: bool
    pixel_format: str = ""
    #: the index (moov) comes before the media data, so playing starts before the download ends
    faststart: bool = False
    #: counter-clockwise degrees the player turns the picture (phones filmed upright)
    rotation: int = 0
    size: int = 0


def video_max_bytes() -> int:
    """The size limit per video file: the app's ``WORKS_VIDEO_MAX_BYTES`` or ``VIDEO_MAX_BYTES``."""
    if has_app_context():
        return int(current_app.config.get("WORKS_VIDEO_MAX_BYTES") or VIDEO_MAX_BYTES)
    return VIDEO_MAX_BYTES


def probe_video(path: str | os.PathLike, *, max_bytes: int | None = None) -> VideoInfo:
    """A video work's file, judged by its container, its streams and its end.

    The duration is measured, not read from the header: every packet of the audio and
    video streams is read, and each stream lasts from its first timestamp to its last
    plus that packet's duration. The last second of the picture is then decoded, which
    a file cut off or damaged at the end does not survive.

    :param max_bytes: the size limit; ``video_max_bytes()`` when None.
    :raises RuleError: ``video_empty``, ``video_too_large`` (``limit`` in MB), ``video_webm``,
        ``video_quicktime``, ``video_not_mp4``, ``video_incomplete``, ``video_no_picture`` or
        ``video_too_long`` (``duration`` as m:ss, ``seconds``).
    """
    limit = video_max_bytes() if max_bytes is None else max_bytes
    size = os.stat(path).st_size
    if size == 0:
        raise _refuse("video_empty")
    if size > limit:
        raise _refuse("video_too_large", limit=limit // MB)
    _check_start(path)
    try:
        container = _open_mp4(path)
    except av.FFmpegError as e:  # an MP4 start without its index: cut off before the end
        raise _refuse("video_incomplete") from e
    with container:
        brand = _check_brand(container)
        video = _picture_stream(container)
        if video is None:
            raise _refuse("video_no_picture")
        video.thread_type = "AUTO"  # the last second decodes on every core
        audio = next(iter(container.streams.audio), None)
        spans, last_video_pts = _measure_streams(container, video, audio)
        frame_rate = float(video.average_rate or video.guessed_rate or 0)
        _check_length(spans, video.index, frame_rate)
        rotation = _decode_tail(container, video, last_video_pts)
        ctx = video.codec_context
        info = dict(
            duration_s=round(max(s for s, _ in spans.values()), 3),
            width=ctx.width,
            height=ctx.height,
            video_codec=ctx.name,
            audio_codec=audio.codec_context.name if audio is not None else None,
            brand=brand.strip() or brand,
            frame_rate=round(frame_rate, 3),
            pixel_format=ctx.format.name if ctx.format else "",
            faststart=_index_first(path),
            rotation=rotation,
            size=size,
        )
    return VideoInfo(playable=_plays_everywhere(**info), **info)


def _open_mp4(path: str | os.PathLike):
    """The file, opened with FFmpeg's ISO-BMFF demuxer and no other: FFmpeg would otherwise
    guess the format from the content, and some of its formats (playlists, concat lists)
    open further files. The MP4 demuxer follows no outside references unless told to."""
    return av.open(os.fspath(path), format="mp4", metadata_errors="ignore")


def _check_start(path: str | os.PathLike) -> None:
    """The first bytes: an ISO-BMFF file starts with its ftyp box; WebM and old QuickTime
    files are told apart here, by what they start with."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska / WebM
        raise _refuse("video_webm")
    if head[4:8] != b"ftyp":
        # QuickTime files from before ftyp existed start straight with their boxes
        quicktime = head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")
        raise _refuse("video_quicktime" if quicktime else "video_not_mp4")


def _check_brand(container) -> str:
    """The major brand, once the ftyp box (as FFmpeg read it) names an MP4 brand and the
    major brand is not QuickTime's."""
    if "mp4" not in container.format.name:
        raise _refuse("video_not_mp4")
    brand = container.metadata.get("major_brand", "")
    compatible = container.metadata.get("compatible_brands", "")
    brands = {brand} | {compatible[i : i + 4] for i in range(0, len(compatible), 4)}
    if brand == QUICKTIME_BRAND:
        raise _refuse("video_quicktime")
    if not brands & MP4_BRANDS:
        raise _refuse("video_not_mp4")
    return brand


def _picture_stream(container):
    """The first video stream that is a picture, not an album cover."""
    return next((s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic), None)


def _check_length(spans: dict, video_index: int, frame_rate: float) -> None:
    """Each stream may last VIDEO_MAX_SECONDS and one of its frames (the picture's at its
    frame rate, the sound's last packet)."""
    longest = max(span for span, _ in spans.values())
    for index, (span, frame) in spans.items():
        if index == video_index and frame_rate > 0:
            frame = 1 / frame_rate
        if span > VIDEO_MAX_SECONDS + min(frame, _MAX_FRAME_TOLERANCE) + 1e-6:
            raise _refuse("video_too_long", duration=_minutes(longest), seconds=round(longest, 2))


def _minutes(seconds: float) -> str:
    whole = math.floor(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def _measure_streams(container, video, audio) -> tuple[dict, int]:
    """({stream index: (seconds it lasts, seconds of its last packet)}, the video's last
    pts), from every packet; a stream that ends before its index says is a file cut off."""
    streams = [s for s in (video, audio) if s is not None]
    first: dict[int, int] = {}
    end: dict[int, int] = {}
    last_packet: dict[int, int] = {}
    counts = dict.fromkeys((s.index for s in streams), 0)
    last_video_pts = None
    try:
        for packet in container.demux(streams):
            ts = packet.pts if packet.pts is not None else packet.dts
            if ts is None:  # the flush packet at the end of each stream
                continue
            index = packet.stream_index
            counts[index] += 1
            if packet.is_discard:  # encoder priming, hidden by an edit list: never played
                continue
            duration = packet.duration or 0
            first[index] = min(first.get(index, ts), ts)
            end[index] = max(end.get(index, ts + duration), ts + duration)
            last_packet[index] = duration
            if index == video.index:
                last_video_pts = ts if last_video_pts is None else max(last_video_pts, ts)
    except av.FFmpegError as e:
        raise _refuse("video_incomplete") from e
    if video.index not in end or any(s.frames and counts[s.index] < s.frames for s in streams):
        raise _refuse("video_incomplete")
    spans = {
        s.index: (float((end[s.index] - first[s.index]) * s.time_base), float(last_packet[s.index] * s.time_base))
        for s in streams
        if s.index in end
    }
    return spans, last_video_pts


def _decode_tail(container, video, last_pts: int) -> int:
    """Decode the last second of the picture, up to its very last frame; returns the
    picture's rotation.

    :raises RuleError: ``video_incomplete`` when the decoder fails or stops short.
    """
    one_second = int(1 / video.time_base)
    decoded = None
    rotation = 0
    try:
        container.seek(max(last_pts - one_second, 0), stream=video, backward=True, any_frame=False)
        for frame in container.decode(video):
            if frame.pts is not None:
                decoded = frame.pts if decoded is None else max(decoded, frame.pts)
            rotation = frame.rotation
    except av.FFmpegError as e:
        raise _refuse("video_incomplete") from e
    if decoded is None or decoded < last_pts:
        raise _refuse("video_incomplete")
    return int(rotation or 0)


def _index_first(path: str | os.PathLike) -> bool:
    """Whether the moov box (the index) comes before the mdat box (the media): reads the
    top-level box headers only, 8 or 16 bytes each, skipping from one to the next."""
    with open(path, "rb") as f:
        offset = 0
        for _ in range(64):
            f.seek(offset)
            header = f.read(16)
            if len(header) < 8:
                return False
            size, kind = int.from_bytes(header[:4], "big"), header[4:8]
            if kind == b"moov":
                return True
            if kind == b"mdat" or size == 0:  # size 0: the box runs to the end of the file
                return False
            if size == 1:
                size = int.from_bytes(header[8:16], "big")
            if size < 8:
                return False
            offset += size
    return False


def _plays_everywhere(*, video_codec, pixel_format, audio_codec, faststart, **_) -> bool:
    """Chromium plays H.264 in 8-bit 4:2:0 only (not HEVC, not 10-bit or 4:4:4), and WeChat's
    browser on iPhones the same with AAC sound; with the index at the end a browser must
    fetch the file's end before it can start, which WeChat's often does not."""
    return (
        video_codec == "h264" and pixel_format in ("yuv420p", "yuvj420p") and audio_codec in (None, "aac") and faststart
    )


def needs_playable_copy(info: VideoInfo) -> bool:
    """Whether the platform and the screens need a copy of this video to play it (HEVC
    from iPhones, for one): see ``_plays_everywhere``."""
    return not info.playable


def h264_encoder() -> str:
    """The H.264 encoder PyAV's FFmpeg carries: libx264 in the PyPI wheels (18.x), else the
    royalty-free libopenh264.

    :raises RuntimeError: when there is neither.
    """
    for name in ("libx264", "libopenh264"):
        try:
            av.codec.Codec(name, "w")
        except (av.codec.codec.UnknownCodecError, ValueError):
            continue
        return name
    raise RuntimeError("PyAV's FFmpeg has no H.264 encoder (libx264 or libopenh264)")


def make_playable_copy(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    progress: Callable[[float, float], None] | None = None,
    *,
    threads: int = 1,
) -> None:
    """Write to ``dst`` an MP4 that Chromium and WeChat's browser play: H.264 (yuv420p, at
    most 1920×1080) and AAC, index first (``+faststart``), the rotation kept as the
    original's. When the original's codecs already play and only its index is at the end,
    its packets are copied as they are, which takes seconds, not minutes.

    :param progress: called as ``progress(seconds done, seconds in all)`` along the way.
    :param threads: the encoder's threads: one leaves the machine's other core to the web.
    :raises RuleError: ``video_copy_failed`` when the original cannot be decoded; ``dst``
        is removed whenever the copy does not finish.
    """
    finished = False
    try:
        with _open_mp4(src) as source:
            video = _picture_stream(source)
            if video is None:
                raise _refuse("video_no_picture")
            audio = next(iter(source.streams.audio), None)
            total = float(source.duration / av.time_base) if source.duration else 0.0
            pix = video.codec_context.format.name if video.codec_context.format else ""
            codecs_play = _plays_everywhere(
                video_codec=video.codec_context.name,
                pixel_format=pix,
                audio_codec=audio.codec_context.name if audio else None,
                faststart=True,
            )
            with av.open(os.fspath(dst), "w", format="mp4", options={"movflags": "+faststart"}) as target:
                if codecs_play:
                    _remux(source, target, video, audio, progress, total)
                else:
                    _transcode(source, target, video, audio, progress, total, threads)
        finished = True
    except av.FFmpegError as e:
        raise _refuse("video_copy_failed") from e
    finally:
        if not finished:  # failed or stopped (the job's time limit): no half a copy left
            Path(dst).unlink(missing_ok=True)


def _report(progress, seconds: float, total: float, state: dict) -> None:
    if progress is not None and seconds - state.get("reported", -10.0) >= 1.0:
        state["reported"] = seconds
        progress(min(seconds, total), total)


def _remux(source, target, video, audio, progress, total) -> None:
    streams = [s for s in (video, audio) if s is not None]
    mapping = {s: target.add_stream_from_template(s) for s in streams}
    state: dict = {}
    for packet in source.demux(streams):
        if packet.dts is None:
            continue
        packet.stream = mapping[packet.stream]
        target.mux(packet)
        if packet.pts is not None:
            _report(progress, float(packet.pts * packet.time_base), total, state)


def _copy_size(width: int, height: int) -> tuple[int, int]:
    """The copy's frame: within COPY_BOX (either way round), proportions kept, even sides."""
    long_side, short_side = max(COPY_BOX), min(COPY_BOX)
    scale = min(1.0, long_side / max(width, height), short_side / min(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def _transcode(source, target, video, audio, progress, total, threads) -> None:
    out_video = _h264_stream(target, video, threads)
    out_audio, resampler = _aac_stream(target, audio) if audio is not None else (None, None)
    state: dict = {}
    for packet in source.demux([s for s in (video, audio) if s is not None]):
        for frame in packet.decode():
            if packet.stream_index == video.index:
                _encode_picture(target, out_video, frame, state)
                _report(progress, frame.time or 0.0, total, state)
            elif out_audio is not None:
                target.mux([p for chunk in resampler.resample(frame) for p in out_audio.encode(chunk)])
    if out_audio is not None:  # what the resampler and the encoders still hold
        target.mux([p for chunk in resampler.resample(None) for p in out_audio.encode(chunk)])
        target.mux(out_audio.encode(None))
    target.mux(out_video.encode(None))
    if progress is not None:
        progress(total, total)


def _h264_stream(target, video, threads: int):
    rate = video.average_rate or video.guessed_rate or Fraction(25)
    out_video = target.add_stream(h264_encoder(), rate=rate)
    out_video.width, out_video.height = _copy_size(video.codec_context.width, video.codec_context.height)
    out_video.pix_fmt = "yuv420p"
    # The source's time base keeps each frame's timestamp exactly (phones film at a
    # variable rate), so the copy lasts as long as the original.
    out_video.codec_context.time_base = video.time_base
    out_video.codec_context.thread_count = threads
    out_video.codec_context.gop_size = max(1, round(float(rate) * 2))  # seeking lands within 2 s
    out_video.options = {"crf": "21", "preset": "faster", "profile": "high"}
    return out_video


def _encode_picture(target, out_video, frame, state: dict) -> None:
    if not state.get("rotation_set"):  # known from the first frame; set before any is encoded
        if frame.rotation:
            out_video.set_display_rotation(frame.rotation)
        state["rotation_set"] = True
    scaled = frame.reformat(width=out_video.width, height=out_video.height, format="yuv420p")
    scaled.pts, scaled.time_base = frame.pts, frame.time_base
    target.mux(out_video.encode(scaled))


def _aac_stream(target, audio):
    """The copy's AAC stream, and the resampler that feeds it whole 1,024-sample frames."""
    rate_in = audio.codec_context.sample_rate or 48000
    sample_rate = rate_in if rate_in in (48000, 44100, 32000, 24000, 22050, 16000) else 48000
    layout = "stereo" if (audio.codec_context.channels or 2) >= 2 else "mono"
    out_audio = target.add_stream("aac", rate=sample_rate, layout=layout)
    out_audio.bit_rate = 160_000
    return out_audio, av.AudioResampler(format="fltp", layout=layout, rate=sample_rate, frame_size=1024)


def poster_frame(path: str | os.PathLike) -> bytes:
    """A JPEG of the picture about one second in (the first frame of a shorter video),
    upright, long side at most ``SCREEN_SIZE``, with no metadata."""
    with _open_mp4(path) as container:
        video = _picture_stream(container)
        if video is None:
            raise _refuse("video_no_picture")
        video.thread_type = "AUTO"
        length = float(container.duration / av.time_base) if container.duration else 0.0
        at = min(1.0, length / 2)
        frame = None
        if at > 0:
            container.seek(int(at / video.time_base), stream=video, backward=True, any_frame=False)
            for candidate in container.decode(video):
                frame = candidate
                if candidate.time is None or candidate.time >= at:
                    break
        if frame is None:
            container.seek(0, stream=video)
            frame = next(container.decode(video))
        image = frame.to_image()
        if frame.rotation:
            image = image.rotate(frame.rotation, expand=True)
    image.thumbnail((SCREEN_SIZE, SCREEN_SIZE), Image.Resampling.LANCZOS)
    return _bare_jpeg(image, quality=85)
