"""推荐单位意见 on the web: the unit asks (or takes its request back) on the work's page;
the province's staff answer there and list the requests their province received."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length

from experience.campaigns.views import campaign_or_404
from experience.core import audit, clock
from experience.core.permissions import can, client_ip, load, require
from experience.core.web import apply_rule, confirm_page, confirmed
from experience.works import bp, recommendations
from experience.works.models import Recommendation, Work


class DeclineForm(FlaskForm):
    """The province declines to recommend a work: the reason is what the unit reads.
    Prefixed, so that its field's id stays unique on the work's page among the others'."""

    reason = TextAreaField(
        _l("Reason for declining"),
        validators=[
            DataRequired(recommendations.MESSAGES["reason_required"]),
            Length(max=recommendations.REASON_MAX_CHARS),
        ],
        description=_l("The unit reads it; it may ask again later."),
        render_kw={"maxlength": recommendations.REASON_MAX_CHARS, "rows": 3},
    )
    decline = SubmitField(_l("Decline"))


#: the decline form's prefix: its field is posted as ``decline-reason``
DECLINE = "decline"


def _back_to(work: Work):
    return redirect(url_for("works.view", work_id=work.id, _anchor="recommendation"))


@bp.app_template_global()
def recommendation_panel(work: Work) -> dict:
    """What the work's recommendation panel shows to the reader, and which buttons."""
    latest = work.recommendation
    waiting = latest is not None and latest.state is recommendations.REQUESTED
    asks = can(current_user, "request_recommendation", work)
    refusal = recommendations.request_refusal(work, clock.now()) if asks else None
    # a closed window says why; an open request or a recommendation speak for themselves
    closed = refusal is not None and refusal.code not in ("request_open", "already_recommended")
    decides = waiting and can(current_user, "decide_recommendation", latest)
    return {
        "latest": latest,
        "earlier": list(reversed(work.recommendations[:-1])),
        "recommender": recommendations.recommender_name(latest.province_code if latest else work.province_code),
        "sentence": recommendations.sentence(latest),
        "may_request": asks and refusal is None,
        "request_refusal": refusal if closed else None,
        "may_withdraw": waiting and can(current_user, "withdraw_recommendation", latest),
        "may_decide": decides,
        "decline_form": DeclineForm(formdata=None, prefix=DECLINE) if decides else None,
    }


@bp.app_template_global()
def waiting_recommendations() -> int:
    """The requests waiting for the reader's province, for the menu's badge."""
    if not can(current_user, "list_recommendations"):
        return 0
    return recommendations.waiting_count(current_user.province_code)


@bp.post("/works/<int:work_id>/recommendation")
def request_recommendation(work_id: int):
    """The unit asks the market regulation department of its province to recommend the work."""
    work = load(Work, work_id, "request_recommendation")
    apply_rule(
        lambda: recommendations.request(work, actor=current_user, now=clock.now(), ip=client_ip()),
        done=_("Your province's market regulation department was asked for its recommendation."),
    )
    return _back_to(work)


@bp.post("/works/recommendations/<int:recommendation_id>/withdraw")
def withdraw_recommendation(recommendation_id: int):
    """The unit takes back a request not answered yet."""
    recommendation = load(Recommendation, recommendation_id, "withdraw_recommendation")
    apply_rule(
        lambda: recommendations.withdraw(recommendation, actor=current_user, now=clock.now(), ip=client_ip()),
        done=_("The request for a recommendation was taken back."),
    )
    return _back_to(recommendation.work)


@bp.post("/works/recommendations/<int:recommendation_id>/recommend")
def recommend(recommendation_id: int):
    """The province recommends the work with 附件2's sentence, after a confirmation page."""
    recommendation = load(Recommendation, recommendation_id, "decide_recommendation")
    work = recommendation.work
    if not confirmed():
        return confirm_page(
            _(
                "Recommend “%(title)s” in the name of %(recommender)s?",
                title=work.title,
                recommender=recommendations.recommender_name(recommendation.province_code),
            ),
            explain=str(recommendations.sentence()),
            button=_("Recommend the work"),
            back=url_for("works.view", work_id=work.id, _anchor="recommendation"),
        )
    apply_rule(
        lambda: recommendations.recommend(recommendation, actor=current_user, now=clock.now(), ip=client_ip()),
        done=_("The work was recommended. The unit has been told."),
    )
    return _back_to(work)


@bp.post("/works/recommendations/<int:recommendation_id>/decline")
def decline_recommendation(recommendation_id: int):
    """The province declines to recommend the work, with the reason the unit reads."""
    recommendation = load(Recommendation, recommendation_id, "decide_recommendation")
    form = DeclineForm(prefix=DECLINE)
    if not form.validate_on_submit():
        for error in form.reason.errors:
            flash(str(error), "error")
        return _back_to(recommendation.work)
    apply_rule(
        lambda: recommendations.decline(
            recommendation, form.reason.data, actor=current_user, now=clock.now(), ip=client_ip()
        ),
        done=_("The request was declined. The unit has been told why."),
    )
    return _back_to(recommendation.work)


@bp.get("/works/recommendations")
@require("list_recommendations")
def recommendation_requests():
    """The requests for a recommendation the reader's province received: those waiting first."""
    campaign = campaign_or_404()
    page = min(max(1, request.args.get("page", 1, type=int)), 10_000)
    rows, more = recommendations.requests_to(current_user.province_code, campaign, page=page)
    return render_template(
        "works/recommendations.html",
        rows=rows,
        more=more,
        page=page,
        campaign=campaign,
        recommender=recommendations.recommender_name(current_user.province_code),
    )


audit.describe_values(
    "permission",
    {
        "request_recommendation": _l("ask for the recommendation"),
        "withdraw_recommendation": _l("take back the request for a recommendation"),
        "decide_recommendation": _l("answer the request for a recommendation"),
    },
)
