from datetime import timedelta

import pytest
import sqlalchemy as sa

from experience.accounts.models import Role
from experience.checkin import services
from experience.checkin.models import Scan
from experience.core.errors import RuleError
from experience.events.models import GuestCategory
from experience.extensions import db
from experience.guests import services as guests
from experience.guests.models import CheckInVia, Guest


@pytest.fixture
def event(make_event):
    return make_event()


@pytest.fixture
def during(event):
    """A moment inside the check-in window."""
    return event.starts_at + timedelta(minutes=10)


def scans(**where):
    stmt = sa.select(Scan.result).order_by(Scan.id)
    for k, v in where.items():
        stmt = stmt.where(getattr(Scan, k) == v)
    return db.session.scalars(stmt).all()


def test_first_scan_checks_in_and_logs(event, make_guest, during):
    guest = make_guest(event)
    result = services.check_in(guest.code, via=CheckInVia.PHONE, now=during, consent=True)
    assert result.result == "ok" and result.checked_in_at == during
    db.session.refresh(guest)
    assert guest.checked_in_at == during and guest.checked_in_via is CheckInVia.PHONE and guest.consent_at == during
    assert scans() == ["ok"]


def test_second_scan_reports_first_time_without_a_second_record(event, make_guest, during):
    guest = make_guest(event)
    services.check_in(guest.code, via=CheckInVia.PHONE, now=during)
    later = during + timedelta(minutes=5)
    result = services.check_in(guest.code, via=CheckInVia.DESK, now=later)
    assert result.result == "already_checked_in" and result.checked_in_at == during
    db.session.refresh(guest)
    assert guest.checked_in_at == during
    assert scans() == ["ok", "already_checked_in"]


def test_link_or_bare_code_both_work(event, make_guest, during):
    guest = make_guest(event)
    assert services.check_in(f"https://x.gov.cn/c/{guest.code}?from=qr", via=CheckInVia.API, now=during).ok


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "abc",
        "<script>alert(1)</script>",
        "A" * 33,
        "x" * 5000,
        "https://evil.example/c/",
        "../../etc/passwd",
        "\x00\x01",
        "Zm9vYmFyYmF6cXV4cXV1eA",
    ],
)
def test_garbage_is_unknown_and_logged(event, raw, during):
    result = services.check_in(raw, via=CheckInVia.API, now=during, scanner_event=event)
    assert result.result == "unknown"
    assert scans() == ["unknown"]


def test_window_closed_before_and_after(event, make_guest):
    guest = make_guest(event)
    too_early = event.starts_at - timedelta(hours=2, minutes=1)
    too_late = event.ends_at + timedelta(minutes=1)
    assert services.check_in(guest.code, via=CheckInVia.PHONE, now=too_early).result == "not_open"
    assert services.check_in(guest.code, via=CheckInVia.PHONE, now=too_late).result == "not_open"
    assert services.check_in(guest.code, via=CheckInVia.PHONE, now=event.starts_at - timedelta(hours=2)).ok


def test_window_is_configurable_per_event(event, make_guest):
    guest = make_guest(event)
    event.checkin_opens_minutes, event.checkin_closes_minutes = 30, 60
    db.session.commit()
    assert (
        services.check_in(guest.code, via=CheckInVia.PHONE, now=event.starts_at - timedelta(minutes=31)).result
        == "not_open"
    )
    assert services.check_in(guest.code, via=CheckInVia.PHONE, now=event.ends_at + timedelta(minutes=59)).ok


def test_scanner_of_another_event_answers_wrong_event(event, make_event, make_guest, during):
    other = make_event(title="另一场活动")
    guest = make_guest(event)
    result = services.check_in(guest.code, via=CheckInVia.API, now=during, scanner_event=other)
    assert result.result == "wrong_event"
    assert "养老服务认证体验日" in services.message(result, other)
    assert db.session.get(Guest, guest.id).checked_in_at is None


def test_revoked_code_answers_revoked_and_new_code_works(event, make_guest, during, make_user):
    staff = make_user(Role.PROVINCE, "11")
    guest = make_guest(event)
    old = guest.code
    new = guests.revoke_code(guest, actor=staff, now=during)
    db.session.commit()
    assert new != old and len(new) >= 22
    assert services.check_in(old, via=CheckInVia.PHONE, now=during).result == "revoked"
    assert services.check_in(new, via=CheckInVia.PHONE, now=during).ok


def test_codes_are_unguessable(event, make_guest):
    codes = {make_guest(event).code for _ in range(20)}
    assert len(codes) == 20 and all(len(c) == 22 for c in codes)  # 16 random bytes, base64url


def test_nonce_replay_returns_first_answer_without_new_record(event, make_guest, during, make_user):
    staff = make_user(Role.PROVINCE, "11")
    token, _ = services.create_api_token(event, "扫码枪1", actor=staff, now=during)
    guest = make_guest(event)
    first = services.check_in(guest.code, via=CheckInVia.API, now=during, scanner_event=event, token=token, nonce="n-1")
    db.session.commit()
    again = services.check_in(
        guest.code, via=CheckInVia.API, now=during + timedelta(seconds=3), scanner_event=event, token=token, nonce="n-1"
    )
    assert first.result == again.result == "ok" and again.replay and again.checked_in_at == during
    assert scans() == ["ok"]
    other = services.check_in(guest.code, via=CheckInVia.API, now=during, scanner_event=event, token=token, nonce="n-2")
    assert other.result == "already_checked_in"


def test_api_tokens_are_stored_hashed_and_revocable(event, make_user, during):
    staff = make_user(Role.PROVINCE, "11")
    token, plain = services.create_api_token(event, "闸机", actor=staff, now=during)
    db.session.commit()
    assert plain not in token.token_hash and services.token_for(plain).id == token.id
    services.revoke_api_token(token, actor=staff, now=during)
    db.session.commit()
    assert services.token_for(plain) is None and services.token_for("nonsense") is None


def test_walk_in_registers_and_checks_in(event, during):
    result, guest = services.walk_in(
        event, name="李四", category=GuestCategory.MEDIA, phone="13900001111", consent=True, now=during
    )
    assert result.ok and guest.walk_in and guest.consent_at == during and guest.checked_in_at == during
    assert guest.code and guest.code != event.walk_in_code


def test_walk_in_with_a_known_mobile_reveals_nothing(event, during, make_guest):
    """Knowing a guest's mobile must not get anyone that guest's invitation or check-in."""
    invited = make_guest(event, phone="13900002222")
    services.walk_in(event, name="李四", category=GuestCategory.MEDIA, phone="13900001111", consent=True, now=during)
    for phone in ("13900001111", "13900002222"):
        with pytest.raises(RuleError) as e:
            services.walk_in(
                event,
                name="冒名者",
                category=GuestCategory.MEDIA,
                phone=phone,
                consent=True,
                now=during + timedelta(minutes=3),
            )
        assert e.value.code == "already_registered"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Guest)) == 2
    assert db.session.get(Guest, invited.id).checked_in_at is None


@pytest.mark.parametrize(
    "setup, code",
    [
        (lambda e: setattr(e, "walk_ins_enabled", False), "walk_ins_closed"),
        (lambda e: None, "consent_required"),
    ],
)
def test_walk_in_refusals(event, during, setup, code):
    setup(event)
    with pytest.raises(RuleError) as e:
        services.walk_in(
            event, name="王五", category=GuestCategory.CONSUMER, consent=code != "consent_required", now=during
        )
    assert e.value.code == code
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Guest)) == 0


def test_walk_ins_stop_at_capacity(event, make_guest, during):
    event.capacity = 2
    invited = make_guest(event)
    services.check_in(invited.code, via=CheckInVia.PHONE, now=during)
    services.walk_in(event, name="甲", category=GuestCategory.CONSUMER, consent=True, now=during)
    with pytest.raises(RuleError) as e:
        services.walk_in(event, name="乙", category=GuestCategory.CONSUMER, consent=True, now=during)
    assert e.value.code == "full"
    assert services.checked_in_count(event) == 2


def test_walk_in_outside_the_window_refused(event):
    with pytest.raises(RuleError) as e:
        services.walk_in(
            event, name="甲", category=GuestCategory.CONSUMER, consent=True, now=event.ends_at + timedelta(hours=1)
        )
    assert e.value.code == "not_open"


def test_undo_by_the_same_staff_within_15_minutes(event, make_guest, make_user, during):
    clerk = make_user(Role.ORGANIZER, "11")
    other = make_user(Role.PROVINCE, "11")
    guest = make_guest(event)
    services.check_in(guest.code, via=CheckInVia.DESK, now=during, actor=clerk)
    db.session.refresh(guest)
    with pytest.raises(RuleError) as e:
        services.undo_check_in(guest, actor=other, now=during)
    assert e.value.code == "undo_not_yours"
    with pytest.raises(RuleError) as e:
        services.undo_check_in(guest, actor=clerk, now=during + timedelta(minutes=16))
    assert e.value.code == "undo_too_late"
    services.undo_check_in(guest, actor=clerk, now=during + timedelta(minutes=14))
    assert guest.checked_in_at is None
    assert scans() == ["ok", "undone"]
    with pytest.raises(RuleError) as e:
        services.undo_check_in(guest, actor=clerk, now=during)
    assert e.value.code == "undo_not_checked_in"


def test_staff_register_a_walk_in_as_their_own_check_in_and_it_is_audited(event, make_user, during):
    from experience.core.audit import AuditEntry

    clerk = make_user(Role.ORGANIZER, "11")
    result, guest = services.walk_in(
        event, name="孙丽", category=GuestCategory.CONSUMER, consent=True, now=during, actor=clerk
    )
    assert result.ok and guest.walk_in and guest.phone is None
    assert (guest.checked_in_via, guest.checked_in_by_id, guest.consent_at) == (CheckInVia.DESK, clerk.id, during)
    assert db.session.execute(sa.select(Scan.result, Scan.via, Scan.actor_id)).all() == [
        ("ok", CheckInVia.DESK, clerk.id)
    ]
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "guest.create"))
    assert (entry.actor_id, entry.target_id) == (clerk.id, str(guest.id))
    assert entry.detail == {"walk_in": True, "checked_in": True}
    services.undo_check_in(guest, actor=clerk, now=during + timedelta(minutes=1))  # a slip is theirs to undo
    assert guest.checked_in_at is None


def test_staff_walk_in_without_the_guests_agreement_is_refused(event, make_user, during):
    clerk = make_user(Role.ORGANIZER, "11")
    with pytest.raises(RuleError) as e:
        services.walk_in(event, name="孙丽", category=GuestCategory.CONSUMER, consent=False, now=during, actor=clerk)
    assert e.value.code == "consent_required" and "嘉宾" in str(e.value)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Guest)) == 0


def test_window_state_before_during_and_after(event):
    opens, closes = event.checkin_opens_at, event.checkin_closes_at
    assert services.window_state(event, opens - timedelta(seconds=1)) == "before"
    assert services.window_state(event, opens) == "open"
    assert services.window_state(event, closes) == "open"
    assert services.window_state(event, closes + timedelta(seconds=1)) == "after"


def test_undo_is_checked_before_it_is_asked_and_checking_changes_nothing(event, make_guest, make_user, during):
    clerk = make_user(Role.ORGANIZER, "11")
    guest = make_guest(event)
    services.check_in(guest.code, via=CheckInVia.DESK, now=during, actor=clerk)
    db.session.refresh(guest)
    services.check_undo(guest, actor=clerk, now=during)
    assert guest.checked_in_at == during and scans() == ["ok"]
    with pytest.raises(RuleError) as e:
        services.check_undo(guest, actor=clerk, now=during + timedelta(minutes=16))
    assert e.value.code == "undo_too_late"


def test_a_device_ticket_names_its_guest_only_at_its_own_event(app, make_event, during):
    event = make_event()
    _, guest = services.walk_in(event, name="赵六", category=GuestCategory.CONSUMER, consent=True, now=during)
    other = make_event(title="另一场")
    ticket = services.device_ticket(guest)
    assert services.device_guest(event, ticket).id == guest.id
    assert services.device_guest(other, ticket) is None
    tampered = ticket[:-6] + ("A" if ticket[-6] != "A" else "B") + ticket[-5:]  # (the last character may
    assert services.device_guest(event, tampered) is None  # carry only padding bits)
    assert services.device_guest(event, "") is None
    guests.revoke_code(guest, actor=None, now=during)  # a withdrawn code: the ticket no longer works
    assert services.device_guest(event, ticket) is None
