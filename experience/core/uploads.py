"""Uploaded files: checked by content, named by us, kept outside ``static/``.

Every file is stored through ``core.storage`` (``STORAGE_URI``, default the folder
``UPLOAD_DIR``) under a random key; the key is what the database keeps. Nothing here
knows a path: a tool that needs a real file asks for ``local_copy(key)``, and routes
answer a file with ``core.files.serve``.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import secrets
import time
import unicodedata
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from flask_babel import lazy_gettext as _l
from pypdf import PdfReader
from pypdf.errors import PdfReadError
from werkzeug.datastructures import FileStorage

from experience.core import storage
from experience.core.errors import RuleError

MB = 1024 * 1024

KINDS = {
    # kind: (allowed content types, max bytes)
    "attachment": (("pdf", "docx"), 20 * MB),
    "plan_document": (("pdf",), 20 * MB),
}

MESSAGES = {
    "empty": _l("The file is empty."),
    "too_large": _l("The file is larger than %(limit)s MB."),
    "wrong_type": _l("This file is not a real %(types)s file. Please upload the original document."),
    "too_big_inside": _l(
        "This file unpacks to far more than it seems (over %(limit)s MB, or too many or unusually tightly "
        "packed parts), so it was not opened. Please save the document again in Word or WPS and upload that."
    ),
}

# -- Zip files (.docx, .xlsx): what they hold once unpacked, judged before unpacking ---------
# A .docx or .xlsx is a zip, and a zip's directory says how big each part is unpacked: a
# 300 KB file can hold 300 MB of text, or a "zip bomb" of much more. Python's zipfile never
# unpacks a part beyond the size the directory gives it (it stops there and fails the CRC),
# so reading the directory before anything is unpacked bounds every reader that follows.

#: at most this many parts: a document has a few dozen, with every picture one more
ZIP_MAX_MEMBERS = 1000
#: the directory may take this much per part allowed (an entry is 46 bytes, its name and
#: extra fields, a comment): beyond it there are too many parts before they are counted
ZIP_DIRECTORY_BYTES_PER_MEMBER = 1024
#: no part may unpack to more than this many times its packed size (Apache POI's default:
#: real XML packs 5–20×, pictures 1×; a bomb's repeated bytes pack 1,000×) …
ZIP_MAX_RATIO = 100
#: … unless it is this small unpacked, where the ratio does no harm (POI's grace is 100 KB)
ZIP_RATIO_GRACE = 1 * MB
#: what an attached .docx may unpack to in all: a 20 MB document is mostly pictures, which
#: zip does not shrink, so its parts unpack to little more than 20 MB
DOCX_MAX_TOTAL = 100 * MB


def sniff(data: bytes) -> str | None:
    """What the bytes are, whatever the file is called: ``pdf``, ``docx`` or None.

    :raises RuleError: ``too_big_inside``, a zip that would unpack beyond the limits.
    """
    if data.startswith(b"%PDF-"):
        return "pdf" if opens_as_pdf(data) else None
    if data[:4] == b"PK\x03\x04":
        try:
            names = set(check_zip(data, max_total=DOCX_MAX_TOTAL))
        except zipfile.BadZipFile:
            return None
        if "[Content_Types].xml" in names and "word/document.xml" in names:
            return "docx"
    return None


def check_zip(
    data: bytes, *, max_total: int, max_ratio: int = ZIP_MAX_RATIO, max_members: int = ZIP_MAX_MEMBERS
) -> list[str]:
    """The names of the parts of the zip ``data``, once its directory shows it stays within
    bounds; nothing is unpacked.

    :param max_total: bytes all the parts may unpack to together.
    :param max_ratio: how many times its packed size one part (over ``ZIP_RATIO_GRACE``)
        may unpack to.
    :param max_members: how many parts it may have.
    :raises zipfile.BadZipFile: not a zip.
    :raises RuleError: ``too_big_inside`` (``limit`` is ``max_total`` in MB).
    """
    too_big = RuleError("too_big_inside", MESSAGES["too_big_inside"], limit=max_total // MB)
    # zipfile builds one object per entry of the directory, whatever the end record says
    # their number is: 20 MB of directory would be a few hundred MB of them. The size of
    # the directory is what bounds that, so it is checked first.
    if (_directory_size(data) or 0) > max_members * ZIP_DIRECTORY_BYTES_PER_MEMBER:
        raise too_big
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            members = z.infolist()
    except (ValueError, OSError, EOFError) as exc:  # a damaged directory, past what BadZipFile covers
        raise zipfile.BadZipFile(str(exc)[:80]) from exc
    if len(members) > max_members or sum(m.file_size for m in members) > max_total:
        raise too_big
    if any(m.file_size > ZIP_RATIO_GRACE and m.file_size > max_ratio * max(m.compress_size, 1) for m in members):
        raise too_big
    return [m.filename for m in members]


def _directory_size(data: bytes) -> int | None:
    """The size of the zip's directory, found as zipfile finds it (``_EndRecData``): the end
    record at the very end, else the last one in the final 64 KB (after a comment), and
    the zip64 end record just before it when there is one. None when there is none."""
    end = len(data) - 22
    if end < 0 or data[end : end + 4] != b"PK\x05\x06" or data[-2:] != b"\0\0":
        end = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 0xFFFF))
        if end < 0:
            return None
    size = int.from_bytes(data[end + 12 : end + 16], "little")
    zip64 = end - 20 - 56  # the zip64 record, then its 20-byte locator, then the end record
    if zip64 >= 0 and data[end - 20 : end - 16] == b"PK\x06\x07" and data[zip64 : zip64 + 4] == b"PK\x06\x06":
        size = int.from_bytes(data[zip64 + 40 : zip64 + 48], "little")
    return size


def opens_as_pdf(data: bytes) -> bool:
    """A PDF reader opens it and finds at least one page: markers alone prove nothing
    (an HTML file can carry ``%PDF-`` and ``%%EOF`` in comments)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pypdf warns about what it repairs
            return len(PdfReader(io.BytesIO(data)).pages) >= 1
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, RecursionError, OSError):
        return False


#: what new_key makes: an optional prefix, 128 random bits in hex, an optional
#: extension. Anything else is no key of ours, whatever a form sends.
_KEY = re.compile(r"(?:[a-z_]{1,20}-)?[0-9a-f]{32}(?:\.[a-z0-9]{1,5})?")


def new_key(prefix: str = "", extension: str = "") -> str:
    """A fresh key: unguessable, and never taken from the user's file name."""
    return (f"{prefix}-" if prefix else "") + secrets.token_hex(16) + (f".{extension}" if extension else "")


def _ours(key: str) -> str:
    """``key`` if it is one we could have made; a missing file for anything else."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise FileNotFoundError(str(key)[:80])
    return key


def clean_filename(name: str) -> str:
    name = unicodedata.normalize("NFC", os.path.basename(name or "").replace("\\", "/").split("/")[-1])
    name = "".join(c for c in name if c.isprintable() and c not in '<>:"|?*').strip(". ")
    return name[:200] or "file"


def store_upload(file: FileStorage, kind: str) -> tuple[str, str]:
    """Check ``file`` by its content and store it. Returns (key, original name).

    :raises RuleError: empty, too_large or wrong_type; nothing is written then.
    """
    allowed, limit = KINDS[kind]
    data = file.read(limit + 1)
    if not data:
        raise RuleError("empty", MESSAGES["empty"])
    if len(data) > limit:
        raise RuleError("too_large", MESSAGES["too_large"], limit=limit // MB)
    found = sniff(data)
    if found not in allowed:
        raise RuleError("wrong_type", MESSAGES["wrong_type"], types=" / ".join(a.upper() for a in allowed))
    key = new_key(extension=found)
    storage.current().write_bytes(key, data)
    return key, clean_filename(file.filename or f"file.{found}")


def store_bytes(data: bytes, prefix: str, extension: str = "") -> str:
    """Keep bytes we produced or already checked (an import awaiting confirmation, a
    re-encoded photo)."""
    key = new_key(prefix, extension)
    storage.current().write_bytes(key, data)
    return key


def store_stream(chunks: Iterable[bytes], prefix: str, extension: str = "") -> tuple[str, storage.Written]:
    """Keep a stream too big to hold in memory (a video); returns the key, the size and
    the SHA-256. A stream that raises (say, at a size limit) leaves nothing stored."""
    key = new_key(prefix, extension)
    return key, storage.current().write(key, chunks)


def read_bytes(key: str, prefix: str) -> bytes:
    if not key.startswith(prefix + "-"):
        raise FileNotFoundError(key)
    return storage.current().read(_ours(key))


def open_upload(key: str) -> BinaryIO:
    return storage.current().open(_ours(key))


def local_copy(key: str) -> contextlib.AbstractContextManager[Path]:
    """A real file with the stored bytes, for tools that need a path (WeasyPrint, PyAV);
    only inside the ``with`` block, and read-only."""
    return storage.current().local_copy(_ours(key))


def delete_upload(key: str | None) -> None:
    if key:
        storage.current().delete(_ours(key))


# -- What is kept, and the sweep of what nothing points to ----------------------------------

#: functions ``fn(now) -> iterable of keys`` registered by the capabilities with @keeps:
#: every stored file one of their rows (or a live preview) still needs
_KEEPERS: list[Callable[[float], Iterable[str | None]]] = []

#: a file younger than this is never swept: it may belong to an upload still in flight,
#: or to a request that has stored it and not committed its row yet
SWEEP_MIN_AGE = 3600


def keeps(fn: Callable[[float], Iterable[str | None]]):
    """Register ``fn`` as one of the things that keep stored files."""
    _KEEPERS.append(fn)
    return fn


def stored_files() -> Iterator[tuple[str, float]]:
    """(name, modification time) of every file in the store, ours or left over (a
    ``.part`` of a write that died)."""
    return storage.current().list()


def sweep(now: float | None = None, *, min_age: float = SWEEP_MIN_AGE) -> list[str]:
    """Delete the files no keeper needs, older than ``min_age`` seconds; returns their names.

    ``now`` is wall-clock time (as file times are), not the app's clock. Run by
    ``flask sweep-uploads``, by the personal-data purge and periodically. Keepers are asked
    first and the store listed after, so a file stored in between is young and spared."""
    now = time.time() if now is None else now
    kept = {key for keeper in _KEEPERS for key in keeper(now) if key}
    store = storage.current()
    removed = []
    for name, mtime in list(store.list()):
        if now - mtime < min_age or name in kept:
            continue
        with contextlib.suppress(FileNotFoundError):
            store.delete(name)
            removed.append(name)
    return removed


def mimetype_of(name: str) -> str:
    """The content type to answer a stored file with, from the name we gave it."""
    return {
        "pdf": "application/pdf",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "jpg": "image/jpeg",
        "png": "image/png",
        "zip": "application/zip",
    }.get(name.rsplit(".", 1)[-1].lower(), "application/octet-stream")
