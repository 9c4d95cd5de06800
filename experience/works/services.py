"""Works: a unit's drafts, their files, the declarations, and starting the checks.

Rules as plain functions. Each takes the ``actor``, ``now`` and ``ip`` it needs, writes its
audit entry, and raises :class:`RuleError` with a stable code (``MESSAGES`` here, or
``media.MESSAGES`` / ``texts.MESSAGES`` for a file's content); the caller commits.

Files arrive in two steps, kept apart so that the resumable upload of issue 16 (tus) can
call the second one when its last chunk lands:

1. **receive** the bytes into the storage (``receive`` for a plain form upload: the cheap
   checks first, then the bytes streamed in, the SHA-256 computed on the way);
2. **attach** the stored file to a work (``attach_photo``, ``attach_video``,
   ``attach_text_file``): the rules that need no decoding run here; a refusal deletes the
   stored bytes at once, so a refused file leaves nothing stored.

Then ``start_checks`` records the background job that decodes what was attached (a
photo's JPEG, a video's streams); ``works.jobs.enqueue`` hands it to the worker once the
caller has committed. Files a change leaves behind (a replaced video, a removed photo, a
deleted work) are deleted from the storage when the change is committed, and stay if
it is rolled back (``_discard_after_commit``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import FileStorage

from experience.campaigns.models import Campaign
from experience.core import audit, clock, jobs, storage, uploads
from experience.core.errors import RuleError
from experience.core.phone import normalize_phone
from experience.extensions import db
from experience.units.models import Unit
from experience.works import deadlines, media, texts
from experience.works.models import (
    CheckState,
    FileCheck,
    FileKind,
    Work,
    WorkCategory,
    WorkFile,
    WorkState,
)

#: 附件2: 作品简介 at most 500 字
SUMMARY_MAX_CHARS = 500
TITLE_MAX = 200

#: the kinds of background job (works.jobs registers what they do)
CHECK_JOB = "work_checks"
COPY_JOB = "work_playable_copy"

MESSAGES = {
    "not_editable": _l("This work cannot be changed now."),
    "not_deletable": _l(
        "The works secretariat has received this work: it cannot be deleted. It can be changed and sent again."
    ),
    "title_required": _l("Please give the work's title."),
    "title_too_long": _l("The title may have at most %(limit)s characters."),
    "category": _l("Please choose the work's category: text, photo or video."),
    "category_fixed": _l(
        "The category cannot change once the work has its text or files. Remove them first, or create a new work."
    ),
    "completed_required": _l("Please give the date the work was completed."),
    "completed_too_early": _l(
        "Works must have been completed on or after January 1, %(year)s (annex 1 of the call, section 4)."
    ),
    "completed_future": _l("The completion date cannot be in the future."),
    "contact_required": _l("Please give the contact person for this work."),
    "phone": _l("Please give a mobile number of 11 digits, or a landline with its area code such as 010-82260862."),
    "summary_required": _l("Please write a short summary of the work."),
    "summary_too_long": _l(
        "The summary has %(count)s characters; it may have at most %(limit)s (spaces and line breaks are not "
        "counted). Please shorten it by %(over)s."
    ),
    "wrong_category": _l("This is a %(category)s: it takes no such file."),
    "no_file": _l("Please choose a file."),
    "file_empty": _l("The file is empty. Please choose the file again."),
    "no_such_file": _l("This file is no longer part of the work."),
    "declaration_changed": _l(
        "The texts to accept were changed while you read them. Please read them again and accept them."
    ),
    "declaration_title_changed": _l(
        "The work's title changed after the commitment was shown. Please read it again with the current title."
    ),
    "declarations_required": _l("Please tick both boxes: the commitment and the licence are accepted together."),
    "check_error": _l(
        "This file could not be checked because of a fault on our side. Please upload it again; if that fails "
        "too, tell the works secretariat."
    ),
}


def _fail(code: str, **params) -> RuleError:
    return RuleError(code, MESSAGES[code], **params)


def file_message(work_file: WorkFile) -> str:
    """Why a file was refused and what to do, in the reader's language."""
    code = work_file.check_code
    text = MESSAGES.get(code) or media.MESSAGES.get(code) or texts.MESSAGES.get(code)
    if text is None:
        return str(MESSAGES["check_error"])
    return str(text) % work_file.check_params if work_file.check_params else str(text)


# -- The declarations: the 承诺书 of 附件2 and the licence of 附件1 四 ------------------------

#: Changing a text makes a new version (keep the old one): each work says which it accepted.
DECLARATION_VERSION = "2024-1"
#: 附件2's 承诺书, word for word in Chinese, with the work's title where the form has a blank
COMMITMENTS = {
    "2024-1": _l(
        "Our unit fully understands and voluntarily accepts the requirements of the call for service "
        "certification works, and undertakes that: 《%(title)s》 is a work made by our unit, of which it holds "
        "the full copyright, with no plagiarism, copying, misappropriation or other infringement, containing "
        "nothing defamatory, obscene, otherwise unlawful or contrary to the core socialist values, and that all "
        "information given about the work is true and valid. Our unit agrees to every provision on the "
        "copyright of works in the documents of this activity. Any legal liability concerning rights of "
        "portrait, reputation, privacy, copyright, trademarks and the like that the work involves is borne by "
        "our unit."
    ),
}
#: 附件1 四 (作品版权), word for word in Chinese
LICENCES = {
    "2024-1": (
        _l(
            "(1) Works of this call must have been completed after January 1, 2024. The submitting unit (author) "
            "must hold the full copyright of the work; the work must be original and unpublished; plagiarism "
            "and copying are strictly forbidden."
        ),
        _l(
            "(2) By submitting a work, the submitting unit (author) licenses SAMR to use the following "
            "copyrights in the work, including but not limited to: the right of reproduction; the right of "
            "distribution; the right of exhibition; the right of communication over information networks, "
            "reports by media and publicity, promotion and dissemination on platforms; the right of "
            "adaptation, including actual modification of the work; the development and production of "
            "derivative products containing the work. The submitting unit (author) undertakes that this "
            "licence is exclusive, that is, without SAMR's consent no other organisation or individual may be "
            "allowed to use the work, and that once licensed SAMR may use the work free of charge, in a "
            "reasonable manner and without time limit, with no fee payable to the submitting unit (author)."
        ),
        _l(
            "(3) Any legal liability concerning rights of portrait, reputation, privacy, copyright, trademarks "
            "and the like that a work involves is borne by the submitting unit (author)."
        ),
    ),
}


def commitment_text(title: str, version: str = DECLARATION_VERSION) -> str:
    return str(COMMITMENTS[version]) % {"title": title}


def licence_text(version: str = DECLARATION_VERSION) -> tuple:
    return LICENCES[version]


def declarations_current(work: Work) -> bool:
    """The declarations were accepted, in today's version, for the work's current title."""
    return (
        work.declared_at is not None
        and work.declaration_version == DECLARATION_VERSION
        and work.declared_title == work.title
    )


def accept_declarations(work: Work, *, version: str, title: str, actor, now: datetime, ip: str = "") -> None:
    """The unit accepts the 承诺书 (for ``title``, as shown) and the licence, explicitly.

    :param version: the version of the texts the page showed
    :param title: the title the page inserted into the commitment
    :raises RuleError: not_editable, declaration_changed, declaration_title_changed.
    """
    _check_editable(work, now)
    if version != DECLARATION_VERSION:
        raise _fail("declaration_changed")
    if title != work.title:
        raise _fail("declaration_title_changed")
    work.declared_by_id, work.declared_at, work.declared_ip = actor.id, now, ip[:64]
    work.declaration_version, work.declared_title = version, title
    audit.record("work.declarations", now=now, actor=actor, target=work, ip=ip, declaration_version=version, name=title)


# -- The registration form's fields --------------------------------------------------------

FIELDS = ("title", "category", "completed_on", "contact_name", "contact_phone", "summary")


def _clean_fields(campaign: Campaign, now: datetime, fields: Mapping) -> dict:
    """The form's fields, checked; the first problem raises, its ``field`` param naming
    the field."""
    try:
        category = WorkCategory(getattr(fields.get("category"), "value", fields.get("category")))
    except ValueError:
        raise _fail("category", field="category") from None
    contact_name = " ".join(str(fields.get("contact_name") or "").split())
    if not contact_name:
        raise _fail("contact_required", field="contact_name")
    phone = normalize_phone(str(fields.get("contact_phone") or ""))
    if phone is None:
        raise _fail("phone", field="contact_phone")
    return dict(
        title=_clean_title(fields.get("title")),
        category=category,
        completed_on=_clean_completed_on(fields.get("completed_on"), campaign, now),
        contact_name=contact_name[:60],
        contact_phone=phone,
        summary=_clean_summary(fields.get("summary")),
    )


def _clean_title(value) -> str:
    title = " ".join(str(value or "").split())
    if not title:
        raise _fail("title_required", field="title")
    if len(title) > TITLE_MAX:
        raise _fail("title_too_long", field="title", limit=TITLE_MAX)
    return title


def _clean_completed_on(value, campaign: Campaign, now: datetime) -> date:
    """作品完成时间: from January 1 of the campaign's year (附件1 四) to today in Beijing."""
    if not isinstance(value, date):
        raise _fail("completed_required", field="completed_on")
    if value < date(campaign.year, 1, 1):
        raise _fail("completed_too_early", field="completed_on", year=campaign.year)
    if value > clock.beijing_today(now):
        raise _fail("completed_future", field="completed_on")
    return value


def _clean_summary(value) -> str:
    summary = str(value or "").replace("\r\n", "\n").strip()
    count = texts.count_chars(summary)
    if count == 0:
        raise _fail("summary_required", field="summary")
    if count > SUMMARY_MAX_CHARS:
        raise _fail(
            "summary_too_long", field="summary", count=count, limit=SUMMARY_MAX_CHARS, over=count - SUMMARY_MAX_CHARS
        )
    return summary


def create_work(unit: Unit, campaign: Campaign, *, actor, now: datetime, ip: str = "", **fields) -> Work:
    """A new draft of ``unit`` for ``campaign``, with the registration form's fields.

    :raises RuleError: a field's code (``field`` names it) from ``MESSAGES``.
    """
    work = Work(
        campaign=campaign,
        unit=unit,
        check_state=CheckState.DRAFT,
        created_at=now,
        updated_at=now,
        **_clean_fields(campaign, now, fields),
    )
    db.session.add(work)
    db.session.flush()
    audit.record("work.create", now=now, actor=actor, target=work, ip=ip, name=work.title)
    return work


def update_work(work: Work, *, actor, now: datetime, ip: str = "", **fields) -> list[str]:
    """Change the registration form's fields; returns the names of those changed.

    A changed title makes the accepted commitment out of date (it named the old title):
    the unit accepts it again (``declarations_current``).

    :raises RuleError: not_editable, category_fixed, or a field's code.
    """
    _check_editable(work, now)
    clean = _clean_fields(work.campaign, now, {**{f: getattr(work, f) for f in FIELDS}, **fields})
    if clean["category"] is not work.category and (work.files or work.body):
        raise _fail("category_fixed", field="category")
    changed = [f for f, v in clean.items() if getattr(work, f) != v]
    for f in changed:
        setattr(work, f, clean[f])
    if changed:
        _touch(work, now)
        audit.record("work.update", now=now, actor=actor, target=work, ip=ip, changed=changed)
    return changed


def delete_work(work: Work, *, actor, now: datetime, ip: str = "") -> None:
    """Delete a draft with its files (the stored bytes go once this is committed). A work
    the secretariat has received (submitted, or returned to be sent again) is not a
    draft: the unit takes it back or changes it, it does not delete it.

    :raises RuleError: not_deletable, or why the work cannot change now.
    """
    if work.state is not WorkState.NOT_SUBMITTED:
        raise _fail("not_deletable")
    _check_editable(work, now)
    _discard_after_commit(f.storage_key for f in work.files)
    audit.record("work.delete", now=now, actor=actor, target=work, ip=ip, name=work.title, files=len(work.originals()))
    db.session.delete(work)


def _check_editable(work: Work, now: datetime) -> None:
    """The unit may change the work now (works.deadlines says when: its state and the
    deadline), or the refusal says why."""
    refusal = deadlines.edit_refusal(work, now)
    if refusal is not None:
        raise refusal


def _check_category(work: Work, category: WorkCategory) -> None:
    if work.category is not category:
        raise _fail("wrong_category", category=work.category.label)


def _touch(work: Work, now: datetime) -> None:
    work.updated_at = now


# -- Receiving an upload's bytes -----------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """A file in the storage, not yet part of any work."""

    key: str
    size: int
    sha256: str
    #: the name on the unit's computer, cleaned; shown, never used to store
    filename: str


def upload_size(file: FileStorage) -> int:
    """The size of a form upload, already received in full (werkzeug spools big ones to disk)."""
    stream = file.stream
    size = stream.seek(0, os.SEEK_END)
    stream.seek(0)
    return size


def receive(file: FileStorage, extension: str, check_size: Callable[[int], None]) -> Stored:
    """Stream a form upload into the storage, after ``check_size(size)`` had its say.

    :raises RuleError: no_file, file_empty, or what ``check_size`` raises; nothing is
        stored then.
    """
    if file is None or not getattr(file, "filename", ""):
        raise _fail("no_file")
    size = upload_size(file)
    if size == 0:
        raise _fail("file_empty")
    check_size(size)
    stream = file.stream
    key, written = uploads.store_stream(iter(lambda: stream.read(storage.CHUNK), b""), "work", extension)
    return Stored(key, written.size, written.sha256, uploads.clean_filename(file.filename))


def discard(stored: Stored | None) -> None:
    """Remove received bytes that will not be attached."""
    if stored is not None:
        uploads.delete_upload(stored.key)


def _refusing(stored: Stored, check: Callable[[], object]):
    """Run ``check``; if it refuses, the stored bytes go before the refusal is raised."""
    try:
        return check()
    except RuleError:
        discard(stored)
        raise


# -- Text works ----------------------------------------------------------------------------


def set_text(work: Work, text: str, *, actor, now: datetime, ip: str = "") -> None:
    """The text typed in (it replaces an uploaded text file).

    :raises RuleError: not_editable, wrong_category, text_empty, text_too_long.
    """
    _check_editable(work, now)
    _check_category(work, WorkCategory.TEXT)
    clean = texts.check_text(text)
    for old in work.originals():
        _remove(work, old)
    work.body = clean
    _touch(work, now)
    refresh_check_state(work)
    audit.record(
        "work.update", now=now, actor=actor, target=work, ip=ip, changed=["body"], count=texts.count_chars(clean)
    )


def read_text_upload(data: bytes, filename: str) -> str:
    """The text of an uploaded .txt or .docx, judged; nothing is stored for it yet.

    :raises RuleError: texts' codes (``text_file_type``, ``not_docx``, ``text_too_long``, …).
    """
    return texts.check_text(texts.read_text_file(data, filename))


def text_extension(filename: str) -> str:
    return "docx" if filename.lower().endswith(".docx") else "txt"


def attach_text_file(
    work: Work, stored: Stored, *, actor, now: datetime, ip: str = "", text: str | None = None
) -> WorkFile:
    """Make the stored .txt or .docx the work's text (it replaces the typed one).

    :param text: its text when the caller has read and judged it already (a form upload);
        otherwise it is read from the storage here (a resumable upload).
    :raises RuleError: not_editable, wrong_category, or texts' codes; the stored file is
        deleted then.
    """

    def check() -> str:
        _check_editable(work, now)
        _check_category(work, WorkCategory.TEXT)
        if text is not None:
            return text
        with uploads.open_upload(stored.key) as f:
            return read_text_upload(f.read(texts.TEXT_FILE_MAX_BYTES + 1), stored.filename)

    clean = _refusing(stored, check)
    for old in work.originals():
        _remove(work, old)
    extension = text_extension(stored.filename)
    f = _new_original(work, stored, now, check_state=FileCheck.PASSED, checked_at=now)
    f.content_type = uploads.mimetype_of(f"x.{extension}") if extension == "docx" else "text/plain"
    work.body = clean
    _touch(work, now)
    refresh_check_state(work)
    audit.record("work.file_add", now=now, actor=actor, target=work, ip=ip, file=stored.filename, count=len(clean))
    return f


# -- Photo works ---------------------------------------------------------------------------


def check_photo_size(size: int) -> None:
    """:raises RuleError: photo_too_small / photo_too_large, from the size alone."""
    if size < media.PHOTO_MIN_BYTES:
        raise RuleError("photo_too_small", media.MESSAGES["photo_too_small"], size=_mb(size))
    if size > media.PHOTO_MAX_BYTES:
        raise RuleError("photo_too_large", media.MESSAGES["photo_too_large"], size=_mb(size))


def _mb(size: int) -> str:
    return f"{size / media.MB:.1f}"


def photos(work: Work) -> list[WorkFile]:
    return sorted(work.originals(), key=lambda f: (f.position, f.id))


def check_new_photo(work: Work, caption: Mapping, size: int, *, now: datetime) -> dict[str, str]:
    """What can be judged of a new photo before its bytes are stored: the work, the
    count, the caption and the size. Returns the caption, cleaned.

    :raises RuleError: not_editable, wrong_category, photos_too_many, caption_missing,
        caption_too_long, photo_too_small, photo_too_large.
    """
    _check_editable(work, now)
    _check_category(work, WorkCategory.PHOTO)
    media.check_photo_count(len(work.originals()) + 1)
    clean = media.check_caption(caption)
    check_photo_size(size)
    return clean


def attach_photo(work: Work, stored: Stored, caption: Mapping, *, actor, now: datetime, ip: str = "") -> WorkFile:
    """Add a stored JPEG with its caption as the work's last photo; its content is
    checked by the worker (``start_checks``).

    :raises RuleError: as ``check_new_photo``; the stored file is deleted then.
    """
    clean = _refusing(stored, lambda: check_new_photo(work, caption, stored.size, now=now))
    position = max((f.position for f in work.originals()), default=0) + 1
    f = _new_original(work, stored, now, position=position, **clean)
    _touch(work, now)
    refresh_check_state(work)
    audit.record("work.file_add", now=now, actor=actor, target=work, ip=ip, file=stored.filename)
    return f


def update_caption(work: Work, photo: WorkFile, caption: Mapping, *, actor, now: datetime, ip: str = "") -> None:
    """:raises RuleError: not_editable, wrong_category, no_such_file, caption_missing, caption_too_long."""
    _check_editable(work, now)
    _check_category(work, WorkCategory.PHOTO)
    _check_own_original(work, photo)
    clean = media.check_caption(caption)
    changed = [k for k, v in clean.items() if getattr(photo, k) != v]
    for k in changed:
        setattr(photo, k, clean[k])
    if changed:
        _touch(work, now)
        audit.record("work.update", now=now, actor=actor, target=work, ip=ip, changed=["caption"], item=photo.position)


def move_photo(work: Work, photo: WorkFile, offset: int, *, actor, now: datetime, ip: str = "") -> None:
    """Move a photo ``offset`` places (-1 earlier, +1 later); at an end nothing moves."""
    _check_editable(work, now)
    _check_category(work, WorkCategory.PHOTO)
    _check_own_original(work, photo)
    ordered = photos(work)
    i = ordered.index(photo)
    j = min(max(i + offset, 0), len(ordered) - 1)
    if i == j:
        return
    ordered.insert(j, ordered.pop(i))
    for n, f in enumerate(ordered, 1):
        f.position = n
    _touch(work, now)
    audit.record("work.update", now=now, actor=actor, target=work, ip=ip, changed=["order"])


# -- Video works ---------------------------------------------------------------------------


def check_video_size(size: int) -> None:
    """:raises RuleError: video_too_large (``limit`` in MB)."""
    limit = media.video_max_bytes()
    if size > limit:
        raise RuleError("video_too_large", media.MESSAGES["video_too_large"], limit=limit // media.MB)


def attach_video(work: Work, stored: Stored, *, actor, now: datetime, ip: str = "") -> WorkFile:
    """Make the stored MP4 the work's video (it replaces the one before); the worker
    checks it (``start_checks``).

    :raises RuleError: not_editable, wrong_category, video_too_large; the stored file is
        deleted then.
    """

    def check() -> None:
        _check_editable(work, now)
        _check_category(work, WorkCategory.VIDEO)
        check_video_size(stored.size)

    _refusing(stored, check)
    for old in work.originals():
        _remove(work, old)
    f = _new_original(work, stored, now, position=1)
    _touch(work, now)
    refresh_check_state(work)
    audit.record("work.file_add", now=now, actor=actor, target=work, ip=ip, file=stored.filename)
    return f


def video(work: Work) -> WorkFile | None:
    return next(iter(work.originals()), None) if work.category is WorkCategory.VIDEO else None


# -- Files in general ----------------------------------------------------------------------


def _new_original(work: Work, stored: Stored, now: datetime, **values) -> WorkFile:
    f = WorkFile(
        kind=FileKind.ORIGINAL,
        storage_key=stored.key,
        filename=stored.filename,
        size=stored.size,
        sha256=stored.sha256,
        created_at=now,
        **{"check_state": FileCheck.PENDING, **values},
    )
    work.files.append(f)
    db.session.flush()
    return f


def _check_own_original(work: Work, f: WorkFile) -> None:
    if f.work_id != work.id or f.kind is not FileKind.ORIGINAL:
        raise _fail("no_such_file")


def _remove(work: Work, original: WorkFile) -> None:
    """Take an original and what was made from it out of the work; the bytes go on commit."""
    gone = [original, *(f for f in work.files if f.source_id == original.id)]
    _discard_after_commit(f.storage_key for f in gone)
    for f in gone:
        work.files.remove(f)
    db.session.flush()


def remove_file(work: Work, original: WorkFile, *, actor, now: datetime, ip: str = "") -> None:
    """Remove a photo, the video or the text file (with its previews, poster and copy).

    :raises RuleError: not_editable, no_such_file.
    """
    _check_editable(work, now)
    _check_own_original(work, original)
    name = original.filename
    _remove(work, original)
    if work.category is WorkCategory.PHOTO:
        for n, f in enumerate(photos(work), 1):
            f.position = n
    if work.category is WorkCategory.TEXT:
        work.body = ""
    _touch(work, now)
    refresh_check_state(work)
    audit.record("work.file_remove", now=now, actor=actor, target=work, ip=ip, file=name)


def is_complete(work: Work) -> bool:
    """The work has what its category needs: its text, a photo, its video."""
    if work.category is WorkCategory.TEXT:
        return bool(work.body.strip())
    return bool(work.originals())


def refresh_check_state(work: Work) -> CheckState:
    """The work's check state, from its files: processing while one waits for the worker,
    failed when one was refused (a playable copy that could not be made included), ready
    when the work is complete and every file passed, else draft."""
    files = work.files
    if any(f.check_state is FileCheck.PENDING for f in files if f.kind is FileKind.ORIGINAL):
        state = CheckState.PROCESSING
    elif any(f.check_state is FileCheck.FAILED for f in files):
        state = CheckState.FAILED
    elif is_complete(work):
        state = CheckState.READY
    else:
        state = CheckState.DRAFT
    work.check_state = state
    return state


def start_checks(work: Work, *, actor, now: datetime) -> jobs.Job | None:
    """Record the job that checks the work's files waiting for it (decoding each photo and
    making its previews, probing the video and taking its poster), or None when none
    waits. The caller commits, then hands it to ``works.jobs.enqueue``."""
    if refresh_check_state(work) is not CheckState.PROCESSING:
        return None
    return jobs.start(CHECK_JOB, owner=actor, now=now, work_id=work.id)


def copy_progress(work: Work) -> dict[int, int]:
    """For each playable copy still being made, its percent done: {copy's file id: percent}."""
    waiting = {f.id for f in work.files if f.kind is FileKind.PLAYABLE and f.check_state is FileCheck.PENDING}
    if not waiting:
        return {}
    found = dict.fromkeys(waiting, 0)
    for job in db.session.scalars(
        sa.select(jobs.Job).where(
            jobs.Job.kind == COPY_JOB, jobs.Job.state.in_([jobs.JobState.QUEUED, jobs.JobState.RUNNING])
        )
    ):
        if job.params.get("file_id") in found:
            found[job.params["file_id"]] = job.percent
    return found


# -- Lists and counts ----------------------------------------------------------------------


#: works on one page of a list: a list page's time and memory stay bounded however many came
PAGE_SIZE = 100


def works_of(stmt: sa.Select, campaign: Campaign, *, page: int = 1) -> tuple[list[Work], bool]:
    """One page of the works of ``stmt`` (already narrowed to what the reader may see) in
    ``campaign``, newest first, with their units loaded in a fixed number of queries; and
    whether more follow. A list shows no file, so none is loaded."""
    fetched = list(
        db.session.scalars(
            stmt.where(Work.campaign_id == campaign.id)
            .options(selectinload(Work.unit).selectinload(Unit.province))
            .order_by(Work.updated_at.desc(), Work.id.desc())
            .limit(PAGE_SIZE + 1)
            .offset((page - 1) * PAGE_SIZE)
        )
    )
    return fetched[:PAGE_SIZE], len(fetched) > PAGE_SIZE


def counts(campaign: Campaign) -> dict[str, dict[WorkCategory, int]]:
    """How many works each province's units have in ``campaign``, by category:
    {province code: {category: n}}."""
    table: dict[str, dict[WorkCategory, int]] = {}
    for province, category, n in db.session.execute(
        sa.select(Unit.province_code, Work.category, sa.func.count())
        .join(Unit, Unit.id == Work.unit_id)
        .where(Work.campaign_id == campaign.id)
        .group_by(Unit.province_code, Work.category)
    ):
        table.setdefault(province, {})[category] = n
    return table


# -- Stored files: kept while a row points at them, deleted when a change is committed -----


@uploads.keeps
def _work_files(now: float) -> Iterable[str | None]:
    """Every stored file of every work stays (the sweep removes the rest)."""
    return db.session.scalars(sa.select(WorkFile.storage_key).where(WorkFile.storage_key.is_not(None)))


_DISCARD = "works.discard_after_commit"


def _discard_after_commit(keys: Iterable[str | None]) -> None:
    """Delete these stored files once the session's transaction commits; a rollback keeps
    them (the rows that point at them are back)."""
    db.session.info.setdefault(_DISCARD, []).extend(k for k in keys if k)


@sa.event.listens_for(db.session, "after_commit")
def _delete_discarded(session) -> None:
    for key in session.info.pop(_DISCARD, []):
        # a file already gone is what was wanted; the sweep removes any that stays
        with contextlib.suppress(OSError):
            uploads.delete_upload(key)


@sa.event.listens_for(db.session, "after_soft_rollback")
def _keep_discarded(session, previous_transaction) -> None:
    session.info.pop(_DISCARD, None)
