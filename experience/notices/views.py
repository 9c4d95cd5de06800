from flask import abort, has_request_context, redirect, render_template, request, url_for
from flask_login import current_user

from experience.core import clock
from experience.core.permissions import can
from experience.core.web import writes
from experience.extensions import db
from experience.notices import bp, services


def _reader():
    if not can(current_user, "read_notices"):
        abort(403)
    return current_user


@bp.app_context_processor
def notice_helpers() -> dict:
    """The header's unread count, on every page of a reader of notices."""
    unread = 0
    if has_request_context() and request.endpoint != "static" and can(current_user, "read_notices"):
        unread = services.unread_count(current_user)
    return {"unread_notices": unread, "notice_text": services.text}


@bp.app_template_global()
def latest_notices(limit: int = 10) -> list:
    """The reader's latest notices, for a start page's panel (a unit's start page)."""
    if not can(current_user, "read_notices"):
        return []
    return services.notices_for(current_user, limit=limit)


@bp.get("/notices")
def index():
    """All notices to the user: to their account, their role, their province (or HQ)."""
    return render_template("notices/index.html", notices=services.notices_for(_reader(), limit=200))


@bp.post("/notices/read")
@writes
def mark_read():
    """Mark every notice of the reader as read."""
    services.mark_all_read(_reader(), clock.now())
    db.session.commit()
    return redirect(url_for("notices.index"))
