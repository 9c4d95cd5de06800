"""Near-duplicates across the campaign's works (screening.duplicates): photo-like pictures
made here (sky and ground gradients, buildings with windows, shapes, a caption, grain),
never noise, whose perceptual hashes say nothing; the same file by its SHA-256; a video
encoded again; the index against a plain comparison; the secretariat's list and the work
page's panel."""

from __future__ import annotations

import io
import random
from fractions import Fraction

import av
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageOps

from experience.accounts.models import Role
from experience.extensions import db
from experience.screening import duplicates
from experience.screening.duplicates import HitKind
from experience.screening.models import Fingerprint, FingerprintKind
from experience.works import services
from experience.works.models import WorkCategory
from tests.conftest import NOW
from tests.works.conftest import CAPTION, stored
from tests.works.media_files import MB, make_video, padded_to


@pytest.fixture(autouse=True)
def fingerprints_on(app):
    """As deployed: every submission is fingerprinted (the other tests skip it)."""
    app.config["SCREENING_FINGERPRINTS"] = True


def scene(seed: int, size=(1200, 900)) -> Image.Image:
    """A street photo's layout (sky, horizon, buildings, a few shapes, a caption), its
    colours, buildings and shapes drawn from ``seed``: two seeds are two photos of a
    similar scene."""
    r = random.Random(seed)
    w, h = size
    horizon = int(h * r.uniform(0.45, 0.6))
    sky = ImageOps.colorize(
        Image.linear_gradient("L").resize((w, horizon)),
        (r.randint(60, 140), r.randint(120, 190), r.randint(200, 255)),
        (r.randint(180, 240), r.randint(180, 240), r.randint(200, 250)),
    )
    ground = ImageOps.colorize(
        Image.linear_gradient("L").resize((w, h - horizon)),
        (r.randint(40, 90), r.randint(70, 120), r.randint(20, 60)),
        (r.randint(100, 160), r.randint(130, 190), r.randint(60, 110)),
    )
    image = Image.new("RGB", size)
    image.paste(sky, (0, 0))
    image.paste(ground, (0, horizon))
    draw = ImageDraw.Draw(image)
    for _ in range(r.randint(5, 9)):
        bw, bh = r.randint(w // 14, w // 6), r.randint(h // 6, h // 2)
        x = r.randint(0, w - bw)
        draw.rectangle([x, horizon - bh, x + bw, horizon], fill=tuple(r.randint(60, 220) for _ in range(3)))
        for wy in range(horizon - bh + 15, horizon - 20, 40):
            for wx in range(x + 10, x + bw - 20, 35):
                draw.rectangle([wx, wy, wx + 15, wy + 20], fill=(250, 240, 170) if r.random() < 0.5 else (40, 50, 70))
    for _ in range(r.randint(3, 6)):
        cx, cy, radius = r.randint(0, w), r.randint(horizon, h), r.randint(30, 120)
        draw.ellipse(
            [cx - radius, cy - radius, cx + radius, cy + radius], fill=tuple(r.randint(0, 255) for _ in range(3))
        )
    draw.text((w // 10, h // 12), f"服务认证体验周 {seed}", fill=(255, 255, 255), font_size=60)
    image = image.filter(ImageFilter.GaussianBlur(1.2))
    return Image.blend(image, Image.effect_noise(size, 18).convert("RGB"), 0.08)


def jpeg(image: Image.Image, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def photo_file(image: Image.Image, quality: int = 92) -> bytes:
    """The picture as a photo work's file: a JPEG of 5 MB (the call's least)."""
    return padded_to(jpeg(image, quality), 5 * MB)


def resaved(data: bytes) -> bytes:
    """The same photo opened, slightly shrunk (92 %) and saved again at quality 70."""
    image = Image.open(io.BytesIO(data))
    smaller = image.resize((int(image.width * 0.92), int(image.height * 0.92)), Image.Resampling.LANCZOS)
    return photo_file(smaller, quality=70)


@pytest.fixture
def photo_work(submitted_work, make_unit):
    """``photo_work(data, title)``: a photo work of a new unit with this JPEG, submitted."""

    def make(data: bytes, title: str):
        owner = make_unit("11")

        def prepare(work):
            services.attach_photo(work, stored(data, "photo.jpg", "jpg"), CAPTION, actor=work.unit.account, now=NOW)

        return submitted_work(owner, category=WorkCategory.PHOTO, prepare=prepare, title=title)

    return make


def reencoded(source: bytes, path, bit_rate: int) -> bytes:
    """The video decoded and encoded again with PyAV at another bitrate (other key frames
    too): what a unit does when it exports a work once more."""
    src = path.with_suffix(".src.mp4")
    src.write_bytes(source)
    with av.open(str(src)) as inp, av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        stream = inp.streams.video[0]
        rate = stream.average_rate or Fraction(25)
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = stream.codec_context.width, stream.codec_context.height, "yuv420p"
        video.bit_rate = bit_rate
        video.codec_context.gop_size = 7
        for n, frame in enumerate(inp.decode(stream)):
            picture = frame.reformat(format="yuv420p")
            picture.pts, picture.time_base = n, Fraction(1) / rate
            out.mux(video.encode(picture))
        out.mux(video.encode(None))
    return path.read_bytes()


@pytest.fixture
def video_work(submitted_work, make_unit):
    def make(data: bytes, title: str):
        owner = make_unit("33")

        def prepare(work):
            services.attach_video(work, stored(data, "clip.mp4", "mp4"), actor=work.unit.account, now=NOW)

        return submitted_work(owner, category=WorkCategory.VIDEO, prepare=prepare, title=title)

    return make


def hits(work, other) -> list:
    found = [m for m in duplicates.matches(work) if m.work.id == other.id]
    return found[0].hits if found else []


def test_a_photo_saved_again_smaller_is_caught(app, photo_work):
    original = photo_file(scene(1))
    first = photo_work(original, "养老服务认证体验")
    second = photo_work(resaved(original), "认证让养老更安心")
    found = hits(second, first)
    assert [h.kind for h in found] == [HitKind.IMAGE]
    assert found[0].distance <= duplicates.IMAGE_DISTANCE
    assert (found[0].mine, found[0].theirs) == (1, 1)
    assert [m.work.id for m in duplicates.matches(first)] == [second.id]  # seen from either side


def test_two_photos_of_a_similar_scene_are_not_caught(app, photo_work):
    first = photo_work(photo_file(scene(1)), "养老服务认证体验")
    second = photo_work(photo_file(scene(2)), "物业服务认证体验")
    assert db.session.query(Fingerprint).count() == 2  # both were hashed, and are far apart
    assert duplicates.matches(second) == []
    assert duplicates.matches(first) == []


def test_the_same_file_is_caught_by_its_sha256(app, photo_work):
    data = photo_file(scene(3))
    first = photo_work(data, "养老服务认证体验")
    second = photo_work(data, "同一张照片")
    # the same file, said once: not also as a nearly identical picture
    assert [(h.kind, h.mine, h.theirs) for h in hits(second, first)] == [(HitKind.SAME_FILE, 1, 1)]


def test_the_same_video_file_is_named_once(app, video_work, h264_video):
    first = video_work(h264_video, "认证服务纪录片")
    second = video_work(h264_video, "同一个视频")
    assert [(h.kind, h.mine, h.theirs) for h in hits(second, first)] == [(HitKind.SAME_FILE, 0, 0)]


def test_a_video_encoded_again_is_caught_by_its_frames(app, video_work, tmp_path):
    clip = make_video(tmp_path / "clip.mp4", seconds=4, size=(320, 240))
    original = clip.read_bytes()
    again = reencoded(original, tmp_path / "again.mp4", bit_rate=150_000)
    assert again != original
    first = video_work(original, "认证服务纪录片")
    second = video_work(again, "认证服务纪录片（重新导出）")
    frames = db.session.query(Fingerprint).filter_by(work_id=second.id, kind=FingerprintKind.FRAME).count()
    assert frames == duplicates.FRAMES
    found = hits(second, first)
    assert [h.kind for h in found] == [HitKind.VIDEO]
    assert found[0].frames >= duplicates.SHARED_FRAMES


def scene_video(path, seed: int, seconds: int = 3, fps: int = 10) -> bytes:
    """A camera panning slowly over one of ``scene``'s pictures: a video of its own."""
    picture = scene(seed, size=(480, 300))
    with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = 320, 240, "yuv420p"
        for n in range(seconds * fps):
            x = n * (480 - 320) // (seconds * fps)
            frame = av.VideoFrame.from_image(picture.crop((x, 30, x + 320, 270))).reformat(format="yuv420p")
            frame.pts, frame.time_base = n, Fraction(1, fps)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
    return path.read_bytes()


def test_different_videos_are_not_caught(app, video_work, tmp_path):
    first = video_work(scene_video(tmp_path / "a.mp4", 11), "认证服务纪录片")
    second = video_work(scene_video(tmp_path / "b.mp4", 12), "另一部纪录片")
    assert db.session.query(Fingerprint).filter_by(work_id=second.id).count() == duplicates.FRAMES
    assert duplicates.matches(second) == []
    assert duplicates.matches(first) == []


def test_a_text_work_is_not_fingerprinted(app, submitted_work):
    work = submitted_work(category=WorkCategory.TEXT)
    assert db.session.query(Fingerprint).filter_by(work_id=work.id).count() == 0
    assert duplicates.matches(work) == []


def test_the_index_finds_what_a_plain_comparison_finds():
    """Multi-index hashing misses nothing within the radius (pigeonhole), on hashes with
    planted neighbours at every distance up to 12."""
    r = random.Random(7)
    values = [r.getrandbits(64) for _ in range(300)]
    for v in list(values[:60]):
        d = r.randint(0, 12)
        values.append(v ^ sum(1 << b for b in r.sample(range(64), d)))
    index = duplicates.HashIndex((v, n) for n, v in enumerate(values))
    for n, v in enumerate(values):
        plain = sorted((m, duplicates.distance(v, w)) for m, w in enumerate(values) if duplicates.distance(v, w) <= 8)
        assert sorted(index.near(v)) == plain, n


def test_the_secretariat_lists_the_pairs(app, client, auth, photo_work, secretariat, make_user):
    original = photo_file(scene(4))
    first = photo_work(original, "养老服务认证体验")
    second = photo_work(resaved(original), "认证让养老更安心")
    photo_work(photo_file(scene(5)), "另一张照片")
    auth.login(secretariat.username)
    page = client.get("/screening/duplicates")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count("<tr>") == 2  # the head and the one pair
    assert first.number in html
    assert second.number in html
    assert "照片 1 与其照片 1 几乎相同" in html
    # the work's page: the panel names the other work
    work_page = client.get(f"/works/{second.id}").get_data(as_text=True)
    assert 'id="prescreen"' in work_page
    assert first.number in work_page


def test_only_the_secretariat_sees_the_pairs_and_the_panel(app, client, auth, photo_work, make_user):
    original = photo_file(scene(6))
    photo_work(original, "养老服务认证体验")
    second = photo_work(resaved(original), "认证让养老更安心")
    auth.login(second.unit.account.username)
    assert client.get("/screening/duplicates").status_code == 403
    assert 'id="prescreen"' not in client.get(f"/works/{second.id}").get_data(as_text=True)
    auth.logout()
    hq = make_user(Role.HQ, province=None)
    auth.login(hq.username)
    assert client.get("/screening/duplicates").status_code == 403
