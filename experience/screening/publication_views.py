"""公示 pages. The secretariat's: the period and the list to publish, the objections (the
phone masked in the list, in full on an objection's own page), answering one, and
withdrawing a selected work for a cause. The public's (no login): the objection form of a
published work during the period, its personal-information notice first, throttled per
address, and the thank-you page.

The rules are in ``publication``; the forms below only carry what people type, and a
refusal comes back to the field it concerns.
"""

from __future__ import annotations

import time
from datetime import date, datetime

from flask import abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, InputRequired

from experience.accounts.forms import REQUIRED
from experience.campaigns.views import campaign_or_404
from experience.core import clock
from experience.core.errors import RuleError, render_error
from experience.core.permissions import client_ip, require
from experience.core.web import apply_rule, beijing, confirm_page, confirmed, day, public
from experience.events.forms import strip_text
from experience.extensions import db, limiter
from experience.screening import bp, publication
from experience.screening.forms import WholeNumber
from experience.screening.models import Objection
from experience.works.models import Work

#: Objections one address may send in an hour. A person objects to one work or two; a
#: family or an office behind one address a few more; beyond five an hour it is a
#: campaign of messages, which the secretariat would have to read and answer one by one.
OBJECTIONS_PER_ADDRESS = "5 per hour"
#: Posts of the form (sent or refused) one address may make in an hour: room for many
#: corrections of a mistyped phone, none for a script trying the form in a loop.
ATTEMPTS_PER_ADDRESS = "30 per hour"


def _limit(name: str, default: str):
    """A limit an operator may change in the app's config without touching the code."""
    return lambda: current_app.config.get(name, default)


def _refused(limit) -> object:
    until = datetime.fromtimestamp(max(limit.reset_at, time.time()) + 59, clock.UTC).replace(tzinfo=None)
    message = _(
        "Too many objections came from your network in the last hour. Please try again after %(time)s (Beijing time).",
        time=beijing(until, "HH:mm"),
    )
    return make_response(render_error(429, message))


# -- Forms ---------------------------------------------------------------------------------------


class PublicationForm(FlaskForm):
    """The period: its first Beijing day and how many days it lasts."""

    starts_on = StringField(
        _l("First day"),
        filters=[strip_text],
        validators=[DataRequired(REQUIRED)],
        render_kw={"type": "date"},
        description=_l("The list is public from 00:00 of this day, Beijing time."),
    )
    days = WholeNumber(
        _l("Days"),
        validators=[InputRequired(REQUIRED)],
        description=_l("How many days, the first included (7 unless there is a reason for another length)."),
    )
    submit = SubmitField(_l("Publish"))

    def first_day(self) -> date | None:
        try:
            return date.fromisoformat(self.starts_on.data or "")
        except ValueError:
            self.starts_on.errors.append(_("Please give the first day as a date (YYYY-MM-DD)."))
            return None


class AnswerForm(FlaskForm):
    answer = TextAreaField(_l("Answer"), filters=[strip_text], validators=[DataRequired(REQUIRED)])
    submit = SubmitField(_l("Save the answer"))


class WithdrawForm(FlaskForm):
    reason = TextAreaField(
        _l("Cause"),
        filters=[strip_text],
        validators=[DataRequired(REQUIRED)],
        description=_l("Kept in the log and told to the work's unit."),
    )
    submit = SubmitField(_l("Withdraw the work"))


class ObjectionForm(FlaskForm):
    """What an objector types; the rule (``publication.raise_objection``) checks it."""

    notice_version = HiddenField()
    name = StringField(
        _l("Your name"),
        filters=[strip_text],
        validators=[DataRequired(publication.MESSAGES["name_required"])],
        render_kw={"autocomplete": "name", "maxlength": publication.NAME_MAX},
    )
    phone = StringField(
        _l("Phone"),
        filters=[strip_text],
        validators=[DataRequired(publication.MESSAGES["phone_invalid"])],
        render_kw={"autocomplete": "tel", "inputmode": "tel"},
        description=_l("The works secretariat may call you about the objection."),
    )
    reason = TextAreaField(
        _l("Reason for the objection"),
        filters=[strip_text],
        validators=[DataRequired(_l("Please explain the objection."))],
        render_kw={"rows": 6, "maxlength": publication.REASON_MAX},
        description=_l("What is wrong with the work, and how you know it (at least 10 characters)."),
    )
    consent = BooleanField(
        _l("I have read the personal information notice and agree to it."),
        validators=[DataRequired(publication.MESSAGES["consent_required"])],
    )
    submit = SubmitField(_l("Send the objection"))


#: where a refusal of raise_objection is shown
_OBJECTION_FIELDS = {
    "name_required": "name",
    "name_too_long": "name",
    "phone_invalid": "phone",
    "reason_too_short": "reason",
    "reason_too_long": "reason",
    "consent_required": "consent",
    "notice_changed": "consent",
}


def _objection_or_404(objection_id: int) -> Objection:
    objection = db.session.get(Objection, objection_id)
    if objection is None:
        abort(404)
    return objection


def _work_or_404(work_id: int) -> Work:
    work = db.session.get(Work, work_id)
    if work is None:
        abort(404)
    return work


# -- The secretariat's pages ---------------------------------------------------------------------


@bp.route("/screening/publication", methods=["GET", "POST"], endpoint="publication")
@require("manage_screening")
def publication_page():
    """The 公示: its period (set or changed until it starts), the list it publishes, the
    withdrawn works and the objections."""
    campaign = campaign_or_404()
    now = clock.now()
    pub = publication.publication_of(campaign)
    state = publication.period_state(pub, now) if pub else None
    form = PublicationForm()
    if request.method == "GET":
        form.starts_on.data = (pub.starts_on if pub else clock.beijing_today(now) + clock.ONE_DAY).isoformat()
        form.days.data = (pub.ends_on - pub.starts_on).days + 1 if pub else publication.DEFAULT_DAYS

    def refused(e: RuleError) -> None:
        field = {"start_past": form.starts_on, "days_range": form.days}.get(e.code)
        if field is None:
            flash(str(e), "error")
        else:
            field.errors.append(str(e))

    if form.validate_on_submit() and (starts_on := form.first_day()) is not None:
        refusal = publication.publish_refusal(campaign, starts_on, form.days.data, now)
        if refusal is not None:
            refused(refusal)
        elif not confirmed():
            works = publication.published_works(campaign)
            last = starts_on + clock.ONE_DAY * (form.days.data - 1)
            return confirm_page(
                _("Publish the %(count)s selected works?", count=len(works)),
                explain=_(
                    "The list is public from %(first)s 00:00 to %(last)s 23:59 (Beijing time); anyone may object "
                    "to a work during this period. The period can change until it starts, not afterwards.",
                    first=day(starts_on),
                    last=day(last),
                ),
                button=_("Publish"),
                back=url_for("screening.publication"),
            )
        elif apply_rule(
            lambda: publication.publish(
                campaign, starts_on, form.days.data, actor=current_user, now=now, ip=client_ip()
            ),
            done=_("The selection is published for the period set."),
            refused=refused,
        ):
            return redirect(url_for("screening.publication"))
    works = publication.published_works(campaign)
    return render_template(
        "screening/publication.html",
        campaign=campaign,
        pub=pub,
        state=state,
        form=form,
        can_change=pub is None or state is publication.PeriodState.BEFORE,
        works=works,
        withdrawals=publication.withdrawals(campaign),
        objections=publication.objections(pub) if pub else [],
    )


@bp.route("/screening/objections/<int:objection_id>", methods=["GET", "POST"], endpoint="objection")
@require("manage_screening")
def objection_page(objection_id: int):
    """One objection in full (the objector's phone too) and the secretariat's answer."""
    objection = _objection_or_404(objection_id)
    form = AnswerForm()
    if request.method == "GET":
        form.answer.data = objection.answer
    if form.validate_on_submit() and apply_rule(
        lambda: publication.answer(objection, form.answer.data, actor=current_user, now=clock.now(), ip=client_ip()),
        done=_("The answer was saved."),
        refused=lambda e: form.answer.errors.append(str(e)),
    ):
        return redirect(url_for("screening.publication", _anchor="objections"))
    return render_template("screening/objection.html", objection=objection, work=objection.work, form=form)


@bp.route("/screening/works/<int:work_id>/withdraw", methods=["GET", "POST"], endpoint="withdraw_selected")
@require("manage_screening")
def withdraw_selected(work_id: int):
    """Withdraw a published selected work for a cause, after reading what it does."""
    work = _work_or_404(work_id)
    back = url_for("screening.publication")
    refusal = publication.withdraw_refusal(work)
    if refusal is not None:
        flash(str(refusal), "error")
        return redirect(back)
    form = WithdrawForm()
    if form.validate_on_submit() and apply_rule(
        lambda: publication.withdraw_selected(
            work, form.reason.data, actor=current_user, now=clock.now(), ip=client_ip()
        ),
        done=_("The work %(number)s was withdrawn: it is no longer shown to the public.", number=work.number or ""),
        refused=lambda e: form.reason.errors.append(str(e)),
    ):
        return redirect(back)
    return render_template("screening/publication_withdraw.html", work=work, form=form, back=back)


# -- The public's pages --------------------------------------------------------------------------


@bp.route("/gongshi/works/<int:work_id>/objection", methods=["GET", "POST"], endpoint="objection_form")
@public
@limiter.limit(
    _limit("SCREENING_OBJECTION_ATTEMPTS_PER_ADDRESS", ATTEMPTS_PER_ADDRESS),
    methods=["POST"],
    scope="objection-attempts",
    on_breach=_refused,
)
@limiter.limit(
    _limit("SCREENING_OBJECTIONS_PER_ADDRESS", OBJECTIONS_PER_ADDRESS),
    methods=["POST"],
    scope="objections",
    deduct_when=lambda response: response.status_code == 302,
    on_breach=_refused,
)
def objection_form(work_id: int):
    """Anyone objects to a published work during the 公示: the personal-information
    notice, then the form. Outside the period, or for a work not on the list: 404."""
    work = _work_or_404(work_id)
    now = clock.now()
    if not publication.open_for_objections(work, now):
        abort(404)
    form = ObjectionForm()
    if request.method == "GET":
        form.notice_version.data = publication.NOTICE_VERSION

    def refused(e: RuleError) -> None:
        field = _OBJECTION_FIELDS.get(e.code)
        if field is None:
            flash(str(e), "error")
        else:
            getattr(form, field).errors.append(str(e))

    if form.validate_on_submit() and apply_rule(
        lambda: publication.raise_objection(
            work,
            name=form.name.data,
            phone=form.phone.data,
            reason=form.reason.data,
            consent=bool(form.consent.data),
            ip=client_ip(),
            now=now,
            notice_version=form.notice_version.data or "",
        ),
        refused=refused,
    ):
        return redirect(url_for("screening.objection_thanks", work_id=work.id))
    # a form opened on an older notice now carries the current one: read it, tick, send
    form.notice_version.data = publication.NOTICE_VERSION
    pub = publication.publication_of(work.campaign)
    return render_template("screening/objection_form.html", work=work, pub=pub, form=form)


@bp.get("/gongshi/works/<int:work_id>/objection/thanks", endpoint="objection_thanks")
@public
def objection_thanks(work_id: int):
    """After an objection: it was received, and what happens next."""
    work = _work_or_404(work_id)
    pub = publication.publication_of(work.campaign)
    if not (publication.started(pub, clock.now()) and publication.is_published(work)):
        abort(404)
    return render_template("screening/objection_thanks.html", work=work)
