"""The pre-screen on a work's page (the checklist and its look-alikes, for the secretariat)
and the campaign's list of works that look alike.

Importing this module (views.py does) also imports ``duplicates``, whose listener starts
the fingerprints of a work when it is submitted, and its background job.
"""

from __future__ import annotations

from flask import render_template

from experience.campaigns.views import campaign_or_404
from experience.core.permissions import require
from experience.screening import bp, duplicates, prescreen
from experience.works.models import Work, WorkState


@bp.app_template_global("prescreen_of")
def prescreen_of(work: Work) -> dict:
    """What the work page's pre-screen panel shows (its template includes the panel only
    for those who may manage screening)."""
    checks = prescreen.checklist(work)
    return {
        "checks": checks,
        "failed": sum(1 for c in checks if c.result is prescreen.Result.FAIL),
        "matches": duplicates.matches(work) if work.state is not WorkState.NOT_SUBMITTED else [],
        "fingerprinted": duplicates.fingerprinted(work),
    }


@bp.get("/screening/duplicates", endpoint="duplicates")
@require("manage_screening")
def duplicates_page():
    """Every pair of the campaign's submitted works that look alike, and what matched: a
    flag for a person to look at, never a refusal."""
    campaign = campaign_or_404()
    return render_template(
        "screening/prescreen_duplicates.html",
        campaign=campaign,
        pairs=duplicates.campaign_pairs(campaign.id),
        HitKind=duplicates.HitKind,
        distance=duplicates.IMAGE_DISTANCE,
    )
