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
