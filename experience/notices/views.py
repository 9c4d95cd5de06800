from flask import abort, has_request_context, redirect, render_template, request, url_for
from flask_login import current_user

from experience.core import clock
from experience.core.permissions import can
from experience.core.web import writes
from experience.extensions import db
from experience.notices import bp, services


def _scope() -> str | None:
    if not can(current_user, "read_notices"):
        abort(403)
    return services.scope_of(current_user)


@bp.app_context_processor
def notice_helpers() -> dict:
    """The header's unread count, on every page of a reader of notices."""
    unread = 0
    if has_request_context() and request.endpoint != "static" and can(current_user, "read_notices"):
        unread = services.unread_count(services.scope_of(current_user))
    return {"unread_notices": unread, "notice_text": services.text}


@bp.get("/notices")
def index():
    """All notices of the user's province (or of HQ)."""
    scope = _scope()
    return render_template("notices/index.html", notices=services.notices_for(scope, limit=200))


@bp.post("/notices/read")
@writes
def mark_read():
    """Mark every notice as read."""
    services.mark_all_read(_scope(), clock.now())
    db.session.commit()
    return redirect(url_for("notices.index"))
