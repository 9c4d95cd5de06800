from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from experience.accounts.models import Province
from experience.campaigns.signals import home_opened
from experience.campaigns.views import campaign_or_404
from experience.core import audit, clock, uploads, xlsx
from experience.core.errors import RuleError
from experience.core.permissions import can, client_ip, load, require
from experience.core.web import apply_rule, beijing, download, writes
from experience.events.models import Event
from experience.extensions import db
from experience.plans import bp, services
from experience.plans.forms import ConfirmForm, ExtensionForm, LaunchForm, PlanForm, ReturnForm
from experience.plans.models import Plan


@home_opened.connect
def plan_on_home(campaign, *, user, now, page) -> None:
    """The province's plan on its start page, and HQ's count of plans by state."""
    if can(user, "province_staff"):
        code = user.province_code
        plan = services.plan_for(campaign, code, create=False)
        deadline = services.effective_deadline(campaign, code, "plan")
        if deadline != campaign.plan_deadline:
            page["extensions"]["plan"] = deadline
        if plan and plan.first_submitted_at:
            page["done"].add("plan")
        page["plan"] = plan
    if can(user, "hq"):
        rows = services.national_table(campaign)
        page["counts"] = {
            s: sum(1 for r in rows if r.state.value == s)
            for s in ("not_submitted", "submitted", "returned", "confirmed")
        }


def _own_plan() -> Plan:
    if not can(current_user, "province_staff"):
        abort(403)
    return services.plan_for(campaign_or_404(), current_user.province_code)


@bp.route("/plan", methods=["GET", "POST"])
@writes
def edit():
    """The province's plan: its texts, the sealed document, its events; saved, or saved
    and sent to HQ with one button, so that nothing typed is lost on the way."""
    plan = _own_plan()
    form = PlanForm(obj=plan)
    if form.validate_on_submit():
        if not plan.editable:  # asked before the document is stored
            flash(str(services.MESSAGES["not_editable"]), "error")
            return redirect(url_for("plans.edit"))
        stored = _store_document(form)
        if not form.document.errors:
            _save_and_send(plan, form, stored)
            return redirect(url_for("plans.edit"))
    else:
        db.session.commit()  # the plan row created on first visit
    deadline = services.deadline_for(plan.campaign, "plan", province_code=plan.province_code)
    return render_template(
        "plans/edit.html",
        plan=plan,
        form=form,
        events=services.plan_events(plan),
        deadline=deadline.day,
        deadline_passed=deadline.passed(clock.now()),
    )


def _store_document(form: PlanForm) -> tuple[str, str] | None:
    """The uploaded document, checked and stored; its refusal goes under the field."""
    file = form.document.data
    if not (file and getattr(file, "filename", "")):
        return None
    try:
        return uploads.store_upload(file, "plan_document")
    except RuleError as e:
        form.document.errors.append(str(e))
        return None


def _save_and_send(plan: Plan, form: PlanForm, stored: tuple[str, str] | None) -> None:
    """Save the texts and the document (the replaced file is deleted once committed, the
    new one if the save is refused), then submit if asked."""
    now, ip = clock.now(), client_ip()
    replaced = []

    def save():
        services.save_plan(
            plan, actor=current_user, now=now, ip=ip, **{f: getattr(form, f).data or "" for f in services.TEXT_FIELDS}
        )
        if stored:
            replaced.append(services.set_document(plan, *stored, actor=current_user, now=now, ip=ip))

    if not apply_rule(save, done=None if form.send.data else _("The plan was saved.")):
        uploads.delete_upload(stored[0] if stored else None)
        return
    uploads.delete_upload(replaced[0] if replaced else None)
    if form.send.data:
        apply_rule(
            lambda: services.submit_plan(plan, actor=current_user, now=now, ip=ip),
            done=_("The plan was submitted to HQ."),
            refused=lambda e: flash(_("The plan was saved, but not submitted:") + " " + str(e), "error"),
        )


@bp.get("/plans/<int:plan_id>/document")
@writes
def document(plan_id: int):
    """Download the sealed document: the province itself and HQ."""
    plan = load(Plan, plan_id, "view_plan")
    if not plan.document_key:
        abort(404)
    audit.record(
        "file.download", now=clock.now(), actor=current_user, target=plan, ip=client_ip(), file=plan.document_name
    )
    db.session.commit()
    return send_file(
        uploads.open_upload(plan.document_key),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=plan.document_name,
    )


@bp.get("/hq/plans")
@require("hq")
def national():
    """HQ's national table of the 32 provincial units."""
    campaign = campaign_or_404()
    provinces = db.session.scalars(sa.select(Province).order_by(Province.code)).all()
    form = ExtensionForm()
    form.province.choices = [SelectChoice(p.code, p.name) for p in provinces]
    return render_template(
        "plans/national.html", rows=services.national_table(campaign), campaign=campaign, extension_form=form
    )


@bp.get("/hq/plans.xlsx")
@require("hq")
@writes
def national_xlsx():
    """The national table as a spreadsheet."""
    campaign = campaign_or_404()
    rows = services.national_table(campaign)
    header = [
        _("Code"),
        _("Province"),
        _("Plan state"),
        _("Events"),
        _("Launch-ceremony projects"),
        _("First submitted"),
        _("Last submitted"),
        _("Late"),
        _("Extended to"),
        _("Confirmed"),
    ]
    body = [
        [
            r.province.code,
            r.province.name,
            str(r.state.label),
            r.events,
            r.launch,
            beijing(r.plan.first_submitted_at if r.plan else None),
            beijing(r.plan.submitted_at if r.plan else None),
            _lateness(r),
            r.extension.isoformat() if r.extension else "",
            beijing(r.plan.confirmed_at if r.plan else None),
        ]
        for r in rows
    ]
    data = xlsx.workbook([(_("Plans %(year)s", year=campaign.year), header, body)])
    audit.record(
        "export.xlsx", now=clock.now(), actor=current_user, target=campaign, ip=client_ip(), export="national_plans"
    )
    db.session.commit()
    return download(data, f"plans-{campaign.year}.xlsx")


def _lateness(row) -> str:
    if row.plan is None or row.plan.first_submitted_at is None:
        return ""
    if not row.plan.late:
        return _("no")
    return _("within the extension") if row.extension else _("yes")


@bp.post("/hq/extensions")
@require("hq")
def extension():
    """Grant one province a later deadline, recorded with its reason."""
    campaign = campaign_or_404()
    form = ExtensionForm()
    form.province.choices = [SelectChoice(p.code, p.name) for p in db.session.scalars(sa.select(Province))]
    if form.validate_on_submit():
        apply_rule(
            lambda: services.grant_extension(
                campaign,
                form.province.data,
                form.new_deadline.data,
                form.reason.data,
                actor=current_user,
                now=clock.now(),
                ip=client_ip(),
                kind=form.kind.data,
            ),
            done=_("The extension was granted."),
        )
    else:
        for errors in form.errors.values():
            for e in errors:
                flash(str(e), "error")
    return redirect(url_for("plans.national"))


@bp.get("/hq/plans/<int:plan_id>")
@require("hq")
def review(plan_id: int):
    """HQ reads one plan with its events and decides on it."""
    plan = load(Plan, plan_id, "view_plan")
    events = services.plan_events(plan)
    deadline = services.effective_deadline(plan.campaign, plan.province_code, "plan")
    launch_forms = {e.id: LaunchForm(prefix=f"e{e.id}", selected=e.launch_selected, note=e.launch_note) for e in events}
    return render_template(
        "plans/review.html",
        plan=plan,
        events=events,
        return_form=ReturnForm(),
        deadline=deadline,
        confirm_form=ConfirmForm(),
        launch_forms=launch_forms,
    )


@bp.post("/hq/plans/<int:plan_id>/return")
@require("hq")
def return_(plan_id: int):
    """Return the plan to its province with a comment."""
    plan = load(Plan, plan_id, "view_plan")
    form = ReturnForm()
    if not form.validate_on_submit():
        flash(_("Please say what the province should change."), "error")
    else:
        apply_rule(
            lambda: services.return_plan(plan, form.comment.data, actor=current_user, now=clock.now(), ip=client_ip()),
            done=_("The plan was returned to the province."),
        )
    return redirect(url_for("plans.review", plan_id=plan_id))


@bp.post("/hq/plans/<int:plan_id>/confirm")
@require("hq")
def confirm(plan_id: int):
    """Confirm the plan."""
    plan = load(Plan, plan_id, "view_plan")
    if ConfirmForm().validate_on_submit():
        apply_rule(
            lambda: services.confirm_plan(plan, actor=current_user, now=clock.now(), ip=client_ip()),
            done=_("The plan was confirmed."),
        )
    return redirect(url_for("plans.review", plan_id=plan_id))


@bp.post("/hq/events/<int:event_id>/launch")
@require("hq")
def launch(event_id: int):
    """Mark or unmark an event as a launch-ceremony project."""
    event = load(Event, event_id, "view_event")
    form = LaunchForm(prefix=f"e{event.id}")
    plan = services.plan_for(event.campaign, event.province_code, create=False)
    if form.validate_on_submit():
        apply_rule(
            lambda: services.select_launch(
                event, form.selected.data, form.note.data or "", actor=current_user, now=clock.now(), ip=client_ip()
            ),
            done=_("The selection was saved."),
        )
    if plan is None:
        return redirect(url_for("events.view", event_id=event.id))
    return redirect(url_for("plans.review", plan_id=plan.id) + f"#event-{event.id}")
