"""The guest list for province staff and the event's organisers (never HQ: HQ works with
figures, not with guests' personal data)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from experience.core import clock, jobs, uploads, xlsx
from experience.core.errors import RuleError
from experience.core.permissions import client_ip, load
from experience.core.phone import mask_phone
from experience.core.qr import qr_png
from experience.core.web import apply_rule, beijing, confirm_page, confirmed, download, public_url, writes
from experience.events.models import Event
from experience.extensions import db
from experience.guests import bp, printouts, services
from experience.guests.forms import GuestForm, ImportForm
from experience.guests.importer import template_xlsx
from experience.guests.models import LEVEL_LABELS, Guest


def _event(event_id: int) -> Event:
    return load(Event, event_id, "edit_event")


def _guest(guest_id: int) -> Guest:
    guest = db.session.get(Guest, guest_id)
    if guest is None:
        abort(404)
    load(Event, guest.event_id, "edit_event")
    return guest


def invitation_url(guest: Guest) -> str:
    return public_url("checkin.guest", code=guest.code)


def _show_refusal(form: GuestForm):
    """Put a duplicate where it is: a known mobile at the phone, a known person at the name."""
    return lambda e: (form.phone if e.code == "duplicate_phone" else form.name).errors.append(str(e))


@bp.route("/events/<int:event_id>/guests", methods=["GET", "POST"])
def index(event_id: int):
    """The event's guest list, with the form to add one."""
    event = _event(event_id)
    form = GuestForm()
    if form.validate_on_submit() and apply_rule(
        lambda: services.add_guest(event, actor=current_user, now=clock.now(), ip=client_ip(), **form.values()),
        done=_("%(name)s was added to the list.", name=form.name.data),
        refused=_show_refusal(form),
    ):
        return redirect(url_for("guests.index", event_id=event.id))
    guests = db.session.scalars(
        sa.select(Guest).where(Guest.event_id == event.id).order_by(Guest.walk_in, Guest.category, Guest.id)
    ).all()
    return render_template("guests/index.html", event=event, guests=guests, form=form, counts=services.counts(event))


@bp.route("/guests/<int:guest_id>", methods=["GET", "POST"])
def edit(guest_id: int):
    """One guest: edit (the only page that shows the whole mobile), invitation and QR."""
    guest = _guest(guest_id)
    form = GuestForm(obj=guest)
    if request.method == "GET":
        form.category.data = guest.category.value
        form.salutation.data = guest.salutation.value if guest.salutation else ""
    if form.validate_on_submit() and apply_rule(
        lambda: services.update_guest(guest, actor=current_user, now=clock.now(), ip=client_ip(), **form.values()),
        done=_("The guest was saved."),
        refused=_show_refusal(form),
    ):
        return redirect(url_for("guests.edit", guest_id=guest.id))
    url = invitation_url(guest)
    event = guest.event
    text = _(
        "Dear %(name)s, you are invited to \u201c%(title)s\u201d at %(venue)s, %(time)s. "
        "Please open this link when you arrive to check in: %(url)s",
        name=guest.form_of_address,
        title=event.title,
        venue=event.venue_name,
        time=beijing(event.starts_at),
        url=url,
    )
    return render_template("guests/edit.html", guest=guest, event=event, form=form, url=url, invitation=text)


@bp.post("/guests/<int:guest_id>/revoke")
def revoke(guest_id: int):
    """Withdraw the guest's code and issue a new one (a lost or forwarded invitation);
    asked once more before it is done, since the printed card stops working."""
    guest = _guest(guest_id)
    if not confirmed():
        return confirm_page(
            _("Withdraw the invitation of %(name)s and issue a new one?", name=guest.name),
            explain=_(
                "The QR code and link sent or printed so far stop working at once; scanning them says the "
                "invitation was withdrawn. You then need to send or print the new invitation for %(name)s.",
                name=guest.name,
            ),
            button=_("Withdraw and issue a new one"),
            back=url_for("guests.edit", guest_id=guest.id),
            danger=True,
        )
    apply_rule(
        lambda: services.revoke_code(guest, actor=current_user, now=clock.now(), ip=client_ip()),
        done=_("The old invitation no longer works; a new one was issued."),
    )
    return redirect(url_for("guests.edit", guest_id=guest.id))


@bp.post("/guests/<int:guest_id>/delete")
def delete(guest_id: int):
    """Remove a guest who has not arrived."""
    guest = _guest(guest_id)
    guest_id, event_id = guest.id, guest.event_id
    if apply_rule(
        lambda: services.remove_guest(guest, actor=current_user, now=clock.now(), ip=client_ip()),
        done=_("The guest was removed from the list."),
    ):
        return redirect(url_for("guests.index", event_id=event_id))
    return redirect(url_for("guests.edit", guest_id=guest_id))


@bp.get("/guests/<int:guest_id>/qr.png")
def qr(guest_id: int):
    """The guest's personal QR code as a PNG to send or print."""

    guest = _guest(guest_id)
    return download(
        qr_png(invitation_url(guest)), f"invitation-{guest.id}.png", attachment=request.args.get("download") == "1"
    )


@bp.get("/events/<int:event_id>/guests/template.xlsx")
def template(event_id: int):
    """The import template with Chinese headers."""

    _event(event_id)
    return download(template_xlsx(), "邀请名单模板.xlsx")


@bp.route("/events/<int:event_id>/guests/import", methods=["GET", "POST"])
def import_(event_id: int):
    """Upload a list and see a preview; nothing is imported until confirmed."""

    event = _event(event_id)
    form = ImportForm()
    if form.validate_on_submit():
        data = form.file.data.read(services.IMPORT_LIMIT + 1)
        try:
            rows = services.preview_import(event, data, form.file.data.filename or "")
        except RuleError as e:
            # Not apply_rule: the preview writes nothing, so there is nothing to commit or roll back.
            form.file.errors.append(str(e))
        else:
            key = uploads.store_bytes(data, services.PREVIEW_PREFIX)
            return render_template(
                "guests/import_preview.html",
                event=event,
                rows=rows,
                ignored=getattr(rows, "ignored", []),
                key=services.preview_ticket(key, event, current_user),
                filename=uploads.clean_filename(form.file.data.filename or ""),
                good=sum(r.ok for r in rows),
                mask_phone=mask_phone,
                level_labels=LEVEL_LABELS,
            )
    return render_template("guests/import.html", event=event, form=form)


@bp.post("/events/<int:event_id>/guests/import/confirm")
def import_confirm(event_id: int):
    """Import the valid rows of the previewed file, all in one transaction."""

    event = _event(event_id)
    # the ticket names the stored file, this event and this person, and lasts a day
    key = services.preview_key(request.form.get("key", ""), event, current_user)
    try:
        data = uploads.read_bytes(key or "", services.PREVIEW_PREFIX)
    except FileNotFoundError:
        flash(_("The preview has expired. Please upload the file again."), "error")
        return redirect(url_for("guests.import_", event_id=event.id))
    imported = skipped = 0

    def run() -> None:
        nonlocal imported, skipped
        imported, skipped = services.import_file(
            event,
            data,
            request.form.get("filename", "list.xlsx"),
            actor=current_user,
            now=clock.now(),
            ip=client_ip(),
        )

    if not apply_rule(run):  # it passed the preview, so only a changed file is refused here
        return redirect(url_for("guests.import_", event_id=event.id))
    uploads.delete_upload(key)
    flash(
        _("%(count)s guests were imported; %(skipped)s rows were skipped.", count=imported, skipped=skipped), "success"
    )
    return redirect(url_for("guests.index", event_id=event.id))


@bp.get("/events/<int:event_id>/guests.xlsx")
@writes
def export(event_id: int):
    """The guest list as .xlsx, phones masked; for the province and the event's organisers."""
    event = _event(event_id)
    guests = db.session.scalars(sa.select(Guest).where(Guest.event_id == event.id).order_by(Guest.id)).all()
    header = [
        _("Name"),
        _("Category"),
        _("Level"),
        _("Organisation"),
        _("Title"),
        _("Mobile"),
        _("Note"),
        _("Walk-in"),
        _("Checked in at"),
    ]
    rows = [
        [
            g.name,
            str(g.category.label),
            str(g.level_label),
            g.organisation,
            g.title,
            mask_phone(g.phone),
            g.note,
            _("yes") if g.walk_in else "",
            beijing(g.checked_in_at),
        ]
        for g in guests
    ]
    data = xlsx.workbook([(_("Guests"), header, rows)])
    services.record_export(event, rows=len(rows), actor=current_user, now=clock.now(), ip=client_ip())
    db.session.commit()
    return download(data, f"guests-{event.id}.xlsx")


@bp.get("/events/<int:event_id>/invitations.pdf")
@writes
def invitations(event_id: int):
    """A4 invitation cards, six per page, each with the guest's QR code. Up to
    printouts.SYNC_LIMIT guests in this request; more as a background job with progress."""

    event = _event(event_id)
    if printouts.invited_count(event) <= printouts.SYNC_LIMIT:
        return download(printouts.invitations_pdf(event), f"invitations-{event.id}.pdf", attachment=False)
    job = jobs.start_once("invitations", owner=current_user, now=clock.now(), event_id=event.id)
    return redirect(jobs.page_url(job))
