"""The public works platform (网络平台): the list of the campaign's public works, a work's
page, and the files those pages show. No login; nothing before the 公示 starts (404)."""

from __future__ import annotations

from flask import abort, current_app, render_template, request, url_for

from experience.campaigns.services import current_campaign
from experience.core import clock, files
from experience.core.web import public, public_url
from experience.platform import bp, services
from experience.screening import publication
from experience.works import media
from experience.works.models import WorkCategory

#: the longest description a shared link's card carries (WeChat shows about two lines)
DESCRIPTION_MAX = 120


def _description(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= DESCRIPTION_MAX else text[: DESCRIPTION_MAX - 1] + "…"


@bp.get("/showcase")
@public
def index():
    """The campaign's selected works by category, with search and pages."""
    campaign = current_campaign()
    if campaign is None:
        abort(404)
    value = request.args.get("category", "")
    category = WorkCategory(value) if value in {c.value for c in WorkCategory} else None
    page_no = min(max(1, request.args.get("page", 1, type=int)), 10_000)
    page = services.public_works(campaign, clock.now(), category=category, q=request.args.get("q"), page=page_no)
    if page is None:
        abort(404)  # the 公示 has not started: the selection is not public yet
    # the card's picture: the first thumbnail (a list page never links a screen-size preview)
    cover = next((w.cover for w in page.works if w.cover), None)
    args = {k: v for k, v in (("category", category.value if category else ""), ("q", page.query)) if v}
    return render_template(
        "platform/index.html",
        campaign=campaign,
        page=page,
        categories=services.CATEGORY_ORDER,
        args=args,
        og_url=public_url("platform.index", **args, **({"page": page.page} if page.page > 1 else {})),
        og_image=_absolute(cover.url) if cover else None,
    )


@bp.get("/showcase/<int:work_id>")
@public
def work(work_id: int):
    """A public work: its title, unit, summary, photos with captions, video or text, the licence."""
    now = clock.now()
    shown = services.public_work(work_id, now)
    if shown is None:
        abort(404)
    campaign = current_campaign()
    pub = publication.publication_of(campaign) if campaign and campaign.id == shown.campaign_id else None
    objection = url_for("screening.objection_form", work_id=shown.id) if publication.in_period(pub, now) else None
    image = shown.share_image
    return render_template(
        "platform/work.html",
        work=shown,
        publication=pub,
        objection_url=objection,
        description=_description(shown.summary),
        # the caption's parts under the picture (its description is shown above them)
        caption_fields=[f for f in media.CAPTION_FIELDS if f.name != "description"],
        og_url=public_url("platform.work", work_id=shown.id),
        og_image=_absolute(image.url) if image else None,
    )


@bp.get("/showcase/<int:work_id>/files/<int:file_id>")
@public
def file(work_id: int, file_id: int):
    """A file a public work shows (a preview, a thumbnail, a poster, the playable video),
    with Range so that the video seeks; anything else is 404."""
    sent = services.public_file(work_id, file_id, clock.now())
    if sent is None:
        abort(404)
    key, content_type = sent
    return files.serve(key, mimetype=content_type or "application/octet-stream")


def _absolute(path: str) -> str:
    """A path of this site as an absolute link for a shared card (PUBLIC_BASE_URL)."""
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path
