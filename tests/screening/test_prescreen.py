"""The pre-screen checklist of a work (screening.prescreen): the collection rules' results
as the secretariat reads them on the work's page."""

from __future__ import annotations

from datetime import date

import pytest

from experience.extensions import db
from experience.screening import prescreen
from experience.screening.prescreen import Result
from experience.works.models import WorkCategory


def results(work) -> dict[str, Result]:
    return {c.label: c.result for c in prescreen.checklist(work)}


def test_a_submitted_photo_work_passes_every_rule(app, submitted_work):
    work = submitted_work(category=WorkCategory.PHOTO)
    found = results(work)
    assert set(found.values()) == {Result.OK}
    assert list(found) == [
        "照片数量",
        "照片 1：文件大小",
        "照片 1：完整的JPG文件",
        "照片 1：图片说明完整",
        "作品完成时间",
        "盖章登记表",
    ]


def test_a_video_work_shows_its_duration_and_container(app, submitted_work):
    work = submitted_work(category=WorkCategory.VIDEO)
    checks = {c.label: c for c in prescreen.checklist(work)}
    assert checks["视频时长"].result is Result.OK
    assert checks["视频时长"].detail == "0:02"
    assert checks["视频格式（MP4）和完整性"].result is Result.OK
    assert checks["视频文件大小"].result is Result.OK


def test_a_text_work_counts_its_characters(app, submitted_work):
    work = submitted_work(category=WorkCategory.TEXT)
    checks = {c.label: c for c in prescreen.checklist(work)}
    assert checks["文字字数"].result is Result.OK
    assert "220" in checks["文字字数"].detail


@pytest.mark.parametrize(
    ("change", "label"),
    [
        (lambda w: setattr(w, "body", "字" * 3001), "文字字数"),
        (lambda w: setattr(w, "completed_on", date(2023, 12, 31)), "作品完成时间"),
        # the work changed after its sealed form was printed
        (lambda w: setattr(w, "summary", w.summary + "（补充）"), "盖章登记表"),
    ],
    ids=["text_too_long", "completed_before_the_year", "form_scan_outdated"],
)
def test_a_rule_not_met_fails_with_its_reason(app, submitted_work, change, label):
    work = submitted_work(category=WorkCategory.TEXT)
    change(work)
    db.session.flush()
    checks = {c.label: c for c in prescreen.checklist(work)}
    assert checks[label].result is Result.FAIL
    assert checks[label].detail
    assert checks["作品完成时间" if label != "作品完成时间" else "文字字数"].result is Result.OK


def test_a_missing_caption_part_fails_the_photo(app, submitted_work):
    work = submitted_work(category=WorkCategory.PHOTO)
    work.originals()[0].place = ""
    checks = {c.label: c for c in prescreen.checklist(work)}
    assert checks["照片 1：图片说明完整"].result is Result.FAIL
    assert "拍摄地点" in checks["照片 1：图片说明完整"].detail


def test_the_secretariat_reads_a_failing_rule_on_the_work_page(app, client, auth, submitted_work, secretariat):
    work = submitted_work(category=WorkCategory.TEXT)
    work.body = "字" * 3001
    db.session.commit()
    auth.login(secretariat.username)
    html = client.get(f"/works/{work.id}").get_data(as_text=True)
    assert 'id="prescreen"' in html
    # the text is too long, and the sealed form no longer matches it
    assert "有2项征集要求未满足" in html
    assert '<tr class="check-fail"><td>文字字数</td>' in html
    assert "3001" in html  # the reason gives the count


def test_the_unit_does_not_see_the_pre_screen(app, client, auth, submitted_work):
    work = submitted_work(category=WorkCategory.TEXT)
    auth.login(work.unit.account.username)
    page = client.get(f"/works/{work.id}")
    assert page.status_code == 200
    assert 'id="prescreen"' not in page.get_data(as_text=True)
