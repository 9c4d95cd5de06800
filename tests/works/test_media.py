"""The rules of photo and video works, on files made here at the edges and on the shared
fixtures: each refusal with its own reason, previews and copies as a viewer gets them."""

import hashlib
import io
import os
import shutil
from pathlib import Path

import av
import pytest
from flask_babel import force_locale
from PIL import Image, ImageCms

from experience.core.errors import RuleError
from experience.works import media
from experience.works.media import (
    MB,
    PHOTO_MAX_BYTES,
    PHOTO_MIN_BYTES,
    PHOTOS_MAX,
    VIDEO_MAX_SECONDS,
    check_caption,
    check_jpeg,
    check_photo_count,
    make_playable_copy,
    needs_playable_copy,
    photo_previews,
    poster_frame,
    probe_video,
)
from tests.works.media_files import make_audio_only, make_video, padded_to, random_jpeg, with_dimensions, write

FIXTURES = Path("/work/shared/fixtures/works")


def _refused(fn, *args, **kwargs) -> RuleError:
    with pytest.raises(RuleError) as caught:
        fn(*args, **kwargs)
    return caught.value


@pytest.fixture(scope="module")
def picture() -> bytes:
    """About 2 MB of real JPEG, grown to each size a test needs."""
    return random_jpeg((1200, 1000))


# -- Photo sizes, at the edges both ways ------------------------------------------------------


def test_the_limits_are_in_windows_megabytes():
    assert (MB, PHOTO_MIN_BYTES, PHOTO_MAX_BYTES) == (1_048_576, 5_242_880, 15_728_640)


@pytest.mark.parametrize("size", [PHOTO_MIN_BYTES, PHOTO_MAX_BYTES])
def test_a_photo_at_either_limit_passes(tmp_path, picture, size):
    info = check_jpeg(write(tmp_path / "photo.jpg", padded_to(picture, size)))
    assert (info.width, info.height, info.size) == (1200, 1000, size)


def test_a_photo_one_byte_under_5_mb_is_refused(app, tmp_path, picture):
    error = _refused(check_jpeg, write(tmp_path / "photo.jpg", padded_to(picture, PHOTO_MIN_BYTES - 1)))
    assert error.code == "photo_too_small"
    with force_locale("zh_Hans_CN"):
        assert "照片大小为 5.0 MB，要求为 5 MB 至 15 MB" in str(error)


def test_a_photo_one_byte_over_15_mb_is_refused(tmp_path, picture):
    error = _refused(check_jpeg, write(tmp_path / "photo.jpg", padded_to(picture, PHOTO_MAX_BYTES + 1)))
    assert error.code == "photo_too_large"


@pytest.mark.parametrize(
    ("size", "code"), [(PHOTO_MIN_BYTES - 1, "photo_too_small"), (PHOTO_MAX_BYTES + 1, "photo_too_large")]
)
def test_a_stream_is_judged_like_a_file(picture, size, code):
    assert check_jpeg(io.BytesIO(padded_to(picture, PHOTO_MIN_BYTES))).size == PHOTO_MIN_BYTES
    assert _refused(check_jpeg, io.BytesIO(padded_to(picture, size))).code == code


def test_size_is_judged_before_content(tmp_path):
    assert _refused(check_jpeg, write(tmp_path / "tiny.jpg", b"<html>")).code == "photo_too_small"


# -- Photo content ------------------------------------------------------------------------------


def test_a_png_named_jpg_is_refused_as_a_png(tmp_path):
    image = Image.frombytes("RGB", (1400, 1400), os.urandom(1400 * 1400 * 3))
    buf = io.BytesIO()
    image.save(buf, "PNG", compress_level=1)
    assert buf.tell() >= PHOTO_MIN_BYTES
    assert _refused(check_jpeg, write(tmp_path / "photo.jpg", buf.getvalue())).code == "photo_png"


def test_a_web_page_named_jpg_is_refused_as_a_web_page(tmp_path):
    page = b"<!DOCTYPE html>\n<html><head><title>photo</title></head><body>" + b"<p>x</p>" * 700_000
    assert _refused(check_jpeg, write(tmp_path / "photo.jpg", page)).code == "photo_html"


def test_other_bytes_named_jpg_are_refused(tmp_path):
    data = b"GIF89a" + bytes(6 * MB)
    assert _refused(check_jpeg, write(tmp_path / "photo.jpg", data)).code == "photo_not_jpeg"


def test_a_photo_cut_in_the_middle_is_refused(tmp_path, picture):
    whole = padded_to(picture, 8 * MB)
    cut = whole[: len(whole) - len(picture) // 2]  # ends in the middle of the coded picture
    assert len(cut) >= PHOTO_MIN_BYTES
    assert _refused(check_jpeg, write(tmp_path / "photo.jpg", cut)).code == "photo_truncated"


def test_a_cut_photo_is_refused_even_when_pillow_loads_truncated_images(tmp_path, picture, monkeypatch):
    # WeasyPrint turns this on for the whole process
    monkeypatch.setattr("PIL.ImageFile.LOAD_TRUNCATED_IMAGES", True)
    whole = padded_to(picture, 8 * MB)
    cut = whole[: len(whole) - 1000]
    assert _refused(check_jpeg, write(tmp_path / "photo.jpg", cut)).code == "photo_truncated"


def test_data_after_the_picture_is_allowed(tmp_path, picture):
    # Samsung phones append their own block after the picture's end marker
    data = padded_to(picture, 6 * MB) + b"SEFH" + bytes(1000) + b"SEFT"
    assert check_jpeg(write(tmp_path / "photo.jpg", data)).size == len(data)


def test_a_progressive_jpeg_passes(tmp_path):
    data = padded_to(random_jpeg((1200, 1000), progressive=True), PHOTO_MIN_BYTES)
    assert check_jpeg(write(tmp_path / "photo.jpg", data)).width == 1200


@pytest.mark.parametrize("dimensions", [(60_000, 60_000), (12_000, 12_000)])
def test_a_pixel_bomb_is_refused_before_it_is_decoded(tmp_path, picture, dimensions):
    # 3.6 billion pixels (Pillow refuses it on opening), and 144 million (past our limit)
    bomb = padded_to(with_dimensions(picture, *dimensions), PHOTO_MIN_BYTES)
    assert _refused(check_jpeg, write(tmp_path / "photo.jpg", bomb)).code == "photo_too_many_pixels"


def test_damaged_picture_data_is_refused(tmp_path, picture):
    data = bytearray(padded_to(picture, PHOTO_MIN_BYTES))
    sof = data.index(b"\xff\xc0")
    data[sof + 9] = 7  # seven colour components in a baseline JPEG: no decoder accepts it
    error = _refused(check_jpeg, write(tmp_path / "photo.jpg", bytes(data)))
    assert error.code == "photo_broken"


def test_check_jpeg_never_changes_the_original(tmp_path, picture):
    path = write(tmp_path / "photo.jpg", padded_to(picture, PHOTO_MIN_BYTES))
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    check_jpeg(path)
    photo_previews(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_more_photos_than_the_maximum_are_refused():
    check_photo_count(PHOTOS_MAX)
    assert _refused(check_photo_count, PHOTOS_MAX + 1).code == "photos_too_many"


# -- Previews ----------------------------------------------------------------------------------


@pytest.fixture
def phone_photo(tmp_path) -> Path:
    """A 5 MB photo stored sideways, as a phone held upright does: EXIF orientation 6 (turn
    90° clockwise to show), GPS, XMP and a colour profile. White on its left half."""
    image = Image.new("RGB", (2400, 1200), (200, 30, 30))
    image.paste((255, 255, 255), (0, 0, 1200, 1200))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {2: (39.0, 54.0, 0.0), 4: (116.0, 23.0, 0.0)}
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=95, exif=exif, icc_profile=icc, xmp=b"<x:xmpmeta>secret place</x:xmpmeta>")
    return write(tmp_path / "phone.jpg", padded_to(buf.getvalue(), PHOTO_MIN_BYTES))


def test_photo_dimensions_are_reported_upright(phone_photo):
    info = check_jpeg(phone_photo)
    assert (info.width, info.height) == (1200, 2400)


def test_previews_are_upright_and_carry_no_metadata(phone_photo):
    screen, thumb = photo_previews(phone_photo)
    for data, long_side in ((screen, 1920), (thumb, 480)):
        image = Image.open(io.BytesIO(data))
        assert image.format == "JPEG"
        assert image.size == (long_side // 2, long_side)  # portrait now
        assert not image.getexif()
        assert "icc_profile" not in image.info
        assert "xmp" not in image.info
        assert b"PhoneMaker" not in data
        assert b"secret place" not in data
        # the white half, on the left when stored, is on top when shown
        top = image.convert("L").getpixel((image.width // 2, image.height // 4))
        bottom = image.convert("L").getpixel((image.width // 2, image.height * 3 // 4))
        assert top > 240
        assert bottom < 120


# -- Captions ---------------------------------------------------------------------------------

CAPTION = {
    "creator": " 张三 ",
    "taken_at": "2024年6月18日",
    "place": "北京市海淀区",
    "description": "认证机构工作人员在养老服务中心\n开展服务体验。",
    "key_people": "无",
    "background": "2024年服务认证体验周活动现场。",
}


def test_a_full_caption_is_trimmed_and_kept():
    caption = check_caption({**CAPTION, "extra": "dropped"})
    assert caption["creator"] == "张三"
    assert caption["key_people"] == "无"
    assert caption["description"] == CAPTION["description"]
    assert set(caption) == {f.name for f in media.CAPTION_FIELDS}


def test_every_caption_field_is_required(app):
    error = _refused(check_caption, {**CAPTION, "place": "  ", "background": ""})
    assert error.code == "caption_missing"
    assert error.params["missing"] == ("place", "background")
    with force_locale("zh_Hans_CN"):
        assert str(error) == "请填写图片说明中的“拍摄地点”。"


def test_a_caption_field_too_long_is_refused():
    error = _refused(check_caption, {**CAPTION, "description": "字" * 501})
    assert (error.code, error.params["name"], error.params["limit"]) == ("caption_too_long", "description", 500)


# -- Videos: the fixtures ---------------------------------------------------------------------


def test_a_video_of_2m50s_passes():
    info = probe_video(FIXTURES / "video_2m50s.mp4")
    assert info.duration_s == pytest.approx(170, abs=0.5)
    assert (info.video_codec, info.audio_codec, info.brand) == ("h264", "aac", "isom")
    assert info.playable
    assert not needs_playable_copy(info)


def test_a_video_of_3m05s_is_refused_with_its_length(app):
    error = _refused(probe_video, FIXTURES / "video_3m05s.mp4")
    assert error.code == "video_too_long"
    with force_locale("zh_Hans_CN"):
        assert "视频时长 3:05" in str(error)


def test_a_truncated_video_is_refused():
    assert _refused(probe_video, FIXTURES / "video_truncated.mp4").code == "video_incomplete"


def test_a_webm_named_mp4_is_refused_as_webm(app):
    error = _refused(probe_video, FIXTURES / "video_webm_named.mp4")
    assert error.code == "video_webm"
    with force_locale("zh_Hans_CN"):
        assert "MP4（H.264）" in str(error)


# -- Videos: made here --------------------------------------------------------------------------


def test_a_video_cut_after_its_index_is_refused(tmp_path):
    whole = make_video(tmp_path / "whole.mp4", seconds=4).read_bytes()
    cut = write(tmp_path / "cut.mp4", whole[: len(whole) * 2 // 3])  # index first, media cut off
    assert _refused(probe_video, cut).code == "video_incomplete"


def test_the_duration_comes_from_the_streams_not_the_header(tmp_path):
    path = make_video(tmp_path / "v.mp4", seconds=4, audio=False)
    data = bytearray(path.read_bytes())
    for box in (b"mvhd", b"mdhd"):  # the movie's and the track's header both claim 1 s
        at = data.index(box)
        timescale = data[at + 16 : at + 20]
        data[at + 20 : at + 24] = timescale
    write(path, bytes(data))
    with av.open(str(path)) as claimed:
        assert claimed.duration == 1_000_000
    assert probe_video(path).duration_s == pytest.approx(4, abs=0.05)


def test_the_longest_stream_counts(tmp_path, monkeypatch):
    monkeypatch.setattr(media, "VIDEO_MAX_SECONDS", 3)
    path = make_video(tmp_path / "v.mp4", seconds=3)
    assert probe_video(path).duration_s <= 3 + 1 / 25 + 0.03  # AAC ends on a whole frame
    longer = make_video(tmp_path / "longer.mp4", seconds=3.2)
    assert _refused(probe_video, longer).code == "video_too_long"


def test_one_frame_of_tolerance_and_no_more(tmp_path, monkeypatch):
    monkeypatch.setattr(media, "VIDEO_MAX_SECONDS", 2)
    # 2 s + one frame at 25 fps passes; 2 s + two frames does not
    assert probe_video(make_video(tmp_path / "a.mp4", seconds=2.04, audio=False)).duration_s == pytest.approx(2.04)
    error = _refused(probe_video, make_video(tmp_path / "b.mp4", seconds=2.08, audio=False))
    assert error.code == "video_too_long"


def test_the_limit_is_three_minutes():
    assert VIDEO_MAX_SECONDS == 180


def test_a_quicktime_file_named_mp4_is_refused(tmp_path):
    path = tmp_path / "movie.mp4"
    with av.open(str(path), "w", format="mov") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for n in range(5):
            frame = av.VideoFrame(64, 64, "yuv420p")
            frame.pts = n
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    assert path.read_bytes()[8:12] == b"qt  "
    assert _refused(probe_video, path).code == "video_quicktime"


def test_an_mp4_with_sound_only_is_refused(tmp_path):
    assert _refused(probe_video, make_audio_only(tmp_path / "sound.mp4")).code == "video_no_picture"


def test_other_bytes_named_mp4_are_refused(tmp_path):
    assert _refused(probe_video, write(tmp_path / "v.mp4", b"RIFF" + bytes(100))).code == "video_not_mp4"
    assert _refused(probe_video, write(tmp_path / "e.mp4", b"")).code == "video_empty"


def test_the_size_limit_comes_from_the_app_config(app, tmp_path):
    path = make_video(tmp_path / "v.mp4", seconds=1)
    app.config["WORKS_VIDEO_MAX_BYTES"] = path.stat().st_size - 1
    assert _refused(probe_video, path).code == "video_too_large"
    app.config["WORKS_VIDEO_MAX_BYTES"] = path.stat().st_size
    assert probe_video(path).size == path.stat().st_size


def test_the_default_size_limit_fits_three_minutes_of_1080p():
    assert media.VIDEO_MAX_BYTES >= 180 * 30_000_000 // 8  # 30 Mbit/s, a phone's 1080p60


def test_the_index_at_the_end_needs_a_copy_which_copies_the_packets(tmp_path):
    original = make_video(tmp_path / "late_index.mp4", seconds=2, faststart=False)
    info = probe_video(original)
    assert info.video_codec == "h264"
    assert not info.faststart
    assert needs_playable_copy(info)
    make_playable_copy(original, tmp_path / "copy.mp4")
    copy = probe_video(tmp_path / "copy.mp4")
    assert copy.faststart
    assert copy.playable
    assert copy.duration_s == pytest.approx(info.duration_s, abs=1 / 25)


@pytest.fixture
def hevc_video(tmp_path) -> Path:
    try:
        av.codec.Codec("libx265", "w")
    except av.codec.codec.UnknownCodecError:
        pytest.skip("PyAV's FFmpeg has no HEVC encoder (libx265) to make an iPhone-like video with")
    return make_video(tmp_path / "iphone.mp4", codec="libx265", seconds=3, rotation=-90)


def test_a_hevc_video_gets_an_h264_copy_as_long_as_the_original(tmp_path, hevc_video):
    original = probe_video(hevc_video)
    assert original.video_codec == "hevc"
    assert needs_playable_copy(original)
    seen = []
    make_playable_copy(hevc_video, tmp_path / "copy.mp4", progress=lambda done, total: seen.append((done, total)))
    copy = probe_video(tmp_path / "copy.mp4")
    assert (copy.video_codec, copy.pixel_format, copy.audio_codec) == ("h264", "yuv420p", "aac")
    assert copy.faststart
    assert not needs_playable_copy(copy)
    assert copy.duration_s == pytest.approx(original.duration_s, abs=1 / original.frame_rate)
    assert copy.rotation == original.rotation == -90
    assert seen[-1] == (pytest.approx(3.0, abs=0.05), pytest.approx(3.0, abs=0.05))


def test_a_copy_stopped_half_way_leaves_nothing(tmp_path, hevc_video):
    class TimeLimit(Exception):
        pass

    def stop(done, total):
        if done >= 1:
            raise TimeLimit

    with pytest.raises(TimeLimit):
        make_playable_copy(hevc_video, tmp_path / "copy.mp4", progress=stop)
    assert not (tmp_path / "copy.mp4").exists()


def test_a_copy_larger_than_1080p_is_brought_down_to_it(tmp_path):
    original = make_video(tmp_path / "big.mp4", codec="mpeg4", size=(2560, 1440), seconds=0.4, audio=False)
    make_playable_copy(original, tmp_path / "copy.mp4")
    copy = probe_video(tmp_path / "copy.mp4")
    assert (copy.width, copy.height, copy.video_codec) == (1920, 1080, "h264")


def test_the_poster_is_upright_screen_sized_and_bare(hevc_video):
    poster = Image.open(io.BytesIO(poster_frame(hevc_video)))
    assert poster.format == "JPEG"
    assert poster.size == (240, 320)  # turned as the phone meant it
    assert not poster.getexif()
    # the white bar on the stored picture's top half shows on the right when turned clockwise
    gray = poster.convert("L")
    x_at_one_second = 25 * 4 + 10
    assert gray.getpixel((200, x_at_one_second)) > 200
    assert gray.getpixel((40, x_at_one_second)) < 160


def test_the_poster_of_a_fixture(tmp_path):
    local = shutil.copy(FIXTURES / "video_2m50s.mp4", tmp_path / "v.mp4")
    poster = Image.open(io.BytesIO(poster_frame(local)))
    assert poster.size == (320, 180)
