from __future__ import annotations

from flask import abort, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from experience.campaigns import bp, services
from experience.campaigns.forms import CampaignForm
from experience.campaigns.signals import home_opened
from experience.core import clock
from experience.core.permissions import can, client_ip, require
from experience.core.web import apply_rule
from experience.notices.services import notices_for, reminders


def campaign_or_404():
    campaign = services.current_campaign()
    if campaign is None:
        abort(404)
    return campaign


@bp.get("/")
def home():
    """Each person's start page: calendar, events, plan and notices of their scope. The
    capabilities above fill in their panels (campaigns.signals.home_opened)."""
    if can(current_user, "submitter"):
        return redirect(url_for("units.home"))  # a unit's start page is its own
    if can(current_user, "review_works"):
        return redirect(url_for("screening.review"))  # an expert's is the works to score
    campaign = services.current_campaign()
    if campaign is None:
        return render_template("campaigns/home.html", campaign=None)
    now = clock.now()
    page = {"campaign": campaign, "now": now, "extensions": {}, "done": set()}
    home_opened.send(campaign, user=current_user, now=now, page=page)
    page["calendar"] = services.calendar(campaign, now, page["extensions"])
    if can(current_user, "read_notices"):
        page["notices"] = notices_for(current_user, limit=10)
        page["reminders"] = reminders(page["calendar"], page["done"]) if can(current_user, "province_staff") else []
    return render_template("campaigns/home.html", **page)


@bp.route("/campaign", methods=["GET", "POST"])
@require("hq")
def edit():
    """HQ edits the campaign's year, theme, deadlines, week and sectors."""
    campaign = campaign_or_404()
    form = CampaignForm(obj=campaign)
    if form.validate_on_submit():
        data = {k: v for k, v in form.data.items() if k not in ("submit", "csrf_token")}
        data["sectors"] = "\n".join(s.strip() for s in data["sectors"].splitlines() if s.strip())
        if apply_rule(
            lambda: services.update_campaign(campaign, actor=current_user, now=clock.now(), ip=client_ip(), **data),
            done=_("The campaign was saved."),
            refused=lambda e: getattr(form, e.params.get("field", "week_end")).errors.append(str(e)),
        ):
            return redirect(url_for("campaigns.edit"))
    return render_template("campaigns/edit.html", form=form, campaign=campaign)
