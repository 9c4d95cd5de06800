"""Rule errors and the HTTP error pages."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from experience.core import audit, clock
from experience.extensions import db


class RuleError(Exception):
    """A business rule refused an action. ``code`` is stable; ``message`` is for people."""

    def __init__(self, code: str, message, **params):
        super().__init__(code)
        self.code = code
        self.message = message
        self.params = params

    def __str__(self) -> str:
        return str(self.message) % self.params if self.params else str(self.message)


PAGES = {
    400: (_l("Bad request"), _l("The request could not be understood. Please go back and try again.")),
    403: (_l("Not allowed"), _l("You do not have permission to do this.")),
    404: (_l("Not found"), _l("The page or record does not exist, or you cannot see it.")),
    405: (_l("Not allowed"), _l("This action is not available here.")),
    413: (
        _l("File too large"),
        _l(
            "The upload is larger than this form accepts. Please choose a smaller file (attachments at most "
            "20 MB, photos at most 15 MB; a large video goes up in parts from the work's page)."
        ),
    ),
    429: (_l("Too many requests"), _l("Too many attempts in a short time. Please wait a moment and try again.")),
    500: (
        _l("Something went wrong"),
        _l("The server could not finish this request. Nothing was saved. Please try again later."),
    ),
}


FORM_EXPIRED = _l(
    "For your security the form expires when you have been away for a while. "
    "Please go back, reload the page and submit again."
)


def wants_json() -> bool:
    """The request asks for JSON (a page's script: fetch with ``Accept: application/json``),
    so a refusal answers JSON with a message to show, not a page the script cannot read."""
    return request.accept_mimetypes.best == "application/json"


def render_error(status: int, message=None):
    title, default = PAGES.get(status, PAGES[500])
    return render_template("core/error.html", title=title, message=message or default, status=status), status


def register(app: Flask) -> None:
    for status in PAGES:
        app.register_error_handler(status, lambda e, s=status: render_error(s))

    @app.errorhandler(429)
    def too_many(e):
        # A limit that made its own answer (the failure budget: its page, or JSON for the
        # API) keeps it; Flask would otherwise put this handler's page in its place.
        return e.response if getattr(e, "response", None) is not None else render_error(429)

    @app.errorhandler(403)
    def forbidden(e):
        # Every refusal by role lands in the audit log, whichever view refused (one user's
        # beyond 20 a minute as a count: audit.record_refusal).
        if current_user.is_authenticated:
            db.session.rollback()
            audit.record_refusal(
                now=clock.now(),
                actor=current_user,
                target_type="route",
                target_id=request.endpoint or "",
                ip=request.remote_addr or "",
                path=request.path,
            )
            db.session.commit()
        return render_error(403)

    @app.errorhandler(CSRFError)
    def csrf_error(e):
        # A form left open past the session's life lands here: say so plainly, and
        # offer the way back rather than an English "Bad Request".
        if wants_json():
            return jsonify(ok=False, expired=True, message=str(FORM_EXPIRED)), 400
        return render_template(
            "core/error.html",
            status=400,
            title=_l("This form has expired"),
            message=FORM_EXPIRED,
            back=request.referrer,
        ), 400
