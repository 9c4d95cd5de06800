"""The public works platform: what a visitor sees of the selected works, and when.

Works are submitted and selected for real (works.submission, a round opened, 入选 decided
and applied: tests/screening/test_decisions.py); the 公示 is a Publication row (screening's
publish service is built beside this). Nothing is public before the 公示's first Beijing
day; a withdrawn work is gone at once; no page carries a contact or other personal data;
a file is served only when a public work shows it."""

from __future__ import annotations

import io
import re

import sqlalchemy as sa
from PIL import Image

from experience.core import storage
from experience.extensions import db
from experience.platform import services
from experience.screening import decisions
from experience.screening.models import BlindCopy, Withdrawal
from experience.works import services as works_services
from experience.works.models import FileKind, WorkCategory, WorkFile
from tests.conftest import NOW
from tests.platform.conftest import AFTERWARDS, BEFORE, DURING, START
from tests.works.conftest import stored

#: a work's own contact, kept apart from its unit's (王小明, 13812345678, wang@example.com)
CONTACT = dict(contact_name="赵联络", contact_phone="13900001111")


def withdraw(work, by):
    db.session.add(Withdrawal(work_id=work.id, reason="作品存在版权争议", withdrawn_by_id=by.id, withdrawn_at=DURING))
    db.session.commit()


def at(app, moment):
    app.config["FROZEN_NOW"] = moment


def text(page) -> str:
    return page.get_data(as_text=True)


def fetch(client, url: str, **kwargs):
    """A file's answer, read and closed (a served file is a stream)."""
    response = client.get(url, **kwargs)
    response.get_data()
    response.close()
    return response


# -- When ----------------------------------------------------------------------------------------


def test_nothing_is_public_before_the_first_day_of_the_notice(app, client, campaign, submitted_work, select, publish):
    work = submitted_work(title="社区食堂的认证之路", **CONTACT)
    select([work])
    publish()
    at(app, BEFORE)
    assert services.works_for_events(campaign, BEFORE) == []
    assert services.public_works(campaign, BEFORE) is None
    assert client.get("/showcase").status_code == 404
    assert client.get(f"/showcase/{work.id}").status_code == 404

    at(app, START)
    assert [w.title for w in services.works_for_events(campaign, START)] == ["社区食堂的认证之路"]
    page = client.get("/showcase")
    assert page.status_code == 200
    assert "社区食堂的认证之路" in text(page)
    assert client.get(f"/showcase/{work.id}").status_code == 200


def test_without_a_publication_nothing_is_public(app, client, campaign, submitted_work, select):
    work = submitted_work()
    select([work])
    at(app, AFTERWARDS)
    assert services.works_for_events(campaign, AFTERWARDS) == []
    assert client.get("/showcase").status_code == 404
    assert client.get(f"/showcase/{work.id}").status_code == 404


def test_only_selected_works_are_shown_and_they_stay_after_the_period(
    app, client, campaign, submitted_work, select, publish
):
    chosen = submitted_work(title="认证让养老更安心")
    passed_over = submitted_work(title="一张认证证书背后的坚守")
    never_decided = submitted_work(title="社区食堂的认证之路")
    select([chosen], others=[passed_over])
    publish()
    at(app, AFTERWARDS)
    assert [w.id for w in services.works_for_events(campaign, AFTERWARDS)] == [chosen.id]
    page = text(client.get("/showcase"))
    assert "认证让养老更安心" in page
    assert "一张认证证书背后的坚守" not in page
    assert "社区食堂的认证之路" not in page
    assert client.get(f"/showcase/{passed_over.id}").status_code == 404
    assert client.get(f"/showcase/{never_decided.id}").status_code == 404
    # the same works as screening's own list of the selection
    assert {w.id for w in decisions.selected_works(campaign)} == {chosen.id}


def test_a_withdrawn_work_leaves_the_pages_and_the_screens_at_once(
    app, client, campaign, submitted_work, select, publish, secretariat
):
    stays = submitted_work(title="认证让养老更安心")
    leaves = submitted_work(category=WorkCategory.PHOTO, title="一张认证证书背后的坚守")
    select([stays, leaves])
    publish()
    at(app, DURING)
    shown = services.public_work(leaves.id, DURING)
    preview_url = shown.photos[0].screen.url
    assert fetch(client, preview_url).status_code == 200
    assert "一张认证证书背后的坚守" in text(client.get("/showcase"))

    withdraw(leaves, secretariat)
    assert [w.id for w in services.works_for_events(campaign, DURING)] == [stays.id]
    assert "一张认证证书背后的坚守" not in text(client.get("/showcase"))
    assert client.get(f"/showcase/{leaves.id}").status_code == 404
    assert fetch(client, preview_url).status_code == 404


# -- What: no personal data, only public files ------------------------------------------------------


def test_the_pages_carry_no_contact_or_personal_data(app, client, campaign, unit, submitted_work, select, publish):
    works = [
        submitted_work(category=WorkCategory.TEXT, title="社区食堂的认证之路", **CONTACT),
        submitted_work(category=WorkCategory.PHOTO, title="认证让养老更安心", **CONTACT),
        submitted_work(category=WorkCategory.VIDEO, title="养老服务认证三分钟", **CONTACT),
    ]
    select(works)
    publish()
    at(app, DURING)
    pages = [text(client.get("/showcase")), text(client.get("/showcase?q=认证"))]
    pages += [text(client.get(f"/showcase/{w.id}")) for w in works]
    secrets = [
        "赵联络",
        "13900001111",
        "139****1111",
        unit.contact_name,
        unit.contact_mobile,
        unit.contact_email,
        unit.credit_code,
        unit.account.username,
    ]
    for page in pages:
        assert unit.name in page
        for secret in secrets:
            assert secret not in page, secret
        assert "@" not in re.sub(r"<[^>]*>", "", page)  # no e-mail address in the text


def test_a_photo_work_shows_its_previews_with_captions_never_the_original(
    app, client, campaign, submitted_work, select, publish
):
    work = submitted_work(category=WorkCategory.PHOTO)
    select([work])
    publish()
    at(app, DURING)
    page = text(client.get(f"/showcase/{work.id}"))
    assert "护理员为老人讲解服务认证标志" in page  # the caption's description
    assert "李摄影" in page  # its creator, part of the published caption
    original = next(f for f in work.files if f.kind is FileKind.ORIGINAL)
    screen = work.derived(original, FileKind.PREVIEW_SCREEN)
    thumb = work.derived(original, FileKind.THUMBNAIL)
    assert f"/showcase/{work.id}/files/{screen.id}" in page
    assert fetch(client, f"/showcase/{work.id}/files/{original.id}").status_code == 404
    assert fetch(client, f"/showcase/{work.id}/files/{work.form_scan.id}").status_code == 404
    served = fetch(client, f"/showcase/{work.id}/files/{screen.id}")
    assert served.status_code == 200
    assert served.mimetype == "image/jpeg"
    assert not Image.open(io.BytesIO(served.data)).getexif()  # no EXIF, no GPS
    assert fetch(client, f"/showcase/{work.id}/files/{thumb.id}").status_code == 200
    listing = text(client.get("/showcase"))
    assert f"/showcase/{work.id}/files/{thumb.id}" in listing  # lists carry the thumbnail …
    assert f"/files/{screen.id}" not in listing  # … not the screen preview
    assert 'loading="lazy"' in listing


def test_a_file_is_refused_unless_a_public_work_shows_it(
    app, client, campaign, submitted_work, select, publish, secretariat
):
    shown = submitted_work(category=WorkCategory.PHOTO, title="认证让养老更安心")
    hidden = submitted_work(category=WorkCategory.PHOTO, title="一张认证证书背后的坚守")
    select([shown], others=[hidden])
    publish()
    at(app, DURING)
    hidden_original = next(f for f in hidden.files if f.kind is FileKind.ORIGINAL)
    hidden_screen = hidden.derived(hidden_original, FileKind.PREVIEW_SCREEN)
    assert fetch(client, f"/showcase/{hidden.id}/files/{hidden_screen.id}").status_code == 404
    # a hidden work's file asked for under a public work's address
    assert fetch(client, f"/showcase/{shown.id}/files/{hidden_screen.id}").status_code == 404
    assert fetch(client, f"/showcase/{shown.id}/files/999999").status_code == 404
    at(app, BEFORE)
    original = next(f for f in shown.files if f.kind is FileKind.ORIGINAL)
    screen = shown.derived(original, FileKind.PREVIEW_SCREEN)
    assert fetch(client, f"/showcase/{shown.id}/files/{screen.id}").status_code == 404


def test_a_video_that_plays_as_it_is_is_served_with_its_poster_and_seeks(
    app, client, campaign, submitted_work, select, publish
):
    work = submitted_work(category=WorkCategory.VIDEO)
    select([work])
    publish()
    at(app, DURING)
    [event_work] = services.works_for_events(campaign, DURING)
    video = event_work.video
    assert video.poster is not None
    assert video.duration_s
    page = text(client.get(f"/showcase/{work.id}"))
    assert f'poster="{video.poster.url}"' in page
    assert f'src="{video.file.url}"' in page
    whole = fetch(client, video.file.url)
    assert whole.status_code == 200
    assert whole.mimetype == "video/mp4"
    part = fetch(client, video.file.url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.data == whole.data[100:200]
    assert fetch(client, video.poster.url).mimetype == "image/jpeg"
    # what plays is the work's screening copy (its tags stripped), never the unit's file
    original = next(f for f in work.files if f.kind is FileKind.ORIGINAL)
    clean = db.session.scalar(sa.select(BlindCopy).where(BlindCopy.file_id == original.id))
    assert whole.data == storage.current().read(clean.storage_key)
    assert whole.data != storage.current().read(original.storage_key)


def test_a_video_with_a_playable_copy_shows_the_copy_never_the_original(
    app, client, campaign, submitted_work, select, publish, hevc_video
):
    def prepare(work):
        works_services.attach_video(work, stored(hevc_video, "iphone.mp4", "mp4"), actor=work.unit.account, now=NOW)

    work = submitted_work(category=WorkCategory.VIDEO, prepare=prepare)
    select([work])
    publish()
    at(app, DURING)
    original = next(f for f in work.files if f.kind is FileKind.ORIGINAL)
    copy = work.derived(original, FileKind.PLAYABLE)
    assert copy is not None and copy.storage_key  # the worker made it (jobs run at once here)
    shown = services.public_work(work.id, DURING)
    assert shown.video.file.id == copy.id
    assert fetch(client, f"/showcase/{work.id}/files/{copy.id}").status_code == 200
    assert fetch(client, f"/showcase/{work.id}/files/{original.id}").status_code == 404

    # while a copy is still being made, the video is not shown at all
    db.session.execute(sa.update(WorkFile).where(WorkFile.id == copy.id).values(storage_key=None))
    db.session.commit()
    assert services.public_work(work.id, DURING).video is None
    assert fetch(client, f"/showcase/{work.id}/files/{original.id}").status_code == 404


def test_works_for_events_gives_display_ready_media(app, campaign, submitted_work, select, publish):
    text_work = submitted_work(category=WorkCategory.TEXT, title="社区食堂的认证之路")
    photo = submitted_work(category=WorkCategory.PHOTO, title="认证让养老更安心")
    video = submitted_work(category=WorkCategory.VIDEO, title="养老服务认证三分钟")
    select([video, photo, text_work])
    publish()
    shown = services.works_for_events(campaign, DURING)
    assert [w.category for w in shown] == [WorkCategory.TEXT, WorkCategory.PHOTO, WorkCategory.VIDEO]
    t, p, v = shown
    assert "服务认证让生活更美好" in t.body
    assert t.photos == () and t.video is None
    assert p.photos[0].caption["place"] == "北京市朝阳区康乐养老中心"
    assert p.photos[0].screen.url.startswith(f"/showcase/{photo.id}/files/")
    assert v.video.file.url.startswith(f"/showcase/{video.id}/files/")
    for w in shown:
        assert not hasattr(w, "contact_name")
        assert w.unit_name == "北京康乐养老服务有限公司"


# -- Sharing, search and pages ---------------------------------------------------------------------


def _meta(page: str, prop: str) -> str:
    found = re.search(rf'<meta (?:property|name)="{re.escape(prop)}" content="([^"]*)"', page)
    assert found, prop
    return found.group(1)


def test_a_shared_link_has_a_title_a_description_and_open_graph_tags(
    app, client, campaign, submitted_work, select, publish
):
    app.config["PUBLIC_BASE_URL"] = "https://tiyan.example.gov.cn"
    work = submitted_work(category=WorkCategory.PHOTO, title="认证让养老更安心")
    select([work])
    publish()
    at(app, DURING)
    page = text(client.get(f"/showcase/{work.id}"))
    assert re.search(r"<title>认证让养老更安心 · 服务认证体验周</title>", page)
    assert _meta(page, "og:title") == "认证让养老更安心"
    assert _meta(page, "description") == "记录一家养老机构通过服务认证后的变化。"
    assert _meta(page, "og:description") == "记录一家养老机构通过服务认证后的变化。"
    assert _meta(page, "og:url") == f"https://tiyan.example.gov.cn/showcase/{work.id}"
    image = _meta(page, "og:image")
    assert image.startswith(f"https://tiyan.example.gov.cn/showcase/{work.id}/files/")
    assert fetch(client, image.removeprefix("https://tiyan.example.gov.cn")).status_code == 200

    listing = text(client.get("/showcase"))
    assert _meta(listing, "og:url") == "https://tiyan.example.gov.cn/showcase"
    assert "2024" in _meta(listing, "og:title")
    assert _meta(listing, "og:image").startswith("https://tiyan.example.gov.cn/showcase/")
    assert "<script" not in page and "<script" not in listing  # nothing to run on a phone


def test_search_categories_and_pages(app, client, campaign, make_unit, submitted_work, select, publish, monkeypatch):
    monkeypatch.setattr(services, "PAGE_SIZE", 2)
    other = make_unit("33", name="浙江安心物业服务有限公司")
    works = [
        submitted_work(title="社区食堂的认证之路"),
        submitted_work(title="物业服务认证纪实", owner=other),
        submitted_work(title="养老服务的一天", summary="讲述护理员的100%用心。"),
        submitted_work(category=WorkCategory.PHOTO, title="认证让养老更安心"),
    ]
    select(works)
    publish()
    at(app, DURING)

    first = services.public_works(campaign, DURING)
    assert (first.total, first.pages, len(first.works)) == (4, 2, 2)
    second = services.public_works(campaign, DURING, page=2)
    assert {w.id for w in first.works} | {w.id for w in second.works} == {w.id for w in works}
    assert services.public_works(campaign, DURING, page=99).page == 2  # past the last: the last

    assert [w.title for w in services.public_works(campaign, DURING, q="食堂").works] == ["社区食堂的认证之路"]
    by_unit = services.public_works(campaign, DURING, q="浙江安心")
    assert [w.title for w in by_unit.works] == ["物业服务认证纪实"]
    assert [w.title for w in services.public_works(campaign, DURING, q="100%").works] == ["养老服务的一天"]
    assert services.public_works(campaign, DURING, q="_").total == 0  # a wildcard is a character
    photos = services.public_works(campaign, DURING, category=WorkCategory.PHOTO)
    assert [w.title for w in photos.works] == ["认证让养老更安心"]
    assert photos.counts == {WorkCategory.TEXT: 3, WorkCategory.PHOTO: 1, WorkCategory.VIDEO: 0}

    page = text(client.get("/showcase?q=食堂"))
    assert "社区食堂的认证之路" in page
    assert "物业服务认证纪实" not in page
    page = text(client.get("/showcase?category=photo"))
    assert "认证让养老更安心" in page
    assert "社区食堂的认证之路" not in page
    page = text(client.get("/showcase"))
    assert 'href="/showcase?page=2"' in page
    assert client.get("/showcase?page=2").status_code == 200
    assert client.get("/showcase?category=nonsense&page=-4&q=" + "字" * 300).status_code == 200


def test_a_list_page_costs_the_same_queries_however_many_works(
    app, campaign, submitted_work, select, publish, monkeypatch
):
    monkeypatch.setattr(services, "PAGE_SIZE", 3)
    works = [submitted_work(category=WorkCategory.PHOTO, title=f"认证作品{n}") for n in range(2)]
    works += [submitted_work(title=f"认证文字{n}") for n in range(3)]
    select(works)
    publish()
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    def queries(page: int) -> int:
        statements.clear()
        db.session.expire_all()
        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            result = services.public_works(campaign, DURING, page=page)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
        assert len(result.works) >= 2
        return len(statements)

    assert queries(1) == queries(2)
    assert queries(1) == 6  # the campaign, the 公示, the counts, the works with units, their files, the copies


def test_the_objection_link_shows_during_the_notice_period_only(app, client, submitted_work, select, publish):
    work = submitted_work(title="社区食堂的认证之路")
    select([work])
    publish()
    link = f'href="/gongshi/works/{work.id}/objection"'
    at(app, DURING)
    assert link in text(client.get(f"/showcase/{work.id}"))
    at(app, AFTERWARDS)
    page = text(client.get(f"/showcase/{work.id}"))
    assert link not in page
    assert "市场监管总局" in page  # the licence notice stays
