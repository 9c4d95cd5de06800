"""Photos and videos made in the tests: real files at the edges the rules draw."""

from __future__ import annotations

import io
import math
import os
import struct
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image, ImageDraw

MB = 1_048_576


def random_jpeg(size=(1000, 800), **save) -> bytes:
    """A JPEG of noise: it barely compresses, so its bytes are mostly coded picture."""
    image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=92, **save)
    return buf.getvalue()


def padded_to(data: bytes, total: int) -> bytes:
    """``data`` (a JPEG) grown to exactly ``total`` bytes with comment (COM) segments right
    after its start, so it stays a valid JPEG."""
    pad = total - len(data)
    assert pad == 0 or pad >= 4, "no segment is smaller than 4 bytes"
    count = -(-pad // 65537)  # a segment holds at most 65,533 bytes after its 4-byte head
    sizes = [pad // count + (1 if i < pad % count else 0) for i in range(count)] if count else []
    out = data[:2] + b"".join(_com(n - 4) for n in sizes) + data[2:]
    assert len(out) == total
    return out


def _com(n: int) -> bytes:
    return b"\xff\xfe" + struct.pack(">H", n + 2) + b"x" * n


def with_dimensions(data: bytes, width: int, height: int) -> bytes:
    """The JPEG with its frame header (SOF0) claiming other dimensions."""
    at = data.index(b"\xff\xc0")
    return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def make_video(
    path: Path,
    *,
    codec: str = "libx264",
    seconds: float = 3.0,
    size=(320, 240),
    fps: int = 25,
    audio: bool = True,
    rotation: int = 0,
    faststart: bool = True,
    options: dict | None = None,
) -> Path:
    """An MP4 with a moving white bar on the top half of a coloured picture, and a tone."""
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"} if faststart else {}) as out:
        video = out.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
        if codec == "libx265":
            video.options = {"x265-params": "log-level=error"}
            video.codec_tag = "hvc1"  # as iPhones write it (and Safari wants it)
        if options:
            video.options = options
        if rotation:
            video.set_display_rotation(rotation)
        sound = out.add_stream("aac", rate=48000, layout="stereo") if audio else None
        for n in range(round(seconds * fps)):
            image = Image.new("RGB", size, (n * 7 % 256, 80, 160))
            x = n * 4 % size[0]
            ImageDraw.Draw(image).rectangle([x, 0, x + 20, size[1] // 2], fill="white")
            frame = av.VideoFrame.from_image(image).reformat(format="yuv420p")
            frame.pts, frame.time_base = n, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            total, done = round(seconds * 48000), 0
            while done < total:
                k = min(1024, total - done)
                frame = av.AudioFrame(format="s16", layout="stereo", samples=k)
                tone = (int(8000 * math.sin(2 * math.pi * 440 * (done + i) / 48000)) for i in range(k))
                frame.planes[0].update(b"".join(struct.pack("<hh", s, s) for s in tone))
                frame.sample_rate, frame.pts, frame.time_base = 48000, done, Fraction(1, 48000)
                out.mux(sound.encode(frame))
                done += k
            out.mux(sound.encode(None))
    return path


def make_audio_only(path: Path, seconds: float = 2.0) -> Path:
    with av.open(str(path), "w", format="mp4") as out:
        sound = out.add_stream("aac", rate=48000, layout="stereo")
        for done in range(0, round(seconds * 48000), 1024):
            frame = av.AudioFrame(format="s16", layout="stereo", samples=1024)
            frame.planes[0].update(bytes(4096))
            frame.sample_rate, frame.pts, frame.time_base = 48000, done, Fraction(1, 48000)
            out.mux(sound.encode(frame))
        out.mux(sound.encode(None))
    return path
