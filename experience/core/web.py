"""Request plumbing shared by every page: login, idle timeout, template helpers."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime

from flask import Flask, abort, current_app, flash, g, redirect, request, session, url_for
from flask_babel import format_date, format_datetime, get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user, logout_user

from experience.accounts.models import User
from experience.core import clock
from experience.core.phone import mask_phone
from experience.extensions import db, login_manager

#: endpoints reachable without a login (and without a password change)
PUBLIC_ENDPOINTS = {"static", "healthz", "accounts.login", "accounts.language"}


@login_manager.user_loader
def load_user(ident: str) -> User | None:
    user_id, _, token = ident.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    # A changed token (logout elsewhere, password change, disabled) ends this session.
    if user is None or not user.active or user.session_token != token:
        return None
    return user


def register(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = _l("Please log in to continue.")
    login_manager.session_protection = "basic"
    for hook in (read_the_body_first, idle_timeout, password_change_required, login_required_everywhere):
        app.before_request(hook)
    app.after_request(no_store_for_pages)
    app.add_template_filter(beijing, "bj")
    app.add_template_filter(day, "day")
    app.add_template_filter(mask_phone, "mask_phone")
    app.context_processor(helpers)


def read_the_body_first():
    """Take the whole request body in before anything touches the database. A POST
    takes SQLite's write lock at its first query (see _tune_sqlite), and a slow
    upload read after that would hold the lock, and every check-in, for its duration."""
    if request.method in ("POST", "PUT", "PATCH") and request.content_length != 0:
        if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
            request.form  # noqa: B018 - parsing reads (and spools) the body
        else:
            request.get_data(cache=True)
    # No text anyone types contains a NUL, and PostgreSQL refuses to store one.
    if any("\x00" in v for v in (*request.args.values(), *request.form.values())):
        abort(400)


def idle_timeout():
    """End a session 30 minutes after its last request, checked on the server."""
    if not current_user.is_authenticated:
        return None
    now = clock.now()
    seen = session.get("seen")
    if seen is not None and (now - datetime.fromisoformat(seen)) > current_app.config["IDLE_TIMEOUT"]:
        logout_user()
        session.clear()
        flash(_l("You were logged out after 30 minutes without activity."), "info")
        return redirect(url_for("accounts.login", next=request.full_path if request.method == "GET" else None))
    session["seen"] = now.isoformat()
    session.permanent = True
    return None


def password_change_required():
    if (
        current_user.is_authenticated
        and current_user.must_change_password
        and request.endpoint not in PUBLIC_ENDPOINTS | {"accounts.change_password", "accounts.logout"}
    ):
        flash(_l("Please choose a new password before you continue."), "warning")
        return redirect(url_for("accounts.change_password"))
    return None


def login_required_everywhere():
    """Every page needs a login unless it says otherwise: safer than remembering a
    decorator on each new view."""
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return None
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, "public", False):
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    return None


def no_store_for_pages(response):
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def beijing(dt: datetime | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    if dt is None:
        return ""
    return format_datetime(clock.aware(dt), fmt)


def day(d) -> str:
    return format_date(d, "yyyy-MM-dd") if d else ""


def helpers():
    from experience.notices.services import unread_count

    unread = 0
    if current_user.is_authenticated and request.endpoint != "static":
        scope = None if current_user.is_hq else current_user.province_code
        if current_user.is_hq or current_user.province_code:
            unread = unread_count(scope)
    from experience.notices.services import text as notice_text

    return {"locale": str(get_locale()), "unread_notices": unread, "notice_text": notice_text}


def small_int(value) -> int | None:
    """A form's id or number: ASCII digits only, nine at most (no "²", no 5,000 nines)."""
    text = str(value or "")
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


def public(view):
    """Mark a view reachable without logging in."""
    view.public = True
    return view


def writes(view):
    """Mark a GET view that writes (an audit entry, a row made on first visit), so that
    on SQLite it takes the write lock at BEGIN rather than failing to upgrade later."""
    view.writes = True
    return view


def request_writes() -> bool:
    from flask import current_app

    if g.get("read_phase"):
        return False
    if request.method not in ("GET", "HEAD"):
        return True
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "writes", False))


@contextmanager
def read_phase():
    """Run the body in a read-only transaction that starts deferred on SQLite, then end it.

    A hot write (a check-in) reads and validates here first, so that the write lock it
    takes afterwards is held only for its few writes. ORM objects loaded before are
    expired at the end: pass ids to what follows.
    """
    db.session.rollback()
    g.read_phase = True
    try:
        yield
    finally:
        db.session.rollback()
        g.read_phase = False
