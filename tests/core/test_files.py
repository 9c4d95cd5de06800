"""Serving stored files, through the real routes: ranges for seeking, caching, nginx hand-off,
and the one access question capabilities extend."""

import os

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role
from experience.core import files, storage, uploads
from experience.extensions import db
from experience.plans.models import Plan

SIZE = 300_000


def fetch(client, url, **kw):
    """GET read to the end and closed, as a server does (the file's stream is released)."""
    return client.get(url, buffered=True, **kw)


@pytest.fixture
def attachment(app, make_user, make_event, auth):
    """An event of Beijing with a 300 KB attachment, its staff logged in: (url, key, bytes)."""
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    data = os.urandom(SIZE)
    event.attachment_key = uploads.store_bytes(data, "attachment", "pdf")
    event.attachment_name = "活动议程.pdf"
    db.session.commit()
    auth.login("bjstaff")
    return f"/events/{event.id}/attachment", event.attachment_key, data


def test_the_whole_file_says_ranges_are_welcome(client, attachment):
    url, key, data = attachment
    r = fetch(client, url)
    assert r.status_code == 200
    assert r.data == data
    assert r.headers["Accept-Ranges"] == "bytes"
    assert r.headers["Content-Length"] == str(SIZE)
    assert r.headers["Content-Type"] == "application/pdf"
    assert r.headers["ETag"] == f'"{files.version(key)}-{SIZE}"'
    disposition = r.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%E6%B4%BB%E5%8A%A8%E8%AE%AE%E7%A8%8B.pdf" in disposition


@pytest.mark.parametrize(
    "header, start, end",
    [
        ("bytes=0-99", 0, 99),  # the first bytes: a player reading the header
        ("bytes=150000-150999", 150_000, 150_999),  # the middle: a seek
        ("bytes=-100", SIZE - 100, SIZE - 1),  # the suffix: where an MP4 may keep its index
        ("bytes=299000-", 299_000, SIZE - 1),  # from an offset to the end: a resumed download
        ("bytes=299990-400000", 299_990, SIZE - 1),  # past the end: cut at the end
    ],
)
def test_a_range_answers_only_those_bytes(client, attachment, header, start, end):
    url, _, data = attachment
    r = fetch(client, url, headers={"Range": header})
    assert r.status_code == 206
    assert r.data == data[start : end + 1]
    assert r.headers["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
    assert r.headers["Content-Length"] == str(end + 1 - start)


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 5}-{SIZE + 10}", "bytes=500-100", "lines=1-2"])
def test_a_range_outside_the_file_is_refused(client, attachment, header):
    url, _, _ = attachment
    r = fetch(client, url, headers={"Range": header})
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{SIZE}"


def test_a_range_of_an_older_version_gets_the_whole_current_file(client, attachment):
    url, _, data = attachment
    r = fetch(client, url, headers={"Range": "bytes=0-99", "If-Range": '"an-older-version"'})
    assert r.status_code == 200
    assert r.data == data


def test_a_file_the_browser_has_is_not_sent_again(client, attachment):
    url, _, _ = attachment
    etag = fetch(client, url).headers["ETag"]
    r = fetch(client, url, headers={"If-None-Match": etag})
    assert r.status_code == 304
    assert r.data == b""
    assert fetch(client, url, headers={"If-None-Match": '"something-else"'}).status_code == 200


def test_a_versioned_url_is_cached_for_ever_and_a_record_url_is_asked_again(client, attachment):
    url, key, _ = attachment
    assert fetch(client, url).headers["Cache-Control"] == "private, no-cache"
    assert fetch(client, f"{url}?v={files.version(key)}").headers["Cache-Control"] == (
        "private, max-age=31536000, immutable"
    )
    # a link made before the file was replaced: the current file, not cached for ever
    assert fetch(client, f"{url}?v=0123456789abcdef").headers["Cache-Control"] == "private, no-cache"


def test_a_replaced_attachment_changes_version_and_etag(client, attachment, make_event):
    url, key, _ = attachment
    before = fetch(client, url).headers["ETag"]
    event_id = int(url.split("/")[2])
    from experience.events.models import Event

    event = db.session.get(Event, event_id)
    event.attachment_key = uploads.store_bytes(b"%PDF-1.4 new", "attachment", "pdf")
    db.session.commit()
    r = fetch(client, url, headers={"If-None-Match": before})
    assert r.status_code == 200
    assert r.data == b"%PDF-1.4 new"
    assert files.version(event.attachment_key) != files.version(key)


def test_with_nginx_the_answer_hands_off_and_carries_no_body(app, client, attachment):
    url, key, _ = attachment
    app.config["STORAGE_X_ACCEL_PREFIX"] = "/_stored/"
    r = fetch(client, url, headers={"Range": "bytes=0-99"})
    assert r.status_code == 200  # nginx answers the range after the hand-off
    assert r.headers["X-Accel-Redirect"] == f"/_stored/{key}"
    assert r.data == b""
    assert r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Disposition"].startswith("attachment;")
    assert r.headers["ETag"] == f'"{files.version(key)}-{SIZE}"'
    assert fetch(client, url, headers={"If-None-Match": r.headers["ETag"]}).status_code == 304


def test_a_file_gone_from_the_store_is_a_404_not_a_500(app, client, attachment):
    url, key, _ = attachment
    storage.current().delete(key)
    assert fetch(client, url).status_code == 404
    app.config["STORAGE_X_ACCEL_PREFIX"] = "/_stored/"
    assert fetch(client, url).status_code == 404


def test_access_is_checked_before_any_byte_or_range(client, auth, make_user, attachment):
    url, _, _ = attachment
    auth.logout()
    make_user(Role.PROVINCE, "31", username="shstaff")
    auth.login("shstaff")
    r = fetch(client, url, headers={"Range": "bytes=0-99"})
    assert r.status_code == 404
    assert "X-Accel-Redirect" not in r.headers


def test_the_memory_store_serves_the_same_way(app, client, make_user, make_event, auth):
    app.config["STORAGE_URI"] = "memory://"  # before the store is first made
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    data = os.urandom(5000)
    event.attachment_key, event.attachment_name = uploads.store_bytes(data, "attachment", "pdf"), "a.pdf"
    db.session.commit()
    assert isinstance(storage.current(), storage.MemoryStorage)
    auth.login("bjstaff")
    r = fetch(client, f"/events/{event.id}/attachment", headers={"Range": "bytes=-10"})
    assert r.status_code == 206
    assert r.data == data[-10:]


def test_a_sealed_plan_uploaded_through_its_form_is_served_by_range(client, auth, make_user, make_event, pdf_bytes):
    from tests.plans.test_views import _prepare

    _prepare(client, auth, make_user, make_event, pdf_bytes)
    plan = db.session.scalar(sa.select(Plan))
    url = f"/plans/{plan.id}/document"
    r = fetch(client, url, headers={"Range": "bytes=0-4"})
    assert r.status_code == 206
    assert r.data == b"%PDF-"
    assert r.headers["Content-Range"] == f"bytes 0-4/{len(pdf_bytes)}"
    whole = fetch(client, url)
    assert whole.data == pdf_bytes
    assert "filename*=UTF-8''" in whole.headers["Content-Disposition"]


# -- who may read a file: one question, answered by the capabilities ------------------------


@pytest.fixture
def readers(monkeypatch):
    monkeypatch.setattr(files, "_READERS", {})


def test_may_read_file_asks_the_rule_registered_for_the_kind(readers, make_user):
    @files.reader("work_original", "work_preview")
    def _own_unit(user, work):
        return work["unit"] == user.username

    unit = make_user(Role.PROVINCE, "11", username="unit-a")
    assert files.may_read_file(unit, "work_original", {"unit": "unit-a"}) is True
    assert files.may_read_file(unit, "work_preview", {"unit": "unit-b"}) is False


def test_an_unknown_kind_of_file_is_a_programming_error(readers, make_user):
    with pytest.raises(ValueError):
        files.may_read_file(make_user(Role.HQ), "work_original", None)


def test_a_kind_of_file_has_one_reader(readers):
    files.reader("poster")(lambda user, obj: True)
    with pytest.raises(RuntimeError):
        files.reader("poster")(lambda user, obj: False)


# -- a tool that needs a real file, on a store that has none ---------------------------------


def test_the_summary_pdf_embeds_a_photo_kept_in_memory_and_the_photo_url_never_changes(
    app, client, auth, make_user, make_event, tmp_path
):
    import io
    import subprocess
    import tempfile
    from pathlib import Path

    from PIL import Image

    from experience.reports import services as reports

    app.config["STORAGE_URI"] = "memory://"
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    app.config["FROZEN_NOW"] = event.ends_at
    auth.login("bjstaff")
    jpeg = io.BytesIO()
    Image.new("RGB", (64, 48), "green").save(jpeg, "JPEG")
    r = client.post(
        f"/events/{event.id}/summary",
        data={"photo": (io.BytesIO(jpeg.getvalue()), "现场.jpg"), "caption": "现场"},
        content_type="multipart/form-data",
    )
    assert r.status_code == 302
    web = reports.event_summary(event, create=False).own_photos[0]["web"]
    assert not Path(app.config["UPLOAD_DIR"], web).exists()  # in memory only

    copies_before = set(Path(tempfile.gettempdir()).glob("stored-*"))
    pdf = fetch(client, f"/events/{event.id}/summary.pdf")
    assert pdf.status_code == 200
    (tmp_path / "s.pdf").write_bytes(pdf.data)
    images = subprocess.run(["pdfimages", "-list", str(tmp_path / "s.pdf")], capture_output=True, text=True, check=True)
    assert len(images.stdout.splitlines()[2:]) == 1
    assert set(Path(tempfile.gettempdir()).glob("stored-*")) == copies_before  # the copy is gone

    photo = fetch(client, f"/events/{event.id}/summary/photos/{web}")
    assert photo.status_code == 200
    assert photo.headers["Content-Type"] == "image/jpeg"
    assert photo.headers["Cache-Control"] == "private, max-age=31536000, immutable"
