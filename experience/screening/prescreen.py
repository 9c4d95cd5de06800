"""The pre-screen checklist: the collection rules' results for one work, as the secretariat
reads them before the experts do.

Computed on the fly from the work and its files as loaded (no query per file), with the
rules of collection themselves (``works.media``, ``works.texts``, ``works.services``,
``works.submission``): a rule changed there changes the checklist. A warning is for a
person to look at; a failure is a rule the work does not meet as it stands.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date

from flask_babel import lazy_gettext as _l

from experience.core import clock
from experience.core.errors import RuleError
from experience.works import media, services, submission, texts
from experience.works.models import FileCheck, FileKind, Work, WorkCategory


class Result(enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"

    @property
    def label(self):
        return RESULT_LABELS[self]


RESULT_LABELS = {Result.OK: _l("Passed"), Result.WARN: _l("To look at"), Result.FAIL: _l("Not met")}


@dataclass(frozen=True)
class Check:
    label: str
    result: Result
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.result is Result.OK


def _rule(label, check) -> Check:
    """A rule that raises RuleError when not met."""
    try:
        check()
    except RuleError as e:
        return Check(str(label), Result.FAIL, str(e))
    return Check(str(label), Result.OK)


def checklist(work: Work) -> list[Check]:
    """The work's pre-screen checks, in the order of the call for works."""
    checks = []
    if work.category is WorkCategory.TEXT:
        checks += _text_checks(work)
    elif work.category is WorkCategory.PHOTO:
        checks += _photo_checks(work)
    else:
        checks += _video_checks(work)
    checks.append(_completion(work))
    checks += _form_checks(work)
    return checks


def _text_checks(work: Work) -> list[Check]:
    count = texts.count_chars(work.body or "")
    check = _rule(_l("Text length"), lambda: texts.check_text(work.body or ""))
    if check.ok:
        check = Check(check.label, Result.OK, str(_l("%(count)s characters.", count=count)))
    return [check]


def _photo_checks(work: Work) -> list[Check]:
    photos = services.photos(work)
    checks = [
        _rule(_l("Number of photos"), lambda: media.check_photo_count(len(photos)))
        if photos
        else Check(str(_l("Number of photos")), Result.FAIL, str(_l("The work has no photo.")))
    ]
    for n, photo in enumerate(photos, 1):
        label = str(_l("Photo %(n)s", n=n))
        size = _rule(_l("%(photo)s: file size", photo=label), lambda p=photo: services.check_photo_size(p.size))
        caption = _rule(_l("%(photo)s: caption complete", photo=label), lambda p=photo: media.check_caption(p.caption))
        checks += [size, _file_check(_l("%(photo)s: a complete JPG", photo=label), photo), caption]
    return checks


def _video_checks(work: Work) -> list[Check]:
    video = services.video(work)
    if video is None:
        return [Check(str(_l("The video")), Result.FAIL, str(_l("The work has no video.")))]
    checks = [
        _rule(_l("Video file size"), lambda: services.check_video_size(video.size)),
        _file_check(_l("Video container (MP4) and completeness"), video),
    ]
    label = str(_l("Video duration"))
    if video.duration_s is None:
        checks.append(Check(label, Result.WARN, str(_l("Not measured yet."))))
    else:
        whole = int(video.duration_s)
        shown = f"{whole // 60}:{whole % 60:02d}"
        # media.probe_video refuses a longer file; one kept from before that rule shows here
        if video.duration_s > media.VIDEO_MAX_SECONDS + 1:
            checks.append(Check(label, Result.FAIL, str(_l("%(duration)s, more than 3 minutes.", duration=shown))))
        else:
            checks.append(Check(label, Result.OK, shown))
    playable = work.derived(video, FileKind.PLAYABLE)
    if playable is not None and playable.check_state is not FileCheck.PASSED:
        checks.append(Check(str(_l("Playable copy")), Result.WARN, str(_l("The copy browsers play is not ready yet."))))
    return checks


def _file_check(label, f) -> Check:
    """What the worker's content check (media.check_jpeg / media.probe_video) found."""
    if f.check_state is FileCheck.PASSED:
        return Check(str(label), Result.OK)
    if f.check_state is FileCheck.PENDING:
        return Check(str(label), Result.WARN, str(_l("Being checked.")))
    return Check(str(label), Result.FAIL, services.file_message(f))


def _completion(work: Work) -> Check:
    """附件1 四.(一): made on or after January 1 of the campaign's year, and not after the
    work was submitted."""
    label = str(_l("Completion date"))
    first_day = date(work.campaign.year, 1, 1)
    if work.completed_on < first_day:
        return Check(label, Result.FAIL, str(services.MESSAGES["completed_too_early"]) % {"year": work.campaign.year})
    submitted_on = clock.beijing_today(work.submitted_at) if work.submitted_at else None
    if submitted_on is not None and work.completed_on > submitted_on:
        return Check(label, Result.FAIL, str(services.MESSAGES["completed_future"]))
    return Check(label, Result.OK, work.completed_on.isoformat())


def _form_checks(work: Work) -> list[Check]:
    label = str(_l("Sealed registration form"))
    scan = work.form_scan
    if scan is None:
        return [Check(label, Result.FAIL, str(submission.MESSAGES["form_scan_needed"]))]
    if not submission.scan_current(work):
        return [Check(label, Result.FAIL, str(submission.MESSAGES["form_scan_outdated"]))]
    if not scan.form_read:
        return [
            Check(
                label,
                Result.WARN,
                str(_l("Its QR code could not be read when it was uploaded: compare the scan with the work.")),
            )
        ]
    return [Check(label, Result.OK, str(_l("Present and printed from the current version.")))]
