"""The registration form of a work: its PDF, the sealed scan's upload, and the panel on the
work's page (templates/works/_regform.html)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from experience.core import clock, files
from experience.core.errors import RuleError
from experience.core.pdf import render_pdf
from experience.core.permissions import can, client_ip, load
from experience.core.web import apply_rule, download, read_phase, writes
from experience.extensions import db
from experience.works import bp, regform, services
from experience.works.models import Work, WorkFile

_PANEL = "regform"


def _back(work_id: int):
    return redirect(url_for("works.view", work_id=work_id, _anchor=_PANEL))


@bp.get("/works/<int:work_id>/form.pdf")
@writes
def form_pdf(work_id: int):
    """The registration form (附件2) with the work's number and QR code, to print and seal.
    The unit's first print gives the number; the secretariat and the unit's province read
    a form once it has one."""
    work = load(Work, work_id, "view_work")
    refusal = regform.form_refusal(work)
    if refusal is not None:
        db.session.rollback()
        flash(str(refusal), "error")
        return _back(work.id)
    if not work.number:
        if not can(current_user, "edit_work", work):
            abort(404)  # no form exists until the unit prints it
        regform.ensure_number(work, actor=current_user, now=clock.now())
    # the write is done: the PDF is laid out without holding SQLite's write lock
    db.session.commit()
    with read_phase():
        work = db.session.get(Work, work_id)
        html = regform.form_html(work, full_contact=can(current_user, "see_work_contact", work))
        number = work.number
    response = download(render_pdf(html, base_url=request.url_root), f"登记表-{number}.pdf", attachment=False)
    response.headers["Cache-Control"] = "no-store"  # it changes with the work, and carries a phone number
    return response


@bp.post("/works/<int:work_id>/form-scan")
def form_scan(work_id: int):
    """The unit uploads the scan of its sealed form (PDF or JPG). The file is judged and its
    QR read between two short transactions, so no write lock is held while that runs."""
    work = load(Work, work_id, "edit_work")
    refusal = regform.upload_refusal(work, clock.now())
    db.session.rollback()  # SQLite's write lock is not held while the scan is stored and read
    if refusal is not None:
        flash(str(refusal), "error")
        return _back(work_id)
    try:
        stored, codes = regform.receive_scan(request.files.get("scan"))
    except RuleError as e:
        flash(str(e), "error")
        return _back(work_id)
    work = db.session.get(Work, work_id)
    if work is None:  # deleted meanwhile
        services.discard(stored)
        abort(404)
    scans: list[WorkFile] = []
    if apply_rule(
        lambda: scans.append(
            regform.attach_form_scan(work, stored, codes, actor=current_user, now=clock.now(), ip=client_ip())
        )
    ):
        if scans[0].form_read:
            flash(
                _("The sealed form was uploaded and its QR code read: it belongs to this version of the work."),
                "success",
            )
        else:
            flash(
                _(
                    "The sealed form was uploaded, but its QR code could not be read: the works secretariat will "
                    "check it by eye. A sharper scan (200 to 300 dpi, flat, the whole page) avoids that."
                ),
                "warning",
            )
    return _back(work_id)


# -- The panel on the work's page ---------------------------------------------------------------


@dataclass(frozen=True)
class Panel:
    """What templates/works/_regform.html shows."""

    #: why the form cannot be printed now, or None
    not_printable: str | None
    #: the reader may open the PDF (the unit: once printable; others: once numbered too)
    may_download: bool
    scan: WorkFile | None
    scan_url: str | None
    #: regform.ScanState, or None without a scan
    scan_state: str | None
    #: the unit may upload a scan now
    may_upload: bool
    #: why the unit cannot upload now (shown to the unit only), or None
    upload_refusal: str | None
    own: bool


@bp.app_template_global("regform_panel")
def regform_panel(work: Work) -> Panel:
    own = can(current_user, "edit_work", work)
    not_printable = regform.form_refusal(work)
    scan = work.form_scan
    upload_refusal = regform.upload_refusal(work, clock.now()) if own else None
    return Panel(
        not_printable=str(not_printable) if not_printable else None,
        may_download=not_printable is None and (own or bool(work.number)),
        scan=scan,
        scan_url=(
            url_for("works.file", file_id=scan.id, v=files.version(scan.storage_key))
            if scan is not None and scan.storage_key and files.may_read_file(current_user, "work_file", scan)
            else None
        ),
        scan_state=regform.scan_state(work),
        # the form is printed in a new tab: the upload is offered from the start, and a scan
        # sent before the first print is refused with its reason (scan_needs_number)
        may_upload=own and (upload_refusal is None or upload_refusal.code == "scan_needs_number"),
        upload_refusal=(
            str(upload_refusal)
            if upload_refusal
            and not_printable is None
            and upload_refusal.code not in ("scan_needs_number", "wrong_state")  # submitted: nothing to say
            else None
        ),
        own=own,
    )
