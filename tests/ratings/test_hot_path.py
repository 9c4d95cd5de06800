"""A guest's first text-only rating is one read, one INSERT … SELECT and the scores; the
rules stay those of submit_rating, and anything unusual takes the long way."""

from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import template_rendered

from experience.accounts.models import Role
from experience.campaigns.models import Campaign
from experience.checkin import services as checkin
from experience.extensions import db
from experience.guests.models import Guest
from experience.ratings import services
from experience.ratings.models import Rating, Score
from experience.ratings.services import edit_dimensions
from tests.checkin.test_hot_path import _statements
from tests.ratings.test_views import form

STILL = 1000.0


@pytest.fixture
def kept_caches(monkeypatch):
    """The caches' clocks stand still: what _warm kept is still kept however slow the machine."""
    monkeypatch.setattr(checkin, "_monotonic", lambda: STILL)
    monkeypatch.setattr(services, "_monotonic", lambda: STILL)


def _warm(client, event, make_guest):
    """A first rating by someone else: the event's window and its questions are kept now."""
    other = make_guest(event, name="先评者")
    checkin.check_in(other.code, via="phone", now=event.starts_at)
    db.session.commit()
    assert client.post(f"/c/{other.code}/rate", data=form(event, 3)).status_code == 200


def test_a_first_rating_is_one_read_and_its_writes(app, client, setup, make_guest, kept_caches):
    _, event, guest = setup
    _warm(client, event, make_guest)
    url, answers, title = f"/c/{guest.code}/rate", form(event, 4, comment=" 很好 ", display="name"), event.title
    seen, stop = _statements(app)
    try:
        r = client.post(url, data=answers)
    finally:
        stop()
    assert r.status_code == 200 and "感谢您的评价" in r.get_data(as_text=True)
    assert title in r.get_data(as_text=True)
    assert [s for s in seen if s not in ("BEGIN", "COMMIT", "ROLLBACK")] == ["SELECT", "INSERT", "INSERT"], seen
    rating = db.session.scalar(sa.select(Rating).where(Rating.guest_id == guest.id))
    assert rating.comment == "很好" and rating.display.value == "name" and rating.comment_approved_at is None
    assert sorted(s.stars for s in rating.scores) == [4] * len(services.dimensions(event.campaign_id))


def test_a_missing_answer_is_refused_on_the_form_and_nothing_is_saved(client, setup, make_guest):
    _, event, guest = setup
    _warm(client, event, make_guest)
    answers = form(event, 4)
    answers.pop(next(iter(answers)))
    r = client.post(f"/c/{guest.code}/rate", data=answers)
    assert r.status_code == 422 and "每个问题" in r.get_data(as_text=True)
    assert db.session.scalar(sa.select(Rating).where(Rating.guest_id == guest.id)) is None


def test_a_second_submit_changes_the_rating(client, setup):
    _, event, guest = setup
    assert client.post(f"/c/{guest.code}/rate", data=form(event, 5, comment="好")).status_code == 200
    assert client.post(f"/c/{guest.code}/rate", data=form(event, 2, comment="一般")).status_code == 200
    ratings = db.session.scalars(sa.select(Rating).where(Rating.guest_id == guest.id)).all()
    assert len(ratings) == 1 and ratings[0].comment == "一般" and {s.stars for s in ratings[0].scores} == {2}


def test_a_guest_whose_check_in_was_undone_meanwhile_cannot_rate(app, client, setup, make_guest):
    """The INSERT claims the rating only for a checked-in guest, whatever was read before."""
    _, event, guest = setup
    _warm(client, event, make_guest)
    assert (
        not services.first_rating(
            guest.id, event.id, stars={}, comment="", display=services.Display.CATEGORY, now=event.ends_at
        )
        or True
    )  # (checked in: this one saves; the point is the next guest)
    walker = make_guest(event, name="未签到")
    assert not services.first_rating(
        walker.id, event.id, stars={}, comment="", display=services.Display.CATEGORY, now=event.ends_at
    )
    assert db.session.scalar(sa.select(Rating).where(Rating.guest_id == walker.id)) is None
    r = client.post(f"/c/{walker.code}/rate", data=form(event, 4))
    assert r.status_code == 409 and "签到" in r.get_data(as_text=True)


def test_after_the_rating_window_the_long_way_says_it_is_closed(app, client, setup):
    _, event, guest = setup
    app.config["FROZEN_NOW"] = event.ends_at + timedelta(hours=event.feedback_hours, minutes=1)
    r = client.post(f"/c/{guest.code}/rate", data=form(event, 4))
    assert r.status_code == 409
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating)) == 0


def test_a_question_added_by_hq_is_asked_at_once_in_this_worker(app, client, setup, make_user, make_guest):
    _, event, guest = setup
    _warm(client, event, make_guest)
    hq = make_user(Role.HQ, None, username="hqdims")
    campaign = db.session.get(Campaign, event.campaign_id)
    edit_dimensions(campaign, {}, new_name="交通便利", actor=hq, now=event.ends_at)
    db.session.commit()
    old_form = {k: v for k, v in form(event, 4).items() if k != f"d{services.dimensions(event.campaign_id)[-1].id}"}
    r = client.post(f"/c/{guest.code}/rate", data=old_form)
    assert r.status_code == 422 and "交通便利" in r.get_data(as_text=True)
    assert (
        db.session.scalar(sa.select(sa.func.count()).select_from(Score).join(Rating).where(Rating.guest_id == guest.id))
        == 0
    )
    assert db.session.get(Guest, guest.id).checked_in_at is not None


def test_each_guest_thanks_page_is_their_own_in_their_language(
    app, client, setup, make_guest, monkeypatch, kept_caches
):
    """The thank-you page is rendered once per event and language, and each guest's copy
    links to their own rating (and the language switch back to it), never another's; an
    edited event shows on the next pages once its kept window has expired."""
    _, event, guest = setup
    _warm(client, event, make_guest)  # the Chinese page is kept from here on
    second, third = make_guest(event, name="李代表"), make_guest(event, name="张消费者")
    for g in (second, third):
        checkin.check_in(g.code, via="phone", now=event.starts_at)
    db.session.commit()

    rendered = []
    with template_rendered.connected_to(lambda sender, template, context, **extra: rendered.append(template.name)):
        zh = client.post(f"/c/{guest.code}/rate", data=form(event, 4)).get_data(as_text=True)
        with client.session_transaction() as s:
            s["lang"] = "en"
        en = client.post(f"/c/{second.code}/rate", data=form(event, 5)).get_data(as_text=True)
    assert "感谢您的评价" in zh and "Thank you for your rating" in en
    assert rendered == ["ratings/thanks.html"]  # the English page, once; the Chinese one was kept
    codes = set(db.session.scalars(sa.select(Guest.code).where(Guest.event_id == event.id)))
    for page, own in ((zh, guest.code), (en, second.code)):
        assert f'href="/c/{own}/rate"' in page
        assert f"next=/c/{own}/rate" in page  # the language switch comes back here
        assert [c for c in codes - {own} if c in page] == []

    event.title = "改过名的体验活动"
    db.session.commit()
    later = STILL + checkin.CACHE_SECONDS + 1
    monkeypatch.setattr(checkin, "_monotonic", lambda: later)
    page = client.post(f"/c/{third.code}/rate", data=form(event, 3)).get_data(as_text=True)
    assert "改过名的体验活动" in page and f'href="/c/{third.code}/rate"' in page
