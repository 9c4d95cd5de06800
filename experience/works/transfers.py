"""A work's video through the resumable upload (``experience.transfers``): the purpose,
who may upload to which work, and what takes the complete file.

The purpose ``work-video`` accepts up to ``WORKS_VIDEO_MAX_BYTES`` (media.video_max_bytes,
judged on the announced length before a byte is stored, and again as bytes arrive); its
target is the work's id, which only the work's own unit may upload to (anyone else: 404).
When the last byte is stored, the file is attached exactly as a form upload's is
(``services.attach_video``: the work must still be an editable video work) and the
worker's checks are queued: the file is judged by its content there, whatever the
browser said it was.

Photos (at most 15 MB, each with its caption in the same form) and text files stay plain
form uploads: they fit within the request limit (MAX_CONTENT_LENGTH, 24 MB).
"""

from __future__ import annotations

from datetime import datetime

from experience.core.errors import RuleError
from experience.core.permissions import can
from experience.core.web import small_int
from experience.extensions import db
from experience.transfers import services as transfers
from experience.works import jobs as work_jobs
from experience.works import media, services
from experience.works.models import Work

VIDEO = "work-video"


def _own_work(user, target: str) -> Work | None:
    work_id = small_int(target)
    work = db.session.get(Work, work_id) if work_id else None
    return work if work is not None and can(user, "edit_work", work) else None


transfers.register_purpose(
    VIDEO,
    max_bytes=media.video_max_bytes,
    permission="create_work",
    owns_target=lambda user, target: _own_work(user, target) is not None,
    key_prefix="work",
    extension="mp4",
)


@transfers.on_complete(VIDEO)
def attach_uploaded_video(received: transfers.Received, *, actor, now: datetime, ip: str = ""):
    """Make the complete upload the work's video and queue its checks (after the commit).

    :raises RuleError: not_editable, wrong_category, video_too_large (the bytes go).
    """
    work = _own_work(actor, received.target)
    if work is None:
        raise RuleError("not_editable", services.MESSAGES["not_editable"])
    stored = services.Stored(received.key, received.size, received.sha256, received.filename)
    services.attach_video(work, stored, actor=actor, now=now, ip=ip)
    job = services.start_checks(work, actor=actor, now=now)
    return (lambda: work_jobs.enqueue(job)) if job is not None else None
