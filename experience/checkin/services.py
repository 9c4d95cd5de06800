"""Check-in: one function decides every scan, from the phone, the desk, the scanner and the API.

The common case is a single claiming statement (see ``scan``). Every other scan is decided
in two steps so that SQLite's write lock is held as briefly as possible:
``assess`` reads and classifies (unknown, revoked, wrong_event, not_open, replayed nonce,
already checked in) in a read transaction; ``record`` then writes: for a candidate it
claims the guest with one conditional UPDATE whose row count decides who was first, and
it always writes the scan row, which is the audit record of check-ins. Exactly once is the
database's guarantee, not a read before a write: two scans racing both pass ``assess`` and
only one UPDATE matches ``checked_in_at IS NULL``.

``scan`` runs both steps for every caller; the views only translate HTTP.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError

from experience.checkin.models import ApiToken, Scan, ScanOutcome
from experience.checkin.signals import undoing_check_in
from experience.core import audit
from experience.core.errors import RuleError
from experience.core.web import read_phase
from experience.events.models import Event, EventStatus, GuestCategory, checkin_window
from experience.events.signals import event_changed
from experience.extensions import db
from experience.guests.models import CheckInVia, Guest, RevokedCode
from experience.guests.signals import guest_removing

UNDO_WINDOW = timedelta(minutes=15)
_CODE = re.compile(r"[A-Za-z0-9_-]{16,32}")

#: a used nonce sent again with a different code: answered 409, written nowhere (the
#: nonce's one scan row is the first request's)
NONCE_REUSED = "nonce_reused"

#: keyed by code; a ScanOutcome is its code, so MESSAGES["ok"] works as well
MESSAGES = {
    ScanOutcome.OK: _l("Check-in successful"),
    ScanOutcome.ALREADY_CHECKED_IN: _l("Already checked in at %(time)s"),
    ScanOutcome.UNKNOWN: _l("This code is not a valid invitation."),
    ScanOutcome.REVOKED: _l("This invitation was withdrawn. Please ask the organisers for a new one."),
    ScanOutcome.NOT_OPEN: _l("Check-in is open from %(opens)s to %(closes)s."),
    "event_cancelled": _l("This event was cancelled; its invitations no longer check in."),
    ScanOutcome.WRONG_EVENT: _l("This invitation is for another event: %(title)s."),
    "wrong_event_elsewhere": _l("This invitation is for another event."),
    NONCE_REUSED: _l("This nonce was already used for another code. Send each scan with a nonce of its own."),
    ScanOutcome.WALK_INS_CLOSED: _l("This event does not take walk-in guests."),
    ScanOutcome.FULL: _l("The venue is full; no more walk-in guests can be admitted."),
    # one answer for every repeat of a listed number: it names nobody and hands out nothing
    "already_registered": _l(
        "This mobile number is already registered for this event. Please ask at the check-in desk."
    ),
    "consent_required": _l("Please read and agree to the personal-information notice first."),
    "staff_consent_required": _l("Please tell the guest how their information is used, and tick that they agree."),
    "not_open_yet": _l("Check-in has not started yet. It opens at %(opens)s (Beijing time)."),
    "check_in_over": _l("Check-in for this event closed at %(closes)s (Beijing time)."),
    "undo_too_late": _l("A check-in can only be undone within 15 minutes."),
    "undo_not_yours": _l("Only the staff member who checked the guest in can undo it."),
    "undo_not_checked_in": _l("This guest is not checked in."),
}


def extract_code(raw: str | None) -> str | None:
    """The invitation code from what a QR holds: the bare code or the whole link."""
    text = (raw or "").strip()
    if "/" in text:
        text = text.rstrip("/").rsplit("/", 1)[-1]
    text = text.split("?", 1)[0].split("#", 1)[0]
    return text if _CODE.fullmatch(text) else None


@dataclass
class ScanResult:
    result: ScanOutcome
    guest_id: int | None = None
    event_id: int | None = None
    checked_in_at: datetime | None = None
    #: True when a repeated nonce returned the first answer
    replay: bool = False
    #: a candidate for the conditional UPDATE (assess found nothing against it)
    candidate: bool = False
    code_hint: str = ""
    #: a used nonce with another code: nothing is written and nothing told
    conflict: bool = False
    #: the guest as the answer shows them (ok, already checked in), read with the decision
    guest_name: str | None = None
    guest_category: GuestCategory | None = None
    #: the event was cancelled: its invitations no longer check in (logged as not_open)
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return self.result == ScanOutcome.OK


def assess(
    raw_code: str | None,
    *,
    now: datetime,
    scanner_event: Event | EventWindow | None = None,
    token: ApiToken | TokenInfo | None = None,
    nonce: str | None = None,
) -> ScanResult:
    """Read-only: what would this scan answer? Writes nothing."""
    if token is not None and nonce:
        replayed = _replayed(raw_code, token.id, nonce)
        if replayed is not None:
            return replayed
    code = extract_code(raw_code)
    # only code-like characters: a NUL byte, say, has no place in the log (or in PostgreSQL)
    hint = re.sub(r"[^A-Za-z0-9_-]", "", (raw_code or "").strip()[-32:])[:6]
    scanner_id = scanner_event.id if scanner_event is not None else None
    if code is None:
        return ScanResult(ScanOutcome.UNKNOWN, event_id=scanner_id, code_hint=hint)
    row = db.session.execute(
        sa.select(
            Guest.id,
            Guest.event_id,
            Guest.checked_in_at,
            Guest.name,
            Guest.category,
            Event.status,
            Event.starts_at,
            Event.ends_at,
            Event.checkin_opens_minutes,
            Event.checkin_closes_minutes,
        )
        .join(Event, Event.id == Guest.event_id)
        .where(Guest.code == code)
    ).first()
    if row is None:
        revoked = db.session.execute(
            sa.select(Guest.id, Guest.event_id)
            .join(RevokedCode, RevokedCode.guest_id == Guest.id)
            .where(RevokedCode.code == code)
        ).first()
        if revoked is not None:
            return ScanResult(ScanOutcome.REVOKED, revoked.id, scanner_id or revoked.event_id)
        return ScanResult(ScanOutcome.UNKNOWN, event_id=scanner_id, code_hint=code[:6])
    if scanner_id is not None and row.event_id != scanner_id:
        return ScanResult(ScanOutcome.WRONG_EVENT, row.id, scanner_id)
    who = dict(guest_name=row.name, guest_category=row.category)
    if row.checked_in_at is not None:
        return ScanResult(ScanOutcome.ALREADY_CHECKED_IN, row.id, row.event_id, row.checked_in_at, **who)
    if row.status is EventStatus.CANCELLED:
        return ScanResult(ScanOutcome.NOT_OPEN, row.id, row.event_id, cancelled=True)
    opens, closes = checkin_window(row.starts_at, row.ends_at, row.checkin_opens_minutes, row.checkin_closes_minutes)
    if not opens <= now <= closes:
        return ScanResult(ScanOutcome.NOT_OPEN, row.id, row.event_id)
    return ScanResult(ScanOutcome.OK, row.id, row.event_id, candidate=True, **who)


def _replayed(raw_code: str | None, token_id: int, nonce: str) -> ScanResult | None:
    """The first answer to this token's ``nonce``, or None if it is new."""
    first = db.session.execute(
        sa.select(Scan.result, Scan.guest_id, Scan.event_id, Scan.code_hint, Guest.checked_in_at)
        .add_columns(Guest.name, Guest.category)
        .outerjoin(Guest, Guest.id == Scan.guest_id)
        .where(Scan.api_token_id == token_id, Scan.nonce == nonce)
    ).first()
    if first is None:
        return None
    if _guest_of(raw_code) != first.guest_id:  # a nonce belongs to one code
        return ScanResult(NONCE_REUSED, event_id=first.event_id, conflict=True)
    return ScanResult(
        first.result,
        first.guest_id,
        first.event_id,
        first.checked_in_at,
        replay=True,
        guest_name=first.name,
        guest_category=first.category,
    )


def _guest_of(raw_code: str | None) -> int | None:
    """The guest a code belongs to, its withdrawn codes included; None for no guest."""
    code = extract_code(raw_code)
    if code is None:
        return None
    guest_id = db.session.scalar(sa.select(Guest.id).where(Guest.code == code))
    if guest_id is None:
        guest_id = db.session.scalar(sa.select(RevokedCode.guest_id).where(RevokedCode.code == code))
    return guest_id


def record(
    assessed: ScanResult,
    *,
    via: CheckInVia,
    now: datetime,
    actor_id: int | None = None,
    token_id: int | None = None,
    nonce: str | None = None,
    ip: str = "",
    consent: bool = False,
) -> ScanResult:
    """Write the scan: claim the guest when ``assessed`` is a candidate, and log it.

    Takes ids rather than objects so that it needs no read of its own: the caller may
    have ended the read transaction in between. The caller commits; a replayed nonce
    writes nothing.
    """
    if assessed.replay or assessed.conflict:
        return assessed
    result = assessed
    if assessed.candidate:
        values = dict(checked_in_at=now, checked_in_via=via, checked_in_by_id=actor_id)
        if consent:
            values["consent_at"] = sa.func.coalesce(Guest.consent_at, now)
        claimed = db.session.execute(
            sa.update(Guest)
            .where(Guest.id == assessed.guest_id, Guest.checked_in_at.is_(None))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        who = dict(guest_name=assessed.guest_name, guest_category=assessed.guest_category)
        if claimed.rowcount == 1:
            result = ScanResult(ScanOutcome.OK, assessed.guest_id, assessed.event_id, now, **who)
        else:  # someone else was first, between assess and now
            first = db.session.scalar(sa.select(Guest.checked_in_at).where(Guest.id == assessed.guest_id))
            result = ScanResult(ScanOutcome.ALREADY_CHECKED_IN, assessed.guest_id, assessed.event_id, first, **who)
    _log(result, via=via, now=now, actor_id=actor_id, token_id=token_id, nonce=nonce, ip=ip)
    return result


def _log(result: ScanResult, *, via, now, actor_id, token_id, nonce, ip) -> None:
    """The scan row: one Core INSERT (no unit of work to flush on the hot path)."""
    db.session.connection().execute(
        _LOG_SCAN,
        dict(
            at=now,
            event_id=result.event_id,
            guest_id=result.guest_id,
            result=ScanOutcome(result.result),
            via=via,
            actor_id=actor_id,
            api_token_id=token_id,
            nonce=nonce or None,
            code_hint=result.code_hint,
            ip=ip[:64],
        ),
    )


#: built once: a statement built per request costs more than the database's work for it
_LOG_SCAN = sa.insert(Scan.__table__)


def scan(
    raw_code: str | None,
    *,
    via: CheckInVia,
    now: datetime,
    scanner_event_id: int | None = None,
    token: ApiToken | None = None,
    nonce: str | None = None,
    actor_id: int | None = None,
    ip: str = "",
    consent: bool = False,
) -> ScanResult:
    """One scan from any source, decided, written and committed.

    This is the one service that commits, because the scan's speed and correctness
    need the transactions split. The common case (a fresh guest of the scanner's event,
    or of an event open now for a guest's own link) is one claiming UPDATE … RETURNING,
    the scan row and the commit. Anything else is classified by ``assess``: in the write
    transaction the failed claim opened, or else in a read phase without SQLite's write
    lock; ``record`` then writes. A used nonce (the unique (token, nonce) refuses the
    second row) rolls back the whole attempt, claim included, and is answered by reading
    the first answer. Every attempt leaves a scan row, except a replayed nonce, which by
    definition is the same attempt again.
    """
    token_id = token.id if token is not None else None
    window = None
    if scanner_event_id:
        window = cached_event_window(scanner_event_id)
        if window is None:  # read without the write lock a POST would take at its first query
            with read_phase():
                window = event_window(scanner_event_id)
    fast = _fast_claim(extract_code(raw_code), window, now)
    if fast is not None:
        # The common case in one statement: claim the fresh guest and return what the
        # answer shows. No row means another answer, which the rules below find.
        try:
            logged = db.session.get_bind().dialect.name == "postgresql"
            row = _claim(fast, now, via, actor_id, consent, log=(token_id, nonce, ip) if logged else None)
            if row is not None:
                result = ScanResult(
                    ScanOutcome.OK, row.id, row.event_id, now, guest_name=row.name, guest_category=row.category
                )
                if not logged:
                    _log(result, via=via, now=now, actor_id=actor_id, token_id=token_id, nonce=nonce, ip=ip)
                db.session.commit()
                return result
        except IntegrityError:  # a used nonce: the claim is rolled back with it
            return _first_answer(raw_code, now, token_id, nonce)
        # the write transaction is open already: decide the rest in it (rare: repeats, errors)
        assessed = assess(raw_code, now=now, scanner_event=window, token=token, nonce=nonce)
    else:
        with read_phase():
            assessed = assess(raw_code, now=now, scanner_event=window, token=token, nonce=nonce)
    try:
        result = record(
            assessed,
            via=via,
            now=now,
            actor_id=actor_id,
            token_id=token_id,
            nonce=nonce,
            ip=ip,
            consent=consent,
        )
        db.session.commit()
    except IntegrityError:  # the same nonce raced in from a retry: answer as the first did
        return _first_answer(raw_code, now, token_id, nonce)
    return result


def _fast_claim(code: str | None, window: EventWindow | None, now: datetime) -> tuple[str, dict] | None:
    """Whom the one-statement path may claim, or None to go by the full rules."""
    if code is None:
        return None
    if window is not None:  # a scanner: its event's fresh guests, while its window is open
        return ("event", {"b_code": code, "b_event": window.id}) if window.takes(now) else None
    open_ids = cached_open_event_ids(now)  # a guest's own link: a guest of any event open now
    if open_ids is None:
        with read_phase():
            open_ids = open_event_ids(now)
    if not open_ids:
        return None
    return (f"open:{len(open_ids)}", {"b_code": code, **{f"b_open_{i}": e for i, e in enumerate(open_ids)}})


def _claim(
    fast: tuple[str, dict],
    now: datetime,
    via: CheckInVia,
    actor_id: int | None,
    consent: bool,
    log: tuple[int | None, str | None, str] | None = None,
):
    """Check in the guest ``fast`` names if nobody has yet: (id, event_id, name,
    category), or None. The row count of this one UPDATE is what makes it exactly once.

    With ``log`` (token id, nonce, address; PostgreSQL) the same statement also writes the
    scan row of the check-in it made: one round trip instead of two. Nothing is logged
    when nobody was claimed: the caller decides and logs that attempt as usual."""
    by, params = fast
    params = {**params, "b_now": now, "b_via": via, "b_actor": actor_id}
    if log is not None:
        token_id, nonce, ip = log
        params.update(b_token=token_id, b_nonce=nonce or None, b_ip=ip[:64])
    # Core on the session's connection: the session's own execute (ORM options, events,
    # a connection looked up per call) costs more than the statement on this path
    return db.session.connection().execute(_claim_statement(by, consent, log is not None), params).first()


@functools.lru_cache(maxsize=256)
def _claim_statement(by: str, consent: bool, logged: bool = False):
    """The claim, built once per shape: by the scanner's event (``"event"``), or among the
    n events open now (``"open:<n>"``, one parameter each: an expanding IN would be
    rendered again on every tap); with or without recording the guest's consent; alone, or
    (``logged``, PostgreSQL, whose UPDATE and INSERT may be CTEs) with the scan row of what
    it claimed. (Parameters named like a column are reserved in an UPDATE: hence the
    ``b_`` names.)"""
    guest = Guest.__table__
    if by == "event":
        which = guest.c.event_id == sa.bindparam("b_event")
    else:
        n = int(by.split(":", 1)[1])
        which = guest.c.event_id.in_([sa.bindparam(f"b_open_{i}", type_=guest.c.event_id.type) for i in range(n)])
    values = {
        guest.c.checked_in_at: sa.bindparam("b_now", type_=guest.c.checked_in_at.type),
        guest.c.checked_in_via: sa.bindparam("b_via", type_=guest.c.checked_in_via.type),
        guest.c.checked_in_by_id: sa.bindparam("b_actor", type_=guest.c.checked_in_by_id.type),
    }
    if consent:
        values[guest.c.consent_at] = sa.func.coalesce(
            guest.c.consent_at, sa.bindparam("b_now", type_=guest.c.checked_in_at.type)
        )
    claim = (
        sa.update(guest)
        .where(guest.c.code == sa.bindparam("b_code"), which, guest.c.checked_in_at.is_(None))
        .values(values)
        .returning(guest.c.id, guest.c.event_id, guest.c.name, guest.c.category)
    )
    if not logged:
        return claim
    claimed = claim.cte("claimed")
    scan = Scan.__table__
    log = sa.insert(scan).from_select(
        ["at", "event_id", "guest_id", "result", "via", "actor_id", "api_token_id", "nonce", "code_hint", "ip"],
        sa.select(
            sa.bindparam("b_now", type_=scan.c.at.type),
            claimed.c.event_id,
            claimed.c.id,
            sa.literal(ScanOutcome.OK, type_=scan.c.result.type),
            sa.bindparam("b_via", type_=scan.c.via.type),
            sa.bindparam("b_actor", type_=scan.c.actor_id.type),
            sa.bindparam("b_token", type_=scan.c.api_token_id.type),
            sa.bindparam("b_nonce", type_=scan.c.nonce.type),
            sa.literal(ScanResult(ScanOutcome.OK).code_hint, type_=scan.c.code_hint.type),
            sa.bindparam("b_ip", type_=scan.c.ip.type),
        ),
    )
    return sa.select(claimed.c.id, claimed.c.event_id, claimed.c.name, claimed.c.category).add_cte(log.cte("logged"))


def _first_answer(raw_code, now, token_id, nonce) -> ScanResult:
    """A nonce already used (a retry raced in, or a repeat): roll back this attempt, claim
    included, and answer as the first request was answered."""
    db.session.rollback()
    with read_phase():
        return assess(raw_code, now=now, token=TokenInfo(token_id, 0, False), nonce=nonce)


# -- What the hot path keeps in memory ------------------------------------------------------
#
# A scanner's token and its event's window are read once and kept for CACHE_SECONDS in
# each worker (per app, so tests never share them). That bounds what a change made
# elsewhere takes to arrive: a token revoked, or an event's window moved or the event
# cancelled, in another worker, is seen here within CACHE_SECONDS; in this worker at once
# (the changes forget what they touch). A stale window only ever costs a wrong *fast*
# path for those seconds: the UPDATE still claims nobody twice.

CACHE_SECONDS = 5.0
_monotonic = time.monotonic  # tests move it


@dataclass(frozen=True)
class TokenInfo:
    id: int
    event_id: int
    revoked: bool


@dataclass(frozen=True)
class EventWindow:
    """What a scan needs of an event, what ``message`` reads of it, and what the guest's
    pages after a tap or a rating show of it (the event card), kept with the window so
    that those pages read nothing more."""

    id: int
    province_code: str
    title: str
    cancelled: bool
    checkin_opens_at: datetime
    checkin_closes_at: datetime
    campaign_id: int
    starts_at: datetime
    ends_at: datetime
    venue_name: str
    city: str
    address: str
    service_name: str
    feedback_closes_at: datetime

    def takes(self, now: datetime) -> bool:
        return not self.cancelled and self.checkin_opens_at <= now <= self.checkin_closes_at


_WINDOW_COLUMNS = (
    Event.id,
    Event.province_code,
    Event.title,
    Event.status,
    Event.campaign_id,
    Event.starts_at,
    Event.ends_at,
    Event.checkin_opens_minutes,
    Event.checkin_closes_minutes,
    Event.venue_name,
    Event.city,
    Event.address,
    Event.service_name,
    Event.feedback_hours,
)


def _window(row) -> EventWindow:
    opens, closes = checkin_window(row.starts_at, row.ends_at, row.checkin_opens_minutes, row.checkin_closes_minutes)
    return EventWindow(
        row.id,
        row.province_code,
        row.title,
        row.status is EventStatus.CANCELLED,
        opens,
        closes,
        row.campaign_id,
        row.starts_at,
        row.ends_at,
        row.venue_name,
        row.city,
        row.address,
        row.service_name,
        row.ends_at + timedelta(hours=row.feedback_hours),
    )


def _cache(kind: str) -> dict:
    return current_app.extensions.setdefault("checkin.cache", {"tokens": {}, "events": {}})[kind]


def token_info(plain: str | None) -> TokenInfo | None:
    """The scanner token's id, event and whether it is revoked; None for no such token."""
    if not plain:
        return None
    digest, cache, now = _hash(plain), _cache("tokens"), _monotonic()
    hit = cache.get(digest)
    if hit is not None and hit[0] > now:
        return hit[1]
    row = db.session.execute(
        sa.select(ApiToken.id, ApiToken.event_id, ApiToken.revoked_at).where(ApiToken.token_hash == digest)
    ).first()
    if row is None:
        return None  # unknown tokens are not kept: they spend the address's failure budget
    info = TokenInfo(row.id, row.event_id, row.revoked_at is not None)
    cache[digest] = (now + CACHE_SECONDS, info)
    return info


def cached_event_window(event_id: int) -> EventWindow | None:
    hit = _cache("events").get(event_id)
    return hit[1] if hit is not None and hit[0] > _monotonic() else None


def event_window(event_id: int) -> EventWindow | None:
    """The event's window as kept (read if not kept, or kept too long)."""
    window = cached_event_window(event_id)
    if window is not None:
        return window
    cache, now = _cache("events"), _monotonic()
    row = db.session.execute(sa.select(*_WINDOW_COLUMNS).where(Event.id == event_id)).first()
    if row is None:
        return None
    window = _window(row)
    cache[event_id] = (now + CACHE_SECONDS, window)
    return window


#: an event whose window reaches this far from now cannot be open now (the settings' bound)
_WINDOW_REACH = timedelta(days=7, hours=1)


def cached_open_event_ids(now: datetime) -> list[int] | None:
    hit = _cache("events").get("open")
    if hit is None or hit[0] <= _monotonic() or abs(now - hit[1]) > timedelta(hours=1):
        return None
    return [w.id for w in hit[2] if w.takes(now)]


def open_event_ids(now: datetime) -> list[int]:
    """The events whose check-in is open at ``now``: the guest's link claims within them."""
    kept = cached_open_event_ids(now)
    if kept is not None:
        return kept
    rows = db.session.execute(
        sa.select(*_WINDOW_COLUMNS).where(
            Event.status == EventStatus.PLANNED,
            Event.starts_at <= now + _WINDOW_REACH,
            Event.ends_at >= now - _WINDOW_REACH,
        )
    ).all()
    windows = [_window(r) for r in rows]
    cache, until = _cache("events"), _monotonic() + CACHE_SECONDS
    cache["open"] = (until, now, windows)
    for w in windows:  # the page after a tap shows the event: it is kept already
        cache[w.id] = (until, w)
    return [w.id for w in windows if w.takes(now)]


def forget_event(event_id: int) -> None:
    cache = _cache("events")
    cache.pop(event_id, None)
    cache.pop("open", None)


def forget_token(token_id: int) -> None:
    cache = _cache("tokens")
    for digest in [d for d, (_, info) in cache.items() if info.id == token_id]:
        cache.pop(digest, None)


@event_changed.connect
def _forget_changed_event(event: Event, **_) -> None:
    if event.id is not None:
        forget_event(event.id)


def check_in(
    raw_code: str | None,
    *,
    via: CheckInVia,
    now: datetime,
    actor=None,
    scanner_event: Event | None = None,
    token: ApiToken | None = None,
    nonce: str | None = None,
    ip: str = "",
    consent: bool = False,
) -> ScanResult:
    """Both steps in the caller's transaction, which the caller commits: for scripts and
    tests. Requests go through ``scan``."""
    assessed = assess(raw_code, now=now, scanner_event=scanner_event, token=token, nonce=nonce)
    return record(
        assessed,
        via=via,
        now=now,
        actor_id=getattr(actor, "id", None),
        token_id=token.id if token is not None else None,
        nonce=nonce,
        ip=ip,
        consent=consent,
    )


def message(result: ScanResult, event: Event | None = None, fmt=None) -> str:
    """The person-facing sentence for a result; ``fmt`` formats datetimes (Beijing time)."""
    fmt = fmt or (lambda dt: dt.isoformat(" ", "minutes"))
    params = {}
    if result.result == ScanOutcome.ALREADY_CHECKED_IN and result.checked_in_at:
        params["time"] = fmt(result.checked_in_at)
    elif result.result == ScanOutcome.NOT_OPEN and result.cancelled:
        return str(MESSAGES["event_cancelled"])
    elif result.result == ScanOutcome.NOT_OPEN and event is not None:
        params = {"opens": fmt(event.checkin_opens_at), "closes": fmt(event.checkin_closes_at)}
    elif result.result == ScanOutcome.WRONG_EVENT:
        # the other event is named to the scanner's own province only: a province's staff
        # learn nothing of another province's events from a code that strays in
        guest = db.session.get(Guest, result.guest_id) if result.guest_id else None
        if guest is None or event is None or guest.event.province_code != event.province_code:
            return str(MESSAGES["wrong_event_elsewhere"])
        params["title"] = guest.event.title
    text = MESSAGES[result.result]
    return str(text) % params if params else str(text)


def checked_in_count(event: Event) -> int:
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Guest)
            .where(Guest.event_id == event.id, Guest.checked_in_at.is_not(None))
        )
        or 0
    )


def window_state(event: Event, now: datetime) -> str:
    """Where ``now`` stands in the event's check-in window: "before", "open" or "after".
    Pages say it before anyone taps; the scan itself still decides (``not_open``)."""
    if now < event.checkin_opens_at:
        return "before"
    if now > event.checkin_closes_at:
        return "after"
    return "open"


def window_message(event: Event, now: datetime, fmt=None) -> str:
    """The sentence for a window that is not open: when it opens, or when it closed."""
    fmt = fmt or (lambda dt: dt.isoformat(" ", "minutes"))
    if window_state(event, now) == "before":
        return str(MESSAGES["not_open_yet"]) % {"opens": fmt(event.checkin_opens_at)}
    return str(MESSAGES["check_in_over"]) % {"closes": fmt(event.checkin_closes_at)}


def walk_in(
    event: Event,
    *,
    name: str,
    category: GuestCategory,
    organisation: str = "",
    phone: str | None = None,
    consent: bool,
    now: datetime,
    ip: str = "",
    actor=None,
) -> tuple[ScanResult, Guest]:
    """A guest who was not invited registers at the venue and is checked in at once.

    From the poster the guest registers on their own phone. With ``actor``, staff register
    them at the desk (a guest without a smartphone): the same rules, the check-in is the
    staff member's (``via`` desk, theirs to undo), and the audit log names them.

    :raises RuleError: consent_required, walk_ins_closed, not_open, already_registered or full.
    """
    if not consent:
        key = "consent_required" if actor is None else "staff_consent_required"
        raise RuleError("consent_required", MESSAGES[key])
    if not event.walk_ins_enabled:
        raise RuleError(ScanOutcome.WALK_INS_CLOSED, MESSAGES[ScanOutcome.WALK_INS_CLOSED])
    # the event's row is locked first, so that two walk-ins at the last free place
    # cannot both count it free (SQLite's BEGIN IMMEDIATE already serialises writers)
    db.session.execute(sa.select(Event.id).where(Event.id == event.id).with_for_update())
    if not event.checkin_opens_at <= now <= event.checkin_closes_at:
        raise RuleError(
            ScanOutcome.NOT_OPEN,
            MESSAGES[ScanOutcome.NOT_OPEN],
            opens=event.checkin_opens_at,
            closes=event.checkin_closes_at,
        )
    if phone and db.session.scalar(sa.select(Guest.id).where(Guest.event_id == event.id, Guest.phone == phone)):
        # The number is on the list already. Saying more (checking that guest in, or
        # showing their link) would hand anyone who knows a guest's mobile their invitation.
        raise RuleError("already_registered", MESSAGES["already_registered"])
    via = CheckInVia.WALK_IN if actor is None else CheckInVia.DESK
    actor_id = getattr(actor, "id", None)
    if event.capacity is not None and checked_in_count(event) >= event.capacity:
        db.session.add(Scan(at=now, event_id=event.id, result=ScanOutcome.FULL, via=via, actor_id=actor_id, ip=ip[:64]))
        raise RuleError(ScanOutcome.FULL, MESSAGES[ScanOutcome.FULL])
    guest = Guest(
        event_id=event.id,
        name=name.strip(),
        category=category,
        organisation=organisation.strip(),
        phone=phone or None,
        walk_in=True,
        consent_at=now,
        checked_in_at=now,
        checked_in_via=via,
        checked_in_by_id=actor_id,
        created_at=now,
    )
    db.session.add(guest)
    db.session.flush()
    result = ScanResult(ScanOutcome.OK, guest.id, event.id, now)
    _log(result, via=via, now=now, actor_id=actor_id, token_id=None, nonce=None, ip=ip)
    if actor is not None:  # a guest added by staff is in the log as any guest they add
        audit.record(
            "guest.create",
            now=now,
            actor=actor,
            target=guest,
            ip=ip,
            province_code=event.province_code,
            walk_in=True,
            checked_in=True,
        )
    return result, guest


# -- A device that registered at the poster ---------------------------------------------------

#: how long a phone that registered at the poster is recognised there
DEVICE_TICKET_AGE = timedelta(days=7)


def _device_tickets() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="walk-in-device")


def device_ticket(guest: Guest) -> str:
    """What the phone that registered ``guest`` at the poster keeps (a cookie): the event
    and the guest's own code, signed with the app's key, so that nobody can make one up,
    change it to another guest, or carry it to another event."""
    return _device_tickets().dumps({"e": guest.event_id, "c": guest.code})


def device_guest(event: Event, ticket: str | None) -> Guest | None:
    """The guest this phone registered at ``event``'s poster, from its ticket; None for a
    missing, forged, expired or other event's ticket, or a code withdrawn since."""
    if not ticket:
        return None
    try:
        data = _device_tickets().loads(ticket, max_age=int(DEVICE_TICKET_AGE.total_seconds()))
    except BadSignature:
        return None
    if not isinstance(data, dict) or data.get("e") != event.id or not isinstance(data.get("c"), str):
        return None
    return db.session.scalar(sa.select(Guest).where(Guest.code == data["c"], Guest.event_id == event.id))


def check_undo(guest: Guest, *, actor, now: datetime) -> None:
    """Whether ``actor`` may undo the guest's check-in now; asked before the confirmation
    step too, so that nobody confirms what would then be refused.

    :raises RuleError: undo_not_checked_in, undo_not_yours, undo_too_late, or a
        listener's refusal (ratings: rated).
    """
    if guest.checked_in_at is None:
        raise RuleError("undo_not_checked_in", MESSAGES["undo_not_checked_in"])
    if guest.checked_in_by_id != getattr(actor, "id", None):
        raise RuleError("undo_not_yours", MESSAGES["undo_not_yours"])
    if now - guest.checked_in_at > UNDO_WINDOW:
        raise RuleError("undo_too_late", MESSAGES["undo_too_late"])
    undoing_check_in.send(guest)


def undo_check_in(guest: Guest, *, actor, now: datetime, ip: str = "") -> None:
    """Undo a desk mistake: within 15 minutes, by the same staff member, before any rating.

    :raises RuleError: see :func:`check_undo`.
    """
    check_undo(guest, actor=actor, now=now)
    guest.checked_in_at = None
    guest.checked_in_via = None
    guest.checked_in_by_id = None
    db.session.add(
        Scan(
            at=now,
            event_id=guest.event_id,
            guest_id=guest.id,
            result=ScanOutcome.UNDONE,
            via=CheckInVia.DESK,
            actor_id=actor.id,
            ip=ip[:64],
        )
    )
    audit.record("checkin.undo", now=now, actor=actor, target=guest, ip=ip, province_code=guest.event.province_code)


SETTINGS = ("checkin_opens_minutes", "checkin_closes_minutes", "walk_ins_enabled", "capacity")


def update_settings(event: Event, *, actor, now: datetime, ip: str = "", **values) -> None:
    """The event's check-in window, walk-ins and capacity (already checked by the form)."""
    changed = sorted(k for k in SETTINGS if getattr(event, k) != values[k])
    for k in changed:
        setattr(event, k, values[k])
    forget_event(event.id)
    audit.record("event.checkin_settings", now=now, actor=actor, target=event, ip=ip, fields=changed)


@guest_removing.connect
def _keep_scans_of(guest: Guest) -> None:
    """The scan log keeps a removed guest's rows, without the guest."""
    db.session.execute(sa.update(Scan).where(Scan.guest_id == guest.id).values(guest_id=None))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(event: Event, name: str, *, actor, now: datetime, ip: str = "") -> tuple[ApiToken, str]:
    """A new scanner token for ``event``; the plain token is returned once and never stored."""
    plain = "exp_" + secrets.token_urlsafe(32)
    token = ApiToken(
        event_id=event.id,
        name=name.strip()[:60] or "scanner",
        token_hash=_hash(plain),
        created_by_id=actor.id,
        created_at=now,
    )
    db.session.add(token)
    db.session.flush()
    audit.record("api_token.create", now=now, actor=actor, target=event, ip=ip, token=token.name)
    return token, plain


def revoke_api_token(token: ApiToken, *, actor, now: datetime, ip: str = "") -> None:
    if token.revoked_at is None:
        token.revoked_at = now
        forget_token(token.id)
        audit.record("api_token.revoke", now=now, actor=actor, target_type="api_token", target_id=str(token.id), ip=ip)


def token_for(plain: str | None) -> ApiToken | None:
    if not plain:
        return None
    token = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == _hash(plain)))
    return token if token is not None and token.revoked_at is None else None
