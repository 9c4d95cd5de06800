from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role
from experience.checkin.services import check_in
from experience.core import clock
from experience.core.audit import AuditEntry
from experience.core.errors import RuleError
from experience.core.images import clean_photo
from experience.core.uploads import store_bytes
from experience.extensions import db
from experience.guests.models import CheckInVia, Guest
from experience.plans.services import grant_extension
from experience.ratings import services as ratings
from experience.ratings.models import Display, Rating
from experience.reports import figures, services
from experience.reports.models import SummaryState
from tests.conftest import NOW
from tests.core.test_images import jpeg_with_exif

TEXTS = dict(
    organisation_text="领导重视",
    publicity_text="媒体宣传",
    results_text="成效明显",
    practices_text="经验一",
    suggestions_text="建议一",
)


def bj(*args):
    return clock.from_beijing(datetime(*args))


@pytest.fixture
def world(make_user, make_event, make_guest, campaign):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    hq = make_user(Role.HQ, username="hqboss")
    event = make_event(actor=staff)
    guest = make_guest(event, name="张三丰", phone="13812345678", organisation="武当")
    check_in(guest.code, via=CheckInVia.PHONE, now=event.starts_at + timedelta(minutes=3))
    db.session.refresh(guest)
    photo = clean_photo(jpeg_with_exif())
    keys = (store_bytes(photo.original, "photo", "jpg"), store_bytes(photo.web, "photo", "jpg"))
    rating, _ = ratings.submit_rating(
        guest,
        stars={d.id: 4 for d in ratings.dimensions(campaign.id)},
        comment="很好",
        display=Display.NAME,
        now=event.ends_at,
        photo=keys,
        photo_consent=True,
    )
    db.session.commit()
    return staff, hq, event, guest, rating


def test_arrivals_fall_in_quarter_hours_beijing_time(world, make_guest):
    staff, hq, event, guest, _ = world
    late = make_guest(event)
    check_in(late.code, via=CheckInVia.PHONE, now=event.starts_at + timedelta(minutes=40))
    assert figures.arrivals_by_quarter_hour(event) == [("09:00", 1), ("09:15", 0), ("09:30", 1)]


def test_only_approved_items_can_be_chosen(world):
    staff, hq, event, guest, rating = world
    with pytest.raises(RuleError) as e:
        services.save_event_summary(event, actor=staff, now=event.ends_at, highlight_ids=[rating.id])
    assert e.value.code == "not_approved"
    ratings.set_approval(rating, "comment", True, actor=staff, now=event.ends_at)
    summary = services.save_event_summary(
        event, actor=staff, now=event.ends_at, highlight_ids=[rating.id], results_text="成果"
    )
    assert summary.highlight_ids == [rating.id] and summary.results_text == "成果"


def test_province_summary_deadline_extension_return_and_resubmit(world, campaign):
    staff, hq, event, guest, rating = world
    summary = services.province_summary(campaign, "11")
    with pytest.raises(RuleError) as e:
        services.submit_province_summary(summary, actor=staff, now=bj(2024, 10, 10, 9, 0))
    assert e.value.code == "missing_text"
    services.save_province_summary(summary, actor=staff, now=bj(2024, 10, 10, 9, 0), **TEXTS)
    with pytest.raises(RuleError) as e:
        services.submit_province_summary(summary, actor=staff, now=bj(2024, 10, 19, 0, 0, 1))
    assert e.value.code == "past_deadline" and "2024-10-18" in str(e.value)
    grant_extension(campaign, "11", date(2024, 10, 25), "汛期", actor=hq, now=bj(2024, 10, 19, 9, 0), kind="summary")
    services.submit_province_summary(summary, actor=staff, now=bj(2024, 10, 24, 9, 0))
    assert summary.state is SummaryState.SUBMITTED and summary.late
    assert summary.figures["totals"]["arrived"] == 1
    with pytest.raises(RuleError):
        services.save_province_summary(summary, actor=staff, now=bj(2024, 10, 24, 9, 0), results_text="改")
    with pytest.raises(RuleError) as e:
        services.save_event_summary(event, actor=staff, now=bj(2024, 10, 24, 9, 0), results_text="改")
    assert e.value.code == "locked"  # the organisers' texts are fixed once the province submitted
    services.return_province_summary(summary, "请补充数据", actor=hq, now=bj(2024, 10, 26, 9, 0))
    assert summary.state is SummaryState.RETURNED
    services.submit_province_summary(summary, actor=staff, now=bj(2024, 11, 30, 9, 0))  # after a return: any time
    assert summary.state is SummaryState.SUBMITTED and summary.late


def test_purge_waits_for_the_retention_date_then_leaves_no_personal_data(app, world, campaign):
    staff, hq, event, guest, rating = world
    ratings.set_approval(rating, "photo", True, actor=staff, now=event.ends_at)
    services.save_event_summary(event, actor=staff, now=event.ends_at, photo_rating_ids=[rating.id])
    summary = services.province_summary(campaign, "11")
    services.save_province_summary(summary, actor=staff, now=bj(2024, 10, 1), **TEXTS)
    services.submit_province_summary(summary, actor=staff, now=bj(2024, 10, 1))
    db.session.commit()
    before_event = figures.event_figures(event, now=bj(2024, 10, 1))
    before_national = figures.national_figures(campaign, now=bj(2024, 10, 1))
    submitted = dict(summary.figures)
    assert services.retention_date(campaign) == date(2025, 1, 16)
    with pytest.raises(RuleError) as e:
        services.purge_personal_data(campaign, now=bj(2025, 1, 16, 23, 0))
    assert e.value.code == "not_yet"
    files = [Path(app.config["UPLOAD_DIR"], k) for k in (rating.photo_key, rating.photo_web_key)]
    result = services.purge_personal_data(campaign, now=bj(2025, 1, 17, 9, 0), actor=hq)
    db.session.commit()
    services.delete_files(result["keys"])
    assert result == {**result, "guests": 1, "photos": 1}
    g = db.session.get(Guest, guest.id)
    assert (g.name, g.phone, g.organisation) == (services.ANONYMOUS, None, "")
    assert not any(f.exists() for f in files)
    assert db.session.get(Rating, rating.id).photo_key is None
    assert figures.event_figures(event, now=bj(2024, 10, 1)) == before_event
    assert figures.national_figures(campaign, now=bj(2024, 10, 1)) == before_national
    assert db.session.get(type(summary), summary.id).figures == submitted
    found = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Guest)
        .where(sa.or_(Guest.name == "张三丰", Guest.phone == "13812345678"))
    )
    assert found == 0
    assert (
        db.session.scalar(sa.select(AuditEntry.detail).where(AuditEntry.action == "personal_data.purge"))["guests"] == 1
    )


def test_purge_command(app, world, campaign):
    app.config["FROZEN_NOW"] = bj(2025, 2, 1, 9, 0)
    result = app.test_cli_runner().invoke(args=["purge-personal-data", "--campaign", "2024"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(sa.select(Guest.name)) == services.ANONYMOUS
    again = app.test_cli_runner().invoke(args=["purge-personal-data", "--campaign", "1999"])
    assert again.exit_code != 0


def test_national_rows(world, campaign):
    rows = {r["code"]: r for r in figures.national_rows(campaign, now=bj(2024, 10, 1))}
    assert len(rows) == 32
    assert rows["11"]["held"] == 1 and rows["11"]["arrived_total"] == 1 and rows["11"]["arrived"]["consumer"] == 1
    assert rows["11"]["averages"][0] == 4.0 and rows["12"]["averages"][0] is None


def test_summary_extension_is_audited_as_summary_extension(make_user, campaign):
    hq = make_user(Role.HQ, username="hqboss")
    grant_extension(campaign, "11", date(2024, 10, 25), "汛期", actor=hq, now=bj(2024, 10, 19, 9, 0), kind="summary")
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.target_id == "11"))
    assert entry.action == "summary.extension"
    assert entry.detail["kind"] == "summary"
    assert services.summary_deadline(campaign, "11").day == date(2024, 10, 25)


# -- Held, not planned (issue 13) ------------------------------------------------------------


def test_national_and_provincial_figures_count_held_events_apart_from_planned_ones(world, make_event, campaign):
    """ "共举办活动 N 场" counts the events that took place; one still to come, or cancelled,
    is not held. An event is held once it has ended."""
    staff, hq, event, guest, rating = world  # 2024-09-10 09:00–12:00 Beijing
    later = make_event(actor=staff, title="物业服务体验", starts_at=bj(2024, 9, 20, 9), ends_at=bj(2024, 9, 20, 12))
    cancelled = make_event(actor=staff, title="取消的活动")
    from experience.events.services import cancel_event

    cancel_event(cancelled, "场地问题", actor=staff, now=NOW)
    make_event("33", title="浙江体验", starts_at=bj(2024, 9, 12, 9), ends_at=bj(2024, 9, 12, 11))
    db.session.commit()

    during_the_first = figures.national_figures(campaign, now=bj(2024, 9, 10, 11, 0))
    assert (during_the_first["totals"]["held"], during_the_first["totals"]["planned"]) == (0, 3)
    now = bj(2024, 9, 15, 9, 0)  # Beijing's first and Zhejiang's are over, Beijing's second is not
    national = figures.national_figures(campaign, now=now)
    assert (national["totals"]["held"], national["totals"]["planned"]) == (2, 3)
    rows = {r["code"]: r for r in national["rows"]}
    assert (rows["11"]["held"], rows["11"]["planned"]) == (1, 2)
    assert (rows["33"]["held"], rows["33"]["planned"]) == (1, 1)
    province = figures.province_figures(campaign, "11", now=now)
    assert (province["totals"]["held"], province["totals"]["planned"]) == (1, 2)
    assert [(e["title"], e["held"]) for e in province["events"]] == [(event.title, True), (later.title, False)]
    after = figures.national_figures(campaign, now=bj(2024, 9, 20, 12, 0))
    assert after["totals"]["held"] == 3


def test_a_province_without_a_summary_after_its_deadline_is_overdue_unless_extended(world, campaign):
    staff, hq, event, guest, rating = world
    grant_extension(campaign, "54", date(2024, 10, 25), "汛期", actor=hq, now=bj(2024, 10, 17, 9, 0), kind="summary")
    summary = services.province_summary(campaign, "11")
    services.save_province_summary(summary, actor=staff, now=bj(2024, 10, 10), **TEXTS)
    services.submit_province_summary(summary, actor=staff, now=bj(2024, 10, 10))
    db.session.commit()
    assert figures.national_figures(campaign, now=bj(2024, 10, 18, 23, 0))["totals"]["overdue"] == 0
    rows = {r["code"]: r for r in figures.national_rows(campaign, now=bj(2024, 10, 19, 9, 0))}
    assert not rows["11"]["overdue"] and not rows["54"]["overdue"] and rows["33"]["overdue"]
    assert sum(r["overdue"] for r in rows.values()) == 30


# -- The provincial draft starts from the event summaries --------------------------------------


def test_draft_from_events_fills_the_empty_fields_and_never_replaces_the_provinces_text(world, make_event, campaign):
    staff, hq, event, guest, rating = world
    second = make_event(actor=staff, title="物业服务体验", starts_at=bj(2024, 9, 20, 9), ends_at=bj(2024, 9, 20, 12))
    services.save_event_summary(event, actor=staff, now=NOW, results_text="到场 30 人", practices_text="讲解认证标志")
    services.save_event_summary(second, actor=staff, now=NOW, results_text="满意度 4.8", problems_text="场地偏小")
    summary = services.province_summary(campaign, "11")
    services.save_province_summary(summary, actor=staff, now=NOW, results_text="本省自己写的成果")
    filled = services.draft_from_events(summary, actor=staff, now=NOW)
    assert filled == ["practices_text", "suggestions_text"]
    assert summary.results_text == "本省自己写的成果"  # the province's own, untouched
    assert summary.practices_text == f"【{event.title}】\n讲解认证标志"
    assert summary.suggestions_text == "【物业服务体验】\n场地偏小"
    assert services.draft_from_events(summary, actor=staff, now=NOW) == []  # nothing empty any more
    assert summary.practices_text == f"【{event.title}】\n讲解认证标志"


def test_draft_from_events_lists_events_by_start_and_refuses_once_submitted(world, make_event, campaign):
    staff, hq, event, guest, rating = world
    earlier = make_event(actor=staff, title="更早的活动", starts_at=bj(2024, 9, 2, 9), ends_at=bj(2024, 9, 2, 12))
    services.save_event_summary(event, actor=staff, now=NOW, results_text="乙")
    services.save_event_summary(earlier, actor=staff, now=NOW, results_text="甲")
    summary = services.province_summary(campaign, "11")
    services.draft_from_events(summary, actor=staff, now=NOW)
    assert summary.results_text == f"【更早的活动】\n甲\n\n【{event.title}】\n乙"
    services.save_province_summary(summary, actor=staff, now=NOW, **TEXTS)
    services.submit_province_summary(summary, actor=staff, now=bj(2024, 10, 1))
    with pytest.raises(RuleError) as refused:
        services.draft_from_events(summary, actor=staff, now=bj(2024, 10, 2))
    assert refused.value.code == "locked"
