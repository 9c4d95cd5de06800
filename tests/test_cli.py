import os
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role, User
from experience.campaigns.models import Campaign
from experience.core import clock
from experience.demo import LIVE_CERTIFICATE
from experience.displays import feed, screens
from experience.displays.models import Scene
from experience.events.models import Event, EventStatus
from experience.extensions import db
from experience.guests.models import Guest
from experience.notices.services import notices_for
from experience.plans.models import Plan, PlanState
from experience.platform.services import works_for_events
from experience.ratings.models import Rating
from experience.units.models import Unit
from experience.works import submission
from experience.works.media import MB
from experience.works.models import CheckState, RecommendationState, Work, WorkCategory, WorkState


def test_db_check_finds_nothing_after_upgrade(app):
    result = app.test_cli_runner().invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output
    # and the same comparison, looked at directly
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
    assert diff == []


def test_db_check_would_notice_a_model_change(app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    meta = sa.MetaData()
    for table in db.metadata.tables.values():
        table.to_metadata(meta)
    sa.Table("province", meta, sa.Column("extra", sa.Integer), extend_existing=True)
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), meta)


def test_schema_comes_with_the_32_units(app):
    names = db.session.scalars(sa.text("SELECT name FROM province ORDER BY code")).all()
    assert len(names) == 32 and names[0] == "北京市" and names[-1] == "新疆生产建设兵团"


def test_create_user_reads_password_from_stdin(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["create-user", "--username", "gdstaff", "--role", "province", "--province", "44", "--password-stdin"],
        input="Guang-Dong-2024\n",
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(sa.select(User).where(User.username == "gdstaff"))
    assert user.role is Role.PROVINCE and user.province_code == "44"


def test_create_user_refuses_weak_password_and_missing_stdin(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["create-user", "--username", "weak", "--role", "hq", "--password-stdin"], input="password\n"
    )
    assert result.exit_code != 0 and "too_short" in result.output
    result = runner.invoke(args=["create-user", "--username", "weak", "--role", "hq"])
    assert result.exit_code != 0
    assert db.session.scalar(sa.select(User).where(User.username == "weak")) is None


def _bj(*args):
    return clock.from_beijing(datetime(*args))


def _live_event():
    return db.session.scalar(sa.select(Event).where(Event.certificate_no == LIVE_CERTIFICATE))


#: the calendar's edges test dates, not the engine: one day runs on both, the rest on SQLite
_CALENDAR_EDGE = pytest.mark.skipif(os.environ.get("TEST_DB") == "postgresql", reason="a date edge: SQLite pass")


@pytest.mark.parametrize(
    "when",
    [
        (2026, 12, 1, 22, 54),
        pytest.param((2027, 3, 14, 9, 5), marks=_CALENDAR_EDGE),
        pytest.param((2027, 1, 1, 0, 30), marks=_CALENDAR_EDGE),
        pytest.param((2027, 12, 31, 23, 10), marks=_CALENDAR_EDGE),
    ],
)
def test_demo_fills_an_empty_database_with_an_event_happening_now(app, when):
    """A newcomer can try event day whatever the date: this year's campaign, an event whose
    check-in is open now, more than six invited guests (a page of cards), some checked in
    and rated; the plan story holds (Zhejiang sent on time, Beijing late)."""
    app.config["FROZEN_NOW"] = now = _bj(*when)
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 5 + 3 + 4  # staff, units, experts
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Unit)) == 3
    campaign = db.session.scalar(sa.select(Campaign))
    assert campaign.year == when[0]
    live = _live_event()
    assert live.checkin_opens_at <= now < live.checkin_closes_at
    assert campaign.week_start <= clock.to_beijing(live.starts_at).date() <= campaign.week_end
    guests = db.session.scalars(sa.select(Guest).where(Guest.event_id == live.id)).all()
    assert len(guests) > 6
    assert 0 < sum(g.checked_in_at is not None for g in guests) < len(guests)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating).where(Rating.event_id == live.id)) >= 2
    states = {e.status for e in db.session.scalars(sa.select(Event))}
    assert states == {EventStatus.PLANNED, EventStatus.CANCELLED}
    zhejiang = db.session.scalar(sa.select(Plan).where(Plan.province_code == "33"))
    assert zhejiang.state is PlanState.SUBMITTED and not zhejiang.late
    assert zhejiang.first_submitted_at <= now
    _check_demo_works(campaign, now)
    _check_demo_screen(live, now)


def _check_demo_screen(event, now):
    """Today's event has a screen with every scene filled: check-ins, approved comments,
    ratings, and the works in 公示 (the selected video, once the demo's round has opened)."""
    (screen,) = screens.screens_of(event)
    content = feed.content(screen, now)
    assert [s["scene"] for s in content["scenes"]] == [s.value for s in Scene]
    assert len(content["items"]) == len(works_for_events(event.campaign, now))
    live = feed.live(screen)
    assert live["checked_in"] > 0 and live["comments"] and live["responses"] >= 2


def _check_demo_works(campaign, now):
    """A work of each category, made through the rules before the works deadline, its files
    checked and its sealed form read back; a returned one the unit can change now, a
    recommendation request waiting in Beijing, a recommendation given in Zhejiang."""
    works = {w.category: w for w in db.session.scalars(sa.select(Work))}
    assert set(works) == {WorkCategory.TEXT, WorkCategory.PHOTO, WorkCategory.VIDEO}
    deadline = clock.end_of_day(campaign.works_deadline)
    for work in works.values():
        assert work.check_state is CheckState.READY
        assert work.created_at <= deadline
        assert work.first_submitted_at <= deadline
        assert not work.late
        assert work.form_scan.form_read  # the QR of the "sealed scan" was read
        assert submission.scan_current(work)

    text = works[WorkCategory.TEXT]
    (document,) = text.originals()
    assert document.filename.endswith(".docx")
    assert "认证让看不见的服务变成了看得见的承诺" in text.body
    assert text.state is WorkState.SUBMITTED
    assert (text.unit.province_code, text.recommendation.province_code) == ("11", "11")
    assert text.recommendation.state is RecommendationState.REQUESTED

    photos = works[WorkCategory.PHOTO]
    sizes = [f.size for f in photos.originals()]
    assert len(sizes) == 3
    assert all(5 * MB <= size <= 15 * MB for size in sizes)
    assert photos.recommendation.state is RecommendationState.RECOMMENDED
    assert photos.state is WorkState.RETURNED
    assert photos.return_comment
    assert photos.reopen_until > clock.beijing_today(now)
    assert submission.can_edit(photos, now)
    assert "work_returned" in {n.kind for n in notices_for(photos.unit.account)}

    video = works[WorkCategory.VIDEO]
    (clip,) = video.originals()
    assert (clip.width, clip.height) == (1280, 720)
    assert 0 < clip.duration_s <= 180
    assert video.state is WorkState.SUBMITTED


def test_running_the_demo_again_moves_the_live_event_to_now(app):
    app.config["FROZEN_NOW"] = _bj(2026, 12, 1, 10, 0)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["demo"]).exit_code == 0
    first = {
        g.name: g.checked_in_at for g in db.session.scalars(sa.select(Guest).where(Guest.checked_in_at.is_not(None)))
    }
    app.config["FROZEN_NOW"] = later = _bj(2026, 12, 9, 15, 20)  # a week on, after the week
    again = runner.invoke(args=["demo"])
    assert again.exit_code == 0 and "now runs 2026-12-09 14:00" in again.output
    db.session.expire_all()
    live = _live_event()
    assert live.checkin_opens_at <= later < live.checkin_closes_at
    moved = {
        g.name: g.checked_in_at for g in db.session.scalars(sa.select(Guest).where(Guest.checked_in_at.is_not(None)))
    }
    assert moved.keys() == first.keys()
    assert all(moved[n] - first[n] == timedelta(days=8, hours=5) for n in first)  # arrival times move with it
    assert db.session.scalar(sa.select(Campaign.week_end)) == date(2026, 12, 9)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 5 + 3 + 4  # nothing added


def test_the_demo_never_moves_an_event_in_a_database_with_real_accounts(app, make_user):
    app.config["FROZEN_NOW"] = _bj(2026, 12, 1, 10, 0)
    runner = app.test_cli_runner()
    runner.invoke(args=["demo"])
    before = _live_event().starts_at
    make_user(Role.HQ, username="realhq")
    app.config["FROZEN_NOW"] = _bj(2026, 12, 5, 10, 0)
    result = runner.invoke(args=["demo"])
    assert "already" in result.output
    db.session.expire_all()
    assert _live_event().starts_at == before


def test_demo_refuses_a_database_with_real_accounts(app, make_user):
    make_user(Role.HQ, username="realhq")
    result = app.test_cli_runner().invoke(args=["demo"])
    assert "already" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Campaign)) == 0


def test_demo_refused_in_production(app, monkeypatch):
    app.config["DEMO_ALLOWED"] = False
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code != 0 and "production" in result.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_production_config_needs_its_settings(monkeypatch):
    import pytest

    from experience.config import ProductionConfig, config_from_env

    monkeypatch.setenv("EXPERIENCE_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError):
        config_from_env()
    for k, v in {
        "SECRET_KEY": "3f9c1e7a5b2d8046c1e9f7a3b5d2c8e04a6f1b3d9e7c5a2f",
        "DATABASE_URL": "postgresql+psycopg://db/x",
        "PUBLIC_BASE_URL": "https://example.gov.cn",
    }.items():
        monkeypatch.setenv(k, v)
    cfg = config_from_env()
    assert cfg is ProductionConfig and cfg.DEMO_ALLOWED is False and cfg.SESSION_COOKIE_SECURE


@pytest.mark.parametrize(
    "key",
    ["dev-only-not-secret", "x", "short-but-random-7Qz", "x" * 64, "Change-Me", "test-secret"],
)
def test_production_refuses_a_weak_or_published_secret_key(monkeypatch, key):
    from experience.config import config_from_env

    monkeypatch.setenv("EXPERIENCE_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", key)
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://db/x")
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://example.gov.cn")
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        config_from_env()
