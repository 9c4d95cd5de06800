"""The tus server as clients meet it: a unit's video in chunks, refusals with their
statuses, and nobody but the owner reaching an upload."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import sqlalchemy as sa

from experience.core import storage
from experience.core.audit import AuditEntry
from experience.extensions import db
from experience.transfers.models import Upload
from experience.works.models import FileCheck, FileKind, WorkCategory, WorkFile
from tests.transfers.conftest import TUS, Tus, login, metadata


def _upload(url: str) -> Upload:
    db.session.expire_all()
    return db.session.get(Upload, url.rsplit("/", 1)[1])


def _original(work) -> WorkFile | None:
    db.session.expire_all()
    return db.session.scalar(sa.select(WorkFile).where(WorkFile.work_id == work.id, WorkFile.kind == FileKind.ORIGINAL))


def test_discovery_names_the_version_extensions_and_largest_size(app, tus):
    r = tus.client.options("/transfers/")
    assert r.status_code == 204
    assert r.headers["Tus-Version"] == "1.0.0"
    assert set(r.headers["Tus-Extension"].split(",")) == {"creation", "termination", "expiration"}
    assert int(r.headers["Tus-Max-Size"]) == app.config["WORKS_VIDEO_MAX_BYTES"]


def test_a_video_sent_in_chunks_becomes_the_works_video_with_the_servers_sha256(app, tus, video_work, h264_video):
    chunk = len(h264_video) // 3 + 1
    r = tus.create(len(h264_video), target=str(video_work.id))
    assert r.status_code == 201
    url = r.headers["Location"]
    assert re.fullmatch(r"/transfers/[A-Za-z0-9_-]{22}", url)
    assert "Upload-Expires" in r.headers
    head = tus.head(url)
    assert (head.status_code, head.headers["Upload-Offset"], head.headers["Upload-Length"]) == (
        200,
        "0",
        str(len(h264_video)),
    )
    assert head.headers["Cache-Control"] == "no-store"
    for at in range(0, len(h264_video), chunk):
        r = tus.patch(url, h264_video[at : at + chunk], at)
        assert (r.status_code, r.headers["Upload-Offset"]) == (204, str(min(at + chunk, len(h264_video))))
        assert r.headers["Tus-Resumable"] == "1.0.0"
    original = _original(video_work)
    assert original.sha256 == hashlib.sha256(h264_video).hexdigest()
    assert storage.current().read(original.storage_key) == h264_video
    # the worker's checks ran on the content (immediate mode here): the poster was taken
    assert original.check_state is FileCheck.PASSED
    assert original.filename == "clip.mp4"
    upload = _upload(url)
    assert upload.sha256 == original.sha256 and upload.completed_at is not None
    assert tus.head(url).headers["Upload-Offset"] == str(len(h264_video))


def test_a_chunk_at_the_wrong_offset_is_refused_with_the_right_one_and_nothing_written(app, tus, video_work):
    url = tus.create(100, target=str(video_work.id)).headers["Location"]
    assert tus.patch(url, b"a" * 40, 0).status_code == 204
    again = tus.patch(url, b"a" * 40, 0)  # a retry of a chunk that had arrived
    assert (again.status_code, again.headers["Upload-Offset"]) == (409, "40")
    assert tus.head(url).headers["Upload-Offset"] == "40"
    assert "40" in again.get_data(as_text=True)


def test_a_file_over_the_limit_is_refused_before_any_byte_is_stored(app, tus, video_work):
    app.config["WORKS_VIDEO_MAX_BYTES"] = 1000
    before = set(k for k, _ in storage.current().list())
    r = tus.create(1001, target=str(video_work.id))
    assert r.status_code == 413
    assert "MB" in r.get_data(as_text=True)  # the limit, said in MB
    assert set(k for k, _ in storage.current().list()) == before
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Upload)) == 0
    assert tus.create(1000, target=str(video_work.id)).status_code == 201


def test_bytes_beyond_the_announced_length_stop_the_upload_and_remove_it(app, tus, video_work):
    url = tus.create(100, target=str(video_work.id)).headers["Location"]
    key = _upload(url).storage_key
    assert tus.patch(url, b"a" * 60, 0).status_code == 204
    r = tus.patch(url, b"a" * 60, 60)
    assert r.status_code == 413
    assert _upload(url) is None
    assert not storage.current().exists(key)
    assert tus.head(url).status_code == 404


def test_the_protocol_version_type_and_length_are_required(app, tus, video_work):
    r = tus.client.post("/transfers/", headers={"Upload-Length": "10", "Upload-Metadata": metadata(purpose="x")})
    assert (r.status_code, r.headers["Tus-Version"]) == (412, "1.0.0")
    no_length = metadata(purpose="work-video", target=video_work.id)
    r = tus.client.post("/transfers/", headers=dict(TUS, **{"Upload-Metadata": no_length}))
    assert r.status_code == 400
    assert tus.create(10, purpose="nothing-we-know", target=str(video_work.id)).status_code == 400
    bad = tus.client.post("/transfers/", headers=dict(TUS, **{"Upload-Length": "10", "Upload-Metadata": "purpose !!"}))
    assert bad.status_code == 400
    url = tus.create(10, target=str(video_work.id)).headers["Location"]
    assert tus.patch(url, b"0123456789", 0, **{"Content-Type": "application/octet-stream"}).status_code == 415
    assert tus.patch(url, b"0123456789", 0, **{"Upload-Offset": "-1"}).status_code == 400


def test_a_file_the_work_does_not_take_is_refused_at_the_end_and_its_bytes_go(app, tus, make_work):
    text_work = make_work(category=WorkCategory.TEXT)
    r, url = tus.send(b"x" * 50, chunk=50, target=str(text_work.id))
    assert r.status_code == 422
    assert r.get_data(as_text=True) == "本作品为文字类作品，不能添加此类文件。"
    assert _upload(url) is None
    assert _original(text_work) is None
    assert not [k for k, _ in storage.current().list() if k.startswith("work-")]


def test_termination_removes_the_bytes(app, tus, video_work):
    url = tus.create(100, target=str(video_work.id)).headers["Location"]
    key = _upload(url).storage_key
    tus.patch(url, b"a" * 10, 0)
    assert tus.delete(url).status_code == 204
    assert not storage.current().exists(key)
    assert tus.head(url).status_code == 404


def test_an_upload_untouched_for_a_day_is_gone(app, tus, video_work):
    url = tus.create(100, target=str(video_work.id)).headers["Location"]
    upload = _upload(url)
    upload.updated_at -= timedelta(days=1, seconds=1)
    db.session.commit()
    assert tus.head(url).status_code == 404
    assert tus.patch(url, b"a", 0).status_code == 404


def test_nobody_but_the_owner_reaches_an_upload_and_each_refusal_is_logged(app, tus, video_work, other_unit):
    url = tus.create(100, target=str(video_work.id)).headers["Location"]
    other = Tus(login(app, other_unit.credit_code))

    def refusals() -> int:
        return db.session.scalar(
            sa.select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == "access.denied")
        )

    before = refusals()
    assert other.head(url).status_code == 404
    assert other.patch(url, b"a" * 10, 0).status_code == 404
    assert other.delete(url).status_code == 404
    # nor may it upload to the unit's work
    assert other.create(100, target=str(video_work.id)).status_code == 404
    assert refusals() == before + 4
    assert tus.head(url).headers["Upload-Offset"] == "0"


def test_without_a_session_the_answer_is_401_not_the_login_page(app, client, video_work):
    anonymous = Tus(client)
    assert anonymous.create(100, target=str(video_work.id)).status_code == 401
    assert anonymous.head("/transfers/abc").status_code == 401


def test_a_change_needs_the_pages_csrf_token_in_a_header(app, unit, video_work):
    app.config["WTF_CSRF_ENABLED"] = True
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    client.post("/login", data={"username": unit.credit_code, "password": "Correct-Horse-9", "csrf_token": token})
    page = client.get(f"/works/{video_work.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    without = Tus(client).create(100, target=str(video_work.id))
    assert without.status_code == 403
    assert "刷新" in without.get_data(as_text=True)
    tus = Tus(client, csrf_token=token)
    url = tus.create(100, target=str(video_work.id)).headers["Location"]
    assert Tus(client).patch(url, b"a" * 10, 0).status_code == 403
    assert tus.patch(url, b"a" * 10, 0).status_code == 204


def test_the_works_page_offers_the_resumable_upload_and_says_what_to_do_when_it_stalls(app, tus, video_work):
    page = tus.client.get(f"/works/{video_work.id}").get_data(as_text=True)
    assert 'data-tus-purpose="work-video"' in page
    assert f'data-tus-target="{video_work.id}"' in page
    assert "/static/vendor/tus/tus.min.js" in page and "/static/js/upload.js" in page
    # without JavaScript the same form posts the file as before
    assert f'action="/works/{video_work.id}/video"' in page and 'enctype="multipart/form-data"' in page
    assert "保持此页面打开" in page
