from flask import abort, redirect, render_template, url_for
from flask_login import current_user

from experience.accounts.models import Role
from experience.core import clock
from experience.core.web import writes
from experience.extensions import db
from experience.notices import bp, services


def _scope() -> str | None:
    if current_user.role is Role.HQ:
        return None
    if current_user.role is Role.PROVINCE:
        return current_user.province_code
    abort(403)


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
