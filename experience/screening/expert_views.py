"""The secretariat's pages of the experts: the list with each one's unit and load, a new
expert's account, an expert's changes and a temporary password."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from experience.accounts.models import Province, Role, User
from experience.accounts.services import reset_password
from experience.campaigns.views import campaign_or_404
from experience.core import clock
from experience.core.permissions import client_ip, require
from experience.core.web import apply_rule, confirm_page, confirmed
from experience.extensions import db
from experience.screening import bp, experts
from experience.screening.forms import EditExpertForm, NewExpertForm
from experience.screening.models import Expert
from experience.works.models import CATEGORY_LABELS, WorkCategory


def _provinces() -> list[Province]:
    return list(db.session.scalars(sa.select(Province).order_by(Province.code)))


def _expert_or_404(user_id: int):
    user = db.session.get(User, user_id)
    record = db.session.get(Expert, user_id) if user is not None and user.role is Role.REVIEWER else None
    if record is None:
        abort(404)
    return user, record


@bp.get("/screening/experts", endpoint="experts")
@require("manage_screening")
def experts_list():
    """The experts: name, unit, credit code, province, categories, active, works held."""
    campaign = campaign_or_404()
    return render_template(
        "screening/experts.html",
        experts=experts.experts(),
        loads=experts.loads(campaign),
        category_labels={c.value: CATEGORY_LABELS[c] for c in WorkCategory},
    )


@bp.route("/screening/experts/new", methods=["GET", "POST"])
@require("manage_screening")
def new_expert():
    """Make an expert's account; the expert sets their own password at the first login."""
    form = NewExpertForm(provinces=_provinces())
    if form.validate_on_submit() and apply_rule(
        lambda: experts.create_expert(
            username=form.username.data,
            display_name=form.display_name.data,
            organisation=form.organisation.data,
            credit_code=form.credit_code.data,
            province_code=form.province.data,
            categories=form.categories.data,
            password=form.password.data,
            actor=current_user,
            now=clock.now(),
            ip=client_ip(),
        ),
        done=_(
            "The expert's account %(name)s was made. Give the expert the user name and the initial password; "
            "they must choose their own password at the first login.",
            name=form.username.data,
        ),
        refused=form.show_refusal,
    ):
        return redirect(url_for("screening.experts"))
    return render_template("screening/expert.html", form=form, user=None)


@bp.route("/screening/experts/<int:user_id>", methods=["GET", "POST"])
@require("manage_screening")
def expert(user_id: int):
    """Change an expert's name, unit, credit code, province, categories, or make them inactive."""
    user, record = _expert_or_404(user_id)
    form = EditExpertForm(
        provinces=_provinces(),
        data={
            "display_name": user.display_name,
            "organisation": user.organisation,
            "credit_code": record.credit_code,
            "province": user.province_code,
            "categories": list(record.categories),
            "active": user.active,
        },
    )
    if form.validate_on_submit() and apply_rule(
        lambda: experts.update_expert(
            user,
            actor=current_user,
            now=clock.now(),
            ip=client_ip(),
            display_name=form.display_name.data,
            organisation=form.organisation.data,
            credit_code=form.credit_code.data,
            province_code=form.province.data,
            categories=form.categories.data,
            active=form.active.data,
        ),
        done=_("The expert was saved."),
        refused=form.show_refusal,
    ):
        return redirect(url_for("screening.expert", user_id=user.id))
    return render_template(
        "screening/expert.html", form=form, user=user, load=experts.loads(campaign_or_404()).get(user.id)
    )


@bp.post("/screening/experts/<int:user_id>/password")
@require("manage_screening")
def reset_expert_password(user_id: int):
    """Give an expert a temporary password (after a confirmation), shown once."""
    user, _record = _expert_or_404(user_id)
    back = url_for("screening.expert", user_id=user.id)
    if not confirmed():
        return confirm_page(
            _("Give %(name)s a temporary password?", name=user.display_name),
            explain=_("The expert's current password stops working and their sessions end."),
            button=_("Reset password"),
            back=back,
        )
    temporary = reset_password(user, actor=current_user, now=clock.now(), ip=client_ip())
    db.session.commit()
    return render_template("screening/expert_password.html", user=user, temporary=temporary)
