import dataclasses
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role
from experience.campaigns.services import default_campaign
from experience.checkin.services import check_in, undo_check_in
from experience.core.audit import AuditEntry
from experience.core.errors import RuleError
from experience.events.models import GuestCategory
from experience.extensions import db
from experience.guests.models import CheckInVia, Guest
from experience.ratings import services
from experience.ratings.models import Dimension, Display, Rating
from tests.conftest import NOW


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
    services.submit_rating(g, stars=all_stars(event.campaign_id), comment="", display=Display.NONE, now=event.starts_at)
    with pytest.raises(RuleError) as e:
        undo_check_in(g, actor=clerk, now=event.starts_at + timedelta(minutes=5))
    assert e.value.code == "rated"
    assert g.checked_in_at is not None


# -- HQ's questions: edit_dimensions --------------------------------------------------------


@pytest.fixture
def hq(make_user):
    return make_user(Role.HQ, username="hqboss")


def as_they_are(campaign_id) -> dict[int, services.DimensionEdit]:
    """The editor posted back unchanged."""
    return {
        d.id: services.DimensionEdit(d.name, d.hint, d.position, d.retired_at is not None)
        for d in services.dimensions(campaign_id, include_retired=True)
    }


def edit_question(campaign, hq, index, now=NOW, **changes) -> int:
    """Change one question, the others posted as they are; returns its id."""
    dim_id = services.dimensions(campaign.id, include_retired=True)[index].id
    edits = as_they_are(campaign.id)
    edits[dim_id] = dataclasses.replace(edits[dim_id], **changes)
    services.edit_dimensions(campaign, edits, actor=hq, now=now)
    db.session.commit()
    return dim_id


def question_audits() -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "dimension.update")))


def test_hq_renames_a_question(campaign, hq):
    dim_id = edit_question(campaign, hq, 0, name="服务体验")
    assert db.session.get(Dimension, dim_id).name == "服务体验"


def test_a_retired_question_is_no_longer_asked(campaign, hq):
    dim_id = edit_question(campaign, hq, 1, retired=True)
    assert dim_id not in {d.id for d in services.dimensions(campaign.id)}


def test_a_retired_question_keeps_the_time_it_was_first_retired(campaign, hq):
    dim_id = edit_question(campaign, hq, 1, retired=True)
    edit_question(campaign, hq, 1, now=NOW + timedelta(days=1), name="获得感（旧）")
    assert db.session.get(Dimension, dim_id).retired_at == NOW


def test_a_question_brought_back_is_asked_again(campaign, hq):
    dim_id = edit_question(campaign, hq, 1, retired=True)
    edit_question(campaign, hq, 1, retired=False)
    assert dim_id in {d.id for d in services.dimensions(campaign.id)}


def test_a_question_can_move_to_position_zero(campaign, hq):
    dim_id = edit_question(campaign, hq, 4, position=0)
    assert db.session.get(Dimension, dim_id).position == 0


def test_a_new_question_is_asked_last(campaign, hq):
    services.edit_dimensions(
        campaign, as_they_are(campaign.id), new_name=" 环境与安全 ", new_hint="场所是否安全", actor=hq, now=NOW
    )
    db.session.commit()
    assert [(d.name, d.hint) for d in services.dimensions(campaign.id)][-1] == ("环境与安全", "场所是否安全")


def test_texts_are_trimmed_and_cut_to_their_columns(campaign, hq):
    dim_id = edit_question(campaign, hq, 0, name="  " + "问" * 50, hint="说" * 200)
    saved = db.session.get(Dimension, dim_id)
    assert (len(saved.name), len(saved.hint)) == (services.NAME_MAX, services.HINT_MAX)


def test_a_question_without_a_name_is_refused_naming_it(campaign, hq):
    dim_id = services.dimensions(campaign.id)[2].id
    edits = as_they_are(campaign.id)
    edits[dim_id] = dataclasses.replace(edits[dim_id], name="   ")
    with pytest.raises(RuleError) as e:
        services.edit_dimensions(campaign, edits, actor=hq, now=NOW)
    assert (e.value.code, e.value.params["dimension_id"]) == ("name_required", dim_id)


def test_a_refused_edit_changes_no_question(campaign, hq):
    first, third = services.dimensions(campaign.id)[0].id, services.dimensions(campaign.id)[2].id
    edits = as_they_are(campaign.id)
    edits[first] = dataclasses.replace(edits[first], name="服务体验")
    edits[third] = dataclasses.replace(edits[third], name="")
    with pytest.raises(RuleError):
        services.edit_dimensions(campaign, edits, new_name="环境与安全", actor=hq, now=NOW)
    assert [d.name for d in services.dimensions(campaign.id)] == [
        "服务感知体验",
        "获得感",
        "认证认知",
        "选用意愿",
        "总体满意度",
    ]


def test_an_edit_is_audited_by_the_names_the_questions_had(campaign, hq):
    edit_question(campaign, hq, 0, name="服务体验")
    assert [(a.detail["changed"], a.actor_name, a.target_id) for a in question_audits()] == [
        (["服务感知体验"], "hqboss", str(campaign.id))
    ]


def test_saving_the_questions_unchanged_is_not_audited(campaign, hq):
    assert services.edit_dimensions(campaign, as_they_are(campaign.id), actor=hq, now=NOW) == []
    db.session.commit()
    assert question_audits() == []


def test_questions_of_another_campaign_are_left_alone(campaign, hq):
    other = default_campaign(2025)
    db.session.add(other)
    db.session.flush()
    services.ensure_default_dimensions(other)
    theirs = services.dimensions(other.id)[0]
    services.edit_dimensions(campaign, {theirs.id: services.DimensionEdit("改掉", "", 0, True)}, actor=hq, now=NOW)
    db.session.commit()
    assert (theirs.name, theirs.retired_at) == ("服务感知体验", None)


def test_the_ratings_export_is_audited_with_its_row_count(event, hq):
    services.record_export(event, rows=3, actor=hq, now=NOW)
    db.session.commit()
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "export.xlsx"))
    assert (entry.target_id, entry.detail) == (str(event.id), {"export": "ratings", "rows": 3})
