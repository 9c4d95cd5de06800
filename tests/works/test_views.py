"""A work's pages as each reader meets them: the unit fills and edits, the secretariat and
the unit's province read, other units and provinces find nothing, HQ sees counts."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role
from experience.core import files
from experience.core.audit import AuditEntry
from experience.extensions import db
from experience.works import services
from experience.works.models import CheckState, FileCheck, FileKind, Work, WorkCategory, WorkFile
from tests.conftest import NOW, PASSWORD, field_errors
from tests.works.conftest import CAPTION, work_fields
from tests.works.test_services import add_photo, keys, run_checks


def client_of(app, username: str):
    c = app.test_client()
    assert c.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302
    return c


@pytest.fixture
def as_unit(app, unit):
    return client_of(app, unit.credit_code)


@pytest.fixture
def readers(app, make_user, other_unit):
    """Logged-in clients of everyone but the unit."""
    make_user(Role.PROVINCE, "11", username="bjstaff")
    make_user(Role.PROVINCE, "33", username="zjstaff")
    make_user(Role.SECRETARIAT, username="secret")
    make_user(Role.HQ, username="hqboss")
    make_user(Role.ORGANIZER, "11", username="bjorg")
    return {
        name: client_of(app, username)
        for name, username in [
            ("province", "bjstaff"),
            ("province_other", "zjstaff"),
            ("secretariat", "secret"),
            ("hq", "hqboss"),
            ("organizer", "bjorg"),
            ("other_unit", other_unit.credit_code),
        ]
    }


def post_file(client, url: str, data: dict):
    """A multipart post. The test client spools a body over 500 KB to a temporary file
    that nothing closes; it is closed here once the answer is in."""
    r = client.post(url, data=data, content_type="multipart/form-data")
    r.request.environ["wsgi.input"].close()
    return r


def form_of(**overrides) -> dict:
    fields = work_fields(**overrides)
    fields["category"] = fields["category"].value
    fields["completed_on"] = fields["completed_on"].isoformat()
    return fields


def test_a_unit_creates_a_work_and_sees_it_on_its_start_page(app, campaign, as_unit):
    app.config["FROZEN_NOW"] = NOW
    r = as_unit.post("/works/new", data=form_of())
    assert r.status_code == 302
    work = db.session.scalar(sa.select(Work))
    assert r.headers["Location"].endswith(f"/works/{work.id}")
    page = as_unit.get(f"/works/{work.id}").get_data(as_text=True)
    assert "认证让养老更安心" in page
    assert "13812345678" in page  # the unit sees its own number in full
    home = as_unit.get("/unit").get_data(as_text=True)
    assert f'href="/works/{work.id}"' in home


def test_the_form_says_in_chinese_what_is_wrong(app, campaign, as_unit):
    app.config["FROZEN_NOW"] = NOW
    page = as_unit.post("/works/new", data=form_of(completed_on=date(2023, 12, 1)))
    errors = field_errors(page.get_data(as_text=True))
    assert "2024" in errors["completed_on"][0]
    assert "作品" in errors["completed_on"][0]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Work)) == 0


def test_a_photo_uploaded_through_the_form_is_checked_and_served_with_ranges(app, make_work, as_unit, photo_bytes):
    work = make_work()
    data = {**CAPTION, "file": (io.BytesIO(photo_bytes), "现场.jpg")}
    r = post_file(as_unit, f"/works/{work.id}/photos/new", data)
    assert r.status_code == 302
    page = as_unit.get(f"/works/{work.id}").get_data(as_text=True)
    photo = db.session.scalar(sa.select(WorkFile).where(WorkFile.kind == FileKind.ORIGINAL))
    assert photo.filename == "现场.jpg"
    assert db.session.get(Work, work.id).check_state is CheckState.READY
    thumb = db.session.get(Work, work.id).derived(photo, FileKind.THUMBNAIL)
    url = f"/works/files/{thumb.id}?v={files.version(thumb.storage_key)}"
    assert url.replace("&", "&amp;") in page
    served = as_unit.get(url)
    assert served.status_code == 200
    assert served.mimetype == "image/jpeg"
    assert "immutable" in served.headers["Cache-Control"]
    served.close()
    part = as_unit.get(f"/works/files/{photo.id}", headers={"Range": "bytes=0-9"})
    assert part.status_code == 206
    assert part.data == photo_bytes[:10]
    part.close()


def test_a_photo_without_its_caption_is_refused_on_the_form_and_not_stored(app, make_work, as_unit, photo_bytes):
    work = make_work()
    data = {**CAPTION, "key_people": "", "file": (io.BytesIO(photo_bytes), "a.jpg")}
    r = post_file(as_unit, f"/works/{work.id}/photos/new", data)
    assert r.status_code == 200
    assert "key_people" in field_errors(r.get_data(as_text=True))
    assert keys() == set()


def test_a_too_small_photo_is_refused_with_its_size(app, make_work, as_unit):
    work = make_work()
    data = {**CAPTION, "file": (io.BytesIO(b"\xff\xd8\xff" + bytes(3 * 1048576)), "small.jpg")}
    r = post_file(as_unit, f"/works/{work.id}/photos/new", data)
    errors = field_errors(r.get_data(as_text=True))
    assert "3.0" in errors["file"][0]
    assert keys() == set()


def test_a_file_waiting_for_its_check_is_not_served(app, make_work, as_unit, photo_bytes):
    work = make_work()
    photo = add_photo(work, photo_bytes)  # attached, not checked yet
    assert photo.check_state is FileCheck.PENDING
    assert as_unit.get(f"/works/files/{photo.id}").status_code == 404
    page = as_unit.get(f"/works/{work.id}").get_data(as_text=True)
    assert 'http-equiv="refresh"' in page  # 处理中: the page comes back for the result


def test_a_video_plays_from_its_poster_and_seeks(app, make_work, as_unit, h264_video):
    work = make_work(category=WorkCategory.VIDEO)
    r = post_file(as_unit, f"/works/{work.id}/video", {"file": (io.BytesIO(h264_video), "clip.mp4")})
    assert r.status_code == 302
    page = as_unit.get(f"/works/{work.id}").get_data(as_text=True)
    source = re.search(r'<source src="([^"]+)" type="video/mp4">', page).group(1)
    assert re.search(r'<video [^>]*poster="/works/files/\d+\?v=', page)
    middle = as_unit.get(source.replace("&amp;", "&"), headers={"Range": "bytes=100-199"})
    assert (middle.status_code, middle.data) == (206, h264_video[100:200])
    middle.close()


def test_readers_see_what_their_role_allows(app, make_work, readers, photo_bytes):
    work = make_work()
    photo = add_photo(work, photo_bytes)
    run_checks(work)
    page = readers["province"].get(f"/works/{work.id}").get_data(as_text=True)
    assert "认证让养老更安心" in page
    assert "138****5678" in page and "13812345678" not in page
    assert f"/works/{work.id}/edit" not in page  # read-only
    assert readers["secretariat"].get(f"/works/{work.id}").status_code == 200
    assert "13812345678" in readers["secretariat"].get(f"/works/{work.id}").get_data(as_text=True)
    served = readers["province"].get(f"/works/files/{photo.id}")
    assert served.status_code == 200
    served.close()
    for who in ("province_other", "other_unit", "hq", "organizer"):
        assert readers[who].get(f"/works/{work.id}").status_code == 404, who
        assert readers[who].get(f"/works/files/{photo.id}").status_code == 404, who
    refused = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "access.denied")).all()
    assert {e.target_type for e in refused} == {"work", "work_file"}
    assert len(refused) == 8


def test_lists_hold_only_what_the_reader_may_see(app, make_work, other_unit, readers):
    mine = make_work(title="北京的作品")
    theirs = make_work(owner=other_unit, title="浙江的作品")
    province = readers["province"].get("/works").get_data(as_text=True)
    assert f'href="/works/{mine.id}"' in province and f'href="/works/{theirs.id}"' not in province
    everyone = readers["secretariat"].get("/works").get_data(as_text=True)
    assert f'href="/works/{mine.id}"' in everyone and f'href="/works/{theirs.id}"' in everyone
    assert readers["hq"].get("/works").status_code == 403


def test_hq_sees_counts_by_province_and_category_only(app, make_work, other_unit, readers):
    make_work(title="甲")
    make_work(title="乙", category=WorkCategory.TEXT)
    make_work(owner=other_unit, title="丙", category=WorkCategory.VIDEO)
    page = readers["hq"].get("/hq/works").get_data(as_text=True)
    beijing = re.search(r"<tr><td>北京市</td>(.*?)</tr>", page).group(1)
    assert re.findall(r'<td class="num">(\d+)</td>', beijing) == ["1", "1", "0", "2"]
    assert "甲" not in page and "华为" not in page


def test_the_declarations_are_shown_in_full_and_need_both_ticks(app, make_work, as_unit):
    work = make_work()
    page = as_unit.get(f"/works/{work.id}/declarations").get_data(as_text=True)
    assert "《认证让养老更安心》" in page
    assert "排他授权许可" in page  # 附件1 四 (二), in full
    half = as_unit.post(
        f"/works/{work.id}/declarations",
        data={"version": services.DECLARATION_VERSION, "title": work.title, "commitment": "y"},
    )
    assert half.status_code == 200
    assert 'id="licence-errors"' in half.get_data(as_text=True)
    assert 'id="commitment-errors"' not in half.get_data(as_text=True)
    assert db.session.get(Work, work.id).declared_at is None
    r = as_unit.post(
        f"/works/{work.id}/declarations",
        data={"version": services.DECLARATION_VERSION, "title": work.title, "commitment": "y", "licence": "y"},
        environ_base={"REMOTE_ADDR": "192.0.2.55"},
    )
    assert r.status_code == 302
    work = db.session.get(Work, work.id)
    assert (work.declared_ip, work.declaration_version) == ("192.0.2.55", services.DECLARATION_VERSION)


def test_another_unit_cannot_change_or_delete_a_work(app, make_work, readers):
    work = make_work()
    other = readers["other_unit"]
    assert other.post(f"/works/{work.id}/edit", data=form_of(title="改")).status_code == 404
    assert other.post(f"/works/{work.id}/delete", data={"confirmed": "1"}).status_code == 404
    assert db.session.get(Work, work.id).title == "认证让养老更安心"


def test_deleting_a_draft_asks_first(app, make_work, as_unit):
    work = make_work()
    ask = as_unit.post(f"/works/{work.id}/delete")
    assert ask.status_code == 200 and "认证让养老更安心" in ask.get_data(as_text=True)
    assert db.session.get(Work, work.id) is not None
    assert as_unit.post(f"/works/{work.id}/delete", data={"confirmed": "1"}).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Work)) == 0


def test_editing_the_title_asks_for_the_commitment_again(app, make_work, as_unit):
    work = make_work()
    services.accept_declarations(
        work, version=services.DECLARATION_VERSION, title=work.title, actor=work.unit.account, now=NOW
    )
    db.session.commit()
    form = as_unit.get(f"/works/{work.id}/edit").get_data(as_text=True)
    assert re.search(r'<input checked[^>]*value="photo"', form)
    assert "2024-06-20" in form
    r = as_unit.post(f"/works/{work.id}/edit", data=form_of(title="认证让养老更放心"))
    assert r.status_code == 302
    page = as_unit.get(f"/works/{work.id}").get_data(as_text=True)
    assert "认证让养老更安心" in page  # the title the commitment named, shown with the warning
    assert f"/works/{work.id}/declarations" in page
    assert not services.declarations_current(db.session.get(Work, work.id))


def test_the_secretariats_list_goes_by_pages_and_reads_no_files(app, make_work, readers, monkeypatch):
    """However many works come, one page holds PAGE_SIZE of them, in a fixed number of
    queries, none of them for files (a list shows none)."""
    monkeypatch.setattr(services, "PAGE_SIZE", 2)
    made = [make_work(title=f"作品{i}") for i in range(3)]
    seen = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        first = readers["secretariat"].get("/works").get_data(as_text=True)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    second = readers["secretariat"].get("/works?page=2").get_data(as_text=True)
    newest, oldest = made[::-1][:2], made[0]
    assert all(f'href="/works/{w.id}"' in first for w in newest) and f'href="/works/{oldest.id}"' not in first
    assert "page=2" in first and f'href="/works/{oldest.id}"' in second and "page=1" in second
    assert not [s for s in seen if "work_file" in s], seen
