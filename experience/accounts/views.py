from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from experience.accounts import bp, services
from experience.accounts.forms import ROLE_LABELS, ChangePasswordForm, LanguageForm, LoginForm, UserForm
from experience.accounts.models import Province, Role, User
from experience.accounts.permissions import administered_users
from experience.core import audit, clock
from experience.core.audit import ACTION_LABELS, ACTIONS, AuditEntry
from experience.core.errors import RuleError
from experience.core.permissions import can, client_ip, deny, require
from experience.core.web import apply_rule, public
from experience.extensions import db, limiter


def _safe_next(target: str | None) -> str:
    if target and urlsplit(target).netloc == "" and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("campaigns.home")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"])
def login():
    """The login page."""
    if current_user.is_authenticated:
        return redirect(url_for("campaigns.home"))
    form = LoginForm()
    if form.validate_on_submit():
        cfg = current_app.config
        try:
            user = services.authenticate(
                form.username.data,
                form.password.data,
                ip=client_ip(),
                now=clock.now(),
                per_account=cfg["LOGIN_FAILURES_PER_ACCOUNT"],
                per_ip=cfg["LOGIN_FAILURES_PER_IP"],
                window=cfg["LOGIN_THROTTLE_WINDOW"],
            )
        except RuleError as e:
            # Not apply_rule, which rolls a refusal back: a failed login is committed,
            # because its audit entry is the throttle's memory.
            db.session.commit()
            form.password.errors.append(str(e))
        else:
            db.session.commit()
            next_url = request.args.get("next")
            lang = session.get("lang")
            session.clear()  # a fresh session: nothing from before the login survives but the language
            if lang:
                session["lang"] = lang
            login_user(user)
            session["seen"] = clock.now().isoformat()
            return redirect(_safe_next(next_url))
    return render_template("accounts/login.html", form=form)


@bp.post("/logout")
def logout():
    """Log out, ending every session of this account."""
    services.record_logout(current_user, now=clock.now(), ip=client_ip())
    db.session.commit()
    logout_user()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    flash(_("You are logged out."), "info")
    return redirect(url_for("accounts.login"))


@bp.post("/language")
def language():
    """Switch the interface language (kept in the session cookie)."""
    form = LanguageForm()
    if form.validate_on_submit():
        session["lang"] = form.lang.data
    return redirect(_safe_next(request.referrer and urlsplit(request.referrer).path))


@bp.get("/language/<lang>")
@public
def switch_language(lang: str):
    """The guests' pages switch by a link, not a form: a page with a form carries a CSRF
    token, and the token a session cookie, which a guest's one-tap check-in page would
    otherwise sign and send on every tap. The language is not worth forging a request for."""
    if lang in {choice.value for choice in LanguageForm.lang.kwargs["choices"]}:
        session["lang"] = lang
    return redirect(_safe_next(request.args.get("next")))


@bp.route("/password", methods=["GET", "POST"])
def change_password():
    """Change one's own password; every other session of the account ends."""
    form = ChangePasswordForm()
    if form.validate_on_submit() and apply_rule(
        lambda: services.change_password(
            current_user, form.current.data, form.new.data, now=clock.now(), ip=client_ip()
        ),
        done=_("Your password was changed. Other sessions of your account were ended."),
        refused=lambda e: (form.current if e.code == "wrong_current" else form.new).errors.append(str(e)),
    ):
        login_user(current_user._get_current_object())  # this session goes on, with the new token
        return redirect(url_for("campaigns.home"))
    return render_template("accounts/change_password.html", form=form)


def _administered() -> sa.Select:
    return administered_users(current_user, sa.select(User).order_by(User.role, User.province_code, User.username))


@bp.route("/users", methods=["GET", "POST"])
@require("administer_accounts")
def users():
    """Accounts: HQ sees all; provincial staff see and create their organisers."""
    provinces = db.session.scalars(sa.select(Province).order_by(Province.code)).all()
    form = UserForm(admin=current_user, provinces=provinces)
    temporary = None
    if form.validate_on_submit() and apply_rule(
        lambda: services.create_user(
            username=form.username.data,
            password=form.password.data,
            role=Role(form.role.data),
            province_code=form.province.data or None,
            display_name=form.display_name.data,
            organisation=form.organisation.data,
            actor=current_user,
            now=clock.now(),
            ip=client_ip(),
            must_change_password=True,
        ),
        done=_(
            "Account %(name)s created. The user must change the password at the first login.",
            name=form.username.data.strip(),  # as create_user stores it
        ),
        refused=lambda e: _field_of(form, e.code).errors.append(str(e)),
    ):
        return redirect(url_for("accounts.users"))
    return render_template(
        "accounts/users.html",
        form=form,
        users=db.session.scalars(_administered()).all(),
        role_labels=ROLE_LABELS,
        temporary=temporary,
    )


def _field_of(form: UserForm, code: str):
    """Where a refusal of create_user is shown: the password's policy codes at the password."""
    if code in ("username_taken", "bad_username"):
        return form.username
    if code == "province_required":
        return form.province
    return form.password


def _load_administered(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    if not can(current_user, "administer_account", user):
        deny("user_account", user_id, permission="administer")
    return user


@bp.post("/users/<int:user_id>/reset")
@require("administer_accounts")
def reset_password(user_id: int):
    """Give the user a temporary password, shown once to the administrator."""
    user = _load_administered(user_id)
    temporary = services.reset_password(user, actor=current_user, now=clock.now(), ip=client_ip())
    db.session.commit()
    return render_template("accounts/reset_done.html", user=user, temporary=temporary)


@bp.post("/users/<int:user_id>/active")
@require("administer_accounts")
def set_active(user_id: int):
    """Disable or enable an account; disabling ends its sessions at once."""
    user = _load_administered(user_id)
    active = request.form.get("active") == "1"
    apply_rule(
        lambda: services.set_active(user, active, actor=current_user, now=clock.now(), ip=client_ip()),
        done=_("Account %(name)s enabled.", name=user.username)
        if active
        else _("Account %(name)s disabled.", name=user.username),
    )
    return redirect(url_for("accounts.users"))


PAGE_SIZE = 100


@bp.get("/audit")
@require("hq")
def audit_log():
    """HQ reads the audit log, filtered by action, province, user and date."""
    stmt = sa.select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    action = request.args.get("action", "")
    province = request.args.get("province", "")
    who = request.args.get("who", "").strip()
    if action in ACTIONS:
        stmt = stmt.where(AuditEntry.action == action)
    if province:
        stmt = stmt.where(AuditEntry.province_code == province)
    if who:
        stmt = stmt.where(sa.or_(AuditEntry.actor_name == who, AuditEntry.target_id == who))
    for arg, op in (("from", "__ge__"), ("to", "__lt__")):
        value = request.args.get(arg, "")
        if value:
            try:
                day = clock.datetime.fromisoformat(value).date()
                if not 2000 <= day.year <= 2100:
                    raise ValueError(value)
            except ValueError:
                flash(_("Dates are written as YYYY-MM-DD."), "warning")
                continue
            bound = clock.from_beijing(clock.datetime.combine(day, clock.time.min))
            if arg == "to":
                bound += clock.ONE_DAY
            stmt = stmt.where(getattr(AuditEntry.at, op)(bound))
    page = min(max(1, request.args.get("page", 1, type=int)), 10_000)
    fetched = db.session.scalars(stmt.limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)).all()
    provinces = db.session.scalars(sa.select(Province).order_by(Province.code)).all()
    return render_template(
        "accounts/audit_log.html",
        rows=_readable(fetched[:PAGE_SIZE], {p.code: p.name for p in provinces}),
        more=len(fetched) > PAGE_SIZE,
        page=page,
        actions=ACTIONS,
        labels=ACTION_LABELS,
        provinces=provinces,
        args=request.args,
    )


# -- The log as a person reads it: names, not ids; words, not codes ------------------------

audit.describe_values("role", {r.value: label for r, label in ROLE_LABELS.items()})


def _person(user: User) -> str:
    if not user.display_name or user.display_name == user.username:
        return user.username
    return _("%(name)s (%(username)s)", name=user.display_name, username=user.username)


#: these name their target by what was typed at the login, not by an account's id
TYPED_TARGETS = ("login.failure", "login.throttled")


@audit.names("user", "user_account")
def _user_names(ids: set[str]) -> dict[str, str]:
    numbers = {int(i) for i in ids if i.isdigit() and len(i) <= 18}
    if not numbers:
        return {}
    return {str(u.id): _person(u) for u in db.session.scalars(sa.select(User).where(User.id.in_(numbers)))}


@audit.names("province")
def _province_names(ids: set[str]) -> dict[str, str]:
    return dict(db.session.execute(sa.select(Province.code, Province.name).where(Province.code.in_(ids))).all())


def _readable(entries: list[AuditEntry], province_names: dict[str, str]) -> list[dict]:
    """Each entry with its actor, target, province and details in words: one query for the
    actors and one per kind of target on the page, whatever its length."""
    actor_ids = {e.actor_id for e in entries if e.actor_id is not None}
    actors = (
        {u.id: _person(u) for u in db.session.scalars(sa.select(User).where(User.id.in_(actor_ids)))}
        if actor_ids
        else {}
    )
    targets = audit.target_names([e for e in entries if e.action not in TYPED_TARGETS])
    rows = []
    for e in entries:
        kind = audit.target_label(e)
        if e.action in TYPED_TARGETS:
            name = e.target_id
        else:
            name = targets.get((e.target_type, e.target_id))
            if name is None and e.target_id:
                name = f"#{e.target_id}" if e.target_id.isdigit() else e.target_id
        rows.append(
            {
                "entry": e,
                "actor": actors.get(e.actor_id) or _unnamed_actor(e),
                "target": _("%(kind)s: %(name)s", kind=kind, name=name) if name else kind,
                "province": province_names.get(e.province_code or "", e.province_code or ""),
                "details": audit.detail_items(e),
            }
        )
    return rows


def _unnamed_actor(entry: AuditEntry) -> str:
    if entry.actor_name == "cli":
        return _("command line")
    return entry.actor_name or "—"  # a login attempt names what was typed
