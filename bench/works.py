"""The video check's figure (run by run.py in a process of its own, like the worker that runs it).

Makes, once per bench run (cached in the bench's temp dir), a 3-minute 1080p H.264 MP4 at
25 fps with AAC sound, as a phone or an editor exports one: a panning pattern with a
patch of fresh noise in every frame (so the encoder spends a realistic ~8 Mbit/s on it),
High profile, a keyframe every 2 s. Then times what the worker does with a submitted
video before anything else:

- ``works.probe_s``: ``probe_video`` — the ftyp brand, every packet of both streams read
  for their durations, and the last second decoded (median of 3 runs);
- ``works.poster_s``: ``poster_frame`` — a frame one second in, as a screen-sized JPEG;
- ``works.probe_ratio_to_duration``: the two together ÷ the video's 180 s (goal ≤ 0.01:
  checking a video costs under 1 % of watching it).

Prints one JSON object of ``{"name": [value, "unit"]}`` on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import struct
import sys
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECONDS = 180
FPS = 25
SIZE = (1920, 1080)
RUNS = 3


def make_video(path: Path) -> float:
    """Write the bench's video to ``path`` (a .part first, so a run cut short leaves no
    half a video to be taken for the whole next time); returns seconds taken."""
    import av

    started = time.perf_counter()
    width, height = SIZE
    planes = _pattern_planes(width, height)
    tone = _tone()
    partial = path.with_suffix(".part")
    with av.open(str(partial), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.bit_rate = 8_000_000
        video.codec_context.gop_size = 2 * FPS
        # superfast keeps what phones use and decoders pay for (CABAC, B-frames) and makes
        # the video in a fraction of veryfast's time
        video.options = {"preset": "superfast", "profile": "high", "maxrate": "10M", "bufsize": "20M"}
        audio = out.add_stream("aac", rate=48000, layout="stereo")
        audio.bit_rate = 128_000
        rng = random.Random(2024)
        for n in range(SECONDS * FPS):
            frame = av.VideoFrame(width, height, "yuv420p")
            for plane, (rows, plane_width) in zip(frame.planes, planes, strict=True):
                plane.update(_panned(rows, plane_width, n, rng if plane_width == width else None))
            frame.pts, frame.time_base = n, Fraction(1, FPS)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        total = SECONDS * 48000
        for done in range(0, total, 1024):
            samples = min(1024, total - done)
            frame = av.AudioFrame(format="s16", layout="stereo", samples=samples)
            frame.planes[0].update(tone[: samples * 4])
            frame.sample_rate, frame.pts, frame.time_base = 48000, done, Fraction(1, 48000)
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    partial.replace(path)
    return time.perf_counter() - started


def _pattern_planes(width: int, height: int) -> list[tuple[list[bytes], int]]:
    """A picture twice the frame's width (a colour ramp, stripes, circles), as the rows of
    its Y, U and V planes (U and V at half size, as 4:2:0 has them), to pan over."""
    from PIL import Image, ImageDraw

    pattern = Image.new("RGB", (width * 2, height))
    draw = ImageDraw.Draw(pattern)
    for x in range(0, width * 2, 8):
        draw.line([(x, 0), (x, height)], fill=(x * 255 // (width * 2), 120 + (x // 8) % 80, 255 - x % 256), width=8)
    for n in range(60):
        cx, cy = (n * 331) % (width * 2), (n * 197) % height
        draw.ellipse([cx - 60, cy - 60, cx + 60, cy + 60], outline=(255, 255, 255), width=6)
    y, u, v = pattern.convert("YCbCr").split()
    u, v = (c.resize((width, height // 2)) for c in (u, v))
    planes = []
    for channel, plane_width in ((y, width), (u, width // 2), (v, width // 2)):
        data, row = channel.tobytes(), channel.width
        planes.append(([data[r * row : (r + 1) * row] for r in range(channel.height)], plane_width))
    return planes


def _panned(rows: list[bytes], plane_width: int, n: int, rng: random.Random | None) -> bytes:
    """Frame ``n``'s window of the wide plane, 6 pixels further right each frame; on the
    luma plane, a 320 × 180 patch of fresh noise that no encoder predicts."""
    offset = (n * 6 * plane_width // SIZE[0]) % plane_width
    window = [row[offset : offset + plane_width] for row in rows]
    if rng is not None:
        x = 200 + (n * 3) % 1200
        for r in range(300, 480):
            window[r] = window[r][:x] + rng.randbytes(320) + window[r][x + 320 :]
    return b"".join(window)


def _tone() -> bytes:
    """1,024 stereo samples of a 375 Hz tone: its period divides 1,024 samples at 48 kHz,
    so one buffer serves every frame."""
    samples = (int(6000 * math.sin(2 * math.pi * i / 128)) for i in range(1024))
    return b"".join(struct.pack("<hh", s, s) for s in samples)


def measure(path: Path) -> dict:
    from experience.works.media import poster_frame, probe_video

    probes, posters = [], []
    info = None
    for _ in range(RUNS):
        started = time.perf_counter()
        info = probe_video(path, max_bytes=path.stat().st_size)
        probes.append(time.perf_counter() - started)
        started = time.perf_counter()
        poster_frame(path)
        posters.append(time.perf_counter() - started)
    probe_s, poster_s = statistics.median(probes), statistics.median(posters)
    return {
        "works.probe_s": [round(probe_s, 3), "s"],
        "works.poster_s": [round(poster_s, 3), "s"],
        "works.probe_ratio_to_duration": [round((probe_s + poster_s) / SECONDS, 5), "ratio"],
        "works.video_mb": [round(path.stat().st_size / 1_048_576, 1), "MB"],
        "works.video_duration_s": [info.duration_s, "s"],
    }


def part_works(ctx) -> dict:
    """For bench/run.py: the video check in a fresh process (as in the worker), on the video
    made once per bench run in its temp dir."""
    from servers import figures_from_fresh_process

    return figures_from_fresh_process(__file__, ["--video", str(ctx.tmp / "works-3min-1080p.mp4")], "works")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, required=True, help="the bench video; made there when missing")
    args = parser.parse_args()
    if not args.video.exists():
        print(f"bench: making {args.video} …", file=sys.stderr, flush=True)
        took = make_video(args.video)
        print(f"bench: made it in {took:.0f} s", file=sys.stderr, flush=True)
    print(json.dumps(measure(args.video)))


if __name__ == "__main__":
    main()
