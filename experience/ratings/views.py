"""Rating pages: the guest's form on the phone, the organisers' live view and review."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from flask import abort, current_app, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload

from experience.campaigns.views import campaign_or_404
from experience.checkin.services import event_window, extract_code
from experience.core import clock, files, uploads, xlsx
from experience.core.charts import bar_chart, column_chart
from experience.core.errors import RuleError
from experience.core.images import clean_photo
from experience.core.permissions import can, client_ip, load, require
from experience.core.phone import mask_phone
from experience.core.ratelimit import guest_link_limits, lookup_failed
from experience.core.web import apply_rule, beijing, download, public, read_phase, small_int, writes
from experience.events.models import CATEGORY_LABELS, Event, GuestCategory
from experience.extensions import csrf, db
from experience.guests.models import Guest
from experience.ratings import bp, services
from experience.ratings.forms import dimensions_form
from experience.ratings.models import DISPLAY_LABELS, Display, Rating


def _saved_answers(rating) -> dict:
    """The form's values from the guest's rating, to change it; empty for a first one."""
    if rating is None:
        return {}
    return {
        "stars": {s.dimension_id: s.stars for s in rating.scores},
        "comment": rating.comment,
        "display": rating.display.value,
        "photo_consent": rating.photo_consent,
    }


def _posted_answers(dims) -> dict:
    stars = {d.id: small_int(request.form.get(f"d{d.id}")) for d in dims}
    return {
        "stars": {k: v for k, v in stars.items() if v is not None},
        "comment": request.form.get("comment", ""),
        "display": request.form.get("display", Display.CATEGORY.value),
        "photo_consent": request.form.get("photo_consent") == "y",
    }


def _store_posted_photo(consent: bool) -> tuple[str, str] | None:
    """Clean and store the posted photo: (original key, web key), None when there is none.
    :raises RuleError: the photo's own codes, or photo_consent."""
    file = request.files.get("photo")
    if not file or not file.filename:
        return None
    cleaned = clean_photo(file.read(10 * 1024 * 1024 + 1), filename=file.filename)
    if not consent:
        raise RuleError("photo_consent", services.MESSAGES["photo_consent"])
    return (
        uploads.store_bytes(cleaned.original, "photo", cleaned.extension),
        uploads.store_bytes(cleaned.web, "photo", "jpg"),
    )


# -- The guest ------------------------------------------------------------------------------


@bp.route("/c/<code>/rate", methods=["GET", "POST"])
@public
@csrf.exempt  # the unguessable code is the secret, as on the check-in page
@guest_link_limits("20 per minute")
def rate(code: str):
    """The guest rates the certified service: stars, a comment, a photo.

    Reading, checking and the photo's processing happen before the write lock is taken;
    the lock covers only the rating's own writes (see core.web.read_phase)."""
    now = clock.now()
    if request.method == "POST" and not request.files.get("photo") and not request.form.get("remove_photo"):
        answered = _first_rating(code, now)
        if answered is not None:
            return answered
    errors = {}
    with read_phase():
        guest = db.session.scalar(sa.select(Guest).where(Guest.code == code)) if extract_code(code) == code else None
        if guest is None:
            lookup_failed()
            abort(404)
        event = guest.event
        try:
            services.check_may_rate(guest, now)
        except RuleError as e:  # a check in the read phase: nothing to commit or roll back
            return render_template("ratings/closed.html", event=event, message=str(e), reason=e.code, code=code), 409
        guest_id = guest.id
        dims = services.dimensions(event.campaign_id)
        if request.method == "GET":
            rating = services.rating_of(guest.id)
            return _rate_page(event, guest, dims, rating, code, _saved_answers(rating), errors)
        values = _posted_answers(dims)
        try:
            stored = _store_posted_photo(values["photo_consent"])
        except RuleError as e:  # refused before anything is stored or written
            errors[e.code] = str(e)
            return _rate_page(event, guest, dims, services.rating_of(guest.id), code, values, errors)
    replaced = _save_rating(guest_id, values, stored, now, errors)
    if replaced is None:
        with read_phase():  # the rest only reads
            guest = db.session.get(Guest, guest_id)
            return _rate_page(
                guest.event,
                guest,
                services.dimensions(guest.event.campaign_id),
                services.rating_of(guest_id),
                code,
                values,
                errors,
            )
    for key in replaced:
        uploads.delete_upload(key)
    with read_phase():
        event = db.session.get(Guest, guest_id).event
        return render_template("ratings/thanks.html", event=event, code=code, closes=beijing(event.feedback_closes_at))


def _first_rating(code: str, now):
    """The thank-you page of a guest's first text-only rating, saved the short way
    (services.first_rating); None for anything else, which ``rate`` then handles whole."""
    with read_phase():
        rater = services.rater(code) if extract_code(code) == code else None
        if rater is None or rater.rated or not rater.checked_in:
            return None
        event = event_window(rater.event_id)
        if event is None or now > event.feedback_closes_at:
            return None
        asked = services.asked_questions(event.campaign_id)
        values = _posted_answers(asked)
        try:
            comment = services.checked_answers(asked, values["stars"], values["comment"], False, False)
        except RuleError:
            return None  # the long way says what is wrong, on the form
    try:
        display = Display(values["display"])
    except ValueError:
        display = Display.CATEGORY
    stars = {d.id: values["stars"][d.id] for d in asked}
    if not services.first_rating(
        rater.guest_id, rater.event_id, stars=stars, comment=comment, display=display, now=now
    ):
        return None
    return _thanks_page(event, code)


#: stands for the guest's code in the shared thank-you page: random in each process, so no
#: event title or address can contain it
_CODE_HOLE = secrets.token_urlsafe(16)
#: the shared pages kept by each app (events × languages); past it they start again
_THANKS_KEPT = 256


def _thanks_page(event, code: str) -> str:
    """The thank-you page after a guest's first rating.

    It is the same for every guest of an event but for the guest's own code, in two links
    (to change the rating, and the language switch's way back), and rendering it cost a
    rating more CPU than its write: it is rendered once per event, language and app in
    each process, with a stand-in for the code, and each guest gets a copy with their own.
    ``event`` is the kept EventWindow (frozen): an edited event is a new key. ``code``
    has passed extract_code (URL-safe letters only), so it goes in as it is.
    """
    key = (str(get_locale()), event)
    kept = current_app.extensions.setdefault("ratings.thanks", {})
    page = kept.get(key)
    if page is None:
        page = render_template(
            "ratings/thanks.html",
            event=event,
            code=_CODE_HOLE,
            here=url_for("ratings.rate", code=_CODE_HOLE),
            closes=beijing(event.feedback_closes_at),
        )
        if len(kept) >= _THANKS_KEPT:
            kept.clear()  # one step under the GIL, whatever the other threads do
        kept[key] = page
    return page.replace(_CODE_HOLE, code)


def _save_rating(guest_id: int, values: dict, stored: tuple[str, str] | None, now, errors: dict) -> list[str] | None:
    """The rating's own writes, committed. Returns the photo keys it replaced (to delete
    now), or None when a rule refused: ``errors`` then says why, and the new photo is gone."""
    try:
        display = Display(values["display"])
    except ValueError:
        display = Display.CATEGORY
    replaced: list[str] = []

    def submit() -> None:
        nonlocal replaced
        _rating, replaced = services.submit_rating(
            db.session.get(Guest, guest_id),
            stars=values["stars"],
            comment=values["comment"],
            display=display,
            now=now,
            photo=stored,
            photo_consent=values["photo_consent"],
            remove_photo=request.form.get("remove_photo") == "y",
        )

    def refused(e: RuleError) -> None:
        for key in stored or ():  # the photo was stored before the rule: it goes with the refusal
            uploads.delete_upload(key)
        errors[e.code] = str(e)

    return replaced if apply_rule(submit, refused=refused) else None


def _rate_page(event, guest, dims, rating, code, values, errors):
    return render_template(
        "ratings/rate.html",
        event=event,
        guest=guest,
        dims=dims,
        rating=rating,
        code=code,
        values=values,
        errors=errors,
        display_labels=DISPLAY_LABELS,
        closes=beijing(event.feedback_closes_at),
    ), 200 if not errors else 422


# -- Organisers and HQ ----------------------------------------------------------------------


def _charts(stats) -> dict:
    categories = list(GuestCategory)
    averages = bar_chart(
        [(ds.dimension.name, ds.average) for ds in stats.dimensions], maximum=5, title=_("Average stars per question")
    )
    per_dimension = []
    for ds in stats.dimensions:
        per_dimension.append(
            {
                "stats": ds,
                "distribution": column_chart(
                    ds.distribution, ["1★", "2★", "3★", "4★", "5★"], title=_("How many gave each score")
                ),
                "by_category": bar_chart(
                    [(str(CATEGORY_LABELS[c]), ds.by_category.get(c)) for c in categories if c in ds.by_category],
                    maximum=5,
                    title=_("Average by guest category"),
                ),
            }
        )
    return {"averages_chart": averages, "per_dimension": per_dimension}


@bp.get("/events/<int:event_id>/ratings")
def live(event_id: int):
    """Live results: response rate, averages and distributions, comments to review."""
    event = load(Event, event_id, "view_event")
    stats = services.stats(event)
    comments = db.session.scalars(
        sa.select(Rating)
        .options(selectinload(Rating.guest))
        .where(Rating.event_id == event.id, sa.or_(Rating.comment != "", Rating.photo_key.is_not(None)))
        .order_by(Rating.updated_at.desc(), Rating.id.desc())
        .limit(200)
    ).all()
    context = dict(
        event=event,
        stats=stats,
        comments=comments,
        can_review=can(current_user, "edit_event", event),
        candidates=services.highlight_candidates(event),
        public_name=services.public_name,
        **_charts(stats),
    )
    template = "ratings/_live.html" if request.args.get("fragment") else "ratings/live.html"
    return render_template(template, **context)


def _review_rating(rating_id: int) -> Rating:
    rating = db.session.get(Rating, rating_id)
    if rating is None:
        abort(404)
    load(Event, rating.event_id, "edit_event")
    return rating


@bp.post("/ratings/<int:rating_id>/approval")
def approval(rating_id: int):
    """Approve, or withdraw the approval of, a comment or a photo for public use."""
    rating = _review_rating(rating_id)
    what = request.form.get("what")
    if what not in ("comment", "photo"):
        abort(400)
    approved = request.form.get("approved") == "1"
    apply_rule(
        lambda: services.set_approval(rating, what, approved, actor=current_user, now=clock.now(), ip=client_ip()),
        done=_("Approved for public use.") if approved else _("The approval was withdrawn."),
    )
    return redirect(url_for("ratings.live", event_id=rating.event_id) + f"#rating-{rating.id}")


@bp.get("/ratings/<int:rating_id>/photo")
def photo(rating_id: int):
    """A guest's photo, web size (or ?size=original), for those who may see the event."""
    rating = db.session.get(Rating, rating_id)
    if rating is None or not rating.photo_key:
        abort(404)
    load(Event, rating.event_id, "view_event")
    key = rating.photo_key if request.args.get("size") == "original" else rating.photo_web_key
    return files.serve(key, mimetype=uploads.mimetype_of(key))


@bp.get("/events/<int:event_id>/ratings.xlsx")
@writes
def export(event_id: int):
    """Ratings and comments as .xlsx (phones masked) for the province and its organisers."""
    event = load(Event, event_id, "edit_event")
    dims = services.dimensions(event.campaign_id, include_retired=True)
    ratings = db.session.scalars(
        sa.select(Rating)
        .options(selectinload(Rating.guest), selectinload(Rating.scores))
        .where(Rating.event_id == event.id)
        .order_by(Rating.id)
    ).all()
    header = (
        [_("Name"), _("Category"), _("Mobile")]
        + [d.name for d in dims]
        + [_("Comment"), _("Shown as"), _("Comment approved"), _("Photo"), _("Rated at")]
    )
    rows = []
    for r in ratings:
        scores = {s.dimension_id: s.stars for s in r.scores}
        rows.append(
            [r.guest.name, str(r.guest.category.label), mask_phone(r.guest.phone)]
            + [scores.get(d.id, "") for d in dims]
            + [
                r.comment,
                str(DISPLAY_LABELS[r.display]),
                beijing(r.comment_approved_at),
                _("yes") if r.photo_key else "",
                beijing(r.updated_at),
            ]
        )
    data = xlsx.workbook([(_("Ratings"), header, rows)])
    services.record_export(event, rows=len(rows), actor=current_user, now=clock.now(), ip=client_ip())
    db.session.commit()
    return download(data, f"ratings-{event.id}.xlsx")


# -- HQ: the questions ------------------------------------------------------------------------


@bp.route("/campaign/dimensions", methods=["GET", "POST"])
@require("hq")
def dimensions():
    """HQ edits the rating questions: add, rename, reorder, retire (answers are kept)."""
    campaign = campaign_or_404()
    form = dimensions_form(services.dimensions(campaign.id, include_retired=True))
    if form.validate_on_submit() and apply_rule(
        lambda: services.edit_dimensions(
            campaign,
            form.edits(),
            new_name=form.new_name.data or "",
            new_hint=form.new_hint.data or "",
            actor=current_user,
            now=clock.now(),
            ip=client_ip(),
        ),
        done=_("The questions were saved."),
        refused=form.show_refusal,
    ):
        return redirect(url_for("ratings.dimensions"))
    return render_template("ratings/dimensions.html", campaign=campaign, form=form)
