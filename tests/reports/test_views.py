"""The summary pages as the organiser uses them."""

import io
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from PIL import Image

from experience.accounts.models import Role
from experience.core import clock
from experience.extensions import db
from experience.plans import services as plans
from experience.ratings.models import Rating
from experience.reports import services
from tests.plans.test_services import TEXTS as PLAN_TEXTS
from tests.reports.test_pdfs import busy_event  # noqa: F401  (the fixture)


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), "green").save(buf, "JPEG")
    return buf.getvalue()


def test_a_refused_summary_leaves_no_photo_behind(app, client, auth, busy_event):  # noqa: F811
    """A valid photo and a highlight nobody approved: the save is refused, and the photo's
    files, stored before the rule said no, are gone with it."""
    _, event = busy_event
    unapproved = db.session.scalar(sa.select(Rating.id).where(Rating.event_id == event.id))
    auth.login("bjstaff")
    upload_dir = Path(app.config["UPLOAD_DIR"])
    before = set(upload_dir.iterdir()) if upload_dir.exists() else set()
    r = client.post(
        f"/events/{event.id}/summary",
        data={"photo": (io.BytesIO(_jpeg()), "现场.jpg"), "caption": "现场", "highlight": str(unapproved)},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "只能选择已审核通过的评价内容和照片。" in r.get_data(as_text=True)
    after = set(upload_dir.iterdir()) if upload_dir.exists() else set()
    assert after == before


# -- Issue 13: the national report's narrative, held vs planned, the provincial draft ---------


def _bj(*args):
    return clock.from_beijing(datetime(*args))


def test_national_report_quotes_each_provinces_practices_and_lists_hqs_launch_picks(
    app,
    client,
    auth,
    busy_event,  # noqa: F811
    make_user,
    make_event,
):
    staff, event = busy_event
    hq = make_user(Role.HQ, username="hqboss")
    make_event(actor=staff, title="尚未举办的体验", starts_at=_bj(2024, 9, 30, 9), ends_at=_bj(2024, 9, 30, 11))
    long_practice = "“一站式”讲解认证标志与证书查询，" * 20
    summary = services.province_summary(event.campaign, "11")
    texts = dict(organisation_text="甲", publicity_text="乙", results_text="丙", suggestions_text="戊")
    services.save_province_summary(summary, actor=staff, now=_bj(2024, 9, 20), practices_text=long_practice, **texts)
    services.submit_province_summary(summary, actor=staff, now=_bj(2024, 9, 20))
    plan = plans.plan_for(event.campaign, "11")
    plans.save_plan(plan, actor=staff, now=_bj(2024, 8, 20), **PLAN_TEXTS)
    plan.document_key, plan.document_name = "x.pdf", "方案.pdf"
    plans.submit_plan(plan, actor=staff, now=_bj(2024, 8, 20))
    plans.select_launch(event, True, "组织策划好，予以重点支持", actor=hq, now=_bj(2024, 8, 25))
    db.session.commit()
    app.config["FROZEN_NOW"] = _bj(2024, 9, 21, 9, 0)
    auth.login("hqboss")
    page = client.get("/hq/summaries").get_data(as_text=True)
    practices = page.split('id="practices"')[1].split("</section>")[0]
    assert "北京市" in practices and "“一站式”讲解认证标志与证书查询" in practices
    assert long_practice.strip() not in practices and "…" in practices  # short, not the whole text
    assert 'href="/provinces/11/summary.pdf"' in practices and "全文" in practices
    picks = page.split('id="launch-projects"')[1].split("</section>")[0]
    assert "堃喆犇养老服务体验" in picks and "组织策划好，予以重点支持" in picks and "北京市" in picks
    assert "尚未举办的体验" not in picks
    assert "已举办活动 1 场（计划 2 场）" in page


def test_the_province_starts_its_summary_from_its_event_summaries_without_losing_what_it_typed(
    client,
    auth,
    busy_event,  # noqa: F811
):
    staff, event = busy_event
    services.save_event_summary(
        event, actor=staff, now=event.ends_at, results_text="到场四人", practices_text="讲解标志"
    )
    db.session.commit()
    auth.login("bjstaff")
    page = client.get("/summary").get_data(as_text=True)
    assert "以本省活动总结为底稿" in page
    beside = page.split('id="sources-practices_text"')[1].split("</details>")[0]
    assert "堃喆犇养老服务体验" in beside and "讲解标志" in beside  # to copy from, without the button
    r = client.post("/summary", data={"results_text": "本省自己写的", "organisation_text": "刚打的字", "draft": "1"})
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "已按本省活动总结填入底稿" in page
    summary = services.province_summary(event.campaign, "11", create=False)
    assert summary.results_text == "本省自己写的" and summary.organisation_text == "刚打的字"
    assert summary.practices_text == "【堃喆犇养老服务体验】\n讲解标志"
    r = client.post("/summary", data={"results_text": "本省自己写的", "practices_text": "改过的", "draft": "1"})
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "不会被替换" in page
    assert services.province_summary(event.campaign, "11", create=False).practices_text == "改过的"
