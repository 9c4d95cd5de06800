"""The registration form (服务认证作品登记表, 附件2) of a work, and the sealed scan of it.

The unit prints the form from the work's page, has it sealed and uploads a scan of it
(PDF or JPG). The form carries a QR code with ``submission.qr_text(work)``: the work's
number (作品编号) and the short hash of what the form shows. Reading that code back from
the scan tells which printed version the seal was put on:

- our number and the current hash: the scan is accepted and *read* (``form_read``);
- our number and another hash: refused, the seal is on an older (or newer) version;
- another work's number: refused, it is that work's form;
- no code of ours found: accepted *unread*, flagged for the secretariat (a blurred or
  photographed scan); the unit is advised to scan it sharper.

The first print gives the work its number (``submission.assign_number``); only the unit's
request does. A form is printed only for a complete work (its checks passed, the
commitment and licence accepted for its title): anything less would give a number and a
seal to something that cannot be submitted.

Reading a scan is bounded: at most ``SCAN_MAX_BYTES``, a JPEG of at most
``SCAN_MAX_PIXELS``, a PDF's first ``SCAN_MAX_PAGES`` pages each rendered at
``SCAN_DPI`` (smaller when a page claims to be huge). PDFium must never run in two threads
of a process at once, and the web workers are threaded: a PDF is drawn in a child process
(``scan_pages.py``) with a timeout and a memory limit; a scan it cannot read in time is
accepted unread, like a blurred one. Whether an upload is a PDF at all is pypdf's answer,
as for every other PDF the app takes (``core.uploads``).

Rules as plain functions; the caller commits.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
import warnings
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import zxingcpp
from flask import render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from PIL import Image, ImageOps, UnidentifiedImageError
from PIL.JpegImagePlugin import JpegImageFile
from werkzeug.datastructures import FileStorage

from experience.accounts.models import Province
from experience.core import audit, clock, uploads
from experience.core.errors import RuleError
from experience.core.pdf import render_pdf
from experience.core.phone import mask_phone
from experience.core.qr import qr_svg
from experience.extensions import db
from experience.works import services, submission
from experience.works.models import (
    CheckState,
    FileCheck,
    FileKind,
    RecommendationState,
    Work,
    WorkCategory,
    WorkFile,
)

MB = uploads.MB
#: a sealed A4 page scanned at 300 dpi is 1–5 MB; 20 MB leaves room for colour scans
SCAN_MAX_BYTES = 20 * MB
#: an A4 page at 600 dpi is 35 million pixels; a JPEG beyond this is no scan of one page
SCAN_MAX_PIXELS = 100_000_000
#: the form is one page; a scan of it with a cover or its back is read, the rest is not
SCAN_MAX_PAGES = 3
#: a printed QR of 28 mm is about 220 pixels at this resolution: plenty for zxing
SCAN_DPI = 200
#: pixels a page or photo is decoded at, at most: a PDF page claiming to be metres wide,
#: or a JPEG of 100 million pixels, is read smaller rather than held whole in memory
READ_MAX_PIXELS = 16_000_000

CONTENT_TYPES = {"pdf": "application/pdf", "jpg": "image/jpeg"}

#: the authority whose name the province's recommendation carries on the form
PROVINCE_DEPARTMENT = _l("%(province)s market regulation department")

MESSAGES = {
    "form_not_ready": _l(
        "The registration form can be printed once the work is complete: its text or files in place and all of "
        "them past their checks."
    ),
    "form_declarations": _l(
        "The registration form can be printed once the commitment and the licence are accepted for the work's "
        "current title."
    ),
    "scan_needs_number": _l(
        "Please print the registration form first (printing it gives the work its number), have it sealed, then "
        "upload the scan of the sealed form."
    ),
    "scan_too_large": _l(
        "The scan is %(size)s MB; it may be at most %(limit)s MB. Please scan at 200 to 300 dpi, or save the "
        "scan smaller."
    ),
    "scan_type": _l(
        "The scan must be a PDF or a JPG picture, but “%(name)s” is %(found)s. Please scan the sealed form again "
        "as PDF or JPG."
    ),
    "scan_too_many_pixels": _l(
        "The scan has %(count)s million pixels; at most %(limit)s million can be read. Please scan at 200 to 300 dpi."
    ),
    "scan_other_work": _l(
        "This is the registration form of the work %(found)s, not of this work (%(number)s). Please upload the "
        "sealed form printed from this work's page."
    ),
    "scan_outdated": _l(
        "This scan is of another version of the form: the work has changed since that form was printed. Please "
        "print the current form again, have it sealed, scan it and upload the new scan."
    ),
}

#: what an upload that is neither a PDF nor a JPEG was found to be, for "scan_type"
FOUND = {
    "png": _l("a PNG picture"),
    "html": _l("a web page (HTML)"),
    "pdf_broken": _l("a PDF that cannot be opened (damaged, or locked with a password)"),
    "jpeg_broken": _l("a damaged or incomplete JPG picture"),
    "image": _l("a picture of another format"),
    "other": _l("not a PDF or a picture"),
}


def _fail(code: str, **params) -> RuleError:
    return RuleError(code, MESSAGES[code], **params)


# -- When the form can be printed, and the number --------------------------------------------


def form_refusal(work: Work) -> RuleError | None:
    """Why the work's form cannot be printed now (None: it can)."""
    if work.check_state is not CheckState.READY:
        return _fail("form_not_ready")
    if not services.declarations_current(work):
        return _fail("form_declarations")
    return None


def ensure_number(work: Work, *, actor, now: datetime) -> str:
    """The work's number, given now if it has none. A second request for the same work
    (a double click) waits for the first one's row lock on PostgreSQL, then finds the
    number given (SQLite's write lock, taken at BEGIN, does the same): no number is given
    twice to one work, which would leave the first print with a number the work lost."""
    if work.number:
        return work.number
    db.session.flush()  # the refresh below would otherwise drop the session's pending changes
    db.session.refresh(work, with_for_update=True)
    if work.number:
        return work.number
    return submission.assign_number(work, actor=actor, now=now)


# -- The form's contents ------------------------------------------------------------------------


@dataclass(frozen=True)
class Recommended:
    """What the 推荐单位意见 box shows of a recommendation given."""

    text: str
    department: str
    day: date


def recommended(work: Work) -> Recommended | None:
    """The province's recommendation as the form prints it, or None (the box stays empty)."""
    rec = work.recommendation
    if rec is None or rec.state is not RecommendationState.RECOMMENDED or rec.decided_at is None:
        return None
    text = submission.RECOMMENDATION_TEXTS.get(rec.text_version)
    province = db.session.get(Province, rec.province_code)
    if text is None or province is None:
        return None
    return Recommended(
        text=str(text),
        department=str(PROVINCE_DEPARTMENT) % {"province": province.name},
        day=clock.to_beijing(rec.decided_at).date(),
    )


def form_context(work: Work, *, full_contact: bool) -> dict:
    """What templates/works/regform.html needs.

    :param full_contact: the phone in full (the unit, the secretariat) or masked
    """
    return dict(
        work=work,
        categories=[(c, c is work.category) for c in (WorkCategory.TEXT, WorkCategory.PHOTO, WorkCategory.VIDEO)],
        phone=work.contact_phone if full_contact else mask_phone(work.contact_phone),
        commitment=services.commitment_text(work.title, work.declaration_version or services.DECLARATION_VERSION),
        recommendation=recommended(work),
        qr=qr_svg(submission.qr_text(work)),
        qr_text=submission.qr_text(work),
    )


def form_html(work: Work, *, full_contact: bool) -> str:
    """The form as HTML, in Chinese: 附件2 is a Chinese form, and the printed copy is what
    the unit seals and the secretariat files, whatever language the reader uses."""
    with force_locale("zh_CN"):
        return render_template("works/regform.html", **form_context(work, full_contact=full_contact))


def form_pdf(work: Work, *, full_contact: bool, base_url: str | None = None) -> bytes:
    """The form as an A4 PDF: one page with a summary of 500 字, even beside a title of 200
    characters and a recommendation (a summary of many short lines can run onto a second)."""
    return render_pdf(form_html(work, full_contact=full_contact), base_url=base_url)


# -- Reading a scan -------------------------------------------------------------------------------


def check_scan_size(size: int) -> None:
    """:raises RuleError: scan_too_large."""
    if size > SCAN_MAX_BYTES:
        raise _fail("scan_too_large", size=f"{size / MB:.1f}", limit=SCAN_MAX_BYTES // MB)


def scan_type(data: bytes, filename: str) -> str:
    """What the uploaded bytes are, by their content: ``pdf`` (a PDF that PDFium opens,
    with a page) or ``jpg`` (a JPEG that Pillow decodes to its end). The name only words
    the refusal.

    :raises RuleError: scan_type, scan_too_many_pixels.
    """
    if data.startswith(b"%PDF-"):
        if uploads.opens_as_pdf(data):
            return "pdf"
        found = "pdf_broken"
    elif data.startswith(b"\xff\xd8\xff"):
        if _jpeg_complete(data):
            return "jpg"
        found = "jpeg_broken"
    elif data.startswith(b"\x89PNG\r\n\x1a\n"):
        found = "png"
    elif b"<html" in data[:1024].lower() or data[:1024].lstrip().lower().startswith(b"<!doctype"):
        found = "html"
    else:
        found = "image" if _is_image(data) else "other"
    raise _fail("scan_type", name=filename or "?", found=str(FOUND[found]))


def _jpeg_complete(data: bytes) -> bool:
    """A JPEG whose header Pillow reads, within the pixel limit, ending with its end
    marker (WeasyPrint sets Pillow's LOAD_TRUNCATED_IMAGES for the whole process, so a
    cut-off file would otherwise decode without a word).

    :raises RuleError: scan_too_many_pixels.
    """
    try:
        image = _jpeg(io.BytesIO(data))
        image.verify()
    except (OSError, SyntaxError, ValueError):
        return False
    return data.rstrip(b"\x00\r\n ").endswith(b"\xff\xd9")


def _jpeg(fp) -> JpegImageFile:
    """The JPEG's header read, its size checked against SCAN_MAX_PIXELS: opened as a JPEG
    (its magic bytes say so) rather than through ``Image.open``, whose own guard warns
    from 89 million pixels and refuses from 179 without saying how many there are.

    :raises RuleError: scan_too_many_pixels.
    """
    image = JpegImageFile(fp)
    count = image.width * image.height
    if count > SCAN_MAX_PIXELS:
        image.close()
        raise _fail("scan_too_many_pixels", count=math.ceil(count / 1e6), limit=SCAN_MAX_PIXELS // 1_000_000)
    return image


def _is_image(data: bytes) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):
        return False
    return True


def receive_scan(file: FileStorage | None) -> tuple[services.Stored, list[str]]:
    """A form upload of a scan: its size and content judged, then stored, then its QR
    codes read. Nothing stays stored if any step refuses.

    :raises RuleError: no_file, file_empty, scan_too_large, scan_type, scan_too_many_pixels.
    """
    if file is None or not getattr(file, "filename", ""):
        raise RuleError("no_file", services.MESSAGES["no_file"])
    size = services.upload_size(file)
    if size == 0:
        raise RuleError("file_empty", services.MESSAGES["file_empty"])
    check_scan_size(size)
    extension = scan_type(file.stream.read(SCAN_MAX_BYTES + 1), uploads.clean_filename(file.filename))
    file.stream.seek(0)
    stored = services.receive(file, extension, check_scan_size)

    def read() -> list[str]:
        with uploads.local_copy(stored.key) as path:
            return read_codes(path, CONTENT_TYPES[extension])

    return stored, services._refusing(stored, read)


def read_codes(path: str | Path, content_type: str) -> list[str]:
    """The texts of the QR codes found in a scan (JPEG, or a PDF's first pages), each once,
    in the order found.

    :raises RuleError: scan_too_many_pixels; scan_type for a file that is neither.
    """
    if content_type == "application/pdf":
        return _pdf_codes(path)
    if content_type != "image/jpeg":
        raise _fail("scan_type", name=Path(path).name, found=str(FOUND["other"]))
    found: list[str] = []
    for code in zxingcpp.read_barcodes(_jpeg_image(path), formats=zxingcpp.BarcodeFormat.QRCode):
        if code.text and code.text not in found:
            found.append(code.text)
    return found


#: the child that draws a PDF's pages (run by its path: it imports nothing of the app)
_SCAN_PAGES = Path(__file__).with_name("scan_pages.py")
#: how long a PDF scan may take to read before it is accepted unread
SCAN_READ_SECONDS = 20


def _pdf_codes(path: str | Path) -> list[str]:
    """The QR codes on a PDF's first pages, read by the child process; none when it
    fails or takes too long (the scan is then accepted unread and flagged).

    :raises RuleError: scan_type when PDFium cannot open the file.
    """
    args = [sys.executable, str(_SCAN_PAGES), str(path), str(SCAN_MAX_PAGES), str(SCAN_DPI), str(READ_MAX_PIXELS)]
    try:
        done = subprocess.run(args, capture_output=True, timeout=SCAN_READ_SECONDS, check=False)
        answer = json.loads(done.stdout) if done.returncode == 0 else {}
    except (subprocess.TimeoutExpired, ValueError):
        answer = {}
    if answer.get("broken"):
        raise _fail("scan_type", name=Path(path).name, found=str(FOUND["pdf_broken"]))
    return [str(code) for code in answer.get("codes", [])]


def _jpeg_image(path: str | Path) -> Image.Image:
    """The JPEG upright (its EXIF orientation applied), in greyscale, decoded at a
    reduced size when it is large (JPEG decodes at 1/2, 1/4, 1/8 for the asking)."""
    with _jpeg(str(path)) as image:
        count = image.width * image.height
        if count > READ_MAX_PIXELS:
            f = math.sqrt(READ_MAX_PIXELS / count)
            image.draft("L", (math.ceil(image.width * f), math.ceil(image.height * f)))
        return ImageOps.exif_transpose(image).convert("L")


# -- Attaching the scan ---------------------------------------------------------------------------


def upload_refusal(work: Work, now: datetime) -> RuleError | None:
    """Why the unit cannot upload a sealed scan now (None: it can): the work must be one it
    can change (not submitted, before its deadline or within its return's reopening), its
    form printable, and printed once (the number)."""
    refusal = submission.edit_refusal(work, now)
    if refusal is not None:
        return refusal
    refusal = form_refusal(work)
    if refusal is not None:
        return refusal
    if not work.number:
        return _fail("scan_needs_number")
    return None


def _match(work: Work, codes: list[str]) -> bool:
    """Whether the scan's codes show the current form (True), or none of ours (False).

    :raises RuleError: scan_outdated, scan_other_work.
    """
    ours = [parsed for parsed in map(submission.parse_qr, codes) if parsed is not None]
    current = submission.form_hash(work)
    if any(number == work.number and digest == current for number, digest in ours):
        return True
    if any(number == work.number for number, _digest in ours):
        raise _fail("scan_outdated")
    if ours:
        raise _fail("scan_other_work", found=ours[0][0], number=work.number)
    return False


def attach_form_scan(
    work: Work, stored: services.Stored, codes: list[str], *, actor, now: datetime, ip: str = ""
) -> WorkFile:
    """Make the stored scan the work's sealed form (it replaces the one before, whose bytes
    go on commit). ``codes`` are the QR texts read from it (``read_codes``).

    :raises RuleError: upload_refusal's codes, scan_outdated, scan_other_work; the stored
        file is deleted then.
    """

    def check() -> bool:
        refusal = upload_refusal(work, now)
        if refusal is not None:
            raise refusal
        return _match(work, codes)

    read = services._refusing(stored, check)
    old = work.form_scan
    if old is not None:
        services._discard_after_commit([old.storage_key])
        work.files.remove(old)
    extension = stored.key.rsplit(".", 1)[-1]
    scan = WorkFile(
        kind=FileKind.FORM_SCAN,
        storage_key=stored.key,
        filename=stored.filename,
        size=stored.size,
        sha256=stored.sha256,
        content_type=CONTENT_TYPES.get(extension, "application/octet-stream"),
        check_state=FileCheck.PASSED,
        checked_at=now,
        form_hash=submission.form_hash(work),
        form_read=read,
        created_at=now,
    )
    work.files.append(scan)
    db.session.flush()
    services._touch(work, now)
    audit.record(
        "work.form_scan",
        now=now,
        actor=actor,
        target=work,
        ip=ip,
        number=work.number,
        read=read,
        file=stored.filename,
        form_hash=scan.form_hash,
    )
    return scan


# -- Where the scan stands ----------------------------------------------------------------------


class ScanState:
    """The sealed scan, as the panel shows it."""

    #: printed from the current version, and its QR read
    CURRENT = "current"
    #: accepted for the current version without its QR read: the secretariat checks it
    UNREAD = "unread"
    #: the work changed after the form was printed: print, seal and scan again
    OUTDATED = "outdated"


def scan_state(work: Work) -> str | None:
    scan = work.form_scan
    if scan is None:
        return None
    if not submission.scan_current(work):
        return ScanState.OUTDATED
    return ScanState.CURRENT if scan.form_read else ScanState.UNREAD
