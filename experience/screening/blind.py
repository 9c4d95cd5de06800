"""Blind copies: what an expert gets instead of a work's own files.

A unit's files say more than their pictures and words: a camera writes the photographer
and the owner of the copyright into a JPEG (EXIF, XMP, IPTC), Word writes the author and
the company into a .docx (its core and app properties), an editing program writes titles
and comments into an MP4. In a blind round any of them could name the unit, so experts
never get an original: each file they need has a ``BlindCopy``, made once by the worker
and reused by every round (a non-blind round gets the same stripped copy: what a file's
metadata says is never part of the work):

- **JPEG**: the markers are walked and copied as they are, the picture's coded data
  included (no re-encoding, nothing lost); only the JFIF header (APP0), the colour profile
  (APP2 ``ICC_PROFILE``) and Adobe's colour transform (APP14, which CMYK pictures need to
  decode) stay of the application segments. EXIF/XMP (APP1), IPTC (APP13), comments (COM),
  every other APPn (a maker's notes, Ducky's copyright) and anything after the picture's
  end go. A turned photo keeps which way is up: a new EXIF holding the orientation alone.
- **.docx**: the zip is written again part by part, each part's bytes as they were, except
  ``docProps/core.xml`` and ``docProps/app.xml`` (written anew with the author, last
  editor, title, subject, keywords, description, company and manager empty) and
  ``docProps/custom.xml`` (dropped, with its relationship and content type).
- **MP4**: the video and audio streams are copied into a new MP4 (PyAV, no re-encoding);
  the container's and the streams' tags are not carried over, nor any other stream.
- A video's playable copy (``FileKind.PLAYABLE``), when there is one, is what is copied:
  experts watch in a browser too. A photo's screen preview and a video's poster (made by
  the works' worker, already bare) are copied as well, for the page; a typed-in text has
  no file, an uploaded .txt has no metadata and is copied as it is.

A copy that cannot be made is FAILED with a code (``MESSAGES``) the secretariat sees
(``copy_problems``); the expert then sees that the file is not available, never the original.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import tempfile
import zipfile
from collections import namedtuple
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from PIL import Image
from sqlalchemy.orm import selectinload

from experience.accounts.models import Role, User
from experience.core import clock, jobs, uploads
from experience.core.errors import RuleError
from experience.core.files import reader
from experience.core.permissions import can
from experience.extensions import db
from experience.screening.models import BlindCopy, CopyState, Entry, Round
from experience.works.media import av  # loaded at its first use: the web workers import this module
from experience.works.models import FileCheck, FileKind, Work, WorkCategory, WorkFile

COPY_JOB = "screening_copies"
#: a video's playable copy may still be on its way when the round opens: the job looks
#: again this often, this many times (an hour in all), before it gives up on it
WAIT_SECONDS = 120
WAIT_TIMES = 30

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

MESSAGES = {
    "source_missing": _l("The work's file is no longer there (removed, or refused by its checks)."),
    "source_not_ready": _l("The playable copy of the video was not ready within an hour."),
    "not_jpeg": _l("The photo is not a complete JPEG, so no copy without its metadata could be made."),
    "not_docx": _l("The text file is not a readable .docx, so no copy without its properties could be made."),
    "not_mp4": _l("The video could not be read, so no copy without its tags could be made."),
    "unsupported": _l("No copy is made of this kind of file."),
    "copy_error": _l("Making the copy failed several times; the worker's log says why."),
}


class CopyError(Exception):
    """A file no clean copy can be made of; ``code`` keys ``MESSAGES``."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def error_message(copy: BlindCopy) -> str:
    """Why a copy failed, in the reader's language."""
    code = (copy.error or "").split(":", 1)[0]
    return str(MESSAGES.get(code, MESSAGES["copy_error"]))


# -- Which files experts need ------------------------------------------------------------


def needed_files(work: Work) -> list[WorkFile]:
    """The files of ``work`` experts get copies of, in the order the page shows them: a
    text's uploaded file; each photo, then its screen preview; the video (its playable copy
    when there is one), then its poster. Never the registration form's scan."""
    files: list[WorkFile] = []
    originals = sorted(work.originals(), key=lambda f: (f.position, f.id))
    if work.category is WorkCategory.TEXT:
        files.extend(originals)
    elif work.category is WorkCategory.PHOTO:
        for photo in originals:
            files.append(photo)
            screen = work.derived(photo, FileKind.PREVIEW_SCREEN)
            if screen is not None:
                files.append(screen)
    else:
        for video in originals[:1]:
            files.append(work.derived(video, FileKind.PLAYABLE) or video)
            poster = work.derived(video, FileKind.POSTER)
            if poster is not None:
                files.append(poster)
    return files


def copies_for(work: Work) -> list[BlindCopy]:
    """The blind copies of the files experts need of ``work`` (``needed_files``'s order),
    whatever their state; a file without a copy yet is left out."""
    files = needed_files(work)
    if not files:
        return []
    by_file = {
        c.file_id: c
        for c in db.session.scalars(sa.select(BlindCopy).where(BlindCopy.file_id.in_([f.id for f in files])))
    }
    return [by_file[f.id] for f in files if f.id in by_file]


# -- Asking for copies ---------------------------------------------------------------------


def request_copies(round_: Round, *, now: datetime, actor=None, work_ids: list[int] | None = None) -> None:
    """Make sure every file the experts of ``round_`` need has a copy: add the missing
    ``BlindCopy`` rows (pending), put failed ones back to pending (opening a round again is
    the way to try again), and record the job that makes them, started once the caller
    commits. Idempotent: a second call adds nothing and starts no second job while one waits.

    :param actor: who the job belongs to (its page); by default a secretary of the works
        secretariat (a re-entry happens on the unit's click, the job is the secretariat's).
    :param work_ids: only these works of the round (a re-entry: the one work sent again)
    """
    stmt = (
        sa.select(Work)
        .join(Entry, Entry.work_id == Work.id)
        .where(Entry.round_id == round_.id)
        .options(selectinload(Work.files))
    )
    if work_ids is not None:
        stmt = stmt.where(Work.id.in_(work_ids))
    works = db.session.scalars(stmt).all()
    wanted = [f for work in works for f in needed_files(work)]
    if not wanted:
        return
    existing = {
        c.file_id: c
        for c in db.session.scalars(sa.select(BlindCopy).where(BlindCopy.file_id.in_([f.id for f in wanted])))
    }
    waiting = False
    for f in wanted:
        copy = existing.get(f.id)
        if copy is None:
            db.session.add(BlindCopy(file_id=f.id, state=CopyState.PENDING, created_at=now))
            waiting = True
        elif copy.state is CopyState.FAILED:
            copy.state, copy.error = CopyState.PENDING, ""
            waiting = True
        elif copy.state is CopyState.PENDING:
            waiting = True
    db.session.flush()
    if waiting and _queued_job(round_.id, now) is None:
        owner = actor if actor is not None and getattr(actor, "id", None) else _secretary()
        if owner is not None:
            _start_after_commit(jobs.start(COPY_JOB, owner=owner, now=now, round_id=round_.id))


def _queued_job(round_id: int, now: datetime) -> jobs.Job | None:
    """The round's copy job waiting or running; one queued long ago is taken as lost (a
    queue emptied by a crash) and does not hold a new one back."""
    for job in db.session.scalars(
        sa.select(jobs.Job).where(
            jobs.Job.kind == COPY_JOB,
            jobs.Job.state.in_([jobs.JobState.QUEUED, jobs.JobState.RUNNING]),
            jobs.Job.created_at > now - timedelta(seconds=WAIT_SECONDS * 2 + jobs.TIME_LIMIT),
        )
    ):
        if job.params.get("round_id") == round_id:
            return job
    return None


def _secretary() -> User | None:
    return db.session.scalar(
        sa.select(User).where(User.role == Role.SECRETARIAT, User.active.is_(True)).order_by(User.id).limit(1)
    )


_AFTER_COMMIT = "screening.copies_after_commit"


def _start_after_commit(job: jobs.Job) -> None:
    """Queue the job once the caller's transaction commits (the worker must find the row
    and the copies'); a rollback forgets it."""
    db.session.info.setdefault(_AFTER_COMMIT, []).append(job.id)


@sa.event.listens_for(db.session, "after_commit")
def _queue_requested(session) -> None:
    due = session.info.pop(_AFTER_COMMIT, None)
    if not due:
        return
    # A session whose transaction just ended can run no SQL; in huey's immediate mode (the
    # tests) the job runs right here, so it gets an app context, hence a session, of its own.
    with current_app.app_context():
        for job_id in due:
            _enqueue(job_id)


@sa.event.listens_for(db.session, "after_soft_rollback")
def _forget_requested(session, previous_transaction) -> None:
    session.info.pop(_AFTER_COMMIT, None)


def _enqueue(job_id: str, delay: int = 0) -> None:
    retry_delay = 0 if jobs.huey.immediate else jobs.RETRY_DELAY
    if delay:
        jobs.run_job.schedule(args=(job_id,), delay=delay, priority=jobs.HEAVY, retry_delay=retry_delay)
    else:
        jobs.huey.enqueue(jobs.run_job.s(job_id, retry_delay=retry_delay, priority=jobs.HEAVY))


# -- The worker ------------------------------------------------------------------------------


@jobs.handler(COPY_JOB)
def make_copies(job: jobs.Job, progress) -> tuple[bytes, str]:
    """Make every pending copy of the round's works. A copy whose source (a video's playable
    copy) is still being made waits: the job looks again later, at most WAIT_TIMES times."""
    round_id, waited = job.params["round_id"], int(job.params.get("waited", 0))
    last_attempt = job.attempts > jobs.RETRIES
    results: dict[str, int] = {"ready": 0, "failed": 0, "waiting": 0, "gone": 0}
    waiting: list[int] = []
    tried: set[int] = set()
    # Copies requested while this job runs (a work sent again) are taken too: the job looks
    # for pending copies again until none is left that it has not tried.
    while ids := [i for i in _pending_copies(round_id) if i not in tried]:
        db.session.commit()  # no transaction stays open while files are copied
        for n, copy_id in enumerate(ids, 1):
            tried.add(copy_id)
            outcome = _make_copy(copy_id, last_attempt=last_attempt)
            results[outcome] += 1
            if outcome == "waiting":
                waiting.append(copy_id)
            progress(n, len(ids))
    if waiting:
        if waited + 1 >= WAIT_TIMES:
            for copy_id in waiting:
                _failed(copy_id, "source_not_ready")
        else:
            owner = db.session.get(User, job.owner_id)
            later = jobs.start(COPY_JOB, owner=owner, now=clock.now(), round_id=round_id, waited=waited + 1)
            db.session.commit()
            _enqueue(later.id, WAIT_SECONDS)
    return json.dumps({"round": round_id, **results}).encode(), "blind-copies.json"


def _pending_copies(round_id: int) -> list[int]:
    return list(
        db.session.scalars(
            sa.select(BlindCopy.id)
            .join(WorkFile, WorkFile.id == BlindCopy.file_id)
            .join(Entry, Entry.work_id == WorkFile.work_id)
            .where(Entry.round_id == round_id, BlindCopy.state == CopyState.PENDING)
            .order_by(BlindCopy.id)
        )
    )


def _make_copy(copy_id: int, *, last_attempt: bool) -> str:
    """Make one copy; returns ready, failed, waiting (its source is still being made) or
    gone (removed meanwhile, or made by another job)."""
    copy = db.session.get(BlindCopy, copy_id)
    if copy is None or copy.state is not CopyState.PENDING:
        return "gone"
    work_file = db.session.get(WorkFile, copy.file_id)
    if work_file.check_state is FileCheck.PENDING:
        db.session.commit()
        return "waiting"
    if work_file.check_state is not FileCheck.PASSED or not work_file.storage_key:
        db.session.commit()
        _failed(copy_id, "source_missing")
        return "failed"
    source_key, source_type = work_file.storage_key, work_file.content_type
    db.session.commit()
    try:
        with uploads.local_copy(source_key) as path:
            key, content_type, size = _clean_copy(Path(path), source_type)
    except FileNotFoundError:
        _failed(copy_id, "source_missing")
        return "failed"
    except CopyError as e:
        _failed(copy_id, e.code)
        return "failed"
    except Exception as e:
        if not last_attempt:
            raise  # core.jobs retries the job; the copies made so far stay made
        _failed(copy_id, f"copy_error: {type(e).__name__}")
        return "failed"
    done = db.session.execute(
        sa.update(BlindCopy)
        .where(BlindCopy.id == copy_id, BlindCopy.state == CopyState.PENDING)
        .values(
            state=CopyState.READY,
            storage_key=key,
            content_type=content_type,
            size=size,
            error="",
            made_at=clock.now(),
        )
    ).rowcount
    db.session.commit()
    if not done:  # its file was removed meanwhile (the copy with it), or another job made it
        uploads.delete_upload(key)
        return "gone"
    return "ready"


def _failed(copy_id: int, error: str) -> None:
    db.session.execute(
        sa.update(BlindCopy)
        .where(BlindCopy.id == copy_id, BlindCopy.state == CopyState.PENDING)
        .values(state=CopyState.FAILED, error=error[:200])
    )
    db.session.commit()


def _clean_copy(path: Path, content_type: str) -> tuple[str, str, int]:
    """Store the clean copy of the file at ``path``: (key, content type, size).

    :raises CopyError: a file that cannot be copied cleanly.
    """
    if content_type == "image/jpeg":
        data = strip_jpeg(path.read_bytes())
        return uploads.store_bytes(data, "blind", "jpg"), "image/jpeg", len(data)
    if content_type == DOCX_TYPE:
        data = strip_docx(path.read_bytes())
        return uploads.store_bytes(data, "blind", "docx"), DOCX_TYPE, len(data)
    if content_type.startswith("text/plain"):
        data = path.read_bytes()  # plain text carries no metadata
        return uploads.store_bytes(data, "blind", "txt"), "text/plain; charset=utf-8", len(data)
    if content_type == "video/mp4":
        with tempfile.TemporaryDirectory(prefix="blind-") as folder:
            target = Path(folder) / "copy.mp4"
            strip_mp4(path, target)
            with open(target, "rb") as f:
                key, written = uploads.store_stream(iter(lambda: f.read(1024 * 1024), b""), "blind", "mp4")
        return key, "video/mp4", written.size
    raise CopyError("unsupported")


# -- JPEG ------------------------------------------------------------------------------------

_SOI, _EOI, _SOS = 0xD8, 0xD9, 0xDA
#: application segments kept, by marker and how their data starts
_KEPT_APP = {
    0xE0: (b"JFIF\0", b"JFXX\0"),
    0xE2: (b"ICC_PROFILE\0",),
    0xEE: (b"Adobe",),
}
_ORIENTATION = 0x0112


def strip_jpeg(data: bytes) -> bytes:
    """The JPEG without its metadata, its coded picture byte for byte (see the module's
    docstring for what stays).

    :raises CopyError: not_jpeg, when the markers do not make a complete JPEG.
    """
    if data[:2] != b"\xff\xd8":
        raise CopyError("not_jpeg")
    orientation = _orientation(data)
    out = [b"\xff\xd8"]
    for marker, segment in _segments(data):
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:
            if any(segment[4:].startswith(p) for p in _KEPT_APP.get(marker, ())):
                out.append(segment)
            continue
        if orientation:  # after the JFIF header, before the tables: where EXIF goes
            out.append(_orientation_segment(orientation))
            orientation = 0
        out.append(segment)
    return b"".join(out)


def _segments(data: bytes):
    """(marker, its bytes) of each segment after the start of image, up to and with the end
    of image; a start of scan's bytes include its coded data. What follows the end (a
    second image, a maker's data) is not read.

    :raises CopyError: not_jpeg.
    """
    i, n = 2, len(data)
    while True:
        while i + 1 < n and data[i] == 0xFF and data[i + 1] == 0xFF:
            i += 1  # fill bytes may stand before a marker
        if i + 1 >= n or data[i] != 0xFF:
            raise CopyError("not_jpeg")
        marker = data[i + 1]
        if marker == _EOI:
            yield marker, b"\xff\xd9"
            return
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn, TEM: no length
            yield marker, data[i : i + 2]
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4]) if i + 4 <= n else (0,)
        end = i + 2 + length
        if length < 2 or end > n:
            raise CopyError("not_jpeg")
        if marker == _SOS:
            scan_end = _scan_end(data, end)
            if scan_end is None:
                raise CopyError("not_jpeg")
            end = scan_end
        yield marker, data[i:end]
        i = end


def _scan_end(data: bytes, i: int) -> int | None:
    """Where the coded data after a start of scan ends: the next marker that is neither a
    stuffed 0xFF00 nor a restart marker."""
    n = len(data)
    while True:
        i = data.find(b"\xff", i)
        if i < 0 or i + 1 >= n:
            return None
        following = data[i + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            i += 2
            continue
        if following == 0xFF:
            i += 1
            continue
        return i


def _orientation(data: bytes) -> int:
    """The EXIF orientation (1–8) the photo is shown by, 0 when upright or unknown."""
    try:  # Pillow reads the headers only
        with Image.open(io.BytesIO(data)) as image:
            value = image.getexif().get(_ORIENTATION, 1)
    except Exception:  # noqa: BLE001 — unreadable EXIF: shown as stored
        return 0
    return value if isinstance(value, int) and 2 <= value <= 8 else 0


def _orientation_segment(orientation: int) -> bytes:
    """An APP1 EXIF segment that says only which way is up (one IFD0 entry)."""
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8)
    tiff += struct.pack(">H", 1) + struct.pack(">HHIHH", _ORIENTATION, 3, 1, orientation, 0) + struct.pack(">I", 0)
    body = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


# -- .docx -----------------------------------------------------------------------------------

_CORE = "docProps/core.xml"
_APP = "docProps/app.xml"
_CUSTOM = "docProps/custom.xml"
_RELS = "_rels/.rels"
_TYPES = "[Content_Types].xml"

_EMPTY_CORE = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
    b'<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"'
    b' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"'
    b' xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    b"<dc:title></dc:title><dc:subject></dc:subject><dc:creator></dc:creator><cp:keywords></cp:keywords>"
    b"<dc:description></dc:description><cp:lastModifiedBy></cp:lastModifiedBy></cp:coreProperties>"
)
_EMPTY_APP = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n'
    b'<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"'
    b' xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
    b"<Company></Company><Manager></Manager></Properties>"
)
_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_TYPES_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
#: a zip entry's date when written again: the original's tells nothing of the work
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def strip_docx(data: bytes) -> bytes:
    """The .docx with its core and app properties emptied and its custom properties gone;
    every other part's bytes as they were (see the module's docstring).

    :raises CopyError: not_docx.
    """
    try:
        names = uploads.check_zip(data, max_total=uploads.DOCX_MAX_TOTAL)
        if _TYPES not in names or "word/document.xml" not in names:
            raise CopyError("not_docx")
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
            for info in src.infolist():
                name = info.filename
                if name == _CUSTOM:
                    continue
                content = _docx_part(name, src.read(name), has_custom=_CUSTOM in names)
                # a fresh entry: no comment, no extra fields (owners, times), a neutral date
                entry = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
                stored = info.compress_type == zipfile.ZIP_STORED
                entry.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
                entry.external_attr = 0o600 << 16
                dst.writestr(entry, content)
    except (RuleError, zipfile.BadZipFile, ElementTree.ParseError, KeyError, OSError, ValueError) as e:
        # a zip too big inside, a damaged directory, a part that will not parse
        raise CopyError("not_docx") from e
    return out.getvalue()


def _docx_part(name: str, data: bytes, *, has_custom: bool) -> bytes:
    """One part of the .docx as the expert's copy has it."""
    if name == _CORE:
        return _EMPTY_CORE
    if name == _APP:
        return _EMPTY_APP
    if name == _RELS and has_custom:
        return _without(data, f"{{{_REL_NS}}}Relationship", "Target", _CUSTOM)
    if name == _TYPES and has_custom:
        return _without(data, f"{{{_TYPES_NS}}}Override", "PartName", "/" + _CUSTOM)
    if name.startswith("word/") and name.endswith((".xml", ".rels")):
        return _anonymous_word_part(name, data)
    if name.startswith("word/media/") and name.lower().endswith((".jpg", ".jpeg")):
        return _stripped_media(data)
    return data


#: who wrote what, inside the document's parts: comments' and tracked changes' authors
#: (w:author, w:initials), the people of people.xml (w15:author, w15:userId, w15:providerId)
_PEOPLE = re.compile(rb'(\s[\w]+:(?:author|initials|userId|providerId))="[^"]*"')
#: a relationship to a file outside the package (the template it was made from, with its path)
_EXTERNAL_TARGET = re.compile(rb'Target="[^"]*"(?=[^>]*TargetMode="External")')


def _anonymous_word_part(name: str, xml: bytes) -> bytes:
    """A part of the document with the names of the people who wrote or changed it
    emptied, and (in the settings' relationships) the attached template's path gone; the
    text itself is the unit's work and stays."""
    xml = _PEOPLE.sub(rb'\1=""', xml)
    if name == "word/_rels/settings.xml.rels":
        xml = _EXTERNAL_TARGET.sub(b'Target="Normal.dotm"', xml)
    return xml


def _stripped_media(data: bytes) -> bytes:
    """A picture inside the document, without its EXIF (the camera's owner…); as it was if
    it is not a JPEG that reads."""
    try:
        return strip_jpeg(data)
    except (CopyError, ValueError, IndexError):
        return data


def _without(xml: bytes, tag: str, attribute: str, value: str) -> bytes:
    """The XML part without the children ``tag`` whose ``attribute`` names ``value``
    (a relationship to, or a content type of, the part dropped)."""
    ElementTree.register_namespace("", _REL_NS if "relationships" in tag else _TYPES_NS)
    root = ElementTree.fromstring(xml)
    for child in list(root):
        target = (child.get(attribute) or "").lstrip("/")
        if child.tag == tag and target == value.lstrip("/"):
            root.remove(child)
    return b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\r\n' + ElementTree.tostring(root)


# -- MP4 -------------------------------------------------------------------------------------


def strip_mp4(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Copy the video and audio streams of ``source`` into a new MP4 at ``target`` without
    any of its tags (title, artist, comment, the streams' names), index first so that it
    plays while it loads.

    :raises CopyError: not_mp4.
    """
    try:
        with av.open(os.fspath(source)) as src:
            # a cover picture is a "video" stream too (with its own JPEG and EXIF): left out
            streams = [
                s
                for s in src.streams
                if s.type in ("video", "audio") and not (s.disposition & av.stream.Disposition.attached_pic)
            ]
            if not any(s.type == "video" for s in streams):
                raise CopyError("not_mp4")
            with av.open(os.fspath(target), "w", format="mp4", options={"movflags": "+faststart"}) as out:
                mapped = {}
                for stream in streams:
                    copy = out.add_stream_from_template(stream)
                    copy.metadata.clear()
                    mapped[stream.index] = copy
                for packet in src.demux(streams):
                    if packet.dts is None:  # the flush packet at each stream's end
                        continue
                    packet.stream = mapped[packet.stream.index]
                    out.mux(packet)
    except CopyError:
        raise
    except (av.FFmpegError, OSError, ValueError) as e:
        raise CopyError("not_mp4") from e


# -- Who may read a copy ---------------------------------------------------------------------

#: what the ``blind_copy`` reader is asked about: a copy, through an assignment
CopyAccess = namedtuple("CopyAccess", "assignment copy")


@reader("blind_copy")
def _read_blind_copy(user, access: CopyAccess) -> bool:
    """An expert reads a ready copy of a file of the work of their own active assignment."""
    assignment, copy = access
    if copy.state is not CopyState.READY or not copy.storage_key:
        return False
    if not can(user, "view_assignment", assignment):
        return False
    return any(c.id == copy.id for c in copies_for(assignment.entry.work))


# -- What the secretariat sees ----------------------------------------------------------------


def copy_states(round_: Round) -> dict[CopyState, int]:
    """How many of the round's copies are pending, ready and failed."""
    rows = db.session.execute(
        sa.select(BlindCopy.state, sa.func.count())
        .join(WorkFile, WorkFile.id == BlindCopy.file_id)
        .join(Entry, Entry.work_id == WorkFile.work_id)
        .where(Entry.round_id == round_.id)
        .group_by(BlindCopy.state)
    )
    counts = dict.fromkeys(CopyState, 0)
    counts.update({state: count for state, count in rows})
    return counts


def copy_problems(round_: Round) -> list[tuple[Work, WorkFile, BlindCopy]]:
    """The round's failed copies with their works and files, for the secretariat."""
    rows = db.session.execute(
        sa.select(Work, WorkFile, BlindCopy)
        .join(WorkFile, WorkFile.id == BlindCopy.file_id)
        .join(Work, Work.id == WorkFile.work_id)
        .join(Entry, Entry.work_id == Work.id)
        .where(Entry.round_id == round_.id, BlindCopy.state == CopyState.FAILED)
        .order_by(Work.id, WorkFile.position, WorkFile.id)
    )
    return [tuple(row) for row in rows]


@uploads.keeps
def _copies(now: float) -> Iterable[str | None]:
    """Every ready copy stays (the sweep removes what nothing points to)."""
    return db.session.scalars(sa.select(BlindCopy.storage_key).where(BlindCopy.storage_key.is_not(None)))
