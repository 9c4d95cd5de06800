"""Where stored files live: one interface, no file paths in its contract.

Every stored file (works, plan documents, attachments, photos, import previews, job
results) is an object named by a **key** we generate (random, unguessable; never a user's
file name) and reached only through a :class:`Storage`:

- ``write(key, chunks)`` from a stream of byte chunks, memory flat whatever the size;
  returns the size and the SHA-256 computed while writing. A key is written once: keys
  name versions, so the URL of a stored file never changes what it answers. A write that
  fails (the stream raises, the disk fills) leaves nothing under the key.
- ``append(key, chunks, offset=...)`` adds to an object that exists, for a resumable
  upload (tus) whose chunks arrive in separate requests, on any worker: ``offset`` is the
  size the client believes the object has, and a mismatch (a retried or racing request)
  is refused with :class:`OffsetMismatch` instead of writing twice. Bytes received before
  a stream breaks are kept, as tus expects: the upload resumes from ``size(key)``.
- ``open``, ``read_range``, ``size``, ``exists``, ``delete``, ``list`` (keys with their
  modification time, for the orphan sweep) and ``local_copy(key)``: a real file for the
  tools that need a path (PyAV, WeasyPrint), removed afterwards when it was a copy.

``current()`` is the app's store, chosen by ``STORAGE_URI``: ``file:///srv/uploads`` (the
default is ``UPLOAD_DIR``) or ``memory://`` (tests; one process only). An S3-compatible
store is a third class here; nothing above this module changes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

from flask import current_app

#: what reading and copying move at a time
CHUNK = 1024 * 1024

#: a key: letters, digits, ``_ . -``; not starting with a dot (so neither ``..`` nor a
#: hidden file), never a ``/``. Our keys are stricter still (see ``core.uploads``).
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}")


class InvalidKey(ValueError):
    """Not a key this store could hold (a path, ``..``, a hidden name): a bug or an attack."""


class OffsetMismatch(Exception):
    """``append`` was told another size than the object has: nothing was written."""

    def __init__(self, key: str, expected: int, actual: int):
        super().__init__(f"{key}: expected offset {expected}, the object has {actual} bytes")
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True)
class Written:
    size: int
    #: hex SHA-256 of the bytes, computed as they were written
    sha256: str


def check_key(key: str) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key) or ".." in key:
        raise InvalidKey(repr(key)[:80])
    return key


def _chunks(chunks: Iterable[bytes] | bytes) -> Iterable[bytes]:
    # a bytes object is iterable too, one int at a time: take it as one chunk
    return (chunks,) if isinstance(chunks, (bytes, bytearray, memoryview)) else chunks


class Storage(ABC):
    """The contract every store keeps; ``tests/core/test_storage.py`` runs it on each."""

    @abstractmethod
    def write(self, key: str, chunks: Iterable[bytes]) -> Written:
        """Store the chunks under ``key``, all or nothing.

        :raises FileExistsError: the key holds something already.
        """

    @abstractmethod
    def append(self, key: str, chunks: Iterable[bytes], *, offset: int | None = None) -> int:
        """Add the chunks to the end of ``key``; returns its new size.

        :raises FileNotFoundError: no such object (``write(key, [])`` creates an empty one).
        :raises OffsetMismatch: ``offset`` is given and is not the object's size.
        """

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A seekable binary stream of the object, to be closed by the caller.

        :raises FileNotFoundError: no such object.
        """

    @abstractmethod
    def size(self, key: str) -> int:
        """:raises FileNotFoundError: no such object."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; nothing happens when there is none."""

    @abstractmethod
    def list(self) -> Iterator[tuple[str, float]]:
        """(key, modification time as a Unix timestamp) of everything stored."""

    def write_bytes(self, key: str, data: bytes) -> Written:
        return self.write(key, (data,))

    def read(self, key: str) -> bytes:
        with self.open(key) as f:
            return f.read()

    def read_range(self, key: str, start: int, length: int) -> bytes:
        """At most ``length`` bytes from ``start`` (fewer at the end of the object)."""
        if start < 0 or length < 0:
            raise ValueError("negative range")
        with self.open(key) as f:
            f.seek(start)
            return f.read(length)

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except FileNotFoundError:
            return False
        return True

    def sha256(self, key: str) -> str:
        """The object's SHA-256, read through once (an appended upload, once complete)."""
        h = hashlib.sha256()
        with self.open(key) as f:
            while block := f.read(CHUNK):
                h.update(block)
        return h.hexdigest()

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """A real file with the object's bytes, for tools that only take a path; read it,
        never change it. This one is a temporary copy, removed on leaving."""
        check_key(key)
        suffix = "." + key.rsplit(".", 1)[1] if "." in key else ""
        with self.open(key) as src:
            fd, name = tempfile.mkstemp(prefix="stored-", suffix=suffix)
            try:
                with os.fdopen(fd, "wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
                yield Path(name)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name)


class LocalStorage(Storage):
    """Files on the local disk, one per key in ``root``.

    A write goes to a temporary name (``<random>.part``, which the sweep removes if the
    process dies) and is renamed to its key only when complete, so a half-written file
    is never visible under a key. fsync policy (``fsync=True``): the file's data is
    flushed to disk before the rename and the folder after it, so after a power cut a key
    holds all its bytes or does not exist; an append is flushed before it returns, so the
    offset a resumable upload reports survives a crash. Appends are serialised with an
    exclusive ``flock`` on the file, which holds across the workers of one machine.
    """

    def __init__(self, root: str | os.PathLike, *, fsync: bool = True):
        self.root = Path(root)
        self.fsync = fsync
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def write(self, key: str, chunks: Iterable[bytes]) -> Written:
        target = self._path(key)
        if target.exists():
            raise FileExistsError(key)
        tmp = self.root / f"{secrets.token_hex(16)}.part"
        h, size = hashlib.sha256(), 0
        try:
            with open(tmp, "xb") as f:
                for chunk in _chunks(chunks):
                    f.write(chunk)
                    h.update(chunk)
                    size += len(chunk)
                if self.fsync:
                    f.flush()
                    os.fsync(f.fileno())
            self._publish(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        return Written(size, h.hexdigest())

    def _publish(self, tmp: Path, target: Path) -> None:
        """Give the complete file its key, refusing to replace one there already: a hard
        link fails atomically when the name exists, where a rename would overwrite."""
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise FileExistsError(target.name) from None
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                raise
            # a file system without hard links: a rename, checked just before
            if target.exists():
                raise FileExistsError(target.name) from None
            os.replace(tmp, target)
        else:
            tmp.unlink()
        if self.fsync:
            self._sync_folder()

    def _sync_folder(self) -> None:
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def append(self, key: str, chunks: Iterable[bytes], *, offset: int | None = None) -> int:
        path = self._path(key)
        with open(path, "r+b") as f:  # FileNotFoundError when there is no such object
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            try:
                size = f.seek(0, os.SEEK_END)
                if offset is not None and offset != size:
                    raise OffsetMismatch(key, offset, size)
                try:
                    for chunk in _chunks(chunks):
                        f.write(chunk)
                        size += len(chunk)
                finally:
                    # what arrived before a broken stream is kept (tus resumes from it)
                    f.flush()
                    if self.fsync:
                        os.fsync(f.fileno())
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return size

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list(self) -> Iterator[tuple[str, float]]:
        """Keys, and the leftovers of writes that died (``*.part``) so the sweep finds them."""
        for entry in os.scandir(self.root):
            if entry.is_file(follow_symlinks=False) and _KEY.fullmatch(entry.name):
                yield entry.name, entry.stat(follow_symlinks=False).st_mtime

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """The stored file itself: no copy needed on this store."""
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(key)
        yield path


class MemoryStorage(Storage):
    """Objects in a dict: for tests, and the proof that nothing depends on paths. Each
    process has its own, so it is no store for several workers."""

    def __init__(self):
        self._objects: dict[str, tuple[bytearray, float]] = {}
        self._lock = threading.Lock()

    def write(self, key: str, chunks: Iterable[bytes]) -> Written:
        check_key(key)
        if key in self._objects:
            raise FileExistsError(key)
        data, h = bytearray(), hashlib.sha256()
        for chunk in _chunks(chunks):  # a stream that fails here leaves nothing stored
            data += chunk
            h.update(chunk)
        with self._lock:
            if key in self._objects:
                raise FileExistsError(key)
            self._objects[key] = (data, time.time())
        return Written(len(data), h.hexdigest())

    def _get(self, key: str) -> bytearray:
        check_key(key)
        try:
            return self._objects[key][0]
        except KeyError:
            raise FileNotFoundError(key) from None

    def append(self, key: str, chunks: Iterable[bytes], *, offset: int | None = None) -> int:
        with self._lock:
            data = self._get(key)
            if offset is not None and offset != len(data):
                raise OffsetMismatch(key, offset, len(data))
            try:
                for chunk in _chunks(chunks):
                    data += chunk
            finally:
                self._objects[key] = (data, time.time())
            return len(data)

    def open(self, key: str) -> BinaryIO:
        return io.BytesIO(bytes(self._get(key)))

    def size(self, key: str) -> int:
        return len(self._get(key))

    def delete(self, key: str) -> None:
        check_key(key)
        with self._lock:
            self._objects.pop(key, None)

    def list(self) -> Iterator[tuple[str, float]]:
        with self._lock:
            items = [(k, mtime) for k, (_, mtime) in self._objects.items()]
        yield from items


def from_uri(uri: str, *, default_dir: str | os.PathLike) -> Storage:
    """The store ``STORAGE_URI`` names: ``""`` (``default_dir``), ``file:///path`` or
    ``memory://``."""
    if not uri:
        return LocalStorage(default_dir)
    parts = urlsplit(uri)
    if parts.scheme == "file" and parts.netloc in ("", "localhost") and parts.path:
        return LocalStorage(unquote(parts.path))
    if parts.scheme == "memory":
        return MemoryStorage()
    raise ValueError(f"STORAGE_URI: no store for {uri!r} (file:///path or memory://)")


_made = threading.Lock()


def current() -> Storage:
    """The store of the current app, made on first use from its configuration."""
    app = current_app._get_current_object()
    store = app.extensions.get("experience.storage")
    if store is None:
        with _made:
            store = app.extensions.get("experience.storage")
            if store is None:
                store = from_uri(app.config.get("STORAGE_URI") or "", default_dir=app.config["UPLOAD_DIR"])
                app.extensions["experience.storage"] = store
    return store
