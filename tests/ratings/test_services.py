import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role
from experience.checkin.services import check_in, undo_check_in
from experience.core.errors import RuleError
from experience.events.models import GuestCategory
from experience.extensions import db
from experience.guests.models import CheckInVia, Guest
from experience.ratings import services
from experience.ratings.models import Dimension, Display, Rating


@pytest.fixture
def event(make_event):
    return make_event()


@pytest.fixture
def guest(event, make_guest):
    g = make_guest(event, category=GuestCategory.MEDIA)
    check_in(g.code, via=CheckInVia.PHONE, now=event.starts_at)
    db.session.commit()
    return g


def all_stars(campaign_id, n=4):
    return {d.id: n for d in services.dimensions(campaign_id)}


def test_checked_in_guest_rates_every_question(event, guest):
    rating, _ = services.submit_rating(
        guest, stars=all_stars(event.campaign_id), comment="很好😀", display=Display.NAME, now=event.ends_at
    )
    assert len(rating.scores) == 5 and rating.comment == "很好😀"


def test_second_submission_updates_the_one_rating(event, guest):
    services.submit_rating(
        guest, stars=all_stars(event.campaign_id, 3), comment="一般", display=Display.NAME, now=event.ends_at
    )
    rating, _ = services.submit_rating(
        guest,
        stars=all_stars(event.campaign_id, 5),
        comment="改主意了，很好",
        display=Display.CATEGORY,
        now=event.ends_at + timedelta(hours=1),
    )
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating)) == 1
    assert {s.stars for s in rating.scores} == {5} and rating.display is Display.CATEGORY


def test_only_checked_in_guests_rate(event, make_guest):
    g = make_guest(event)
    with pytest.raises(RuleError) as e:
        services.submit_rating(
            g, stars=all_stars(event.campaign_id), comment="", display=Display.NONE, now=event.ends_at
        )
    assert e.value.code == "not_checked_in"


def test_window_closes_48_hours_after_the_end(event, guest):
    with pytest.raises(RuleError) as e:
        services.submit_rating(
            guest,
            stars=all_stars(event.campaign_id),
            comment="",
            display=Display.NONE,
            now=event.ends_at + timedelta(hours=48, minutes=1),
        )
    assert e.value.code == "closed"
    services.submit_rating(
        guest,
        stars=all_stars(event.campaign_id),
        comment="",
        display=Display.NONE,
        now=event.ends_at + timedelta(hours=47),
    )


@pytest.mark.parametrize(
    "change, code",
    [
        (lambda s: s.popitem(), "missing"),
        (lambda s: s.update({next(iter(s)): 6}), "bad_stars"),
        (lambda s: s.update({next(iter(s)): 0}), "bad_stars"),
    ],
)
def test_bad_stars(event, guest, change, code):
    stars = all_stars(event.campaign_id)
    change(stars)
    with pytest.raises(RuleError) as e:
        services.submit_rating(guest, stars=stars, comment="", display=Display.NONE, now=event.ends_at)
    assert e.value.code == code
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating)) == 0


def test_comment_limit_counts_characters_not_bytes(event, guest):
    ok = "好" * 499 + "😀"  # 500 characters, 1,501 bytes in UTF-8
    services.submit_rating(
        guest, stars=all_stars(event.campaign_id), comment=ok, display=Display.NONE, now=event.ends_at
    )
    with pytest.raises(RuleError) as e:
        services.submit_rating(
            guest, stars=all_stars(event.campaign_id), comment=ok + "😀", display=Display.NONE, now=event.ends_at
        )
    assert e.value.code == "comment_too_long"


def test_retired_question_keeps_its_answers_and_is_no_longer_asked(event, guest):
    services.submit_rating(
        guest, stars=all_stars(event.campaign_id), comment="", display=Display.NONE, now=event.ends_at
    )
    first = services.dimensions(event.campaign_id)[0]
    first.retired_at = event.ends_at
    db.session.commit()
    assert first.id not in {d.id for d in services.dimensions(event.campaign_id)}
    stats = services.stats(event)
    assert any(ds.dimension.id == first.id and ds.count == 1 for ds in stats.dimensions)


def test_changed_comment_needs_approval_again(event, guest, make_user):
    staff = make_user(Role.PROVINCE, "11")
    rating, _ = services.submit_rating(
        guest, stars=all_stars(event.campaign_id), comment="好", display=Display.NAME, now=event.ends_at
    )
    services.set_approval(rating, "comment", True, actor=staff, now=event.ends_at)
    assert services.highlight_candidates(event) == [rating]
    services.submit_rating(
        guest, stars=all_stars(event.campaign_id), comment="更好", display=Display.NAME, now=event.ends_at
    )
    assert services.highlight_candidates(event) == []


def test_stats(event, make_guest):
    for category, n in ((GuestCategory.CONSUMER, 5), (GuestCategory.MEDIA, 3), (GuestCategory.CONSUMER, 4)):
        g = make_guest(event, category=category)
        check_in(g.code, via=CheckInVia.PHONE, now=event.starts_at)
        db.session.refresh(g)
        services.submit_rating(
            g, stars=all_stars(event.campaign_id, n), comment="", display=Display.NONE, now=event.ends_at
        )
    make_guest(event)  # invited, never came
    late = make_guest(event)
    check_in(late.code, via=CheckInVia.PHONE, now=event.starts_at)  # came, did not rate
    db.session.commit()
    stats = services.stats(event)
    assert (stats.checked_in, stats.ratings) == (4, 3) and stats.response_rate == 0.75
    first = stats.dimensions[0]
    assert first.distribution == [0, 0, 1, 1, 1] and first.average == 4.0
    assert first.by_category == {GuestCategory.CONSUMER: 4.5, GuestCategory.MEDIA: 3.0}


def test_two_submissions_at_the_same_moment_leave_one_rating(app, event, guest):
    """Separate sessions, as two requests: on PostgreSQL both look, find nothing and
    insert (the barrier makes sure), and the unique guest_id turns the loser into an
    update. On SQLite a request that writes holds the lock from its start, so the two
    cannot interleave at all; the test still shows the outcome."""
    postgres = db.engine.dialect.name == "postgresql"
    dims = {d.id: 4 for d in services.dimensions(event.campaign_id)}
    guest_id, end = guest.id, event.ends_at
    barrier = threading.Barrier(2, timeout=20)
    errors = []
    real = services.rating_of

    def rating_of_then_wait(gid):
        found = real(gid)
        if found is None and postgres:
            barrier.wait()
        return found

    def submit(comment):
        try:
            with app.test_request_context(method="POST"):  # a write, as in the rating view
                g = db.session.get(Guest, guest_id)
                services.submit_rating(g, stars=dims, comment=comment, display=Display.CATEGORY, now=end)
                db.session.commit()
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    services.rating_of = rating_of_then_wait
    try:
        threads = [threading.Thread(target=submit, args=(c,)) for c in ("第一", "第二")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        services.rating_of = real
    assert not errors, errors
    db.session.rollback()  # look at what the two committed, not at this session's old snapshot
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating)) == 1
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(__import__("experience.ratings.models", fromlist=["Score"]).Score)
        )
        == 5
    )


def test_campaign_gets_the_2024_questions(campaign):
    names = [d.name for d in services.dimensions(campaign.id)]
    assert names == ["服务感知体验", "获得感", "认证认知", "选用意愿", "总体满意度"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Dimension)) == 5


def test_a_guest_who_rated_keeps_the_check_in(event, make_guest, make_user):
    """Undo is check-in's rule, the refusal ratings': told through checkin.signals."""
    clerk = make_user(Role.ORGANIZER, "11")
    g = make_guest(event)
    check_in(g.code, via=CheckInVia.DESK, now=event.starts_at, actor=clerk)
    db.session.refresh(g)
    services.submit_rating(
        g, stars=all_stars(event.campaign_id), comment="", display=Display.NONE, now=event.starts_at
    )
    with pytest.raises(RuleError) as e:
        undo_check_in(g, actor=clerk, now=event.starts_at + timedelta(minutes=5))
    assert e.value.code == "rated"
    assert g.checked_in_at is not None
