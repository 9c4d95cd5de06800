import pytest
import sqlalchemy as sa

from experience.core import audit
from experience.core.audit import AuditEntry
from experience.extensions import db
from tests.conftest import NOW


def _entry():
    audit.record("login.failure", now=NOW, target_type="user", target_id="x", ip="1.1.1.1")
    db.session.commit()
    return db.session.scalar(sa.select(AuditEntry.id))


def test_audit_rows_cannot_be_updated(app):
    ident = _entry()
    with pytest.raises(sa.exc.DatabaseError):
        db.session.execute(sa.text("UPDATE audit_entry SET action='logout' WHERE id=:i"), {"i": ident})
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditEntry, ident).action == "login.failure"


def test_audit_rows_cannot_be_deleted(app):
    ident = _entry()
    with pytest.raises(sa.exc.DatabaseError):
        db.session.execute(sa.text("DELETE FROM audit_entry"))
        db.session.commit()
    db.session.rollback()
    assert db.session.get(AuditEntry, ident) is not None


def test_an_insert_that_replaces_a_row_is_refused(app):
    """SQLite's INSERT OR REPLACE deletes the old row without firing its DELETE trigger
    (unless recursive triggers are on); PostgreSQL's counterpart is ON CONFLICT DO UPDATE."""
    ident = _entry()
    columns = "id, at, action, actor_name, target_type, target_id, ip, detail"
    values = "(:i, :at, 'logout', 'mallory', 'user', 'x', '6.6.6.6', '{}')"
    if db.engine.dialect.name == "sqlite":
        attack = f"INSERT OR REPLACE INTO audit_entry ({columns}) VALUES {values}"
    else:
        attack = f"INSERT INTO audit_entry ({columns}) VALUES {values} ON CONFLICT (id) DO UPDATE SET action = 'logout'"
    with pytest.raises(sa.exc.DatabaseError):
        db.session.execute(sa.text(attack), {"i": ident, "at": NOW})
        db.session.commit()
    db.session.rollback()
    entry = db.session.get(AuditEntry, ident)
    assert (entry.action, entry.ip) == ("login.failure", "1.1.1.1")


def test_orm_delete_is_refused_too(app):
    ident = _entry()
    db.session.delete(db.session.get(AuditEntry, ident))
    with pytest.raises(sa.exc.DatabaseError):
        db.session.commit()
    db.session.rollback()


def test_unknown_action_is_a_programming_error(app):
    with pytest.raises(AssertionError):
        audit.record("made.up", now=NOW)


def test_no_route_edits_or_deletes_the_audit_log(app):
    methods = {m for rule in app.url_map.iter_rules() if "audit" in rule.rule for m in rule.methods}
    assert methods <= {"GET", "HEAD", "OPTIONS"}


def test_details_read_in_the_interface_language(app):
    """Keys and coded values in Chinese words; what a person typed stays as typed."""
    entry = AuditEntry(
        action="guest.update",
        target_type="guest",
        detail={
            "first": True,
            "late": False,
            "fields": ["title", "note"],
            "export": "guest_list",
            "reason": "临时调整",
        },
    )
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        assert audit.detail_items(entry) == [
            ("首次报送", "是"),
            ("逾期", "否"),
            ("字段", "职务、备注"),  # a guest's title is a job title
            ("导出内容", "嘉宾名单"),
            ("原因", "临时调整"),
        ]
        event = AuditEntry(action="event.update", target_type="event", detail={"fields": ["title"], "new": "x"})
        assert audit.detail_items(event) == [("字段", "活动名称"), ("new", "x")]


def test_targets_are_named_by_what_their_capability_registered(app, make_user, make_event, campaign):
    staff = make_user(username="bjstaff")
    event = make_event(actor=staff, title="养老服务认证体验日")
    entries = [
        AuditEntry(action="event.update", target_type="event", target_id=str(event.id)),
        AuditEntry(action="event.update", target_type="event", target_id="999999"),
        AuditEntry(action="campaign.update", target_type="campaign", target_id=str(campaign.id)),
        AuditEntry(action="access.denied", target_type="route", target_id="plans.national"),
    ]
    names = audit.target_names(entries)
    assert names == {("event", str(event.id)): "养老服务认证体验日", ("campaign", str(campaign.id)): "2024"}
