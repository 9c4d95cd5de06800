"""A unit's works: the list, a new work, its page with its files, the declarations; the
secretariat's and the provinces' reading; HQ's counts; a work's files, served with Range."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from experience.accounts.models import Province
from experience.campaigns.views import campaign_or_404
from experience.core import audit, clock, files, jobs
from experience.core.errors import RuleError
from experience.core.permissions import can, client_ip, deny, load, require
from experience.core.web import apply_rule, confirm_page, confirmed
from experience.extensions import db
from experience.units.models import Unit
from experience.works import bp, media, services, submission, texts
from experience.works import jobs as work_jobs
from experience.works.forms import (
    CaptionForm,
    DeclarationsForm,
    PhotoForm,
    SubmitWorkForm,
    TextFileForm,
    TextForm,
    UnitExtensionForm,
    VideoForm,
    WorkForm,
    WorkReturnForm,
)
from experience.works.models import CheckState, FileCheck, FileKind, Work, WorkCategory, WorkFile
from experience.works.permissions import visible_works

#: the unit's page, by default, after any change to a work
_WORK_PAGE = "works.view"


def _file_url(work_file: WorkFile | None) -> str | None:
    """The address of a stored file of a work, for ever the same bytes (``?v=``)."""
    if work_file is None or not work_file.storage_key or work_file.check_state is not FileCheck.PASSED:
        return None
    return url_for("works.file", file_id=work_file.id, v=files.version(work_file.storage_key))


def _request_limit_mb() -> int:
    return int(current_app.config.get("MAX_CONTENT_LENGTH") or 0) // media.MB


@bp.app_template_global("unit_works")
def unit_works(unit: Unit, campaign) -> list[Work]:
    """A unit's works of the campaign, for its start page (templates/units/home.html)."""
    if campaign is None or not can(current_user, "view_unit", unit):
        return []
    return services.works_of(sa.select(Work).where(Work.unit_id == unit.id), campaign)[0]


# -- Lists -----------------------------------------------------------------------------------


@bp.get("/works")
@require("list_works")
def index():
    """The works the reader may see: a unit its own, the secretariat all, a province's staff
    their province's (read-only)."""
    campaign = campaign_or_404()
    stmt = visible_works(current_user, sa.select(Work))
    category = request.args.get("category", "")
    if category in {c.value for c in WorkCategory}:
        stmt = stmt.where(Work.category == WorkCategory(category))
    page = min(max(1, request.args.get("page", 1, type=int)), 10_000)
    works, more = services.works_of(stmt, campaign, page=page)
    return render_template(
        "works/index.html",
        works=works,
        more=more,
        page=page,
        campaign=campaign,
        category=category,
        categories=list(WorkCategory),
    )


@bp.get("/hq/works")
@require("count_works")
def counts():
    """How many works each province's units have, by category: no titles, no units."""
    campaign = campaign_or_404()
    provinces = db.session.scalars(sa.select(Province).order_by(Province.code)).all()
    table = services.counts(campaign)
    totals = {c: sum(row.get(c, 0) for row in table.values()) for c in WorkCategory}
    return render_template(
        "works/counts.html",
        campaign=campaign,
        provinces=provinces,
        table=table,
        totals=totals,
        categories=list(WorkCategory),
    )


# -- A new work, its fields ------------------------------------------------------------------


@bp.route("/works/new", methods=["GET", "POST"])
@require("create_work")
def new():
    """A new work: the registration form's fields; its files come on its page."""
    campaign = campaign_or_404()
    unit = db.session.get(Unit, current_user.unit_id)
    form = WorkForm()
    if request.method == "GET":
        form.contact_name.data, form.contact_phone.data = unit.contact_name, unit.contact_mobile
    created: list[Work] = []
    if form.validate_on_submit() and apply_rule(
        lambda: created.append(
            services.create_work(unit, campaign, actor=current_user, now=clock.now(), ip=client_ip(), **_fields(form))
        ),
        refused=lambda e: _field_of(form, e).errors.append(str(e)),
    ):
        flash(_("The work was created. Now add its text or files."), "success")
        return redirect(url_for(_WORK_PAGE, work_id=created[0].id))
    return render_template("works/edit.html", form=form, work=None, campaign=campaign)


@bp.route("/works/<int:work_id>/edit", methods=["GET", "POST"])
def edit(work_id: int):
    """Change the registration form's fields of a work."""
    work = load(Work, work_id, "edit_work")
    form = WorkForm(obj=work)
    if request.method == "GET":
        form.category.data = work.category.value  # the radio buttons hold the enum's value
    if form.validate_on_submit() and apply_rule(
        lambda: services.update_work(work, actor=current_user, now=clock.now(), ip=client_ip(), **_fields(form)),
        done=_("The work was saved."),
        refused=lambda e: _field_of(form, e).errors.append(str(e)),
    ):
        return redirect(url_for(_WORK_PAGE, work_id=work.id))
    return render_template("works/edit.html", form=form, work=work, campaign=work.campaign)


def _fields(form: WorkForm) -> dict:
    return {name: getattr(form, name).data for name in services.FIELDS}


def _field_of(form: WorkForm, error: RuleError):
    """The field under which a refusal is shown (the title when it names none)."""
    return getattr(form, error.params.get("field") or "title", None) or form.title


# -- A work's page ---------------------------------------------------------------------------


@bp.get("/works/<int:work_id>")
def view(work_id: int):
    """A work with its files: the unit edits it here; the secretariat and its province read it."""
    work = load(Work, work_id, "view_work")
    return _page(work)


def _page(work: Work, **forms):
    """The work's page, with the forms a refused change left filled in (and their errors)."""
    editing = can(current_user, "edit_work", work) and submission.can_edit(work, clock.now())
    if editing:
        forms.setdefault("text_form", TextForm(formdata=None, body=work.body))
        forms.setdefault("text_file_form", TextFileForm(formdata=None))
        forms.setdefault("video_form", VideoForm(formdata=None))
    photos = services.photos(work) if work.category is WorkCategory.PHOTO else []
    return render_template(
        "works/view.html",
        work=work,
        editing=editing,
        photos=photos,
        video=services.video(work),
        copies=services.copy_progress(work),
        derived=work.derived,
        file_url=_file_url,
        file_message=services.file_message,
        declarations_current=services.declarations_current(work),
        count_chars=texts.count_chars,
        request_limit_mb=_request_limit_mb(),
        media=media,
        texts=texts,
        CheckState=CheckState,
        FileCheck=FileCheck,
        FileKind=FileKind,
        WorkCategory=WorkCategory,
        **forms,
    )


def _editable_work(work_id: int) -> Work:
    work = load(Work, work_id, "edit_work")
    refusal = submission.edit_refusal(work, clock.now())
    if refusal is not None:
        flash(str(refusal), "error")
        abort(redirect(url_for(_WORK_PAGE, work_id=work.id)))
    return work


def _checked(work: Work, change, *, done: str) -> bool:
    """Apply a change to the work's files, then hand its checks to the worker."""
    started: list[jobs.Job | None] = []

    def act():
        change()
        started.append(services.start_checks(work, actor=current_user, now=clock.now()))

    if not apply_rule(act, done=done):
        return False
    if started and started[0] is not None:
        work_jobs.enqueue(started[0])
    return True


# -- Text -----------------------------------------------------------------------------------


@bp.post("/works/<int:work_id>/text")
def text(work_id: int):
    """Save the typed text of a text work."""
    work = _editable_work(work_id)
    form = TextForm()
    if not form.validate_on_submit():
        return _page(work, text_form=form)
    if apply_rule(
        lambda: services.set_text(work, form.body.data, actor=current_user, now=clock.now(), ip=client_ip()),
        done=_("The text was saved."),
        refused=lambda e: form.body.errors.append(str(e)),
    ):
        return redirect(url_for(_WORK_PAGE, work_id=work.id))
    return _page(work, text_form=form)


@bp.post("/works/<int:work_id>/text-file")
def text_file(work_id: int):
    """Upload a text work's .docx or .txt: read and judged before anything is stored."""
    work = _editable_work(work_id)
    form = TextFileForm()
    upload = form.file.data
    if form.validate_on_submit():
        try:
            if not (upload and upload.filename):
                raise RuleError("no_file", services.MESSAGES["no_file"])
            data = upload.read(texts.TEXT_FILE_MAX_BYTES + 1)
            body = services.read_text_upload(data, upload.filename)
            upload.stream.seek(0)
            stored = services.receive(upload, services.text_extension(upload.filename), lambda size: None)
        except RuleError as e:
            form.file.errors.append(str(e))
        else:
            if apply_rule(
                lambda: services.attach_text_file(
                    work, stored, actor=current_user, now=clock.now(), ip=client_ip(), text=body
                ),
                done=_("The file was read: its text is the work's text now."),
                refused=lambda e: form.file.errors.append(str(e)),
            ):
                return redirect(url_for(_WORK_PAGE, work_id=work.id))
    return _page(work, text_file_form=form)


# -- Photos ---------------------------------------------------------------------------------


@bp.route("/works/<int:work_id>/photos/new", methods=["GET", "POST"])
def add_photo(work_id: int):
    """Add a photo with its caption; the worker then checks it and makes its previews."""
    work = _editable_work(work_id)
    form = PhotoForm()
    if form.validate_on_submit():
        upload = form.file.data
        caption = {f.name: getattr(form, f.name).data for f in media.CAPTION_FIELDS}
        try:
            if not (upload and upload.filename):
                raise RuleError("no_file", services.MESSAGES["no_file"])
            services.check_new_photo(work, caption, services.upload_size(upload), now=clock.now())
            stored = services.receive(upload, "jpg", services.check_photo_size)
        except RuleError as e:
            _caption_error(form, e)
        else:
            if _checked(
                work,
                lambda: services.attach_photo(
                    work, stored, caption, actor=current_user, now=clock.now(), ip=client_ip()
                ),
                done=_("The photo was added. It is being checked; this page shows the result."),
            ):
                return redirect(url_for(_WORK_PAGE, work_id=work.id, _anchor="photos"))
    return render_template("works/photo.html", work=work, form=form, photo=None, **_photo_rules())


def _photo_rules() -> dict:
    return dict(photos_max=media.PHOTOS_MAX, request_limit_mb=_request_limit_mb())


def _caption_error(form, error: RuleError) -> None:
    """A caption's refusal under each part it names; any other under the file."""
    labels = {f.name: f.label for f in media.CAPTION_FIELDS}
    if error.code == "caption_missing":
        for name in error.params["missing"]:
            getattr(form, name).errors.append(str(media.MESSAGES["caption_missing"]) % {"field": labels[name]})
    elif error.code == "caption_too_long":
        getattr(form, error.params["name"]).errors.append(str(error))
    elif hasattr(form, "file"):
        form.file.errors.append(str(error))
    else:
        flash(str(error), "error")


@bp.route("/works/<int:work_id>/files/<int:file_id>/caption", methods=["GET", "POST"])
def caption(work_id: int, file_id: int):
    """Change a photo's caption."""
    work = _editable_work(work_id)
    photo = _own_file(work, file_id)
    form = CaptionForm(obj=photo)
    if form.validate_on_submit():
        values = {f.name: getattr(form, f.name).data for f in media.CAPTION_FIELDS}
        if apply_rule(
            lambda: services.update_caption(work, photo, values, actor=current_user, now=clock.now(), ip=client_ip()),
            done=_("The caption was saved."),
            refused=lambda e: _caption_error(form, e),
        ):
            return redirect(url_for(_WORK_PAGE, work_id=work.id, _anchor=f"photo-{photo.id}"))
    return render_template("works/photo.html", work=work, form=form, photo=photo, **_photo_rules())


@bp.post("/works/<int:work_id>/files/<int:file_id>/move")
def move(work_id: int, file_id: int):
    """Move a photo one place earlier or later."""
    work = _editable_work(work_id)
    photo = _own_file(work, file_id)
    offset = -1 if request.form.get("direction") == "up" else 1
    apply_rule(lambda: services.move_photo(work, photo, offset, actor=current_user, now=clock.now(), ip=client_ip()))
    return redirect(url_for(_WORK_PAGE, work_id=work.id, _anchor="photos"))


@bp.post("/works/<int:work_id>/files/<int:file_id>/remove")
def remove_file(work_id: int, file_id: int):
    """Remove a photo, the video or the text file, with what was made from it."""
    work = _editable_work(work_id)
    original = _own_file(work, file_id)
    apply_rule(
        lambda: services.remove_file(work, original, actor=current_user, now=clock.now(), ip=client_ip()),
        done=_("The file was removed."),
    )
    return redirect(url_for(_WORK_PAGE, work_id=work.id))


def _own_file(work: Work, file_id: int) -> WorkFile:
    f = db.session.get(WorkFile, file_id)
    if f is None or f.work_id != work.id or f.kind is not FileKind.ORIGINAL:
        abort(404)
    return f


# -- Video ----------------------------------------------------------------------------------


@bp.post("/works/<int:work_id>/video")
def upload_video(work_id: int):
    """Upload the work's MP4 (it replaces the one before); the worker checks it, takes its
    poster and, where browsers need one, makes a playable copy."""
    work = _editable_work(work_id)
    form = VideoForm()
    upload = form.file.data
    if form.validate_on_submit():
        stored = None
        try:
            if not (upload and upload.filename):
                raise RuleError("no_file", services.MESSAGES["no_file"])
            stored = services.receive(upload, "mp4", services.check_video_size)
        except RuleError as e:
            form.file.errors.append(str(e))
        else:
            if _checked(
                work,
                lambda: services.attach_video(work, stored, actor=current_user, now=clock.now(), ip=client_ip()),
                done=_("The video was uploaded. It is being checked; this page shows the result."),
            ):
                return redirect(url_for(_WORK_PAGE, work_id=work.id, _anchor="video"))
    return _page(work, video_form=form)


# -- The declarations, deleting a draft --------------------------------------------------------


@bp.route("/works/<int:work_id>/declarations", methods=["GET", "POST"])
def declarations(work_id: int):
    """The 承诺书 with the work's title, and the licence of 附件1 四, in full, each accepted
    by its own tick."""
    work = load(Work, work_id, "edit_work")
    form = DeclarationsForm()
    if request.method == "GET":
        form.version.data, form.title.data = services.DECLARATION_VERSION, work.title
    if form.validate_on_submit():
        if not (form.commitment.data and form.licence.data):
            for box in (form.commitment, form.licence):
                if not box.data:
                    box.errors.append(str(services.MESSAGES["declarations_required"]))
        elif apply_rule(
            lambda: services.accept_declarations(
                work,
                version=form.version.data or "",
                title=form.title.data or "",
                actor=current_user,
                now=clock.now(),
                ip=client_ip(),
            ),
            done=_("The commitment and the licence were accepted."),
            refused=lambda e: form.commitment.errors.append(str(e)),
        ):
            return redirect(url_for(_WORK_PAGE, work_id=work.id))
        form.version.data, form.title.data = services.DECLARATION_VERSION, work.title
    return render_template(
        "works/declarations.html",
        work=work,
        form=form,
        commitment=services.commitment_text(work.title),
        licence=services.licence_text(),
        current=services.declarations_current(work),
    )


@bp.post("/works/<int:work_id>/delete")
def delete(work_id: int):
    """Delete a draft with its files, after a confirmation page."""
    work = _editable_work(work_id)
    if not confirmed():
        return confirm_page(
            _("Delete the work “%(title)s”?", title=work.title),
            explain=_("The work and all its files are deleted. This cannot be undone."),
            button=_("Delete the work"),
            back=url_for(_WORK_PAGE, work_id=work.id),
            danger=True,
        )
    if apply_rule(
        lambda: services.delete_work(work, actor=current_user, now=clock.now(), ip=client_ip()),
        done=_("The work was deleted."),
    ):
        return redirect(url_for("units.home"))
    return redirect(url_for(_WORK_PAGE, work_id=work_id))


# -- Submitting, taking back, returning, extending ------------------------------------------


@bp.app_template_global("work_submission")
def work_submission(work: Work) -> dict:
    """What the work's submission panel (templates/works/_submission.html) shows its reader."""
    now = clock.now()
    deadline = submission.deadline(work)
    unit = can(current_user, "edit_work", work)
    secretariat = can(current_user, "decide_work", work)
    status = submission.status(work)
    today = clock.beijing_today(now)
    return {
        "status": status,
        "Status": submission.Status,
        "deadline": deadline,
        "deadline_passed": deadline.passed(now),
        "refusal": submission.edit_refusal(work, now) if unit else None,
        "can_submit": unit and submission.can_submit(work, now),
        "can_withdraw": unit and submission.can_reopen(work, now),
        "submit_form": SubmitWorkForm(formdata=None) if unit else None,
        "return_form": WorkReturnForm(formdata=None, reopen_until=today + timedelta(days=7)) if secretariat else None,
        "extension_form": UnitExtensionForm(formdata=None, new_deadline=max(deadline.day, today) + timedelta(days=7))
        if secretariat
        else None,
    }


@bp.post("/works/<int:work_id>/submit")
def submit(work_id: int):
    """The unit submits the work (or sends it again after a return)."""
    work = load(Work, work_id, "edit_work")
    if SubmitWorkForm().validate_on_submit():
        apply_rule(
            lambda: submission.submit(work, actor=current_user, now=clock.now(), ip=client_ip()),
            done=_("The work was submitted to the works secretariat."),
        )
    return redirect(url_for(_WORK_PAGE, work_id=work.id))


@bp.post("/works/<int:work_id>/withdraw")
def withdraw(work_id: int):
    """Take a submitted work back to change it, after a page that says what that means."""
    work = load(Work, work_id, "edit_work")
    back = url_for(_WORK_PAGE, work_id=work.id)
    if not confirmed():
        return confirm_page(
            _("Take back “%(title)s” to change it?", title=work.title),
            explain=_(
                "The work is no longer submitted until you submit it again, before the deadline (%(deadline)s "
                "23:59:59 Beijing time). If you change anything the registration form shows, print the new form, "
                "have it sealed and upload its scan before submitting again.",
                deadline=submission.deadline(work).day.isoformat(),
            ),
            button=_("Take back and change"),
            back=back,
        )
    apply_rule(
        lambda: submission.withdraw(work, actor=current_user, now=clock.now(), ip=client_ip()),
        done=_("The work was taken back: you can change it now. Remember to submit it again."),
    )
    return redirect(back)


@bp.post("/works/<int:work_id>/return")
def send_back(work_id: int):
    """The secretariat returns a submitted work with what to change and until when."""
    work = load(Work, work_id, "decide_work")
    form = WorkReturnForm()
    if form.validate_on_submit():
        apply_rule(
            lambda: submission.send_back(
                work, form.comment.data, form.reopen_until.data, actor=current_user, now=clock.now(), ip=client_ip()
            ),
            done=_("The work was returned to its unit."),
        )
    else:
        _flash_errors(form)
    return redirect(url_for(_WORK_PAGE, work_id=work.id))


@bp.post("/works/<int:work_id>/extension")
def extend(work_id: int):
    """The secretariat gives the work's unit a later deadline (for all its works)."""
    work = load(Work, work_id, "decide_work")
    form = UnitExtensionForm()
    if form.validate_on_submit():
        apply_rule(
            lambda: submission.extend_deadline(
                work.unit,
                work.campaign,
                form.new_deadline.data,
                form.reason.data or "",
                actor=current_user,
                now=clock.now(),
                ip=client_ip(),
            ),
            done=_("The unit's deadline was extended."),
        )
    else:
        _flash_errors(form)
    return redirect(url_for(_WORK_PAGE, work_id=work.id))


def _flash_errors(form) -> None:
    for field in form:
        for error in field.errors:
            flash(f"{field.label.text}: {error}", "error")


# -- A work's files --------------------------------------------------------------------------


@bp.get("/works/files/<int:file_id>")
def file(file_id: int):
    """A stored file of a work that passed its checks, for whoever may read the work
    (core.files.may_read_file), with Range so that a video seeks."""
    work_file = db.session.get(WorkFile, file_id)
    if work_file is None:
        abort(404)
    if not files.may_read_file(current_user, "work_file", work_file):
        deny("work_file", file_id, permission="view_work")
    if not work_file.storage_key or work_file.check_state is not FileCheck.PASSED:
        abort(404)  # refused, or not checked yet: unchecked bytes are never served
    download = None
    if work_file.kind is FileKind.ORIGINAL and work_file.work.category is WorkCategory.TEXT:
        download = work_file.filename or f"work-{work_file.work_id}.{services.text_extension(work_file.storage_key)}"
    return files.serve(
        work_file.storage_key, mimetype=work_file.content_type or "application/octet-stream", download_name=download
    )


# -- The audit log and the job pages: works by title ---------------------------------------

audit.describe_values("permission", {"view_work": _l("read the work"), "edit_work": _l("change the work")})


@audit.names("work")
def _work_names(ids: set[str]) -> dict[str, str]:
    numbers = {int(i) for i in ids if i.isdigit() and len(i) <= 18}
    if not numbers:
        return {}
    rows = db.session.execute(sa.select(Work.id, Work.title).where(Work.id.in_(numbers)))
    return {str(i): f"《{title}》" for i, title in rows}


jobs.TITLES[services.CHECK_JOB] = lambda job: (
    _("Checking the files of a work"),
    url_for(_WORK_PAGE, work_id=job.params["work_id"]),
)
jobs.TITLES[services.COPY_JOB] = lambda job: (_("Making a playable copy of a video"), None)


# The works' other pages attach themselves to the blueprint: the registration form and its
# sealed scan, the province's recommendation, the secretariat's desk.
from experience.works import desk_views, recommendation_views, regform_views  # noqa: E402,F401
