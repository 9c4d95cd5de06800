from __future__ import annotations

import time
from datetime import datetime

import sqlalchemy as sa
from flask import abort, current_app, flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_user

from experience.accounts.models import Province
from experience.campaigns.services import current_campaign
from experience.core import audit, clock
from experience.core.errors import render_error
from experience.core.permissions import client_ip, load, require
from experience.core.web import apply_rule, beijing, public
from experience.extensions import db, limiter
from experience.units import bp, services
from experience.units.forms import HandoverForm, RegistrationForm
from experience.units.models import UNIT_TYPE_LABELS, Unit, UnitType
from experience.units.permissions import visible_units

#: Registration attempts (every submitted form) one address may make in an hour. A unit
#: needs one or two, a few more after a refused password; 10 leaves room for several units
#: behind one office network, and holds one machine to 10 account creations an hour.
REGISTER_PER_ADDRESS = "10 per hour"
#: Registrations that succeed, from all addresses together, in an hour. The call reaches a
#: few thousand units over about two weeks, a few dozen an hour at the last day's peak;
#: 200 holds that rush four times over and caps a spammer with many addresses at 200
#: accounts an hour. Failed attempts do not count, so typing mistakes elsewhere in the
#: country never lock anyone out.
REGISTER_OVERALL = "200 per hour"


def _limit(name: str, default: str):
    """A limit an operator may change in the app's config (UNITS_REGISTER_PER_ADDRESS,
    UNITS_REGISTER_OVERALL) without touching the code."""
    return lambda: current_app.config.get(name, default)


def _refused(message) -> object:
    def answer(limit) -> object:
        until = datetime.fromtimestamp(max(limit.reset_at, time.time()) + 59, clock.UTC).replace(tzinfo=None)
        return make_response(render_error(429, str(message) % {"time": beijing(until, "HH:mm")}))

    return answer


# -- The public pages: the call for works and the registration --------------------------------


@bp.get("/works/call")
@public
def call():
    """The call for works (征集公告) of the current campaign, for anyone."""
    return render_template("units/call.html", campaign=current_campaign())


@bp.route("/units/register", methods=["GET", "POST"])
@public
@limiter.limit(
    _limit("UNITS_REGISTER_PER_ADDRESS", REGISTER_PER_ADDRESS),
    methods=["POST"],
    on_breach=_refused(
        _l(
            "Too many registration attempts came from your network in the last hour. "
            "Please try again after %(time)s (Beijing time)."
        )
    ),
)
@limiter.limit(
    _limit("UNITS_REGISTER_OVERALL", REGISTER_OVERALL),
    key_func=lambda: "all",
    scope="units-register-overall",
    methods=["POST"],
    deduct_when=lambda response: response.status_code == 302,
    on_breach=_refused(
        _l(
            "Very many units registered in the last hour, and registration is paused for a while "
            "to keep out automated sign-ups. Please try again after %(time)s (Beijing time)."
        )
    ),
)
def register():
    """A unit registers itself; its account works at once."""
    if current_user.is_authenticated:
        return redirect(url_for("campaigns.home"))
    provinces = db.session.scalars(sa.select(Province).order_by(Province.code)).all()
    form = RegistrationForm(provinces=provinces)
    if request.method == "GET":
        form.declaration_version.data = services.DECLARATION_VERSION
    registered: list[Unit] = []
    if form.validate_on_submit() and apply_rule(
        lambda: registered.append(
            services.register_unit(
                name=form.name.data,
                credit_code=form.credit_code.data,
                unit_type=UnitType(form.unit_type.data),
                province_code=form.province.data,
                contact_name=form.contact_name.data,
                contact_mobile=form.contact_mobile.data,
                contact_email=form.contact_email.data,
                password=form.password.data,
                declaration_version=form.declaration_version.data or "",
                now=clock.now(),
                ip=client_ip(),
            )
        ),
        refused=lambda e: _field_of(form, e.code).errors.append(str(e)),
    ):
        lang = session.get("lang")
        session.clear()  # a fresh session, as after a login
        if lang:
            session["lang"] = lang
        login_user(registered[0].account)
        session["seen"] = clock.now().isoformat()
        flash(_("Your unit is registered and you are logged in. Your user name is the credit code."), "success")
        return redirect(url_for("units.home"))
    if form.declaration_version.data != services.DECLARATION_VERSION:
        form.declaration_version.data = services.DECLARATION_VERSION
    return render_template(
        "units/register.html", form=form, declaration=services.declaration_text(), campaign=current_campaign()
    )


def _field_of(form: RegistrationForm, code: str):
    """Where a refusal of register_unit is shown."""
    if code.startswith("credit_code") or code in ("code_registered", "account_exists"):
        return form.credit_code
    return {
        "name_required": form.name,
        "contact_required": form.contact_name,
        "mobile": form.contact_mobile,
        "email": form.contact_email,
        "province": form.province,
        "unit_type": form.unit_type,
        "declaration_changed": form.declaration,
    }.get(code, form.password)


# -- The unit's own page -------------------------------------------------------------------


@bp.get("/unit")
@require("submitter")
def home():
    """A submitting unit's start page: its details and its works."""
    unit = db.session.get(Unit, current_user.unit_id)
    return render_template(
        "units/home.html", unit=unit, campaign=current_campaign(), declaration=services.declaration_text()
    )


# -- The secretariat's and the provinces' list; HQ's counts ----------------------------------


@bp.get("/units")
@require("list_units")
def index():
    """Registered units: all for the secretariat, a province's own for its staff (read-only)."""
    args = request.args
    stmt = services.find_units(
        visible_units(current_user, sa.select(Unit)),
        text=args.get("q", ""),
        province_code=args.get("province", "")[:2],
        unit_type=args.get("type", ""),
    ).order_by(Unit.created_at.desc(), Unit.id.desc())
    units = db.session.scalars(stmt.limit(PAGE_SIZE + 1)).all()
    provinces = db.session.scalars(
        visible_units(current_user, sa.select(Province).join(Unit, Unit.province_code == Province.code))
        .distinct()
        .order_by(Province.code)
    ).all()
    return render_template(
        "units/index.html",
        units=units[:PAGE_SIZE],
        more=len(units) > PAGE_SIZE,
        provinces=provinces,
        type_labels=UNIT_TYPE_LABELS,
        args=args,
    )


PAGE_SIZE = 200


@bp.get("/units/<int:unit_id>")
def view(unit_id: int):
    """One unit: its details, its declaration, and for the secretariat what can be done."""
    unit = load(Unit, unit_id, "view_unit")
    return render_template(
        "units/view.html", unit=unit, declaration=services.declaration_text(unit.declaration_version)
    )


@bp.post("/units/<int:unit_id>/active")
@require("manage_units")
def set_active(unit_id: int):
    """Disable a unit (its account stops logging in at once; its works stay) or enable it."""
    unit = load(Unit, unit_id, "manage_units")
    active = request.form.get("active") == "1"
    apply_rule(
        lambda: services.set_unit_active(unit, active, actor=current_user, now=clock.now(), ip=client_ip()),
        done=_("Unit %(name)s enabled.", name=unit.name) if active else _("Unit %(name)s disabled.", name=unit.name),
    )
    return redirect(url_for("units.view", unit_id=unit_id))


@bp.route("/units/<int:unit_id>/handover", methods=["GET", "POST"])
@require("manage_units")
def handover(unit_id: int):
    """Hand a unit's account to the person its sealed letter names."""
    unit = load(Unit, unit_id, "manage_units")
    if unit.account is None:
        abort(404)
    form = HandoverForm()
    temporary: list[str | None] = []
    if form.validate_on_submit() and apply_rule(
        lambda: temporary.append(
            services.hand_over(
                unit,
                actor=current_user,
                now=clock.now(),
                ip=client_ip(),
                reason=form.reason.data,
                contact_name=form.contact_name.data,
                contact_mobile=form.contact_mobile.data,
                contact_email=form.contact_email.data,
                password=form.password.data or "",
            )
        ),
        refused=lambda e: _handover_field(form, e.code).errors.append(str(e)),
    ):
        return render_template("units/handover_done.html", unit=unit, temporary=temporary[0])
    return render_template("units/handover.html", unit=unit, form=form)


def _handover_field(form: HandoverForm, code: str):
    return {
        "reason_required": form.reason,
        "contact_required": form.contact_name,
        "mobile": form.contact_mobile,
        "email": form.contact_email,
    }.get(code, form.password)


@bp.get("/hq/units")
@require("count_units")
def counts():
    """How many units registered, per province and kind: no names, no contacts."""
    by_kind, disabled = services.unit_counts()
    provinces = db.session.scalars(sa.select(Province).order_by(Province.code)).all()
    totals = {t: sum(row.get(t, 0) for row in by_kind.values()) for t in UnitType}
    return render_template(
        "units/counts.html",
        provinces=provinces,
        by_kind=by_kind,
        disabled=disabled,
        totals=totals,
        type_labels=UNIT_TYPE_LABELS,
    )


# -- The audit log: units by name and code -------------------------------------------------

audit.FIELD_LABELS_BY_TARGET["unit"] = {
    "contact_name": _l("Contact person"),
    "contact_mobile": _l("Mobile"),
    "contact_email": _l("E-mail"),
    "password": _l("Password"),
}


@audit.names("unit", "submitting_unit")
def _unit_names(ids: set[str]) -> dict[str, str]:
    numbers = {int(i) for i in ids if i.isdigit() and len(i) <= 18}
    if not numbers:
        return {}
    return {
        str(unit_id): f"{name}（{code}）"
        for unit_id, name, code in db.session.execute(
            sa.select(Unit.id, Unit.name, Unit.credit_code).where(Unit.id.in_(numbers))
        )
    }
