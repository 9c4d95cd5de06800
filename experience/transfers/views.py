"""The tus 1.0.0 server (core protocol, creation, termination, expiration; https://tus.io/protocols/resumable-upload).

=========  ===================  ============================================================
OPTIONS    /transfers/          what the server speaks: version, extensions, largest size
POST       /transfers/          creation: ``Upload-Length`` and ``Upload-Metadata`` (filename,
                                filetype, purpose, target) → 201 and ``Location``
HEAD       /transfers/<id>      ``Upload-Offset``, ``Upload-Length``; never cached
PATCH      /transfers/<id>      ``application/offset+octet-stream`` at ``Upload-Offset`` → 204
                                with the new offset; 409 when the offset is not the server's
DELETE     /transfers/<id>      termination → 204
=========  ===================  ============================================================

**Who.** A logged-in user, as for every page; without a session the answer is 401 rather
than the login page's redirect, which a script cannot follow. An upload answers only its
owner: anyone else gets 404, and the refusal is in the audit log.

**CSRF.** These requests carry no form, so the token the page was rendered with travels in
the ``X-CSRFToken`` header (static/js/upload.js reads it from the page's form) and is
checked here for POST, PATCH and DELETE; Flask-WTF's own check would look for a form field
first, and reading a chunk as a form is what must not happen. Another site's page cannot
read our token, and its cross-site PATCH would not carry our SameSite=Lax cookie anyway.

**The body.** A PATCH is read in pieces straight into the store (``core.web.streams_body``
keeps the app's "read the whole body first" hook off it), with no transaction open
meanwhile: its upload is read first in a read phase, and one short write follows.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import Response, abort, current_app, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import ValidationError, validate_csrf
from werkzeug.exceptions import ClientDisconnected
from werkzeug.http import http_date

from experience.core import clock, storage
from experience.core.errors import RuleError
from experience.core.permissions import can, client_ip, deny
from experience.core.web import read_phase, streams_body
from experience.extensions import csrf, db, login_manager
from experience.transfers import bp, services
from experience.transfers.models import Upload

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,termination,expiration"
OCTETS = "application/offset+octet-stream"

#: a refusal's HTTP status, by its code; anything else a purpose's handler refuses is 422
STATUS = {
    "unknown_purpose": 400,
    "bad_metadata": 400,
    "no_length": 400,
    "empty": 400,
    "too_large": 413,
    "exceeds_length": 413,
    "too_many_open": 429,
    "offset_mismatch": 409,
    "gone": 404,
}

# tus clients get a status, not the login form; CSRF is checked below, from a header
login_manager.blueprint_login_views[bp.name] = None
csrf.exempt(bp)


def _answer(status: int, message: str = "", headers: dict | None = None) -> Response:
    response = Response(message, status=status, mimetype="text/plain")
    for name, value in (headers or {}).items():
        response.headers[name] = str(value)
    return response


def _refused(error: RuleError, headers: dict | None = None) -> Response:
    return _answer(STATUS.get(error.code, 422), str(error), headers)


def _expires(upload: Upload) -> str:
    return http_date(clock.aware(upload.expires_at()))


@bp.before_request
def _speak_tus():
    """Every tus request but discovery names the protocol's version; every one that
    changes something carries the page's CSRF token."""
    if request.method != "OPTIONS" and request.headers.get("Tus-Resumable") != TUS_VERSION:
        return _answer(412, "Tus-Resumable: 1.0.0", {"Tus-Version": TUS_VERSION})
    if request.method in ("POST", "PATCH", "DELETE") and current_app.config.get("WTF_CSRF_ENABLED", True):
        try:
            validate_csrf(request.headers.get("X-CSRFToken"))
        except ValidationError:
            return _answer(403, _("This page has expired. Please reload it and choose the file again."))
    return None


@bp.after_request
def _name_the_protocol(response: Response) -> Response:
    response.headers.setdefault("Tus-Resumable", TUS_VERSION)
    response.headers["Cache-Control"] = "no-store"
    return response


def _own(upload_id: str) -> Upload:
    """The user's upload, or 404: another user's (logged), an unknown or an expired one."""
    upload = db.session.get(Upload, upload_id) if len(upload_id) <= 32 else None
    if upload is None:
        abort(404)
    if not can(current_user, "use_upload", upload):
        deny("upload", upload_id)
    if upload.expired(clock.now()):
        abort(404)
    return upload


@bp.route("/transfers/", methods=["OPTIONS"], provide_automatic_options=False)
def discover():
    """What this server speaks (tus discovery)."""
    largest = max((p.max_bytes() for p in services.purposes()), default=0)
    return _answer(204, headers={"Tus-Version": TUS_VERSION, "Tus-Extension": EXTENSIONS, "Tus-Max-Size": largest})


@bp.route("/transfers/", methods=["POST"], provide_automatic_options=False)
def create():
    """Start an upload for a purpose and a target; its size is judged before any byte comes."""
    if "Upload-Defer-Length" in request.headers:
        return _answer(400, str(services.MESSAGES["no_length"]))
    try:
        meta = services.parse_metadata(request.headers.get("Upload-Metadata", ""))
    except RuleError as e:
        return _refused(e)
    found = services.purpose(meta.get("purpose", ""))
    if found is None:
        return _answer(400, str(services.MESSAGES["unknown_purpose"]))
    if not can(current_user, found.permission):
        abort(403)
    target = meta.get("target", "")
    if len(target) > 64 or not found.owns_target(current_user, target):
        deny("upload_target", f"{found.name}:{target[:64]}")
    try:
        upload = services.create_upload(
            current_user,
            found,
            target=target,
            length=services.parse_length(request.headers.get("Upload-Length")),
            filename=meta.get("filename", ""),
            now=clock.now(),
        )
    except RuleError as e:
        db.session.rollback()
        return _refused(e)
    db.session.commit()
    where = url_for("transfers.offset", upload_id=upload.id)
    return _answer(201, headers={"Location": where, "Upload-Expires": _expires(upload)})


@bp.route("/transfers/<upload_id>", methods=["HEAD"], provide_automatic_options=False)
def offset(upload_id: str):
    """Where the upload stands: the client resumes from here."""
    upload = _own(upload_id)
    try:
        at = services.offset_of(upload)
    except RuleError:
        abort(404)
    headers = {"Upload-Offset": at, "Upload-Length": upload.length}
    if not upload.complete:
        headers["Upload-Expires"] = _expires(upload)
    return _answer(200, headers=headers)


def _body() -> Iterator[bytes]:
    """The request's body in pieces of at most 1 MB, read from the server's input itself:
    werkzeug's own stream would copy every piece twice more on the way (a third of the
    route's cost at 8 MB chunks), and the length is bounded here as it would be there."""
    raw = request.environ["wsgi.input"]
    left = request.content_length
    if left is None:  # chunked transfer: only a server that ends the stream may give one
        if not request.environ.get("wsgi.input_terminated"):
            return
        while piece := raw.read(storage.CHUNK):
            yield piece
        return
    while left > 0:
        piece = raw.read(min(storage.CHUNK, left))
        if not piece:
            raise ClientDisconnected()
        left -= len(piece)
        yield piece


@bp.route("/transfers/<upload_id>", methods=["PATCH"], provide_automatic_options=False)
@streams_body
def append(upload_id: str):
    """Store one chunk at the offset the client names, streamed; the last one completes the
    upload and hands the file to its purpose."""
    if request.mimetype != OCTETS:
        return _answer(415, f"Content-Type: {OCTETS}")
    at = services.parse_length(request.headers.get("Upload-Offset"))
    if at is None:
        return _answer(400, "Upload-Offset")
    with read_phase():
        held = services.Held.of(_own(upload_id))
    # no transaction is open from here until services.receive writes the progress
    try:
        outcome = services.receive(
            held,
            _body(),
            offset=at,
            declared=request.content_length,
            actor=current_user._get_current_object(),
            now=clock.now(),
            ip=client_ip(),
        )
    except RuleError as e:
        db.session.commit()  # a removed upload stays removed
        return _refused(e, {"Upload-Offset": e.params["offset"]} if e.code == "offset_mismatch" else None)
    except (ClientDisconnected, OSError):
        db.session.commit()  # the bytes that came are recorded: the upload resumes from them
        return _answer(400, "the connection broke")
    db.session.commit()
    if outcome.after_commit is not None:
        outcome.after_commit()
    upload = db.session.get(Upload, held.id)
    headers = {"Upload-Offset": outcome.offset}
    if upload is not None and not upload.complete:
        headers["Upload-Expires"] = _expires(upload)
    return _answer(204, headers=headers)


@bp.route("/transfers/<upload_id>", methods=["DELETE"], provide_automatic_options=False)
def terminate(upload_id: str):
    """Give an upload up: its bytes go (a finished one's file stays with its purpose)."""
    upload = _own(upload_id)
    services.discard(upload.id)
    db.session.commit()
    return _answer(204)
