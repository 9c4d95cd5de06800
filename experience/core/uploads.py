"""Uploaded files: checked by content, named by us, kept outside ``static/``.

Stored under ``UPLOAD_DIR`` (default ``instance/uploads``) with a random key; the key is
what the database keeps. Moving to object storage later means replacing ``_path``,
``save`` and ``open_upload`` here and nothing else.
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

from flask import current_app
from flask_babel import lazy_gettext as _l
from pypdf import PdfReader
from pypdf.errors import PdfReadError
from werkzeug.datastructures import FileStorage

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
}


def sniff(data: bytes) -> str | None:
    """What the bytes are, whatever the file is called: ``pdf``, ``docx`` or None."""
    if data.startswith(b"%PDF-"):
        return "pdf" if _opens_as_pdf(data) else None
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                names = set(z.namelist())
        except zipfile.BadZipFile:
            return None
        if "[Content_Types].xml" in names and "word/document.xml" in names:
            return "docx"
    return None


def _opens_as_pdf(data: bytes) -> bool:
    """A PDF reader opens it and finds at least one page: markers alone prove nothing
    (an HTML file can carry ``%PDF-`` and ``%%EOF`` in comments)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pypdf warns about what it repairs
            return len(PdfReader(io.BytesIO(data)).pages) >= 1
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, RecursionError, OSError):
        return False


def _dir() -> Path:
    d = Path(current_app.config["UPLOAD_DIR"])
    d.mkdir(parents=True, exist_ok=True)
    return d


#: what store_upload and store_bytes name files: an optional prefix, 128 random bits in
#: hex, an optional extension. Anything else is no key of ours, whatever a form sends.
_KEY = re.compile(r"(?:[a-z_]{1,20}-)?[0-9a-f]{32}(?:\.[a-z0-9]{1,5})?")


def _path(key: str) -> Path:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise FileNotFoundError(str(key)[:80])
    return _dir() / key


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
    key = f"{secrets.token_hex(16)}.{found}"
    tmp = _path(key).with_suffix(".part")
    tmp.write_bytes(data)
    os.replace(tmp, _path(key))
    return key, clean_filename(file.filename or f"file.{found}")


def store_bytes(data: bytes, prefix: str, extension: str = "") -> str:
    """Keep bytes we produced or already checked (an import awaiting confirmation, a
    re-encoded photo)."""
    key = f"{prefix}-{secrets.token_hex(16)}" + (f".{extension}" if extension else "")
    tmp = _path(key).with_suffix(".part")
    tmp.write_bytes(data)
    os.replace(tmp, _path(key))
    return key


def read_bytes(key: str, prefix: str) -> bytes:
    if not key.startswith(prefix + "-"):
        raise FileNotFoundError(key)
    return _path(key).read_bytes()


def path_of(key: str) -> Path:
    """Where a stored file is, for the PDF renderer's list of allowed files."""
    return _path(key)


def open_upload(key: str):
    return _path(key).open("rb")


def delete_upload(key: str | None) -> None:
    if key:
        _path(key).unlink(missing_ok=True)


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
    directory = _dir()
    for entry in os.scandir(directory):
        if entry.is_file(follow_symlinks=False):
            yield entry.name, entry.stat(follow_symlinks=False).st_mtime


def sweep(now: float | None = None, *, min_age: float = SWEEP_MIN_AGE) -> list[str]:
    """Delete the files no keeper needs, older than ``min_age`` seconds; returns their names.

    ``now`` is wall-clock time (as file times are), not the app's clock. Run by
    ``flask sweep-uploads``, by the personal-data purge and periodically. Keepers are asked
    first and the store listed after, so a file stored in between is young and spared."""
    now = time.time() if now is None else now
    kept = {key for keeper in _KEEPERS for key in keeper(now) if key}
    removed = []
    for name, mtime in list(stored_files()):
        if now - mtime < min_age or name in kept:
            continue
        with contextlib.suppress(FileNotFoundError):
            (_dir() / name).unlink()
            removed.append(name)
    return removed
