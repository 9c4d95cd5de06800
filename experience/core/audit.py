"""The audit log: who did what to what, when and from where.

Rows are only ever inserted. The migration installs triggers that make UPDATE and
DELETE fail on SQLite and PostgreSQL, so no page or command can rewrite history; the
app has no purge for it, so it keeps far longer than the 180 days required.

Refusals are bounded per user: the first REFUSALS_PER_MINUTE of a user's minute are
written one by one (``access.denied``); the rest are only counted, in the limits storage,
and become one ``access.denied_count`` entry once the minute is over (see record_refusal).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import get_locale, gettext
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column

from experience.extensions import db, limiter


class AuditEntry(db.Model):
    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: naive UTC
    at: Mapped[datetime] = mapped_column(index=True)
    #: a stable code such as ``plan.submit`` or ``login.failure``; see ACTIONS
    action: Mapped[str] = mapped_column(sa.String(40), index=True)
    actor_id: Mapped[int | None] = mapped_column(index=True)
    #: kept as text so the entry survives renames and stays readable on its own
    actor_name: Mapped[str] = mapped_column(sa.String(80), default="")
    target_type: Mapped[str] = mapped_column(sa.String(40), default="")
    target_id: Mapped[str] = mapped_column(sa.String(80), default="", index=True)
    province_code: Mapped[str | None] = mapped_column(sa.String(2), index=True)
    ip: Mapped[str] = mapped_column(sa.String(64), default="", index=True)
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)

    __table_args__ = (
        # The login throttle counts an account's and an IP's recent failures on every
        # attempt (accounts.services): the action, then the key, then a range of time.
        sa.Index("ix_audit_entry_action_target_id_at", "action", "target_id", "at"),
        sa.Index("ix_audit_entry_action_ip_at", "action", "ip", "at"),
    )

    @property
    def label(self):
        return ACTION_LABELS.get(self.action, self.action)


#: every action the log knows, in the order HQ's filter lists them
ACTIONS = (
    "login.success",
    "login.failure",
    "login.throttled",
    "logout",
    "password.change",
    "password.reset",
    "account.create",
    "account.update",
    "account.disable",
    "account.enable",
    "unit.register",
    "unit.disable",
    "unit.enable",
    "unit.handover",
    "work.create",
    "work.update",
    "work.delete",
    "work.file_add",
    "work.file_remove",
    "work.declarations",
    "work.number",
    "work.form_scan",
    "work.submit",
    "work.resubmit",
    "work.withdraw",
    "work.return",
    "works.extension",
    "work.recommendation_request",
    "work.recommendation_withdraw",
    "work.recommendation_give",
    "work.recommendation_decline",
    "works.download",
    "works.export",
    "screening.round_save",
    "screening.round_open",
    "screening.round_close",
    "screening.expert_create",
    "screening.expert_update",
    "screening.assign",
    "screening.assignment_add",
    "screening.assignment_remove",
    "screening.conflict",
    "screening.decide",
    "screening.apply",
    "screening.export",
    "screening.copy_download",
    "screening.publish",
    "screening.objection",
    "screening.objection_answer",
    "screening.withdraw_selected",
    "screening.objections_purge",
    "display.screen_created",
    "display.screen_renamed",
    "display.screen_revoked",
    "display.screen_new_link",
    "display.screen_scenes",
    "display.playlist_add",
    "display.playlist_remove",
    "display.playlist_move",
    "display.pause",
    "display.resume",
    "display.next",
    "display.goto",
    "display.pin",
    "display.unpin",
    "display.hide",
    "display.show",
    "display.blank",
    "display.unblank",
    "access.denied",
    "access.denied_count",
    "campaign.update",
    "event.create",
    "event.update",
    "event.cancel",
    "event.change_after_confirm",
    "plan.save",
    "plan.submit",
    "plan.return",
    "plan.confirm",
    "plan.extension",
    "event.launch_select",
    "event.launch_unselect",
    "export.xlsx",
    "file.download",
    "guest.create",
    "guest.update",
    "guest.import",
    "guest.code_revoke",
    "guest.delete",
    "checkin.undo",
    "api_token.create",
    "api_token.revoke",
    "event.checkin_settings",
    "rating.approve",
    "rating.withdraw",
    "dimension.update",
    "summary.save",
    "summary.submit",
    "summary.return",
    "summary.extension",
    "personal_data.purge",
)


#: what HQ reads in the log's filter and table
ACTION_LABELS = {
    "login.success": _l("Login"),
    "login.failure": _l("Failed login"),
    "login.throttled": _l("Login throttled"),
    "logout": _l("Logout"),
    "password.change": _l("Password changed"),
    "password.reset": _l("Password reset"),
    "account.create": _l("Account created"),
    "account.update": _l("Account changed"),
    "account.disable": _l("Account disabled"),
    "account.enable": _l("Account enabled"),
    "unit.register": _l("Submitting unit registered"),
    "unit.disable": _l("Submitting unit disabled"),
    "unit.enable": _l("Submitting unit enabled"),
    "unit.handover": _l("Submitting unit's account handed over"),
    "work.create": _l("Work created"),
    "work.update": _l("Work changed"),
    "work.delete": _l("Work deleted"),
    "work.file_add": _l("File added to a work"),
    "work.file_remove": _l("File removed from a work"),
    "work.declarations": _l("Commitment and licence accepted"),
    "work.number": _l("Work number given"),
    "work.form_scan": _l("Sealed registration form uploaded"),
    "work.submit": _l("Work submitted"),
    "work.resubmit": _l("Work submitted again"),
    "work.withdraw": _l("Work taken back by its unit"),
    "work.return": _l("Work returned for changes"),
    "works.extension": _l("Works deadline extended for a unit"),
    "work.recommendation_request": _l("Recommendation requested"),
    "work.recommendation_withdraw": _l("Recommendation request withdrawn"),
    "work.recommendation_give": _l("Work recommended by the province"),
    "work.recommendation_decline": _l("Recommendation declined"),
    "works.download": _l("Works' files downloaded"),
    "works.export": _l("Works list exported"),
    "screening.round_save": _l("Screening round saved"),
    "screening.round_open": _l("Screening round opened"),
    "screening.round_close": _l("Screening round closed"),
    "screening.expert_create": _l("Expert account created"),
    "screening.expert_update": _l("Expert changed"),
    "screening.assign": _l("Works assigned to experts"),
    "screening.assignment_add": _l("Expert assigned by hand"),
    "screening.assignment_remove": _l("Expert's assignment removed"),
    "screening.conflict": _l("Conflict of interest declared"),
    "screening.decide": _l("Screening decision made"),
    "screening.apply": _l("Screening decisions applied"),
    "screening.export": _l("Screening results exported"),
    "screening.copy_download": _l("Work's file downloaded by an expert"),
    "screening.publish": _l("Selection published (公示)"),
    "screening.objection": _l("Objection received"),
    "screening.objection_answer": _l("Objection answered"),
    "screening.withdraw_selected": _l("Selected work withdrawn"),
    "screening.objections_purge": _l("Objections deleted a year after their public notice"),
    "display.screen_created": _l("Screen created"),
    "display.screen_renamed": _l("Screen renamed"),
    "display.screen_revoked": _l("Screen link revoked"),
    "display.screen_new_link": _l("Screen given a new link"),
    "display.screen_scenes": _l("Screen scenes changed"),
    "display.playlist_add": _l("Added to a screen's playlist"),
    "display.playlist_remove": _l("Removed from a screen's playlist"),
    "display.playlist_move": _l("Screen playlist reordered"),
    "display.pause": _l("Screens paused"),
    "display.resume": _l("Screens resumed"),
    "display.next": _l("Screens moved on"),
    "display.goto": _l("Screens switched scene"),
    "display.pin": _l("Item pinned on screens"),
    "display.unpin": _l("Item unpinned on screens"),
    "display.hide": _l("Item hidden on screens"),
    "display.show": _l("Item shown again on screens"),
    "display.blank": _l("Screens blanked"),
    "display.unblank": _l("Screens unblanked"),
    "access.denied": _l("Access refused"),
    "access.denied_count": _l("Access refused (counted only)"),
    "campaign.update": _l("Campaign changed"),
    "event.create": _l("Event created"),
    "event.update": _l("Event changed"),
    "event.cancel": _l("Event cancelled"),
    "event.change_after_confirm": _l("Event changed after submission"),
    "plan.save": _l("Plan saved"),
    "plan.submit": _l("Plan submitted"),
    "plan.return": _l("Plan returned"),
    "plan.confirm": _l("Plan confirmed"),
    "plan.extension": _l("Deadline extended"),
    "event.launch_select": _l("Launch-ceremony project selected"),
    "event.launch_unselect": _l("Launch-ceremony project withdrawn"),
    "export.xlsx": _l("Spreadsheet downloaded"),
    "file.download": _l("File downloaded"),
    "guest.create": _l("Guest added"),
    "guest.update": _l("Guest changed"),
    "guest.import": _l("Guests imported"),
    "guest.code_revoke": _l("Invitation withdrawn and reissued"),
    "guest.delete": _l("Guest removed"),
    "checkin.undo": _l("Check-in undone"),
    "api_token.create": _l("API token created"),
    "api_token.revoke": _l("API token revoked"),
    "event.checkin_settings": _l("Check-in settings changed"),
    "rating.approve": _l("Comment or photo approved"),
    "rating.withdraw": _l("Approval withdrawn"),
    "dimension.update": _l("Rating questions changed"),
    "summary.save": _l("Summary saved"),
    "summary.submit": _l("Summary submitted"),
    "summary.return": _l("Summary returned"),
    "summary.extension": _l("Summary deadline extended"),
    "personal_data.purge": _l("Personal data retired"),
}


def record(
    action: str,
    *,
    now: datetime,
    actor=None,
    target=None,
    target_type: str = "",
    target_id: str = "",
    province_code: str | None = None,
    ip: str = "",
    actor_name: str = "",
    actor_id: int | None = None,
    **detail: Any,
) -> AuditEntry:
    """Add an audit entry to the session; the caller's commit makes it durable.
    ``actor_id`` and ``actor_name`` name the actor when there is no ``actor`` at hand."""
    assert action in ACTIONS and action in ACTION_LABELS, action
    if target is not None:
        target_type = target_type or type(target).__name__.lower()
        target_id = target_id or str(target.id)
        province_code = province_code or getattr(target, "province_code", None)
    entry = AuditEntry(
        at=now,
        action=action,
        actor_id=actor_id if actor_id is not None else getattr(actor, "id", None),
        actor_name=actor_name or getattr(actor, "username", "") or "",
        target_type=target_type,
        target_id=str(target_id)[:80],
        province_code=province_code,
        ip=ip[:64],
        detail=detail,
    )
    db.session.add(entry)
    return entry


# -- Refusals, bounded per user and minute -----------------------------------------------

#: A user's refusals written one by one in a minute. A person who follows an old link or
#: bookmark meets a few; 20 a minute is a script walking the URLs, and beyond it the log
#: learns nothing from a row per request that one count does not tell.
REFUSALS_PER_MINUTE = 20
#: How long a minute's count waits in the limits storage to be written; the user's next
#: refusal or flush_refusal_counts (which a periodic job calls) writes it well before.
REFUSAL_COUNT_KEPT = timedelta(days=1)


@dataclass(frozen=True)
class RefusalCount:
    """Refusals of one user in one minute beyond REFUSALS_PER_MINUTE, not in the log yet."""

    actor_id: int
    actor_name: str
    #: the minute's start, naive UTC
    minute: datetime
    count: int


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _count_key(actor_id: int, minute: datetime) -> str:
    return f"refusals:{actor_id}:{minute:%Y%m%d%H%M}"


def _written_key(actor_id: int, minute: datetime) -> str:
    return f"refusals-written:{actor_id}:{minute:%Y%m%d%H%M}"


def record_refusal(*, now: datetime, actor, **fields: Any) -> AuditEntry | None:
    """Log a refusal as ``access.denied``, at most REFUSALS_PER_MINUTE per user a minute.

    Beyond that the refusal is only counted, in the limits storage that all workers share
    (one key per user and minute: the log itself is never updated). The user's first
    refusal of a minute writes the counts of their earlier minutes, and
    flush_refusal_counts writes everyone's. Returns the entry, or None when counted."""
    actor_id = getattr(actor, "id", None)
    if actor_id is None:  # only logged-in users are refused (the others are sent to log in)
        return record("access.denied", now=now, actor=actor, **fields)
    try:
        seen = limiter.storage.incr(_count_key(actor_id, _minute(now)), int(REFUSAL_COUNT_KEPT.total_seconds()))
    except limiter.storage.base_exceptions:  # the limits store is down: a row too many beats one lost
        return record("access.denied", now=now, actor=actor, **fields)
    if seen == 1:
        flush_refusal_counts(now, actor_id=actor_id)
    if seen > REFUSALS_PER_MINUTE:
        return None
    return record("access.denied", now=now, actor=actor, **fields)


def unwritten_refusal_counts(until: datetime, actor_id: int | None = None) -> list[RefusalCount]:
    """The counts of minutes starting before ``until`` that are not in the log yet.

    A minute over the bound has REFUSALS_PER_MINUTE ``access.denied`` rows of its user, so
    the log itself says which users and minutes to look up in the storage."""
    since = until - REFUSAL_COUNT_KEPT
    window = sa.and_(
        AuditEntry.action == "access.denied",
        AuditEntry.at >= since,
        AuditEntry.at < until,
        AuditEntry.actor_id.is_not(None),
    )
    if actor_id is not None:
        window = sa.and_(window, AuditEntry.actor_id == actor_id)
    # a user with fewer rows in the whole window never reached the bound in any minute
    busy = (
        sa.select(AuditEntry.actor_id)
        .where(window)
        .group_by(AuditEntry.actor_id)
        .having(sa.func.count() >= REFUSALS_PER_MINUTE)
    )
    minutes: dict[tuple[int, datetime], str] = {}
    for uid, name, at in db.session.execute(
        sa.select(AuditEntry.actor_id, AuditEntry.actor_name, AuditEntry.at).where(
            window, AuditEntry.actor_id.in_(busy)
        )
    ):
        minutes.setdefault((uid, _minute(at)), name)
    counts = []
    for (uid, minute), name in sorted(minutes.items()):
        beyond = limiter.storage.get(_count_key(uid, minute)) - REFUSALS_PER_MINUTE
        if beyond > 0 and not limiter.storage.get(_written_key(uid, minute)):
            counts.append(RefusalCount(uid, name, minute, beyond))
    return counts


def flush_refusal_counts(now: datetime, actor_id: int | None = None) -> int:
    """Write one ``access.denied_count`` entry for each user's minute that is over (before
    ``now``'s minute) with refusals beyond the bound; for one user only when ``actor_id``
    is given. Safe to call from any worker at any time: a storage key claims each minute,
    so it is written once (should the caller's commit then fail, that minute keeps only its
    20 rows). The caller commits. Returns how many entries were added."""
    written = 0
    keep = int(REFUSAL_COUNT_KEPT.total_seconds())
    for c in unwritten_refusal_counts(_minute(now), actor_id):
        if limiter.storage.incr(_written_key(c.actor_id, c.minute), keep) != 1:
            continue  # another worker is writing it
        record(
            "access.denied_count",
            now=c.minute + timedelta(minutes=1),  # when the minute ended
            actor_id=c.actor_id,
            actor_name=c.actor_name,
            target_type="minute",
            target_id=f"{c.minute:%Y-%m-%dT%H:%M}Z",
            minute=f"{c.minute:%Y-%m-%dT%H:%M}Z",
            count=c.count,
            written_one_by_one=REFUSALS_PER_MINUTE,
        )
        written += 1
    return written


# -- Reading the log: names for its targets, the reader's words for its details ------------
#
# An entry keeps codes (``plan 7``, ``first: False``) so that it stays true whatever is
# renamed later; the page shows them as a person reads them. Core knows no capability:
# each registers how its targets are named (``@names("plan")``) and the words of its own
# codes (``describe_values("role", …)``), and the page asks once per kind of target.

#: what the log calls each kind of target (a refusal names the table: ``user_account``)
TARGET_LABELS = {
    "user": _l("Account"),
    "user_account": _l("Account"),
    "unit": _l("Submitting unit"),
    "submitting_unit": _l("Submitting unit"),
    "work": _l("Work"),
    "work_file": _l("Work's file"),
    "work_recommendation": _l("Recommendation request"),
    "campaign": _l("Campaign year"),
    "province": _l("Province"),
    "event": _l("Event"),
    "plan": _l("Plan"),
    "province_summary": _l("Provincial summary"),
    "guest": _l("Guest"),
    "rating": _l("Rating"),
    "api_token": _l("API token"),
    "job": _l("Background job"),
    "route": _l("Page"),
    "minute": _l("Minute"),
}

#: the details' keys in the reader's words; an unknown key is shown as it is
DETAIL_LABELS = {
    "first": _l("First submission"),
    "late": _l("After the deadline"),
    "role": _l("Role"),
    "comment": _l("Comment"),
    "reason": _l("Reason given"),
    "note": _l("Note"),
    "kind": _l("Extension for"),
    "new_deadline": _l("New deadline"),
    "fields": _l("Fields"),
    "changed": _l("Changed"),
    "export": _l("Exported"),
    "rows": _l("Rows"),
    "file": _l("File"),
    "imported": _l("Imported"),
    "skipped": _l("Skipped"),
    "item": _l("Item"),
    "token": _l("Device"),
    "name": _l("Name"),
    "organizers": _l("Organisers"),
    "change": _l("Change"),
    "plan_state": _l("Plan state then"),
    "minute": _l("Minute (UTC)"),
    "count": _l("Refusals counted"),
    "written_one_by_one": _l("Written one by one"),
    "path": _l("Address"),
    "permission": _l("Permission needed"),
    "guests": _l("Guests anonymised"),
    "credit_code": _l("Unified social credit code"),
    "declaration_version": _l("Declaration text (version)"),
    "photos": _l("Photos deleted"),
    "number": _l("Work number"),
    "numbers": _l("Work numbers"),
    "form_hash": _l("Form version"),
    "read": _l("QR code read"),
    "recommendation": _l("Recommendation request"),
    "text_version": _l("Text version"),
    "reopen_until": _l("Changes possible until"),
    "date": _l("Date"),
    "bytes": _l("Bytes"),
    "files": _l("Files"),
    "scope": _l("Scope"),
    "works": _l("Works"),
    "filters": _l("Filters"),
    "via": _l("Made by"),
}

#: the words of coded values, by detail key; capabilities add theirs with describe_values
VALUE_LABELS: dict[str, dict[str, Any]] = {
    "export": {
        "national_plans": _l("plans of all provinces"),
        "national_summaries": _l("national report figures"),
        "province_summary": _l("provincial summary figures"),
        "event_summary": _l("event summary figures"),
        "guest_list": _l("guest list"),
        "ratings": _l("ratings"),
    },
    "item": {"comment": _l("comment"), "photo": _l("photo")},
    "kind": {"plan": _l("the plan"), "summary": _l("the summary")},
    "reason": {"disabled": _l("the account is disabled")},
    "change": {
        "event_added": _l("event added"),
        "event_changed": _l("event changed"),
        "event_cancelled": _l("event cancelled"),
        "event_cancelled_launch": _l("launch-ceremony project cancelled"),
    },
    "permission": {
        "view_event": _l("view the event"),
        "edit_event": _l("manage the event"),
        "view_plan": _l("read the plan"),
        "view_summary": _l("read the summary"),
        "administer": _l("administer the account"),
    },
}

#: the names of fields in ``fields`` and ``changed``: an event's, a campaign's, the check-in
#: settings', a plan's; a guest's ``title`` is a job title (FIELD_LABELS_BY_TARGET)
FIELD_LABELS = {
    "title": _l("Event title"),
    "service_name": _l("Certified service experienced"),
    "certified_org": _l("Certified organisation"),
    "certificate_no": _l("Certificate number"),
    "certification_body": _l("Certification body"),
    "sector": _l("Service sector"),
    "venue_name": _l("Venue"),
    "city": _l("City"),
    "address": _l("Address"),
    "starts_at": _l("Starts (Beijing time)"),
    "ends_at": _l("Ends (Beijing time)"),
    "expected_guests": _l("Expected guests"),
    "highlights": _l("Highlights"),
    "agenda": _l("Agenda"),
    "contact_name": _l("Organiser contact"),
    "contact_phone": _l("Contact phone"),
    "attachment": _l("Attachment"),
    "organizers": _l("Organisers"),
    "document": _l("Sealed document"),
    "organisation_text": _l("Organisation and leadership"),
    "coordination_text": _l("Coordination with other departments"),
    "publicity_text": _l("Publicity"),
    "safety_text": _l("Safety"),
    "results_text": _l("Results"),
    "practices_text": _l("Practices worth sharing"),
    "problems_text": _l("Problems and suggestions"),
    "suggestions_text": _l("Problems and suggestions"),
    "checkin_opens_minutes": _l("Check-in opens (minutes before the start)"),
    "checkin_closes_minutes": _l("Check-in closes (minutes after the end)"),
    "walk_ins_enabled": _l("Walk-in guests may register from the poster"),
    "capacity": _l("Capacity (people checked in at most)"),
    "year": _l("Year"),
    "theme": _l("Theme"),
    "plan_deadline": _l("Plans due at HQ"),
    "works_deadline": _l("Works due at the secretariat"),
    "summary_deadline": _l("Summaries due at HQ"),
    "week_start": _l("Experience week: first day"),
    "week_end": _l("Experience week: last day"),
    "sectors": _l("Service sectors"),
}
FIELD_LABELS_BY_TARGET = {
    "work": {
        "title": _l("Title"),
        "category": _l("Category"),
        "completed_on": _l("Date completed"),
        "contact_name": _l("Contact person"),
        "contact_phone": _l("Contact phone"),
        "summary": _l("Summary of the work"),
        "body": _l("Text of the work"),
        "caption": _l("Caption"),
        "order": _l("Order of the photos"),
    },
    "guest": {
        "name": _l("Name"),
        "category": _l("Category"),
        "level": _l("Level"),
        "organisation": _l("Organisation"),
        "title": _l("Title"),
        "phone": _l("Mobile"),
        "note": _l("Note"),
    },
}

#: target type -> a function from a set of ids (as stored, text) to {id: name}
_NAMERS: dict[str, Callable[[set[str]], dict[str, str]]] = {}


def names(*target_types: str):
    """Register how a capability's targets are named in the log: the function takes the
    ids of one page's entries (text, as stored) and returns ``{id: name}`` for those it
    finds, in one query."""

    def register(fn):
        for t in target_types:
            _NAMERS[t] = fn
        return fn

    return register


def describe_values(key: str, labels: dict[str, Any]) -> None:
    """Give the reader's words for the coded values of a detail (a role, a state)."""
    VALUE_LABELS.setdefault(key, {}).update(labels)


def target_names(entries) -> dict[tuple[str, str], str]:
    """The names of the entries' targets, one call per kind of target on the page."""
    wanted: dict[str, set[str]] = {}
    for e in entries:
        if e.target_type in _NAMERS and e.target_id:
            wanted.setdefault(e.target_type, set()).add(e.target_id)
    found = {}
    for target_type, ids in wanted.items():
        for ident, name in _NAMERS[target_type](ids).items():
            found[(target_type, str(ident))] = name
    return found


def target_label(entry) -> str:
    """What kind of thing the entry's target is, in the reader's words."""
    return str(TARGET_LABELS.get(entry.target_type, entry.target_type))


def detail_items(entry) -> list[tuple[str, str]]:
    """The entry's details as (label, text) pairs in the interface language."""
    return [
        (str(DETAIL_LABELS.get(k, k)), _value_text(k, v, entry.target_type)) for k, v in (entry.detail or {}).items()
    ]


def _value_text(key: str, value: Any, target_type: str) -> str:
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if key in ("fields", "changed") and isinstance(value, (list, dict)):
        fields = {**FIELD_LABELS, **FIELD_LABELS_BY_TARGET.get(target_type, {})}
        if isinstance(value, dict):
            return _joined(f"{fields.get(k, k)} → {v}" for k, v in value.items())
        return _joined(str(fields.get(v, v)) for v in value)
    if isinstance(value, list):
        return _joined(str(_value_text(key, v, target_type)) for v in value)
    if value is None or value == "":
        return "—"
    words = VALUE_LABELS.get(key, {})
    return str(words.get(str(value), value))


def _joined(parts) -> str:
    return ("、" if str(get_locale()).startswith("zh") else ", ").join(parts)
