"""Resumable uploads: the rules of tus 1.0.0 (core, creation, termination, expiration),
apart from HTTP (views.py speaks that).

**Purposes.** A capability registers what it accepts uploads for, with its size limit
and who may upload to which target (``register_purpose``), and what happens to the
complete file (``@on_complete("work-video")``): transfers only moves bytes; it never
judges what they are. The handler takes the stored key and runs its own checks by content
(for works: attach the file and queue the worker's checks), whatever the client claimed.

**Where an upload's state lives.** In its ``Upload`` row and its stored object, never in
a process: every chunk may reach another worker, or later another server. The stored
object's size *is* the offset (``storage.append`` checks the client's offset against it
under a lock and refuses a mismatch, so a retried or racing chunk is never written
twice); the row's ``upload_offset`` follows it after each chunk.

**The SHA-256.** hashlib cannot save a half-done hash anywhere (its state is not
exportable), so a running hash would tie an upload to one process. The file is hashed
once, when its last byte is stored, by reading it back in 1 MB pieces before the write
transaction starts: one more pass over a file the page cache usually still holds
(bench/uploads.py reports what it costs: ``works.upload.completion_hash_s``). A digest
per chunk would be free but would not be the file's SHA-256, which is what the works and
their screening compare.

**Memory.** A chunk's body is read from the socket and appended to the store in 1 MB
pieces (``core.storage.CHUNK``) while it arrives: what a worker holds does not depend on
the chunk's size, nor the file's.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from experience.core import storage, uploads
from experience.core.errors import RuleError
from experience.extensions import db
from experience.transfers.models import EXPIRES_AFTER, Upload

MB = 1024 * 1024

#: unfinished uploads one account may have at once: a unit sends its files one by one,
#: and a few abandoned ones wait for the clean-up; more would only fill the disk
MAX_OPEN_PER_OWNER = 10

MESSAGES = {
    "unknown_purpose": _l("This upload is not for anything this system accepts."),
    "no_length": _l("The upload did not say how big the file is. Please reload the page and try again."),
    "empty": _l("The file is empty."),
    "too_large": _l("The file is larger than %(limit)s MB, the most this upload accepts."),
    "bad_metadata": _l("The upload's description could not be read. Please reload the page and try again."),
    "too_many_open": _l(
        "You have %(limit)s unfinished uploads. Please finish one of them, or wait a day until the unfinished "
        "ones are removed."
    ),
    "offset_mismatch": _l("This part of the file was already received; the upload goes on from %(offset)s bytes."),
    "exceeds_length": _l("More bytes arrived than the file was said to have, so the upload was stopped and removed."),
    "gone": _l(
        "This upload is no longer here (unfinished uploads are removed after a day). Please choose the file again."
    ),
}


def _fail(code: str, **params) -> RuleError:
    return RuleError(code, MESSAGES[code], **params)


# -- Purposes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Purpose:
    name: str
    #: the largest file, read when an upload starts (so a setting applies without a restart)
    max_bytes: Callable[[], int]
    #: who may upload for it at all (a permission of core.permissions, without a record)
    permission: str
    #: whether the user may upload to this target (a work of their own); False answers 404
    owns_target: Callable[[Any, str], bool]
    #: the stored key's prefix and extension (the extension from the user's file name, as
    #: a hint for whoever serves it; the purpose's checks decide what the bytes are)
    key_prefix: str
    extension: Callable[[str], str]

    def new_key(self, filename: str) -> str:
        return uploads.new_key(self.key_prefix, self.extension(filename))


#: name → purpose, and name → what takes a complete file (both registered by capabilities)
_PURPOSES: dict[str, Purpose] = {}
_HANDLERS: dict[str, Callable[..., Callable[[], None] | None]] = {}


def register_purpose(
    name: str,
    *,
    max_bytes: int | Callable[[], int],
    permission: str,
    owns_target: Callable[[Any, str], bool] | None = None,
    key_prefix: str = "upload",
    extension: str | Callable[[str], str] = "",
) -> Purpose:
    """Accept uploads for ``name``.

    :param max_bytes: the limit, or a function giving it (to read the app's config).
    :param owns_target: ``fn(user, target) -> bool``; by default any target is fine.
    :param extension: of the stored key: a fixed one (``"mp4"``) or ``fn(filename)``.
    """
    if name in _PURPOSES:
        raise RuntimeError(f"upload purpose {name!r} is registered twice")
    found = Purpose(
        name=name,
        max_bytes=max_bytes if callable(max_bytes) else (lambda: max_bytes),
        permission=permission,
        owns_target=owns_target or (lambda user, target: True),
        key_prefix=key_prefix,
        extension=extension if callable(extension) else (lambda filename: extension),
    )
    _PURPOSES[name] = found
    return found


def purpose(name: str) -> Purpose | None:
    return _PURPOSES.get(name)


def purposes() -> list[Purpose]:
    return list(_PURPOSES.values())


@dataclass(frozen=True)
class Received:
    """A complete upload, as its purpose's handler gets it."""

    upload_id: str
    purpose: str
    target: str
    #: the stored object: the handler makes it its own (its rows point at the key)
    key: str
    size: int
    #: computed here from the stored bytes
    sha256: str
    #: the user's file name, cleaned (never trusted for the type)
    filename: str


def on_complete(name: str):
    """Register ``fn(received, *, actor, now, ip)`` as what takes a complete upload of the
    purpose ``name``. It runs in the request that stored the last byte, inside the
    transaction that marks the upload complete; it may raise ``RuleError`` to refuse the
    file (the upload and its bytes are then removed and the client is told why), and may
    return a function to run after the commit (to queue a job)."""

    def decorator(fn):
        if name in _HANDLERS:
            raise RuntimeError(f"upload purpose {name!r} has two completion handlers")
        _HANDLERS[name] = fn
        return fn

    return decorator


# -- Creation ------------------------------------------------------------------------------


def parse_metadata(header: str) -> dict[str, str]:
    """tus's Upload-Metadata: ``key base64,key base64,key`` (a key alone has no value).

    :raises RuleError: bad_metadata.
    """
    found: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in (header or "").split(","))):
        key, _, value = pair.partition(" ")
        if not key or " " in value.strip() or key in found:
            raise _fail("bad_metadata")
        try:
            found[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise _fail("bad_metadata") from None
    return found


def parse_length(value: str | None) -> int | None:
    """A byte count from a header: ASCII digits only (no sign, no spaces, no "²"), at most
    18 of them; None for anything else."""
    text = value or ""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def check_length(found: Purpose, length: int | None) -> None:
    """The announced length, judged before a byte is stored.

    :raises RuleError: no_length, empty, too_large (``limit`` in MB).
    """
    if length is None:
        raise _fail("no_length")
    if length == 0:
        raise _fail("empty")
    limit = found.max_bytes()
    if length > limit:
        raise _fail("too_large", limit=limit // MB)


def create_upload(owner, found: Purpose, *, target: str, length: int | None, filename: str, now: datetime) -> Upload:
    """Start an upload of ``length`` bytes: its row, and an empty stored object to append to.
    The caller has checked that ``owner`` may upload for ``found`` to ``target``.

    :raises RuleError: no_length, empty, too_large, too_many_open; nothing is stored then.
    """
    check_length(found, length)
    open_uploads = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Upload)
        .where(Upload.owner_id == owner.id, Upload.completed_at.is_(None), Upload.updated_at > now - EXPIRES_AFTER)
    )
    if open_uploads >= MAX_OPEN_PER_OWNER:
        raise _fail("too_many_open", limit=MAX_OPEN_PER_OWNER)
    name = uploads.clean_filename(filename)
    upload = Upload(
        owner_id=owner.id,
        purpose=found.name,
        target=target,
        length=length,
        upload_offset=0,
        storage_key=found.new_key(name),
        filename=name,
        created_at=now,
        updated_at=now,
    )
    db.session.add(upload)
    db.session.flush()
    # after the row: a failed commit leaves an empty object, which the sweep removes
    storage.current().write(upload.storage_key, ())
    return upload


# -- Chunks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Held:
    """What a chunk's request knows of its upload: read before the body, so that no
    transaction stays open (nor any ORM object waits to be refreshed) while it arrives."""

    id: str
    purpose: str
    target: str
    length: int
    storage_key: str
    filename: str
    complete: bool

    @classmethod
    def of(cls, upload: Upload) -> Held:
        return cls(
            upload.id,
            upload.purpose,
            upload.target,
            upload.length,
            upload.storage_key,
            upload.filename,
            upload.complete,
        )


def offset_of(upload: Upload | Held) -> int:
    """The upload's offset: the size of its stored object (a finished upload's file now
    belongs to its purpose, which may have moved on: its length then).

    :raises RuleError: gone, when the stored object is missing.
    """
    if upload.complete:
        return upload.length
    try:
        return storage.current().size(upload.storage_key)
    except FileNotFoundError:
        raise _fail("gone") from None


class _TooLong(Exception):
    pass


def _at_most(chunks: Iterable[bytes], room: int) -> Iterator[bytes]:
    """The chunks, stopping at once (nothing beyond ``room`` passed on) when more arrive."""
    for chunk in chunks:
        if len(chunk) > room:
            raise _TooLong
        room -= len(chunk)
        yield chunk


@dataclass(frozen=True)
class Outcome:
    offset: int
    complete: bool = False
    #: what the purpose's handler asked to run after the commit (queue a job)
    after_commit: Callable[[], None] | None = None


def receive(
    held: Held, chunks: Iterable[bytes], *, offset: int, declared: int | None, actor, now: datetime, ip: str = ""
) -> Outcome:
    """Append one chunk (a PATCH's body, streamed in pieces) at ``offset``; when the file
    is complete, hash it and hand it to its purpose. The caller commits in every case
    (a refusal included: what it recorded, a removed upload, must stay so).

    Order, so that no transaction is open while bytes arrive or the file is hashed: the
    body goes to the store (no database), then the hash, then one short write.

    :param declared: the request's Content-Length, if any: a chunk that would pass the
        announced length is refused before a byte is read.
    :raises RuleError: gone; offset_mismatch (``offset``: the right one; nothing was
        written); exceeds_length (the upload is removed); or the handler's own refusal
        (the upload is removed).
    Anything else (the client went away mid-chunk) propagates after the bytes that came
    are recorded: the upload resumes from them.
    """
    store = storage.current()
    current = offset_of(held)
    if held.complete or offset != current:
        raise _fail("offset_mismatch", offset=current)
    if declared is not None and offset + declared > held.length:
        discard(held.id)
        raise _fail("exceeds_length")
    try:
        size = store.append(held.storage_key, _at_most(chunks, held.length - offset), offset=offset)
    except storage.OffsetMismatch as e:  # another request got there first
        raise _fail("offset_mismatch", offset=e.actual) from None
    except FileNotFoundError:
        raise _fail("gone") from None
    except _TooLong:
        discard(held.id)
        raise _fail("exceeds_length") from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            _record(held, store.size(held.storage_key), now)
        raise
    if size < held.length:
        _record(held, size, now)
        return Outcome(size)
    digest = store.sha256(held.storage_key)
    if not _record(held, size, now, sha256=digest):
        return Outcome(size, complete=True)  # finished by another request already
    return Outcome(size, complete=True, after_commit=_hand_over(held, size, digest, actor=actor, now=now, ip=ip))


def _record(held: Held, size: int, now: datetime, *, sha256: str | None = None) -> bool:
    """Write the upload's progress; with ``sha256``, claim its completion (one conditional
    UPDATE: exactly one request completes an upload). Returns whether a row changed."""
    values: dict[str, Any] = {"upload_offset": min(size, held.length), "updated_at": now}
    stmt = sa.update(Upload).where(Upload.id == held.id, Upload.completed_at.is_(None))
    if sha256 is not None:
        values.update(completed_at=now, sha256=sha256)
    return db.session.execute(stmt.values(**values)).rowcount == 1


def _hand_over(held: Held, size: int, digest: str, *, actor, now: datetime, ip: str) -> Callable[[], None] | None:
    handler = _HANDLERS.get(held.purpose)
    if handler is None:
        return None
    received = Received(held.id, held.purpose, held.target, held.storage_key, size, digest, held.filename)
    try:
        with db.session.begin_nested():
            return handler(received, actor=actor, now=now, ip=ip)
    except RuleError:
        discard(held.id)
        raise


def discard(upload_id: str) -> None:
    """Remove an upload that will not finish (terminated, exceeded, refused): its row, and
    its stored bytes unless it was complete (they belong to its purpose then)."""
    upload = db.session.get(Upload, upload_id)
    if upload is None:
        return
    key, complete = upload.storage_key, upload.complete
    db.session.delete(upload)
    db.session.flush()
    if not complete:
        storage.current().delete(key)


# -- Expiration ----------------------------------------------------------------------------


def expire(now: datetime) -> int:
    """Remove uploads nobody has added to for ``EXPIRES_AFTER`` (their rows and bytes), and
    the rows of finished ones as old (their files belong to their purposes). Returns how
    many unfinished ones went."""
    cutoff = now - EXPIRES_AFTER
    stale = db.session.execute(
        sa.select(Upload.id, Upload.storage_key).where(Upload.completed_at.is_(None), Upload.updated_at <= cutoff)
    ).all()
    store, removed = storage.current(), 0
    for upload_id, key in stale:
        # only if still untouched: a chunk may have arrived since the select
        gone = db.session.execute(
            sa.delete(Upload).where(Upload.id == upload_id, Upload.completed_at.is_(None), Upload.updated_at <= cutoff)
        ).rowcount
        if gone:
            store.delete(key)
            removed += 1
    db.session.execute(sa.delete(Upload).where(Upload.completed_at <= cutoff))
    return removed


@uploads.keeps
def _uploads(now: float) -> Iterable[str | None]:
    """An upload's bytes stay while its row does: the orphan sweep would otherwise take a
    partial upload left for more than an hour (its own clean-up is ``expire``)."""
    return db.session.scalars(sa.select(Upload.storage_key))
