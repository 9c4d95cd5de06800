"""Handing out stored files: who may read one, and the one way to answer with it.

A stored file is only ever sent by a route that has checked access first (``load(...)``
with a permission, or ``may_read_file``); then the route returns ``serve(key, ...)``:

- **HTTP Range** (206, ``Accept-Ranges``, 416 for a range outside the file), so a video
  seeks and a broken download resumes;
- an **ETag** (304 when the browser has it already);
- **caching**: a key names one version of a file, so a URL that carries the version
  (``?v=<version(key)>``, or the key itself) answers the same bytes for ever and is sent
  ``Cache-Control: private, max-age=31536000, immutable``; a URL that names a record
  whose file can be replaced (``/plans/7/document``) is ``private, no-cache``: the browser
  asks again and gets a 304 while the file is the same;
- **hand-off**: with ``STORAGE_X_ACCEL_PREFIX`` set, the answer is headers only and
  ``X-Accel-Redirect: <prefix><key>``; nginx (an ``internal`` location over the store)
  sends the bytes and handles the ranges. An S3-compatible store would hand off the same
  way. The routes do not change.

``may_read_file(user, kind, obj)`` is the single question "may this user read this kind
of file of this record"; capabilities answer it for their kinds with ``@reader("kind")``,
as they register permissions with ``@rule`` (screening and the display screens add their
kinds there).
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from flask import Response, abort, current_app, request
from werkzeug.exceptions import HTTPException
from werkzeug.wsgi import wrap_file

from experience.core import storage

#: a year: what "for ever" is to a cache (RFC 9111 suggests no more)
IMMUTABLE = "private, max-age=31536000, immutable"
REVALIDATE = "private, no-cache"

#: kind of file → rule(user, obj) -> bool, registered by the capabilities
_READERS: dict[str, Callable[[Any, Any], bool]] = {}


def reader(*kinds: str):
    """Register the decorated ``fn(user, obj) -> bool`` as who may read each kind of file."""

    def decorator(fn):
        for kind in kinds:
            if kind in _READERS:
                raise RuntimeError(f"file kind {kind!r} has two readers")
            _READERS[kind] = fn
        return fn

    return decorator


def may_read_file(user, kind: str, obj) -> bool:
    """Whether ``user`` may read the ``kind`` file of ``obj``. ``user`` may be a device
    rather than a login (a display screen): the registered rule decides. An unknown kind
    is a programming error (``ValueError``), never a silent yes or no."""
    check = _READERS.get(kind)
    if check is None:
        raise ValueError(kind)
    return bool(check(user, obj))


def version(key: str) -> str:
    """A short tag of the file version ``key`` names, for ``?v=`` in a URL: it changes
    when the record's file is replaced, and tells nothing about the key."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def serve(key: str, *, mimetype: str, download_name: str | None = None, immutable: bool | None = None) -> Response:
    """Answer the request with the stored file ``key``; 404 when there is none.

    :param download_name: the name to save it under (answered as an attachment); without
        it the browser shows the file (an image, a video).
    :param immutable: whether this URL always means this version; by default, when the
        request's ``v`` is ``version(key)``.
    """
    store = storage.current()
    try:
        size = store.size(key)
    except (FileNotFoundError, storage.InvalidKey):
        abort(404)
    if immutable is None:
        immutable = request.args.get("v") == version(key)
    accel = current_app.config.get("STORAGE_X_ACCEL_PREFIX")
    if accel:
        response = Response(mimetype=mimetype)
        response.headers["X-Accel-Redirect"] = accel.rstrip("/") + "/" + key
    else:
        response = Response(wrap_file(request.environ, store.open(key)), mimetype=mimetype, direct_passthrough=True)
        response.content_length = size
    response.set_etag(f"{version(key)}-{size}")
    response.headers["Cache-Control"] = IMMUTABLE if immutable else REVALIDATE
    if download_name:
        response.headers.set("Content-Disposition", "attachment", **_filename(download_name))
    # nginx answers ranges and conditions itself after the hand-off; without it, werkzeug
    # does (Range, If-Range, If-None-Match), seeking in the stream rather than reading it
    try:
        return response.make_conditional(request, accept_ranges=not accel, complete_length=None if accel else size)
    except HTTPException:  # 416: the stream opened above is closed, not left to the collector
        response.close()
        raise


def _filename(name: str) -> dict[str, str]:
    """Content-Disposition's name parameters: an ASCII fallback and RFC 5987 UTF-8, as
    werkzeug's send_file writes them (Chinese names reach every browser intact)."""
    try:
        name.encode("ascii")
    except UnicodeEncodeError:
        simple = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
        return {"filename": simple or "file", "filename*": "UTF-8''" + quote(name, safe="!#$&+-.^_`|~")}
    return {"filename": name}
