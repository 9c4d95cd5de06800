"""The rules of a work, called directly: its fields, its text, photos and video, the
declarations, and what is left in the storage after a refusal or a removal."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from experience.core import storage, uploads
from experience.core.audit import AuditEntry
from experience.core.errors import RuleError
from experience.extensions import db
from experience.works import jobs as work_jobs
from experience.works import media, services
from experience.works.models import CheckState, FileCheck, FileKind, Work, WorkCategory, WorkFile
from tests.conftest import NOW
from tests.works.conftest import CAPTION, stored, upload
from tests.works.media_files import MB, padded_to, random_jpeg

FIXTURES = Path("/work/shared/fixtures/works")


def keys() -> set[str]:
    """The works' files in the storage (a job's small report is its own: core.jobs)."""
    return {k for k, _ in storage.current().list() if k.startswith("work-")}


def run_checks(work: Work) -> None:
    """What a page does after a change: record the job, commit, hand it to the worker
    (which runs at once in the tests)."""
    job = services.start_checks(work, actor=work.unit.account, now=NOW)
    db.session.commit()
    if job is not None:
        work_jobs.enqueue(job)
    db.session.expire_all()


def add_photo(work: Work, data: bytes, caption=CAPTION, name="photo.jpg") -> WorkFile:
    f = services.attach_photo(work, stored(data, name, "jpg"), caption, actor=work.unit.account, now=NOW)
    db.session.commit()
    return f


# -- The registration form's fields ----------------------------------------------------------


def test_a_new_work_keeps_the_form_and_is_logged(make_work):
    work = make_work(contact_phone="+86 138-1234-5678")
    assert (work.title, work.category, work.completed_on) == ("认证让养老更安心", WorkCategory.PHOTO, date(2024, 6, 20))
    assert work.contact_phone == "13812345678"
    assert work.check_state is CheckState.DRAFT
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "work.create"))
    assert entry.target_id == str(work.id)
    assert entry.province_code == "11"


@pytest.mark.parametrize(
    ("completed_on", "code"),
    [(date(2023, 12, 31), "completed_too_early"), (date(2024, 8, 14), "completed_future")],
)
def test_the_completion_date_lies_in_the_campaign_year_up_to_today_in_beijing(make_work, completed_on, code):
    with pytest.raises(RuleError) as e:
        make_work(completed_on=completed_on)
    assert e.value.code == code


def test_the_first_day_of_the_year_and_today_in_beijing_are_accepted(make_work):
    # NOW is 10:00 on Aug 13 in Beijing
    assert make_work(completed_on=date(2024, 1, 1)).completed_on == date(2024, 1, 1)
    assert make_work(completed_on=date(2024, 8, 13)).completed_on == date(2024, 8, 13)


def test_the_summary_counts_characters_without_whitespace(make_work):
    summary = "认" * 250 + " \n\u3000" + "证" * 250
    assert make_work(summary=summary).summary == summary
    with pytest.raises(RuleError) as e:
        make_work(summary=summary + "了")
    assert (e.value.code, e.value.params["count"], e.value.params["over"]) == ("summary_too_long", 501, 1)
    assert "501" in str(e.value)


def test_a_phone_that_is_neither_mobile_nor_landline_is_refused(make_work):
    with pytest.raises(RuleError) as e:
        make_work(contact_phone="12345")
    assert (e.value.code, e.value.params["field"]) == ("phone", "contact_phone")
    assert make_work(contact_phone="010 8226 0862").contact_phone == "010-82260862"


def test_the_category_is_fixed_once_the_work_has_files(make_work, photo_bytes):
    work = make_work()
    services.update_work(work, actor=work.unit.account, now=NOW, category=WorkCategory.VIDEO)
    services.update_work(work, actor=work.unit.account, now=NOW, category=WorkCategory.PHOTO)
    add_photo(work, photo_bytes)
    with pytest.raises(RuleError) as e:
        services.update_work(work, actor=work.unit.account, now=NOW, category=WorkCategory.VIDEO)
    assert e.value.code == "category_fixed"


# -- Texts -----------------------------------------------------------------------------------


def test_a_typed_text_of_3000_characters_makes_the_work_ready(make_work):
    work = make_work(category=WorkCategory.TEXT)
    text = (FIXTURES / "text_3000_chars.txt").read_text(encoding="utf-8")
    services.set_text(work, text, actor=work.unit.account, now=NOW)
    db.session.commit()
    assert work.check_state is CheckState.READY
    with pytest.raises(RuleError) as e:
        services.set_text(work, (FIXTURES / "text_3001_chars.txt").read_text(encoding="utf-8"), actor=None, now=NOW)
    assert "3001" in str(e.value)


@pytest.mark.parametrize("name", ["text_3000_chars.docx", "text_3000_chars.txt"])
def test_an_uploaded_text_file_becomes_the_works_text_and_is_kept(make_work, name):
    work = make_work(category=WorkCategory.TEXT)
    data = (FIXTURES / name).read_bytes()
    text = services.read_text_upload(data, name)
    f = services.attach_text_file(work, stored(data, name, "x"), actor=work.unit.account, now=NOW, text=text)
    db.session.commit()
    assert work.body == text
    assert work.check_state is CheckState.READY
    assert storage.current().read(f.storage_key) == data
    assert f.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("name", ["text_3001_chars.docx", "text_3001_chars.txt"])
def test_a_text_file_one_character_too_long_is_refused_with_its_count_and_not_stored(make_work, name):
    work = make_work(category=WorkCategory.TEXT)
    before = keys()
    data = (FIXTURES / name).read_bytes()
    kept = stored(data, name, "txt")
    with pytest.raises(RuleError) as e:
        services.attach_text_file(work, kept, actor=work.unit.account, now=NOW)  # read from the storage
    assert e.value.code == "text_too_long"
    assert "3001" in str(e.value)
    assert keys() == before


def test_a_photo_cannot_go_into_a_text_work(make_work, photo_bytes):
    work = make_work(category=WorkCategory.TEXT)
    before = keys()
    with pytest.raises(RuleError) as e:
        add_photo(work, photo_bytes)
    assert e.value.code == "wrong_category"
    assert keys() == before


# -- Photos ----------------------------------------------------------------------------------


def test_a_photo_is_processing_until_checked_then_has_upright_previews(make_work, photo_bytes):
    work = make_work()
    photo = add_photo(work, photo_bytes)
    assert work.check_state is CheckState.PROCESSING
    assert photo.check_state is FileCheck.PENDING
    run_checks(work)
    photo = db.session.get(WorkFile, photo.id)
    assert photo.check_state is FileCheck.PASSED
    assert (photo.width, photo.height, photo.content_type) == (640, 480, "image/jpeg")
    assert work.check_state is CheckState.READY
    # the original is the work: kept byte for byte
    assert storage.current().read(photo.storage_key) == photo_bytes
    screen, thumb = work.derived(photo, FileKind.PREVIEW_SCREEN), work.derived(photo, FileKind.THUMBNAIL)
    assert storage.current().read(screen.storage_key)[:3] == b"\xff\xd8\xff"
    assert b"Exif" not in storage.current().read(thumb.storage_key)[:200]


@pytest.mark.parametrize(("size", "code"), [(5 * MB - 1, "photo_too_small"), (15 * MB + 1, "photo_too_large")])
def test_a_photo_outside_5_to_15_mb_is_refused_before_anything_is_stored(make_work, size, code):
    work = make_work()
    before = keys()
    data = padded_to(random_jpeg((64, 48)), size)
    with pytest.raises(RuleError) as e:
        services.check_new_photo(work, CAPTION, len(data), now=NOW)
    assert e.value.code == code
    with pytest.raises(RuleError):
        add_photo(work, data)
    assert keys() == before
    assert not work.files


def test_15_mb_exactly_is_accepted(make_work):
    work = make_work()
    add_photo(work, padded_to(random_jpeg((64, 48)), 15 * MB))
    run_checks(work)
    assert work.check_state is CheckState.READY


def test_a_caption_with_a_part_missing_is_refused_and_nothing_is_stored(make_work, photo_bytes):
    work = make_work()
    before = keys()
    with pytest.raises(RuleError) as e:
        add_photo(work, photo_bytes, caption={**CAPTION, "place": "  "})
    assert (e.value.code, e.value.params["missing"]) == ("caption_missing", ("place",))
    assert keys() == before


def test_a_png_named_jpg_is_refused_by_the_worker_and_its_bytes_deleted(make_work):
    from PIL import Image

    work = make_work()
    png = Image.frombytes("RGB", (1400, 1300), bytes(range(256)) * (1400 * 1300 * 3 // 256) + b"\0" * 96)
    data = _png_of_at_least(png, 5 * MB)
    photo = add_photo(work, data, name="fake.jpg")
    key = photo.storage_key
    run_checks(work)
    photo = db.session.get(WorkFile, photo.id)
    assert photo.check_state is FileCheck.FAILED
    assert photo.storage_key is None
    assert not storage.current().exists(key)
    assert work.check_state is CheckState.FAILED
    message = services.file_message(photo)
    assert "PNG" in message and "JPG" in message


def _png_of_at_least(image, size: int) -> bytes:
    import io
    import os

    buf = io.BytesIO()
    image.save(buf, "PNG", compress_level=0)
    data = buf.getvalue()
    return data + os.urandom(max(0, size - len(data)))


def test_a_work_takes_at_most_photos_max_photos(make_work, photo_bytes):
    work = make_work()
    for _ in range(media.PHOTOS_MAX):
        add_photo(work, photo_bytes)
    before = keys()
    with pytest.raises(RuleError) as e:
        add_photo(work, photo_bytes)
    assert e.value.code == "photos_too_many"
    assert keys() == before


def test_photos_move_and_removal_renumbers_and_deletes_on_commit(make_work, photo_bytes):
    work = make_work()
    a, b, c = (add_photo(work, photo_bytes, name=n) for n in ("a.jpg", "b.jpg", "c.jpg"))
    run_checks(work)
    services.move_photo(work, db.session.get(WorkFile, c.id), -1, actor=None, now=NOW)
    db.session.commit()
    assert [p.filename for p in services.photos(work)] == ["a.jpg", "c.jpg", "b.jpg"]
    a = db.session.get(WorkFile, a.id)
    gone = {a.storage_key, work.derived(a, FileKind.THUMBNAIL).storage_key}
    services.remove_file(work, a, actor=work.unit.account, now=NOW)
    assert gone <= keys()  # not before the commit: a rollback would need them
    db.session.rollback()
    assert gone <= keys()
    work = db.session.get(Work, work.id)
    services.remove_file(work, db.session.get(WorkFile, a.id), actor=work.unit.account, now=NOW)
    db.session.commit()
    assert not gone & keys()
    assert [(p.filename, p.position) for p in services.photos(work)] == [("c.jpg", 1), ("b.jpg", 2)]


# -- Videos ----------------------------------------------------------------------------------


def test_an_h264_video_passes_with_a_poster_and_needs_no_copy(make_work, h264_video):
    work = make_work(category=WorkCategory.VIDEO)
    f = services.attach_video(work, stored(h264_video, "clip.mp4", "mp4"), actor=work.unit.account, now=NOW)
    run_checks(work)
    f = db.session.get(WorkFile, f.id)
    assert f.check_state is FileCheck.PASSED
    assert f.duration_s == pytest.approx(2.0, abs=0.05)
    assert work.derived(f, FileKind.POSTER).storage_key
    assert work.derived(f, FileKind.PLAYABLE) is None
    assert work.check_state is CheckState.READY


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("video_3m05s.mp4", "video_too_long"),
        ("video_truncated.mp4", "video_incomplete"),
        ("video_webm_named.mp4", "video_webm"),
    ],
)
def test_a_refused_video_leaves_its_reason_and_nothing_stored(make_work, name, code):
    work = make_work(category=WorkCategory.VIDEO)
    before = keys()
    f = services.attach_video(
        work, stored((FIXTURES / name).read_bytes(), name, "mp4"), actor=work.unit.account, now=NOW
    )
    run_checks(work)
    f = db.session.get(WorkFile, f.id)
    assert (f.check_state, f.check_code) == (FileCheck.FAILED, code)
    assert keys() == before
    assert work.check_state is CheckState.FAILED
    assert services.file_message(f)


def test_a_new_video_replaces_the_old_one_and_its_bytes(make_work, h264_video):
    work = make_work(category=WorkCategory.VIDEO)
    services.attach_video(work, stored(h264_video, "a.mp4", "mp4"), actor=work.unit.account, now=NOW)
    run_checks(work)
    old = {f.storage_key for f in db.session.get(Work, work.id).files}
    assert len(old) == 2  # the video and its poster
    work = db.session.get(Work, work.id)
    services.attach_video(work, stored(h264_video, "b.mp4", "mp4"), actor=work.unit.account, now=NOW)
    run_checks(work)
    assert not old & keys()
    assert [f.filename for f in work.originals()] == ["b.mp4"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WorkFile)) == 2


def test_a_video_over_the_size_limit_is_refused_before_storing(app, make_work, h264_video):
    app.config["WORKS_VIDEO_MAX_BYTES"] = len(h264_video) - 1
    before = keys()
    with pytest.raises(RuleError) as e:
        services.receive(upload(h264_video, "a.mp4"), "mp4", services.check_video_size)
    assert e.value.code == "video_too_large"
    assert keys() == before


# -- Declarations, deletion, the sweep -------------------------------------------------------


def test_the_declarations_keep_who_when_where_which_text_and_title(make_work):
    work = make_work()
    assert not services.declarations_current(work)
    services.accept_declarations(
        work, version=services.DECLARATION_VERSION, title=work.title, actor=work.unit.account, now=NOW, ip="192.0.2.7"
    )
    db.session.commit()
    assert (work.declared_by_id, work.declared_at, work.declared_ip) == (work.unit.account.id, NOW, "192.0.2.7")
    assert (work.declaration_version, work.declared_title) == (services.DECLARATION_VERSION, "认证让养老更安心")
    assert services.declarations_current(work)
    assert "《认证让养老更安心》" in services.commitment_text(work.title)
    services.update_work(work, actor=work.unit.account, now=NOW, title="新的作品名称")
    assert not services.declarations_current(work)


@pytest.mark.parametrize(
    ("version", "title", "code"),
    [("2023-0", "认证让养老更安心", "declaration_changed"), ("2024-1", "旧的名称", "declaration_title_changed")],
)
def test_declarations_shown_for_another_text_or_title_are_refused(make_work, version, title, code):
    work = make_work()
    with pytest.raises(RuleError) as e:
        services.accept_declarations(work, version=version, title=title, actor=work.unit.account, now=NOW)
    assert e.value.code == code
    assert work.declared_at is None


def test_deleting_a_draft_removes_its_rows_and_files(make_work, photo_bytes):
    work = make_work()
    add_photo(work, photo_bytes)
    run_checks(work)
    work = db.session.get(Work, work.id)
    mine = {f.storage_key for f in work.files}
    assert len(mine) == 3
    services.delete_work(work, actor=work.unit.account, now=NOW)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WorkFile)) == 0
    assert not mine & keys()


def test_the_sweep_keeps_every_works_file_and_removes_orphans(make_work, photo_bytes):
    work = make_work()
    photo = add_photo(work, photo_bytes)
    orphan = uploads.store_bytes(b"left over", "work", "jpg")
    later = 10**10  # files all look old
    removed = uploads.sweep(now=later)
    assert orphan in removed
    assert storage.current().exists(photo.storage_key)
