"""The login on every request: who is there, idle timeout, forced password change, and
a login required on every page that does not say otherwise."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, flash, jsonify, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, logout_user

from experience.accounts import bp
from experience.accounts.models import User
from experience.core import clock
from experience.core.errors import wants_json
from experience.extensions import db, login_manager

#: endpoints reachable without a login (and without a password change)
PUBLIC_ENDPOINTS = {"static", "healthz", "accounts.login", "accounts.language"}

login_manager.login_view = "accounts.login"
login_manager.login_message = _l("Please log in to continue.")
login_manager.session_protection = "basic"
#: what a page's script is told when its login has ended (an idle phone, a logout in
#: another tab): it cannot follow a redirect to the login form, so it says this instead
LOGIN_ENDED = _l(
    "Your login has ended (30 minutes without activity, a logout elsewhere, or a change to the account). Log in again."
)


def _login_ended():
    """No login, for a request that must have one: the login form, or for a script
    asking for JSON, a 401 with a message to show and where to log in."""
    if wants_json():
        return jsonify(ok=False, login=url_for("accounts.login"), message=str(LOGIN_ENDED)), 401
    return login_manager.unauthorized()


@bp.record_once
def _init_login(state) -> None:
    login_manager.init_app(state.app)


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


def _signed_in() -> bool:
    """``current_user.is_authenticated``, without loading anyone for a request whose
    session holds no login: a guest's phone, a screen. flask-login finds a user only
    through the session here (no remember-me cookie, no request loader), so the answer is
    the same; it only skips the user loader and session protection's hash on the
    requests that come in the thousands."""
    return "_user_id" in session and current_user.is_authenticated


@bp.before_app_request
def idle_timeout():
    """End a session 30 minutes after its last request, checked on the server."""
    if not _signed_in():
        return None
    now = clock.now()
    seen = session.get("seen")
    if seen is not None and (now - datetime.fromisoformat(seen)) > current_app.config["IDLE_TIMEOUT"]:
        lang = session.get("lang")
        logout_user()
        session.clear()
        if lang:
            session["lang"] = lang  # the login form, and the message, in the language chosen
        if wants_json():
            return _login_ended()
        flash(_l("You were logged out after 30 minutes without activity."), "info")
        return redirect(url_for("accounts.login", next=request.full_path if request.method == "GET" else None))
    session["seen"] = now.isoformat()
    session.permanent = True
    return None


@bp.before_app_request
def password_change_required():
    if (
        _signed_in()
        and current_user.must_change_password
        and request.endpoint not in PUBLIC_ENDPOINTS | {"accounts.change_password", "accounts.logout"}
    ):
        flash(_l("Please choose a new password before you continue."), "warning")
        return redirect(url_for("accounts.change_password"))
    return None


@bp.before_app_request
def login_required_everywhere():
    """Every page needs a login unless it says otherwise: safer than remembering a
    decorator on each new view."""
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return None
    view = current_app.view_functions.get(request.endpoint)
    if getattr(view, "public", False):
        return None
    if not current_user.is_authenticated:
        return _login_ended()
    return None
