"""Migration 0008 gives every existing event its host unit (the creating account's
organisation) and every guest an empty salutation, keeping every row, on SQLite (where it
rebuilds event and guest with foreign keys off) and PostgreSQL; and it goes back."""

from __future__ import annotations

import itertools
import os

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from experience import create_app
from experience.config import TestConfig
from experience.extensions import db

#: a database as 0007 left it: two events by two accounts, an organiser assigned, a guest
AT_0007 = [
    "INSERT INTO campaign (id, year, theme, plan_deadline, works_deadline, summary_deadline, week_start, week_end,"
    " sectors) VALUES (1, 2024, '主题', '2024-08-23', '2024-08-30', '2024-10-18', '2024-09-10', '2024-09-16', '养老')",
    "INSERT INTO user_account (id, username, display_name, organisation, role, province_code, password_hash,"
    " must_change_password, active, session_token, created_at) VALUES"
    " (1, 'bjstaff', '北京', '北京市市场监督管理局', 'province', '11', 'x', false, true, 't1', '2024-08-01 00:00:00'),"
    " (2, 'bjorg', '朝阳', '', 'organizer', '11', 'x', false, true, 't2', '2024-08-01 00:00:00')",
    "INSERT INTO event (id, campaign_id, province_code, status, title, service_name, certified_org, certificate_no,"
    " certification_body, sector, venue_name, city, address, starts_at, ends_at, expected_guests, highlights, agenda,"
    " contact_name, contact_phone, cancel_reason, launch_selected, launch_note, created_by_id, created_at,"
    " updated_at, checkin_opens_minutes, checkin_closes_minutes, walk_ins_enabled, walk_in_code, feedback_hours)"
    " VALUES"
    " (1, 1, '11', 'planned', '体验日', '养老服务', '康乐', 'C-1', '认证中心', '养老', '中心', '北京市', '朝阳区1号',"
    " '2024-09-10 01:00:00', '2024-09-10 04:00:00', '{}', '', '', '王老师', '13812341234', '', false, '', 1,"
    " '2024-08-02 00:00:00', '2024-08-02 00:00:00', 120, 0, true, 'walkin1', 48),"
    " (2, 1, '11', 'planned', '开放日', '物业服务', '安居', 'C-2', '认证中心', '养老', '花园', '北京市', '海淀区2号',"
    " '2024-09-11 01:00:00', '2024-09-11 04:00:00', '{}', '', '', '李老师', '13812341235', '', false, '', 2,"
    " '2024-08-02 00:00:00', '2024-08-02 00:00:00', 120, 0, true, 'walkin2', 48)",
    "INSERT INTO event_organizer (event_id, user_id) VALUES (1, 2)",
    "INSERT INTO guest (id, event_id, name, category, level, organisation, title, phone, note, code, walk_in,"
    " created_at) VALUES (1, 1, '张三', 'npc_deputy', 'city', '', '', NULL, '', 'code1', false, '2024-08-03 00:00:00')",
]

_counter = itertools.count()


@pytest.fixture
def empty_url(server_url, tmp_path):
    """A database with nothing in it, migrated by the test itself."""
    if server_url is None:
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    name = f"h{os.getpid()}_{next(_counter)}"
    admin = sa.create_engine(server_url.format(db="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f"CREATE DATABASE {name}"))
    yield server_url.format(db=name)
    with admin.connect() as c:
        c.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def _rows(sql: str) -> list[tuple]:
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]


def test_0008_gives_events_their_host_unit_and_keeps_every_row(empty_url):
    app = create_app(type("C", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": empty_url}))
    with app.app_context():
        upgrade(revision="0007")
        with db.engine.begin() as conn:
            for statement in AT_0007:
                conn.execute(sa.text(statement))

        upgrade(revision="0008")
        assert _rows("SELECT id, host_unit FROM event ORDER BY id") == [(1, "北京市市场监督管理局"), (2, "")]
        assert _rows("SELECT event_id, user_id FROM event_organizer") == [(1, 2)]  # the rebuild cascaded nothing
        assert _rows("SELECT id, name, category, salutation FROM guest") == [(1, "张三", "npc_deputy", None)]

        downgrade(revision="0007")
        assert "host_unit" not in {c["name"] for c in sa.inspect(db.engine).get_columns("event")}
        assert "salutation" not in {c["name"] for c in sa.inspect(db.engine).get_columns("guest")}
        assert _rows("SELECT event_id, user_id FROM event_organizer") == [(1, 2)]
        assert _rows("SELECT id, name FROM guest") == [(1, "张三")]
        upgrade()  # and up again to the head
        db.engine.dispose()
