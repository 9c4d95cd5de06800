from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from experience.accounts.models import Province
from experience.campaigns.signals import home_opened
from experience.campaigns.views import campaign_or_404
from experience.core import audit, clock, files, uploads, xlsx
from experience.core.errors import RuleError
from experience.core.permissions import can, client_ip, load, require
from experience.core.web import apply_rule, beijing, confirm_page, confirmed, download, writes
from experience.events.models import Event
from experience.extensions import db
from experience.plans import bp, services
from experience.plans.forms import ConfirmForm, ExtensionForm, LaunchForm, PlanForm, ReturnForm
from experience.plans.models import Plan, PlanState


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
        rows = services.national_table(campaign, now=now)
        page["counts"] = {
            s: sum(1 for r in rows if r.state.value == s)
            for s in ("not_submitted", "submitted", "returned", "confirmed")
        }
        page["counts"]["overdue"] = sum(1 for r in rows if r.overdue)


def _own_plan() -> Plan:
    if not can(current_user, "province_staff"):
        abort(403)
    return services.plan_for(campaign_or_404(), current_user.province_code)


@bp.route("/plan", methods=["GET", "POST"])
@writes
def edit():
    """The province's plan: its texts, the sealed document, its events. 保存 saves them;
    保存并报送总局 saves them too (the document is stored then, as a file cannot wait in a
    confirmation page), then asks whether to send what was saved, a step of its own."""
    plan = _own_plan()
    form = PlanForm(obj=plan)
    if form.validate_on_submit():
        if not plan.editable:  # asked before the document is stored
            flash(str(services.MESSAGES["not_editable"]), "error")
            return redirect(url_for("plans.edit"))
        if form.send.data and confirmed():
            _send(plan)
            return redirect(url_for("plans.edit"))
        stored = _store_document(form)
        if not form.document.errors:
            if _save(plan, form, stored, quiet=form.send.data) and form.send.data:
                return _ask_to_send(plan)
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


def _save(plan: Plan, form: PlanForm, stored: tuple[str, str] | None, *, quiet: bool = False) -> bool:
    """Save the texts and the document: the replaced file is deleted once committed, the
    new one if the save is refused. ``quiet`` when the next page says it was saved."""
    now, ip = clock.now(), client_ip()
    replaced = []

    def save():
        services.save_plan(
            plan, actor=current_user, now=now, ip=ip, **{f: getattr(form, f).data or "" for f in services.TEXT_FIELDS}
        )
        if stored:
            replaced.append(services.set_document(plan, *stored, actor=current_user, now=now, ip=ip))

    if not apply_rule(save, done=None if quiet else _("The plan was saved.")):
        uploads.delete_upload(stored[0] if stored else None)
        return False
    uploads.delete_upload(replaced[0] if replaced else None)
    return True


def _ask_to_send(plan: Plan):
    """The saved plan, if it could be sent now, with the question; else why not."""
    now = clock.now()
    try:
        services.check_ready(plan, now=now)
    except RuleError as e:
        db.session.rollback()
        flash(_("The plan was saved, but not submitted:") + " " + str(e), "error")
        return redirect(url_for("plans.edit"))
    deadline = services.deadline_for(plan.campaign, "plan", province_code=plan.province_code)
    explain = [
        _(
            "The texts and the document are saved as a draft. %(events)s events are in the plan.",
            events=len(services.plan_events(plan)),
        ),
        _(
            "Once submitted, the plan is with HQ: its texts can change again only if HQ returns it. "
            "Events can still be changed; HQ is told of each change."
        ),
    ]
    if not plan.first_submitted_at and deadline.extended and now > clock.end_of_day(deadline.due):
        explain.append(
            _("The deadline of the notice has passed: within HQ's extension the plan is accepted, and marked as late.")
        )
    return confirm_page(
        _("Submit the plan to HQ?"),
        explain="\n".join(explain),
        button=_("Submit to HQ"),
        back=url_for("plans.edit"),
        back_label=_("Not now: keep the saved draft"),
        danger=True,  # the button that acts stands out from the way back
    )


def _send(plan: Plan) -> None:
    """The confirmation's step: send the plan as saved."""
    apply_rule(
        lambda: services.submit_plan(plan, actor=current_user, now=clock.now(), ip=client_ip()),
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
    return files.serve(plan.document_key, mimetype="application/pdf", download_name=plan.document_name)


@bp.get("/hq/plans")
@require("hq")
def national():
    """HQ's national table of the 32 provincial units."""
    campaign = campaign_or_404()
    provinces = db.session.scalars(sa.select(Province).order_by(Province.code)).all()
    form = ExtensionForm()
    form.province.choices = [SelectChoice(p.code, p.name) for p in provinces]
    return render_template(
        "plans/national.html",
        rows=services.national_table(campaign, now=clock.now()),
        campaign=campaign,
        extension_form=form,
    )


@bp.get("/hq/plans.xlsx")
@require("hq")
@writes
def national_xlsx():
    """The national table as a spreadsheet."""
    campaign = campaign_or_404()
    rows = services.national_table(campaign, now=clock.now())
    header = [
        _("Code"),
        _("Province"),
        _("Plan state"),
        _("Events in the plan"),
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
    if row.overdue:
        return _("overdue, not submitted")
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
    launch_forms = {
        e.id: LaunchForm(prefix=f"e{e.id}", selected="yes" if e.launch_selected else "no", note=e.launch_note)
        for e in events
    }
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
    """Confirm the plan, once HQ has said yes to the question."""
    plan = load(Plan, plan_id, "view_plan")
    back = url_for("plans.review", plan_id=plan_id)
    if not ConfirmForm().validate_on_submit():
        return redirect(back)
    if plan.state is not PlanState.SUBMITTED:
        flash(str(plan.wrong_state()), "error")
        return redirect(back)
    if not confirmed():
        return confirm_page(
            _("Confirm the plan of %(province)s?", province=plan.province.name),
            explain=_(
                "The province is told that HQ accepts its plan of %(events)s events. Its texts then stay as they "
                "are; events can still change, and HQ is told of each change. Launch-ceremony projects are chosen "
                "separately, event by event.",
                events=len(services.plan_events(plan)),
            ),
            button=_("Confirm the plan"),
            back=back,
            danger=True,
        )
    apply_rule(
        lambda: services.confirm_plan(plan, actor=current_user, now=clock.now(), ip=client_ip()),
        done=_("The plan was confirmed."),
    )
    return redirect(back)


@bp.post("/hq/events/<int:event_id>/launch")
@require("hq")
def launch(event_id: int):
    """Select an event as a launch-ceremony project, or not."""
    event = load(Event, event_id, "view_event")
    form = LaunchForm(prefix=f"e{event.id}")
    plan = services.plan_for(event.campaign, event.province_code, create=False)
    if form.validate_on_submit():
        selected = form.selected.data == "yes"
        apply_rule(
            lambda: services.select_launch(
                event, selected, form.note.data or "", actor=current_user, now=clock.now(), ip=client_ip()
            ),
            done=_("%(title)s is a launch-ceremony project.", title=event.title)
            if selected
            else _("%(title)s is not a launch-ceremony project.", title=event.title),
        )
    else:
        for errors in form.errors.values():
            for e in errors:
                flash(str(e), "error")
    if plan is None:
        return redirect(url_for("events.view", event_id=event.id))
    return redirect(url_for("plans.review", plan_id=plan.id) + f"#event-{event.id}")
