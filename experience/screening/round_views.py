"""The secretariat's screening pages: the campaign's rounds at a glance, a round's
settings and criteria, and opening, closing and reopening it (each after a confirmation)."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from experience.campaigns.views import campaign_or_404
from experience.core import clock
from experience.core.permissions import client_ip, require
from experience.core.web import apply_rule, confirm_page, confirmed
from experience.extensions import db
from experience.screening import assignment, bp, rounds, scoring
from experience.screening.forms import RoundForm
from experience.screening.models import Round, RoundState


@bp.app_template_global("screening_page")
def screening_page(endpoint: str) -> bool:
    """Whether a screening page exists (the parts of screening are built one by one):
    a template links to it only then."""
    return endpoint in current_app.view_functions


def _round_or_404(round_id: int) -> Round:
    round_ = db.session.get(Round, round_id)
    if round_ is None:
        abort(404)
    return round_


def _figures(round_: Round) -> dict:
    """What the index shows of a round beyond its settings."""
    figures = {"entries": rounds.entry_count(round_), "progress": None, "unfilled": None}
    if round_.state is not RoundState.DRAFT:
        figures["progress"] = scoring.progress(round_)
        figures["unfilled"] = len(assignment.unfilled(round_))
    return figures


@bp.get("/screening")
@require("manage_screening")
def index():
    """The campaign's screening rounds: their state, works, progress, and the way to each part."""
    campaign = campaign_or_404()
    all_rounds = rounds.rounds_of(campaign)
    return render_template(
        "screening/index.html",
        campaign=campaign,
        rounds=[(r, _figures(r)) for r in all_rounds],
        can_add=len(all_rounds) < rounds.MAX_ROUNDS,
        deadline=rounds.latest_works_deadline(campaign),
    )


@bp.route("/screening/rounds/new", methods=["GET", "POST"])
@require("manage_screening")
def new_round():
    """Set up the campaign's next round (初评, 复评, 终评) with its criteria."""
    campaign = campaign_or_404()
    position = len(rounds.rounds_of(campaign)) + 1
    if position > rounds.MAX_ROUNDS:
        flash(_("A campaign has at most 3 screening rounds."), "error")
        return redirect(url_for("screening.index"))
    form = RoundForm(position=position)
    made = []
    if form.validate_on_submit() and apply_rule(
        lambda: made.append(
            rounds.create_round(
                campaign,
                actor=current_user,
                now=clock.now(),
                ip=client_ip(),
                criteria=form.criteria(),
                **form.settings(locked=False),
            )
        ),
        done=_("The round was saved. Open it when its settings are right: experts then start scoring."),
        refused=form.show_refusal,
    ):
        return redirect(url_for("screening.round", round_id=made[0].id))
    return render_template(
        "screening/round.html", form=form, round=None, campaign=campaign, position=position, locked=False
    )


@bp.route("/screening/rounds/<int:round_id>", methods=["GET", "POST"], endpoint="round")
@require("manage_screening")
def round_settings(round_id: int):
    """A round's settings and criteria (fixed once it opens, but for its name and the
    disagreement threshold), which works would enter, and its open / close / reopen buttons."""
    round_ = _round_or_404(round_id)
    locked = round_.state is not RoundState.DRAFT
    form = RoundForm(round_=round_)
    if form.validate_on_submit() and apply_rule(
        lambda: rounds.update_round(
            round_,
            actor=current_user,
            now=clock.now(),
            ip=client_ip(),
            criteria=None if locked else form.criteria(),
            **form.settings(locked=locked),
        ),
        done=_("The round was saved."),
        refused=form.show_refusal,
    ):
        return redirect(url_for("screening.round", round_id=round_.id))
    entering, skipped = rounds.candidates(round_) if not locked else ([], [])
    return render_template(
        "screening/round.html",
        form=form,
        round=round_,
        campaign=round_.campaign,
        position=round_.position,
        locked=locked,
        entering=entering,
        skipped=skipped,
        entries=rounds.entry_count(round_),
        refusal=rounds.open_refusal(round_, clock.now()) if not locked else None,
        reopen_refusal=rounds.reopen_refusal(round_) if round_.state is RoundState.CLOSED else None,
    )


@bp.post("/screening/rounds/<int:round_id>/open")
@require("manage_screening")
def open_round(round_id: int):
    """Open the round after a confirmation: works enter, experts are assigned, scoring starts."""
    round_ = _round_or_404(round_id)
    back = url_for("screening.round", round_id=round_.id)
    if not confirmed():
        refusal = rounds.open_refusal(round_, clock.now())
        if refusal is not None:
            flash(str(refusal), "error")
            return redirect(back)
        entering, skipped = rounds.candidates(round_)
        return confirm_page(
            _("Open %(name)s now?", name=round_.name),
            explain=_(
                "%(count)s works enter the round and are assigned to experts at once; experts can start scoring. "
                "The criteria, the score scale and the other settings can no longer change afterwards.",
                count=len(entering),
            )
            + (
                "\n" + _("%(count)s works named by the rule are not submitted now and stay out.", count=len(skipped))
                if skipped
                else ""
            ),
            button=_("Open the round"),
            back=back,
        )
    result = []

    def run():
        result.append(rounds.open_round(round_, actor=current_user, now=clock.now(), ip=client_ip()))

    if apply_rule(run):
        opened = result[0]
        flash(
            _(
                "The round is open: %(entered)s works entered, %(added)s assignments made.",
                entered=opened.entered,
                added=opened.assigned.added,
            ),
            "success",
        )
        if opened.assigned.unfilled:
            flash(
                _(
                    "%(count)s works could not get enough eligible experts: see the assignments.",
                    count=len(opened.assigned.unfilled),
                ),
                "warning",
            )
            if screening_page("screening.assignments"):
                return redirect(url_for("screening.assignments", round_id=round_.id))
    return redirect(back)


@bp.post("/screening/rounds/<int:round_id>/close")
@require("manage_screening")
def close_round(round_id: int):
    """Close the scoring after a confirmation; the results and decisions go on."""
    round_ = _round_or_404(round_id)
    back = url_for("screening.round", round_id=round_.id)
    if not confirmed():
        if round_.state is not RoundState.OPEN:
            flash(_("Only an open round can be closed."), "error")
            return redirect(back)
        explain = _("Experts can no longer give or change scores. The round can be opened again later if needed.")
        scored, total = scoring.progress(round_)
        if scored < total:
            explain += "\n" + _(
                "%(missing)s of %(total)s assignments have not been scored yet.",
                missing=total - scored,
                total=total,
            )
        return confirm_page(
            _("Close the scoring of %(name)s?", name=round_.name),
            explain=explain,
            button=_("Close the scoring"),
            back=back,
            danger=True,
        )
    apply_rule(
        lambda: rounds.close_round(round_, actor=current_user, now=clock.now(), ip=client_ip()),
        done=_("The scoring of the round was closed."),
    )
    return redirect(back)


@bp.post("/screening/rounds/<int:round_id>/reopen")
@require("manage_screening")
def reopen_round(round_id: int):
    """Open a closed round again after a confirmation, e.g. for a work sent again after a return."""
    round_ = _round_or_404(round_id)
    back = url_for("screening.round", round_id=round_.id)
    if not confirmed():
        refusal = rounds.reopen_refusal(round_)
        if refusal is not None:
            flash(str(refusal), "error")
            return redirect(back)
        return confirm_page(
            _("Open the scoring of %(name)s again?", name=round_.name),
            explain=_("Experts can give and change scores again until the round is closed once more."),
            button=_("Open the scoring again"),
            back=back,
        )
    apply_rule(
        lambda: rounds.reopen_round(round_, actor=current_user, now=clock.now(), ip=client_ip()),
        done=_("The scoring of the round is open again."),
    )
    return redirect(back)
