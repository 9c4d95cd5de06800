"""Check-in pages: the guest's phone, the walk-in poster, the desk, the scanner, the API."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import abort, flash, jsonify, make_response, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user

from experience.checkin import api, bp, printouts, services
from experience.checkin.forms import CheckinSettingsForm, ConsentForm, DeskWalkInForm, TokenForm, WalkInForm
from experience.checkin.models import ApiToken, Scan, ScanOutcome
from experience.core import clock, jobs
from experience.core.errors import RuleError
from experience.core.pdf import render_pdf
from experience.core.permissions import client_ip, load
from experience.core.qr import qr_svg
from experience.core.ratelimit import by_code, failure_budget, guest_link_limits, lookup_failed
from experience.core.web import (
    apply_rule,
    beijing,
    confirm_page,
    confirmed,
    download,
    public,
    public_url,
    read_phase,
    takes_json,
    writes,
)
from experience.events.models import Event, GuestCategory
from experience.extensions import csrf, db, limiter
from experience.guests import services as guests
from experience.guests.models import CheckInVia, Guest

#: HTTP status of each answer in the API (and of the phone pages where it matters)
STATUS = api.STATUS


# -- The guest's phone -------------------------------------------------------------------

#: the cookie by which the phone that registered at a poster is recognised there
DEVICE_COOKIE = "walk_in"


def _notice_context(event: Event) -> dict:
    retention = event.campaign.summary_deadline + timedelta(days=90)
    # The authority's name is a proper name: written in Chinese in either language and set
    # apart on a line of its own, never a Chinese fragment inside an English sentence.
    with force_locale("zh_CN"):
        collector = _("%(province)s market regulation department", province=event.province.name)
    return {"collector": collector, "retention": retention}


def _window_context(event: Event | services.EventWindow, now) -> dict:
    """Whether check-in is open now, and if not, the sentence that says when (Beijing time)."""
    window = services.window_state(event, now)
    return {
        "window": window,
        "window_message": services.window_message(event, now, beijing) if window != "open" else "",
    }


@bp.route("/c/<code>", methods=["GET", "POST"])
@public
@csrf.exempt
@guest_link_limits("20 per minute")
def guest(code: str):
    """The link in a guest's QR: see the event, agree to the notice, check in with one tap."""
    now = clock.now()
    # "<code>?x" is not a code, whatever it contains: it is scanned as nothing at all
    raw = code if services.extract_code(code) == code else ""
    # the tick as the form's BooleanField reads it, without building the form a tap
    # never shows (a form costs the one-tap page more than its write)
    ticked = request.method == "POST" and request.form.get("consent", "") not in ("", "false")
    # a tap with the tick goes straight to its one write; anything else is read first
    tapped = ticked and bool(raw)
    with read_phase():  # a phone only reads until its one write: no write lock before it
        guest = db.session.scalar(sa.select(Guest).where(Guest.code == raw)) if raw and not tapped else None
        if guest is None and request.method == "GET":  # looking writes nothing
            result = services.assess(raw, now=now)
            if result.result != "revoked":  # a withdrawn code was real: it spends no failure budget
                lookup_failed()
                result = services.ScanResult("unknown")
            return _problem(result)
        if guest is not None and (request.method == "GET" or (guest.consent_at is None and not ticked)):
            window = _window_context(guest.event, now)
            # the missing tick is the reason only when there was a button to tap
            refused = request.method == "POST" and window["window"] == "open"
            return render_template(
                "checkin/guest.html",
                guest=guest,
                event=guest.event,
                form=ConsentForm(),
                errors=[str(services.MESSAGES["consent_required"])] if refused else [],
                needs_consent=guest.consent_at is None,
                **window,
                **_notice_context(guest.event),
            )
    # every tap is a scan, kept in the log: the first, a second one, an unknown code
    result = services.scan(raw, via=CheckInVia.PHONE, now=now, ip=client_ip(), consent=True)
    with read_phase():
        if result.result in ("unknown", "revoked"):
            if result.result == "unknown":
                lookup_failed()
            return _problem(result)
        # the event card from the window the scan kept (read only when it was not kept)
        event = services.event_window(result.event_id)
        name = result.guest_name if result.guest_name is not None else db.session.get(Guest, result.guest_id).name
        return render_template(
            "checkin/guest_result.html",
            event=event,
            result=result,
            code=code,
            guest_name=name,
            message=services.message(result, event, beijing),
            time=beijing(result.checked_in_at),
            **_window_context(event, now),
        ), 409 if result.result == "not_open" else 200


def _problem(result: services.ScanResult):
    """An unknown or withdrawn code: say so, and nothing else (no event, no guest)."""
    status = 410 if result.result == "revoked" else 404
    return render_template("checkin/guest_problem.html", result=result.result, message=services.message(result)), status


def _same_person(own: Guest, form: WalkInForm) -> bool:
    """The phone's own guest sent again (the same mobile, or without one the same name):
    a repeat of the registration, not a second person."""
    if form.phone.data:
        return form.phone.data == own.phone
    return form.name.data == own.name


def _walk_in_result(event: Event, guest: Guest, result: services.ScanResult, *, again: bool = False):
    return render_template(
        "checkin/guest_result.html",
        event=event,
        result=result,
        code=guest.code,
        guest_name=guest.name,
        walk_in=True,
        again=again,
        message=services.message(result, event, beijing),
        time=beijing(result.checked_in_at),
        link=public_url("checkin.guest", code=guest.code),
    )


@bp.route("/w/<code>", methods=["GET", "POST"])
@public
@csrf.exempt
@limiter.limit("300 per minute", key_func=by_code, methods=["POST"])
@limiter.limit("600 per minute", methods=["POST"])
@failure_budget("code")
def walk_in(code: str):
    """The walk-in poster's page: a short form, then checked in with a code of one's own.

    The phone that registered is recognised here (a signed cookie, for this poster only)
    and sees its own result again, with its link; any other repeat of a listed mobile
    gets one answer that names nobody."""
    event = (
        db.session.scalar(sa.select(Event).where(Event.walk_in_code == code)) if services.extract_code(code) else None
    )
    if event is None:
        lookup_failed()
        abort(404)
    if event.is_cancelled:  # a real poster: it spends no failure budget
        abort(404)
    form = WalkInForm()
    now = clock.now()
    # the phone's own registration first: its link stays reachable when walk-ins stop
    own = services.device_guest(event, request.cookies.get(DEVICE_COOKIE))
    if own is not None and own.checked_in_at is not None:
        again = services.ScanResult(ScanOutcome.ALREADY_CHECKED_IN, own.id, event.id, own.checked_in_at)
        if request.method == "GET" and not request.args.get("another"):
            return _walk_in_result(event, own, again, again=True)
        if request.method == "POST" and form.validate() and _same_person(own, form):
            return _walk_in_result(event, own, again, again=True)
    if not event.walk_ins_enabled:
        return render_template(
            "checkin/guest_problem.html", result="walk_ins_closed", message=services.MESSAGES["walk_ins_closed"]
        ), 409
    window = _window_context(event, now)
    if window["window"] != "open":  # say so before anyone fills in the form
        return render_template(
            "checkin/walk_in.html", event=event, form=None, **window, **_notice_context(event)
        ), 200 if request.method == "GET" else 409
    if form.validate_on_submit():
        try:
            result, guest = services.walk_in(
                event,
                name=form.name.data,
                category=GuestCategory(form.category.data),
                organisation=form.organisation.data or "",
                phone=form.phone.data or None,
                consent=form.consent.data,
                now=now,
                ip=client_ip(),
            )
        except RuleError as e:
            # Not apply_rule, which rolls a refusal back: a "full" refusal is still a scan
            # worth keeping, so the refusal is committed too.
            db.session.commit()
            return render_template(
                "checkin/guest_problem.html",
                result=e.code,
                message=services.message(services.ScanResult(e.code), event, beijing)
                if e.code == "not_open"
                else str(e),
            ), 409
        db.session.commit()
        response = make_response(_walk_in_result(event, guest, result))
        response.set_cookie(
            DEVICE_COOKIE,
            services.device_ticket(guest),
            max_age=int(services.DEVICE_TICKET_AGE.total_seconds()),
            path=url_for("checkin.walk_in", code=event.walk_in_code),
            secure=request.is_secure,
            httponly=True,
            samesite="Lax",
        )
        return response
    return render_template(
        "checkin/walk_in.html",
        event=event,
        form=form,
        errors=[e for errors in form.errors.values() for e in errors],
        **window,
        **_notice_context(event),
    )


# -- The desk -----------------------------------------------------------------------------


def _managed_event(event_id: int) -> Event:
    return load(Event, event_id, "edit_event")


@bp.route("/events/<int:event_id>/desk", methods=["GET", "POST"])
def desk(event_id: int):
    """The check-in desk: search, one-tap check-in, undo, live counts, latest arrivals; and
    (the form posted here) registering a walk-in who has no smartphone."""
    event = _managed_event(event_id)
    query = request.args.get("q", "")
    form = DeskWalkInForm(prefix="walkin")
    status = 200
    if form.validate_on_submit():
        try:
            _result, guest = services.walk_in(
                event,
                name=form.name.data,
                category=GuestCategory(form.category.data),
                organisation=form.organisation.data or "",
                consent=form.consent.data,
                now=clock.now(),
                ip=client_ip(),
                actor=current_user,
            )
        except RuleError as e:
            # As on the poster: a "full" refusal is a scan worth keeping, so it is committed.
            db.session.commit()
            form.form_errors.append(
                services.window_message(event, clock.now(), beijing) if e.code == "not_open" else str(e)
            )
            status = 409
        else:
            db.session.commit()
            flash(_("%(name)s: registered as a walk-in and checked in.", name=guest.name), "success")
            return redirect(url_for("checkin.desk", event_id=event.id, q=guest.name))
    found = guests.search(event, query) if query.strip() else []
    if request.method == "GET" and query.strip() and not found and not query.strip().isdigit():
        form.name.data = query.strip()  # nobody on the list by this name: the form starts with it
    return render_template(
        "checkin/desk.html",
        event=event,
        query=query,
        found=found,
        form=form,
        counts=guests.counts(event),
        latest=_latest(event),
        now=clock.now(),
        undo_window=services.UNDO_WINDOW,
        **_notice_context(event),
    ), status


def _latest(event: Event, limit: int = 10) -> list[Guest]:
    return list(
        db.session.scalars(
            sa.select(Guest)
            .where(Guest.event_id == event.id, Guest.checked_in_at.is_not(None))
            .order_by(Guest.checked_in_at.desc(), Guest.id.desc())
            .limit(limit)
        )
    )


@bp.get("/events/<int:event_id>/desk/live")
def desk_live(event_id: int):
    """Counts and latest arrivals as JSON, polled by the desk page."""
    event = _managed_event(event_id)
    counts = guests.counts(event)
    return jsonify(
        counts=[
            {
                "category": c.category.value,
                "label": str(c.category.label),
                "invited": c.invited,
                "arrived": c.arrived,
                "walk_ins": c.walk_ins,
            }
            for c in counts
        ],
        totals={
            "invited": sum(c.invited for c in counts),
            "arrived": sum(c.arrived for c in counts),
            "walk_ins": sum(c.walk_ins for c in counts),
        },
        latest=[
            {"name": g.name, "category": str(g.category.label), "at": beijing(g.checked_in_at)} for g in _latest(event)
        ],
    )


def _desk_guest(event: Event, guest_id: int) -> Guest:
    guest = db.session.get(Guest, guest_id)
    if guest is None or guest.event_id != event.id:
        abort(404)
    return guest


@bp.post("/events/<int:event_id>/desk/guests/<int:guest_id>/checkin")
def desk_check_in(event_id: int, guest_id: int):
    """One tap at the desk, for a guest without a phone."""
    with read_phase():
        event = _managed_event(event_id)
        guest = _desk_guest(event, guest_id)
        code, name, actor_id = guest.code, guest.name, current_user.id
    result = services.scan(
        code, via=CheckInVia.DESK, now=clock.now(), scanner_event_id=event_id, actor_id=actor_id, ip=client_ip()
    )
    with read_phase():
        event = db.session.get(Event, event_id)
        text = _("%(name)s: %(message)s", name=name, message=services.message(result, event, beijing))
        flash(text, "success" if result.ok else "warning")
    return redirect(url_for("checkin.desk", event_id=event_id, q=request.form.get("q", "")))


@bp.post("/events/<int:event_id>/desk/guests/<int:guest_id>/undo")
def desk_undo(event_id: int, guest_id: int):
    """Undo a check-in made by mistake (same staff member, within 15 minutes), after a
    confirmation step of its own page."""
    event = _managed_event(event_id)
    guest = _desk_guest(event, guest_id)
    back = url_for("checkin.desk", event_id=event.id, q=request.form.get("q", ""))
    now = clock.now()
    try:  # what would be refused is refused now, not after the confirmation
        services.check_undo(guest, actor=current_user, now=now)
    except RuleError as e:
        db.session.rollback()
        flash(str(e), "error")
        return redirect(back)
    if not confirmed():
        return confirm_page(
            _("Undo the check-in of %(name)s?", name=guest.name),
            explain=_(
                "%(name)s was checked in at %(time)s and will count as not arrived again. Undo only a "
                "check-in made by mistake; the scan log keeps both.",
                name=guest.name,
                time=beijing(guest.checked_in_at, "HH:mm"),
            ),
            button=_("Undo check-in"),
            back=back,
            danger=True,
        )
    apply_rule(
        lambda: services.undo_check_in(guest, actor=current_user, now=now, ip=client_ip()),
        done=_("The check-in of %(name)s was undone.", name=guest.name),
    )
    return redirect(back)


@bp.get("/events/<int:event_id>/scanner")
def scanner(event_id: int):
    """The staff scanner: the device camera reads guests' QR codes."""
    event = _managed_event(event_id)
    host = request.host.split(":")[0]
    insecure = not request.is_secure and host not in ("localhost", "127.0.0.1", "[::1]")
    return render_template("checkin/scanner.html", event=event, insecure=insecure)


@bp.post("/events/<int:event_id>/scanner/scan")
@takes_json
def scanner_scan(event_id: int):
    """What the scanner page posts for each code it reads (JSON, with the CSRF header)."""
    with read_phase():
        _managed_event(event_id)
        actor_id = current_user.id
    data = request.get_json(silent=True)
    data = data if isinstance(data, dict) else {}
    result = services.scan(
        str(data.get("code", ""))[:500],
        via=CheckInVia.DESK,
        now=clock.now(),
        scanner_event_id=event_id,
        actor_id=actor_id,
        ip=client_ip(),
    )
    with read_phase():  # the answer only reads: no write lock for it (scan has committed)
        return _api_answer(result, event_id)


# -- Settings and tokens ------------------------------------------------------------------


@bp.route("/events/<int:event_id>/checkin", methods=["GET", "POST"])
def setup(event_id: int):
    """Check-in settings, the poster, the sign-in sheet and the scanner API tokens."""
    event = _managed_event(event_id)
    form = CheckinSettingsForm(obj=event)
    if form.validate_on_submit():
        values = {k: getattr(form, k).data for k in services.SETTINGS}
        apply_rule(
            lambda: services.update_settings(event, actor=current_user, now=clock.now(), ip=client_ip(), **values),
            done=_("The check-in settings were saved."),
        )
        return redirect(url_for("checkin.setup", event_id=event.id))
    tokens = db.session.scalars(
        sa.select(ApiToken).where(ApiToken.event_id == event.id).order_by(ApiToken.created_at.desc())
    ).all()
    last_used = dict(
        db.session.execute(
            sa.select(Scan.api_token_id, sa.func.max(Scan.at))
            .where(Scan.event_id == event.id, Scan.api_token_id.is_not(None))
            .group_by(Scan.api_token_id)
        ).all()
    )
    return render_template(
        "checkin/setup.html",
        event=event,
        form=form,
        token_form=TokenForm(),
        tokens=tokens,
        last_used=last_used,
        new_token=None,
        poster_url=public_url("checkin.walk_in", code=event.walk_in_code),
    )


@bp.post("/events/<int:event_id>/tokens")
def create_token(event_id: int):
    """Create a scanner API token, shown once."""
    event = _managed_event(event_id)
    form = TokenForm()
    if not form.validate_on_submit():
        flash(_("Please name the device."), "error")
        return redirect(url_for("checkin.setup", event_id=event.id))
    token, plain = services.create_api_token(event, form.name.data, actor=current_user, now=clock.now(), ip=client_ip())
    db.session.commit()
    return render_template("checkin/token_created.html", event=event, token=token, plain=plain)


@bp.post("/events/<int:event_id>/tokens/<int:token_id>/revoke")
def revoke_token(event_id: int, token_id: int):
    """Revoke a scanner API token at once."""
    event = _managed_event(event_id)
    token = db.session.get(ApiToken, token_id)
    if token is None or token.event_id != event.id:
        abort(404)
    apply_rule(
        lambda: services.revoke_api_token(token, actor=current_user, now=clock.now(), ip=client_ip()),
        done=_("The token was revoked."),
    )
    return redirect(url_for("checkin.setup", event_id=event.id))


# -- The scanner API ----------------------------------------------------------------------


def _api_answer(result: services.ScanResult, event_id: int | None):
    body, status = api.answer(result, event_id)
    return jsonify(body), status


def _api_error(status: int, code: str, message: str):
    return jsonify(result=code, message=message), status


def _bearer() -> str | None:
    return api.bearer(request.headers.get("Authorization"))


@bp.post(api.PATH)
@public
@takes_json
@csrf.exempt
@limiter.limit(api.RATE, key_func=lambda: api.token_rate_key(_bearer(), request.remote_addr))
@failure_budget(
    "token",
    answer=lambda minutes: _api_error(
        429, "too_many_requests", f"too many unknown tokens from this address: try again in {minutes} min"
    ),
)
def api_check_in():
    """Scanner devices: ``{"code": ..., "nonce": ...}`` with ``Authorization: Bearer <token>``.
    (Well-formed requests of a live token are answered before Flask: checkin.fastpath.)"""
    if request.content_length is not None and request.content_length > api.MAX_BODY:
        return _api_error(413, "too_large", "request body over 4 KB")
    if not request.is_json:
        return _api_error(415, "unsupported_media_type", "send application/json")
    scan_request = api.scan_request(request.get_json(silent=True))
    if isinstance(scan_request, str):
        return _api_error(400, "bad_request", scan_request)
    code, nonce = scan_request
    bearer = _bearer()
    with read_phase():
        token = services.token_info(bearer)
    if token is None or token.revoked:
        if bearer and token is None:  # an unknown token spends the address's budget; a revoked one was real
            lookup_failed()
        return _api_error(401, "unauthorized", "a valid, unrevoked event token is required")
    result = api.check_in(code, nonce, token, client_ip())
    with read_phase():  # what the answer still reads (rarely anything), without the write lock
        return _api_answer(result, token.event_id)


# -- Printouts ----------------------------------------------------------------------------


def _pdf(html: str, name: str):
    return download(render_pdf(html, base_url=request.url_root), name, attachment=False)


@bp.get("/events/<int:event_id>/poster.pdf")
def poster(event_id: int):
    """The walk-in poster: one large QR for guests who were not invited."""

    event = _managed_event(event_id)
    url = public_url("checkin.walk_in", code=event.walk_in_code)
    return _pdf(render_template("checkin/pdf/poster.html", event=event, svg=qr_svg(url)), f"poster-{event.id}.pdf")


@bp.get("/events/<int:event_id>/sign-in-sheet.pdf")
@writes
def sign_in_sheet(event_id: int):
    """The paper sign-in sheet, the fallback when the network is down. Up to
    printouts.SYNC_LIMIT guests in this request; more as a background job."""
    event = _managed_event(event_id)
    if printouts.listed_count(event) <= printouts.SYNC_LIMIT:
        return download(printouts.sign_in_sheet_pdf(event), f"sign-in-{event.id}.pdf", attachment=False)
    job = jobs.start_once("sign_in_sheet", owner=current_user, now=clock.now(), event_id=event.id)
    return redirect(jobs.page_url(job))
