"""Ratings: a checked-in guest's stars, comment and photo, and the organisers' review."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from experience.campaigns.models import Campaign
from experience.checkin.signals import undoing_check_in
from experience.core import audit, uploads
from experience.core.errors import RuleError
from experience.events.models import Event, GuestCategory
from experience.extensions import db
from experience.guests.models import Guest
from experience.ratings.models import DEFAULT_DIMENSIONS, Dimension, Display, Rating, Score
from experience.ratings.signals import rating_moderated

COMMENT_MAX = 500
#: the longest question and explanation (the columns' lengths)
NAME_MAX, HINT_MAX = 40, 120

MESSAGES = {
    "rated": _l("The guest has already rated the event; the check-in stays."),
    "not_checked_in": _l("Only guests who have checked in can rate the event."),
    "closed": _l("Rating closed on %(closes)s."),
    "missing": _l("Please give 1 to 5 stars for every question."),
    "bad_stars": _l("Stars go from 1 to 5."),
    "comment_too_long": _l("The comment has %(count)s characters; at most 500 are possible."),
    "photo_consent": _l("Please confirm that the people in the photo agree to its use."),
    "name_required": _l("A question needs a name."),
}


def ensure_default_dimensions(campaign: Campaign) -> None:
    """Give a campaign without dimensions the 2024 defaults."""
    if db.session.scalar(sa.select(Dimension.id).where(Dimension.campaign_id == campaign.id).limit(1)):
        return
    for position, (_key, name, hint) in enumerate(DEFAULT_DIMENSIONS):
        db.session.add(Dimension(campaign_id=campaign.id, name=name, hint=hint, position=position))
    db.session.flush()


def dimensions(campaign_id: int, *, include_retired: bool = False) -> list[Dimension]:
    stmt = sa.select(Dimension).where(Dimension.campaign_id == campaign_id).order_by(Dimension.position, Dimension.id)
    if not include_retired:
        stmt = stmt.where(Dimension.retired_at.is_(None))
    return list(db.session.scalars(stmt))


@dataclass(frozen=True)
class DimensionEdit:
    """HQ's wish for one existing question, as the editor posts it."""

    name: str
    hint: str
    position: int
    retired: bool


def edit_dimensions(
    campaign: Campaign,
    edits: dict[int, DimensionEdit],
    *,
    new_name: str = "",
    new_hint: str = "",
    actor,
    now: datetime,
    ip: str = "",
) -> list[str]:
    """HQ edits the campaign's rating questions: rename, reorder, retire or bring back,
    and add one (after the others). A retired question is no longer asked; the answers
    given to it stay. ``edits`` is keyed by question id; questions of other campaigns are
    ignored. Texts are trimmed and cut to the columns' lengths.

    Returns what changed, by the names the questions had (a new one by its name), and
    audits it as ``dimension.update`` when anything did.

    :raises RuleError: name_required (``dimension_id`` says which); nothing changes then.
    """
    dims = dimensions(campaign.id, include_retired=True)
    wanted = {}
    for d in dims:
        if d.id in edits:
            edit = edits[d.id]
            name = edit.name.strip()[:NAME_MAX]
            if not name:
                raise RuleError("name_required", MESSAGES["name_required"], dimension_id=d.id)
            wanted[d.id] = DimensionEdit(name, edit.hint.strip()[:HINT_MAX], edit.position, edit.retired)
    changed = []
    for d in dims:
        edit = wanted.get(d.id)
        if edit is None or edit == DimensionEdit(d.name, d.hint, d.position, d.retired_at is not None):
            continue
        changed.append(d.name)
        d.name, d.hint, d.position = edit.name, edit.hint, edit.position
        d.retired_at = (d.retired_at or now) if edit.retired else None  # retired once: the first time stays
    new_name = new_name.strip()[:NAME_MAX]
    if new_name:
        position = max([d.position for d in dims], default=0) + 1
        db.session.add(
            Dimension(campaign_id=campaign.id, name=new_name, hint=new_hint.strip()[:HINT_MAX], position=position)
        )
        changed.append(new_name)
    if changed:
        audit.record("dimension.update", now=now, actor=actor, target=campaign, ip=ip, changed=changed)
        forget_questions(campaign.id)
    db.session.flush()
    return changed


def check_may_rate(guest: Guest, now: datetime) -> None:
    """:raises RuleError: not_checked_in or closed."""
    if guest.checked_in_at is None:
        raise RuleError("not_checked_in", MESSAGES["not_checked_in"])
    closes = guest.event.feedback_closes_at
    if now > closes:
        raise RuleError("closed", MESSAGES["closed"], closes=closes)


# -- The first rating, in the fewest statements ----------------------------------------------
# Nearly every submit is a guest's first, text only, at the event. It is one read (the
# guest, whether they rated already), the event and its questions as kept (checkin's
# window, and the question ids below, each for CACHE_SECONDS), then one INSERT … SELECT
# that claims the rating only for a checked-in guest, the scores in one executemany, and
# the commit. Anything else (a change, a photo, a refusal) takes ``submit_rating``.
# A question added or retired in another worker reaches this one within CACHE_SECONDS:
# meanwhile a guest is asked what the form they loaded asked (the change forgets it here).

CACHE_SECONDS = 5.0
_monotonic = time.monotonic  # tests move it


@dataclass(frozen=True)
class Asked:
    """A question as the fast path checks it: ``checked_answers`` reads only the id."""

    id: int


def asked_questions(campaign_id: int) -> list[Asked]:
    """The ids of the campaign's questions asked now, kept for CACHE_SECONDS."""
    cache = current_app.extensions.setdefault("ratings.asked", {})
    hit = cache.get(campaign_id)
    if hit is not None and hit[0] > _monotonic():
        return hit[1]
    asked = [Asked(i) for i in db.session.scalars(_ASKED, {"campaign": campaign_id})]
    cache[campaign_id] = (_monotonic() + CACHE_SECONDS, asked)
    return asked


def forget_questions(campaign_id: int) -> None:
    current_app.extensions.setdefault("ratings.asked", {}).pop(campaign_id, None)


@dataclass(frozen=True)
class Rater:
    guest_id: int
    event_id: int
    checked_in: bool
    rated: bool


def rater(code: str) -> Rater | None:
    """The guest of the code, whether checked in and whether they rated: one read."""
    # Core on the session's connection: the session's own execute (ORM options, events)
    # cost a rating more than the statement (bench/profile_api.py --flow rating)
    row = db.session.connection().execute(_RATER, {"code": code}).first()
    return None if row is None else Rater(row[0], row[1], row[2] is not None, row[3] is not None)


def first_rating(guest_id: int, event_id: int, *, stars: dict[int, int], comment: str, display: Display, now) -> bool:
    """Insert a checked-in guest's first rating and its scores, answers already checked
    (``checked_answers``), and commit. False, with nothing written, when the guest has a
    rating by now or is no longer checked in: the caller then goes the long way."""
    try:
        rating_id = (
            db.session.connection()
            .execute(
                _FIRST_RATING,
                {"b_guest": guest_id, "b_event": event_id, "b_comment": comment, "b_display": display, "b_now": now},
            )
            .scalar()
        )
    except IntegrityError:  # a second submit of the same guest won the race: it updates
        db.session.rollback()
        return False
    if rating_id is None:
        db.session.rollback()
        return False
    if stars:  # (an empty executemany would insert one row of defaults)
        db.session.connection().execute(
            _INSERT_SCORE, [{"rating_id": rating_id, "dimension_id": d, "stars": n} for d, n in stars.items()]
        )
    db.session.commit()
    return True


def _first_rating_statement():
    rating, guest = Rating.__table__, Guest.__table__
    now = sa.bindparam("b_now", type_=rating.c.created_at.type)
    return (
        sa.insert(rating)
        .from_select(
            ["guest_id", "event_id", "comment", "display", "photo_consent", "created_at", "updated_at"],
            sa.select(
                guest.c.id,
                sa.bindparam("b_event", type_=rating.c.event_id.type),
                sa.bindparam("b_comment", type_=rating.c.comment.type),
                sa.bindparam("b_display", type_=rating.c.display.type),
                sa.false(),
                now,
                now,
            ).where(guest.c.id == sa.bindparam("b_guest"), guest.c.checked_in_at.is_not(None)),
        )
        .returning(rating.c.id)
    )


#: built once: a statement built per request costs more than the database's work for it
_FIRST_RATING = _first_rating_statement()
_INSERT_SCORE = sa.insert(Score.__table__)
_RATER = (
    sa.select(Guest.__table__.c.id, Guest.__table__.c.event_id, Guest.__table__.c.checked_in_at, Rating.__table__.c.id)
    .select_from(Guest.__table__.outerjoin(Rating.__table__, Rating.__table__.c.guest_id == Guest.__table__.c.id))
    .where(Guest.__table__.c.code == sa.bindparam("code"))
)
_ASKED = (
    sa.select(Dimension.__table__.c.id)
    .where(Dimension.__table__.c.campaign_id == sa.bindparam("campaign"), Dimension.__table__.c.retired_at.is_(None))
    .order_by(Dimension.__table__.c.position, Dimension.__table__.c.id)
)


def rating_of(guest_id: int) -> Rating | None:
    return db.session.scalar(sa.select(Rating).where(Rating.guest_id == guest_id))


def submit_rating(
    guest: Guest,
    *,
    stars: dict[int, int],
    comment: str,
    display: Display,
    now: datetime,
    photo: tuple[str, str] | None = None,
    photo_consent: bool = False,
    remove_photo: bool = False,
) -> tuple[Rating, list[str]]:
    """Create or update the guest's one rating. Returns it and the stored photo keys it
    replaced (the caller deletes those files after the commit).

    ``photo`` is (original key, web key) of a photo already cleaned and stored.
    :raises RuleError: not_checked_in, closed, missing, bad_stars, comment_too_long, photo_consent.
    """
    check_may_rate(guest, now)
    asked = dimensions(guest.event.campaign_id)
    comment = checked_answers(asked, stars, comment, photo is not None, photo_consent)
    rating = rating_of(guest.id)
    if rating is None:
        try:
            with db.session.begin_nested():  # the unique guest_id decides a race
                rating = Rating(guest_id=guest.id, event_id=guest.event_id, created_at=now, updated_at=now)
                db.session.add(rating)
        except IntegrityError:
            rating = rating_of(guest.id)
    replaced, withdrawn = _change(rating, comment, display, photo, photo_consent, remove_photo)
    rating.updated_at = now
    current = {s.dimension_id: s for s in rating.scores}
    for d in asked:
        if d.id in current:
            current[d.id].stars = stars[d.id]
        else:
            rating.scores.append(Score(dimension_id=d.id, stars=stars[d.id]))
    db.session.flush()
    for what in dict.fromkeys(withdrawn):  # the screens showing it hear of it
        rating_moderated.send(rating, what=what, approved=False, now=now)
    return rating, replaced


def _change(rating: Rating, comment: str, display: Display, photo, photo_consent: bool, remove_photo: bool):
    """Change the rating's comment, signature and photo. A changed comment or photo needs
    approving anew. Returns the stored photo keys replaced, and what lost its approval."""
    replaced, withdrawn = [], []
    if comment != rating.comment:
        rating.comment = comment
        if rating.comment_approved_at is not None:
            withdrawn.append("comment")
        rating.comment_approved_at = rating.comment_approved_by_id = None  # approve the new text anew
    if display != rating.display and rating.comment_approved_at is not None:
        withdrawn.append("comment")  # signed otherwise: what a screen shows changes
    rating.display = display
    if photo is not None or remove_photo:
        replaced = [k for k in (rating.photo_key, rating.photo_web_key) if k]
        rating.photo_key, rating.photo_web_key = photo if photo is not None else (None, None)
        rating.photo_consent = photo is not None and photo_consent
        if rating.photo_approved_at is not None:
            withdrawn.append("photo")
        rating.photo_approved_at = rating.photo_approved_by_id = None
    return replaced, withdrawn


def checked_answers(asked, stars: dict[int, int], comment: str, has_photo: bool, photo_consent: bool) -> str:
    """The comment, trimmed, once every answer has passed. :raises RuleError: see submit_rating."""
    if any(d.id not in stars for d in asked):
        raise RuleError("missing", MESSAGES["missing"])
    if any(not isinstance(stars[d.id], int) or not 1 <= stars[d.id] <= 5 for d in asked):
        raise RuleError("bad_stars", MESSAGES["bad_stars"])
    comment = (comment or "").strip()
    if len(comment) > COMMENT_MAX:  # characters, not bytes: 500 汉字 or emoji are fine
        raise RuleError("comment_too_long", MESSAGES["comment_too_long"], count=len(comment))
    if has_photo and not photo_consent:
        raise RuleError("photo_consent", MESSAGES["photo_consent"])
    return comment


def set_approval(rating: Rating, what: str, approved: bool, *, actor, now: datetime, ip: str = "") -> None:
    """先审后发: an organiser approves (or withdraws) a comment or photo for public use."""
    assert what in ("comment", "photo")
    setattr(rating, f"{what}_approved_at", now if approved else None)
    setattr(rating, f"{what}_approved_by_id", actor.id if approved else None)
    audit.record(
        "rating.approve" if approved else "rating.withdraw",
        now=now,
        actor=actor,
        target_type="rating",
        target_id=str(rating.id),
        ip=ip,
        province_code=rating.guest.event.province_code,
        item=what,
    )
    rating_moderated.send(rating, what=what, approved=approved, now=now)


def record_export(event: Event, *, rows: int, actor, now: datetime, ip: str = "") -> None:
    """Note in the audit log who downloaded the event's ratings, and how many rows."""
    audit.record("export.xlsx", now=now, actor=actor, target=event, ip=ip, export="ratings", rows=rows)


def highlight_candidates(event: Event) -> list[Rating]:
    """Approved comments: what a summary or a screen may show, as each guest chose."""
    return list(
        db.session.scalars(
            sa.select(Rating)
            .options(selectinload(Rating.guest))
            .where(
                Rating.event_id == event.id,
                Rating.comment_approved_at.is_not(None),
                Rating.comment != "",
                Rating.display != Display.NONE,
            )
            .order_by(Rating.comment_approved_at.desc(), Rating.id.desc())
        )
    )


def public_name(rating: Rating) -> str:
    """How a comment is signed in public: the guest's choice."""
    if rating.display is Display.NAME:
        return rating.guest.name
    return str(_l("a guest: %(category)s", category=str(rating.guest.category.label)))


@dataclass
class DimensionStats:
    dimension: Dimension
    count: int = 0
    average: float | None = None
    distribution: list[int] = field(default_factory=lambda: [0] * 5)  # 1 to 5 stars
    by_category: dict[GuestCategory, float] = field(default_factory=dict)


@dataclass
class EventStats:
    checked_in: int
    ratings: int
    dimensions: list[DimensionStats]

    @property
    def response_rate(self) -> float | None:
        return self.ratings / self.checked_in if self.checked_in else None


def stats(event: Event) -> EventStats:
    """Response rate, and per dimension the average, the distribution and the average by
    guest category: four queries whatever the number of ratings."""
    checked_in = (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Guest)
            .where(Guest.event_id == event.id, Guest.checked_in_at.is_not(None))
        )
        or 0
    )
    ratings = db.session.scalar(sa.select(sa.func.count()).select_from(Rating).where(Rating.event_id == event.id)) or 0
    shown = distributions(event)
    dims = {ds.dimension.id: ds for ds in shown}
    for dim_id, category, avg in db.session.execute(
        sa.select(Score.dimension_id, Guest.category, sa.func.avg(Score.stars))
        .join(Rating, Rating.id == Score.rating_id)
        .join(Guest, Guest.id == Rating.guest_id)
        .where(Rating.event_id == event.id)
        .group_by(Score.dimension_id, Guest.category)
    ):
        if dim_id in dims:
            dims[dim_id].by_category[category] = float(avg)
    return EventStats(checked_in, ratings, shown)


def distributions(event: Event) -> list[DimensionStats]:
    """Per dimension the distribution of stars, their count and average (no average by
    category): one grouped query. The dimensions shown are the current ones, and the
    retired ones that were scored."""
    dims = {d.id: DimensionStats(d) for d in dimensions(event.campaign_id, include_retired=True)}
    for dim_id, stars, n in db.session.execute(
        sa.select(Score.dimension_id, Score.stars, sa.func.count())
        .join(Rating, Rating.id == Score.rating_id)
        .where(Rating.event_id == event.id)
        .group_by(Score.dimension_id, Score.stars)
    ):
        dims[dim_id].distribution[stars - 1] = n
    for ds in dims.values():
        ds.count = sum(ds.distribution)
        if ds.count:
            ds.average = sum((i + 1) * n for i, n in enumerate(ds.distribution)) / ds.count
    return [ds for ds in dims.values() if ds.dimension.retired_at is None or ds.count]


def has_rating(guest_id: int) -> bool:
    return db.session.scalar(sa.select(Rating.id).where(Rating.guest_id == guest_id)) is not None


@undoing_check_in.connect
def _keep_check_in_of_a_rater(guest) -> None:
    """A guest who has rated was there: the check-in stays."""
    if has_rating(guest.id):
        raise RuleError("rated", MESSAGES["rated"])


@uploads.keeps
def _rating_photos(now: float):
    for original, web in db.session.execute(
        sa.select(Rating.photo_key, Rating.photo_web_key).where(Rating.photo_key.is_not(None))
    ):
        yield original
        yield web
