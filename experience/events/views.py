from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from experience.campaigns.signals import home_opened
from experience.campaigns.views import campaign_or_404
from experience.core import clock, files, uploads
from experience.core.permissions import can, client_ip, load, require
from experience.core.web import apply_rule, confirm_page, confirmed, writes
from experience.events import bp, services
from experience.events.forms import CancelForm, EventForm, OrganizersForm
from experience.events.models import Event, GuestCategory
from experience.events.permissions import visible_events
from experience.extensions import db


def _form_data(form: EventForm) -> dict:
    data = {k: getattr(form, k).data for k in services.FIELDS if k not in ("expected_guests",)}
    data["starts_at"] = clock.from_beijing(form.starts_at.data)
    data["ends_at"] = clock.from_beijing(form.ends_at.data)
    data["expected_guests"] = form.expected_guests()
    data["highlights"] = (data["highlights"] or "").strip()
    data["agenda"] = (data["agenda"] or "").strip()
    return data


def _attachment_of(form: EventForm):
    """The uploaded file, or None when none was chosen."""
    file = form.attachment.data
    return file if file and getattr(file, "filename", "") else None


def _show_refusal(form: EventForm):
    """Put a refusal on its field: the upload's own codes on the attachment, the event's on the end."""
    return lambda e: (form.attachment if e.code in uploads.MESSAGES else form.ends_at).errors.append(str(e))


def _warn_outside_week(campaign, data) -> None:
    if services.outside_week(campaign, data["starts_at"], data["ends_at"]):
        flash(
            _(
                "Note: this event is not within the experience week (%(start)s to %(end)s).",
                start=campaign.week_start.isoformat(),
                end=campaign.week_end.isoformat(),
            ),
            "warning",
        )


@home_opened.connect
def events_on_home(campaign, *, user, now, page) -> None:
    """A province's (or an organiser's) events on their start page."""
    if user.province_code:
        page["events"] = db.session.scalars(
            visible_events(user, sa.select(Event))
            .where(Event.campaign_id == campaign.id)
            .order_by(Event.starts_at, Event.id)
        ).all()


@bp.get("/events")
@require("list_events")
def index():
    """The events the user may see, newest campaign first."""
    campaign = campaign_or_404()
    stmt = visible_events(current_user, sa.select(Event)).where(Event.campaign_id == campaign.id)
    province = request.args.get("province", "")
    if province and can(current_user, "hq"):
        stmt = stmt.where(Event.province_code == province)
    # the id last: events starting together keep one order (PostgreSQL's ties change)
    events = db.session.scalars(stmt.order_by(Event.province_code, Event.starts_at, Event.id)).all()
    return render_template("events/index.html", events=events, campaign=campaign)


@bp.route("/events/new", methods=["GET", "POST"])
@require("create_event")
def new():
    """Province staff and organisers create an event of their province."""
    campaign = campaign_or_404()
    form = EventForm(campaign=campaign, default_unit=current_user.organisation)
    if form.validate_on_submit():
        data = _form_data(form)
        event = None

        def create() -> None:
            # the rules first, then the file: a refused event leaves no stored upload behind
            nonlocal event
            now = clock.now()
            event = services.create_event(
                campaign, actor=current_user, now=now, ip=client_ip(), province_code=current_user.province_code, **data
            )
            if file := _attachment_of(form):
                stored = uploads.store_upload(file, "attachment")
                services.set_attachment(event, *stored, actor=current_user, now=now, ip=client_ip())

        if apply_rule(create, done=_("The event was created."), refused=_show_refusal(form)):
            _warn_outside_week(campaign, data)
            return redirect(url_for("events.view", event_id=event.id))
    return render_template("events/form.html", form=form, event=None, campaign=campaign)


@bp.get("/events/<int:event_id>")
def view(event_id: int):
    """One event, with its state, plan and HQ's selection."""
    event = load(Event, event_id, "view_event")
    organizers_form = None
    if can(current_user, "assign_organizers", event):
        organizers_form = OrganizersForm(event=event, organizers=[u.id for u in event.organizers])
    return render_template(
        "events/view.html",
        event=event,
        categories=list(GuestCategory),
        can_edit=can(current_user, "edit_event", event),
        outside_week=services.outside_week(event.campaign, event.starts_at, event.ends_at),
        phase=event.phase(clock.now()),
        cancel_form=CancelForm(),
        organizers_form=organizers_form,
    )


@bp.route("/events/<int:event_id>/edit", methods=["GET", "POST"])
def edit(event_id: int):
    """Edit an event; after the plan went to HQ the change is flagged to HQ."""
    event = load(Event, event_id, "edit_event")
    if event.is_cancelled:
        flash(_("This event was cancelled and can no longer be changed."), "warning")
        return redirect(url_for("events.view", event_id=event.id))
    form = EventForm(obj=event, campaign=event.campaign, default_unit=event.created_by.organisation)
    if request.method == "GET":
        form.starts_at.data = clock.to_beijing(event.starts_at).replace(tzinfo=None)
        form.ends_at.data = clock.to_beijing(event.ends_at).replace(tzinfo=None)
        for c in GuestCategory:
            getattr(form, f"guests_{c.value}").data = int(event.expected_guests.get(c.value, 0) or 0)
    if form.validate_on_submit():
        data = _form_data(form)
        now = clock.now()
        changed, stored, old_key = {}, None, None

        def save() -> None:
            # the rules first, then the file: a refused edit leaves no stored upload behind
            nonlocal changed, stored, old_key
            changed = services.update_event(event, actor=current_user, now=now, ip=client_ip(), **data)
            if file := _attachment_of(form):
                stored = uploads.store_upload(file, "attachment")
                old_key = services.set_attachment(event, *stored, actor=current_user, now=now, ip=client_ip())

        if apply_rule(save, refused=_show_refusal(form)):
            uploads.delete_upload(old_key)
            flash(_("The event was saved.") if changed or stored else _("Nothing was changed."), "success")
            if event.changed_after_confirm_at == now:
                flash(_("The plan is with HQ: HQ has been told about this change."), "info")
            _warn_outside_week(event.campaign, data)
            return redirect(url_for("events.view", event_id=event.id))
    return render_template("events/form.html", form=form, event=event, campaign=event.campaign)


@bp.post("/events/<int:event_id>/cancel")
def cancel(event_id: int):
    """Cancel an event, keeping it with the reason; asked once more before it is done."""
    event = load(Event, event_id, "edit_event")
    form = CancelForm()
    if not form.validate_on_submit():
        flash(_("Please give the reason for cancelling."), "error")
        return redirect(url_for("events.view", event_id=event.id))
    if event.is_cancelled:
        flash(_("This event was cancelled and can no longer be changed."), "warning")
        return redirect(url_for("events.view", event_id=event.id))
    if not confirmed():
        return confirm_page(
            _("Cancel “%(title)s”?", title=event.title),
            explain=_("Reason for cancelling: %(reason)s", reason=form.reason.data)
            + "\n\n"
            + _(
                "The event leaves the plan (HQ is told if the plan is already with HQ), its walk-in poster stops "
                "working, and it can no longer be edited. This cannot be undone."
            ),
            button=_("Cancel the event"),
            back=url_for("events.view", event_id=event.id),
            danger=True,
        )
    apply_rule(
        lambda: services.cancel_event(event, form.reason.data, actor=current_user, now=clock.now(), ip=client_ip()),
        done=_("The event was cancelled."),
    )
    return redirect(url_for("events.view", event_id=event.id))


@bp.post("/events/<int:event_id>/organizers")
def organizers(event_id: int):
    """Province staff choose which organisers manage the event."""
    event = load(Event, event_id, "edit_event")
    if not can(current_user, "assign_organizers", event):
        abort(403)
    form = OrganizersForm(event=event)
    if form.validate_on_submit():
        apply_rule(
            lambda: services.assign_organizers(
                event, form.organizers.data, actor=current_user, now=clock.now(), ip=client_ip()
            ),
            done=_("The organisers were saved."),
        )
    else:
        flash(_("Please choose organisers from the list."), "error")
    return redirect(url_for("events.view", event_id=event.id))


@bp.get("/events/<int:event_id>/attachment")
@writes
def attachment(event_id: int):
    """Download the event's attachment (same access as the event)."""
    event = load(Event, event_id, "view_event")
    if not event.attachment_key:
        abort(404)
    services.record_attachment_download(event, actor=current_user, now=clock.now(), ip=client_ip())
    db.session.commit()
    return files.serve(
        event.attachment_key, mimetype=uploads.mimetype_of(event.attachment_key), download_name=event.attachment_name
    )
