"""The guest list for province staff and the event's organisers (never HQ: HQ works with
figures, not with guests' personal data)."""

from __future__ import annotations

import io

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from experience.core import audit, clock, uploads, xlsx
from experience.core.errors import RuleError
from experience.core.pdf import render_pdf
from experience.core.permissions import client_ip, load
from experience.core.phone import mask_phone
from experience.core.qr import qr_png, qr_svg
from experience.core.web import beijing, public_url, writes
from experience.events.models import Event
from experience.extensions import db
from experience.guests import bp, services
from experience.guests.forms import GuestForm, ImportForm
from experience.guests.importer import mark_duplicates, parse_guest_file, template_xlsx
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


@bp.route("/events/<int:event_id>/guests", methods=["GET", "POST"])
def index(event_id: int):
    """The event's guest list, with the form to add one."""
    event = _event(event_id)
    form = GuestForm()
    if form.validate_on_submit():
        try:
            services.add_guest(event, actor=current_user, now=clock.now(), ip=client_ip(), **form.values())
        except RuleError as e:
            db.session.rollback()
            (form.phone if e.code == "duplicate_phone" else form.name).errors.append(str(e))
        else:
            db.session.commit()
            flash(_("%(name)s was added to the list.", name=form.name.data), "success")
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
    if form.validate_on_submit():
        try:
            services.update_guest(guest, actor=current_user, now=clock.now(), ip=client_ip(), **form.values())
        except RuleError as e:
            db.session.rollback()
            (form.phone if e.code == "duplicate_phone" else form.name).errors.append(str(e))
        else:
            db.session.commit()
            flash(_("The guest was saved."), "success")
            return redirect(url_for("guests.edit", guest_id=guest.id))
    url = invitation_url(guest)
    event = guest.event
    text = _(
        "Dear %(name)s, you are invited to \u201c%(title)s\u201d at %(venue)s, %(time)s. "
        "Please open this link when you arrive to check in: %(url)s",
        name=guest.name,
        title=event.title,
        venue=event.venue_name,
        time=beijing(event.starts_at),
        url=url,
    )
    return render_template("guests/edit.html", guest=guest, event=event, form=form, url=url, invitation=text)


@bp.post("/guests/<int:guest_id>/revoke")
def revoke(guest_id: int):
    """Withdraw the guest's code and issue a new one (a lost or forwarded invitation)."""
    guest = _guest(guest_id)
    services.revoke_code(guest, actor=current_user, now=clock.now(), ip=client_ip())
    db.session.commit()
    flash(_("The old invitation no longer works; a new one was issued."), "success")
    return redirect(url_for("guests.edit", guest_id=guest.id))


@bp.post("/guests/<int:guest_id>/delete")
def delete(guest_id: int):
    """Remove a guest who has not arrived."""
    guest = _guest(guest_id)
    event_id = guest.event_id
    try:
        services.remove_guest(guest, actor=current_user, now=clock.now(), ip=client_ip())
    except RuleError as e:
        flash(str(e), "error")
        return redirect(url_for("guests.edit", guest_id=guest.id))
    db.session.commit()
    flash(_("The guest was removed from the list."), "success")
    return redirect(url_for("guests.index", event_id=event_id))


@bp.get("/guests/<int:guest_id>/qr.png")
def qr(guest_id: int):
    """The guest's personal QR code as a PNG to send or print."""

    guest = _guest(guest_id)
    return send_file(
        io.BytesIO(qr_png(invitation_url(guest))),
        mimetype="image/png",
        as_attachment=request.args.get("download") == "1",
        download_name=f"invitation-{guest.id}.png",
    )


@bp.get("/events/<int:event_id>/guests/template.xlsx")
def template(event_id: int):
    """The import template with Chinese headers."""

    _event(event_id)
    return send_file(
        io.BytesIO(template_xlsx()),
        as_attachment=True,
        download_name="邀请名单模板.xlsx",
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@bp.route("/events/<int:event_id>/guests/import", methods=["GET", "POST"])
def import_(event_id: int):
    """Upload a list and see a preview; nothing is imported until confirmed."""

    event = _event(event_id)
    form = ImportForm()
    if form.validate_on_submit():
        data = form.file.data.read(5 * 1024 * 1024 + 1)
        try:
            if len(data) > 5 * 1024 * 1024:
                raise RuleError("too_large", _("The file is larger than %(limit)s MB.", limit=5))
            rows = parse_guest_file(data, form.file.data.filename or "")
        except RuleError as e:
            form.file.errors.append(str(e))
        else:
            mark_duplicates(rows, services.existing_keys(event))
            key = uploads.store_bytes(data, "import")
            return render_template(
                "guests/import_preview.html",
                event=event,
                rows=rows,
                key=key,
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
    key = request.form.get("key", "")
    try:
        data = uploads.read_bytes(key, "import")
    except FileNotFoundError:
        flash(_("The preview has expired. Please upload the file again."), "error")
        return redirect(url_for("guests.import_", event_id=event.id))
    try:
        rows = parse_guest_file(data, request.form.get("filename", "list.xlsx"))
    except RuleError as e:  # it passed the preview, so only a changed file lands here
        flash(str(e), "error")
        return redirect(url_for("guests.import_", event_id=event.id))
    count = services.import_rows(event, rows, actor=current_user, now=clock.now(), ip=client_ip())
    db.session.commit()
    uploads.delete_upload(key)
    flash(
        _("%(count)s guests were imported; %(skipped)s rows were skipped.", count=count, skipped=len(rows) - count),
        "success",
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
    audit.record(
        "export.xlsx",
        now=clock.now(),
        actor=current_user,
        target=event,
        ip=client_ip(),
        export="guest_list",
        rows=len(rows),
    )
    db.session.commit()
    return send_file(
        io.BytesIO(data),
        as_attachment=True,
        download_name=f"guests-{event.id}.xlsx",
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


@bp.get("/events/<int:event_id>/invitations.pdf")
def invitations(event_id: int):
    """A4 invitation cards, six per page, each with the guest's QR code."""

    event = _event(event_id)
    guests = db.session.scalars(
        sa.select(Guest).where(Guest.event_id == event.id, Guest.walk_in.is_(False)).order_by(Guest.category, Guest.id)
    ).all()
    html = render_template(
        "guests/pdf/invitations.html", event=event, cards=[(g, qr_svg(invitation_url(g))) for g in guests]
    )
    return send_file(
        io.BytesIO(render_pdf(html, base_url=request.url_root)),
        mimetype="application/pdf",
        download_name=f"invitations-{event.id}.pdf",
    )
