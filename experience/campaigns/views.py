from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from experience.accounts.models import Role
from experience.campaigns import bp, services
from experience.campaigns.forms import CampaignForm
from experience.core import clock
from experience.core.errors import RuleError
from experience.core.permissions import client_ip, require, visible_events
from experience.events.models import Event
from experience.extensions import db


def campaign_or_404():
    campaign = services.current_campaign()
    if campaign is None:
        abort(404)
    return campaign


@bp.get("/")
def home():
    """Each person's start page: calendar, events, plan and notices of their scope."""
    from experience.notices.services import notices_for, reminders
    from experience.plans.services import effective_deadline, national_table, plan_for

    campaign = services.current_campaign()
    if campaign is None:
        return render_template("campaigns/home.html", campaign=None)
    now = clock.now()
    ctx = {"campaign": campaign, "now": now}
    extensions, done = {}, set()
    if current_user.province_code:
        code = current_user.province_code
        plan = plan_for(campaign, code, create=False)
        deadline = effective_deadline(campaign, code, "plan")
        if deadline != campaign.plan_deadline:
            extensions["plan"] = deadline
        if plan and plan.first_submitted_at:
            done.add("plan")
        ctx["plan"] = plan
        ctx["events"] = db.session.scalars(
            visible_events(current_user, sa.select(Event))
            .where(Event.campaign_id == campaign.id)
            .order_by(Event.starts_at)
        ).all()
    ctx["calendar"] = services.calendar(campaign, now, extensions)
    if current_user.role in (Role.HQ, Role.PROVINCE):
        scope = None if current_user.is_hq else current_user.province_code
        ctx["notices"] = notices_for(scope, limit=10)
        ctx["reminders"] = reminders(ctx["calendar"], done) if current_user.role is Role.PROVINCE else []
    if current_user.is_hq:
        rows = national_table(campaign)
        ctx["counts"] = {
            s: sum(1 for r in rows if r.state.value == s)
            for s in ("not_submitted", "submitted", "returned", "confirmed")
        }
    return render_template("campaigns/home.html", **ctx)


@bp.route("/campaign", methods=["GET", "POST"])
@require("hq")
def edit():
    """HQ edits the campaign's year, theme, deadlines, week and sectors."""
    campaign = campaign_or_404()
    form = CampaignForm(obj=campaign)
    if form.validate_on_submit():
        data = {k: v for k, v in form.data.items() if k not in ("submit", "csrf_token")}
        data["sectors"] = "\n".join(s.strip() for s in data["sectors"].splitlines() if s.strip())
        try:
            services.update_campaign(campaign, actor=current_user, now=clock.now(), ip=client_ip(), **data)
        except RuleError as e:
            db.session.rollback()
            getattr(form, e.params.get("field", "week_end")).errors.append(str(e))
        else:
            db.session.commit()
            flash(_("The campaign was saved."), "success")
            return redirect(url_for("campaigns.edit"))
    return render_template("campaigns/edit.html", form=form, campaign=campaign)
