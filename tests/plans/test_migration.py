"""Migration 0006 carries the plans, summaries and extensions of a live database over, on
SQLite (where it rebuilds deadline_extension with foreign keys off) and PostgreSQL."""

from __future__ import annotations

import itertools
import os

import pytest
import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from experience import create_app
from experience.config import TestConfig
from experience.extensions import db

#: a database as 0005 left it: one plan with HQ, one summary returned, two extensions
AT_0005 = [
    "INSERT INTO campaign (id, year, theme, plan_deadline, works_deadline, summary_deadline, week_start, week_end,"
    " sectors) VALUES (1, 2024, '主题', '2024-08-23', '2024-08-30', '2024-10-18', '2024-09-10', '2024-09-16', '养老')",
    "INSERT INTO user_account (id, username, display_name, organisation, role, province_code, password_hash,"
    " must_change_password, active, session_token, created_at)"
    " VALUES (1, 'hq', '认证监管司', '', 'hq', NULL, 'x', false, true, 't', '2024-08-01 00:00:00')",
    "INSERT INTO plan (id, campaign_id, province_code, state, organisation_text, coordination_text, publicity_text,"
    " safety_text, first_submitted_at, submitted_at, late, return_comment)"
    " VALUES (1, 1, '33', 'submitted', '甲', '乙', '丙', '丁', '2024-08-20 02:00:00', '2024-08-20 02:00:00',"
    " false, '')",
    "INSERT INTO province_summary (id, campaign_id, province_code, state, organisation_text, publicity_text,"
    " results_text, practices_text, suggestions_text, first_submitted_at, late, returned_at, return_comment, figures)"
    " VALUES (1, 1, '11', 'returned', '甲', '乙', '丙', '丁', '戊', '2024-10-24 01:00:00', true,"
    " '2024-10-26 01:00:00', '请补充数据', '{}')",
    "INSERT INTO deadline_extension (id, campaign_id, province_code, kind, new_deadline, reason, granted_by_id,"
    " granted_at) VALUES (1, 1, '54', 'plan', '2024-08-30', '道路中断', 1, '2024-08-24 01:00:00'),"
    " (2, 1, '11', 'summary', '2024-10-25', '汛期', 1, '2024-10-19 01:00:00')",
]

_counter = itertools.count()


@pytest.fixture
def empty_url(server_url, tmp_path):
    """A database with nothing in it, migrated by the test itself."""
    if server_url is None:
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    name = f"m{os.getpid()}_{next(_counter)}"
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


def test_0006_keeps_every_plan_summary_and_extension(empty_url):
    app = create_app(type("C", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": empty_url}))
    with app.app_context():
        upgrade(revision="0005")
        with db.engine.begin() as conn:
            for statement in AT_0005:
                conn.execute(sa.text(statement))

        upgrade(revision="0006")
        assert _rows("SELECT id, province_code, state, reopen_until, withdrawn_at FROM plan") == [
            (1, "33", "submitted", None, None)
        ]
        assert _rows("SELECT id, state, return_comment, reopen_until FROM province_summary") == [
            (1, "returned", "请补充数据", None)
        ]
        assert _rows("SELECT id, province_code, unit_id, kind, reason FROM deadline_extension ORDER BY id") == [
            (1, "54", None, "plan", "道路中断"),
            (2, "11", None, "summary", "汛期"),
        ]
        upgrade()  # the later migrations on top, then the schema matches the models
        assert app.test_cli_runner().invoke(args=["db", "check"]).exit_code == 0

        downgrade(revision="0005")
        assert _rows("SELECT id, province_code, kind FROM deadline_extension ORDER BY id") == [
            (1, "54", "plan"),
            (2, "11", "summary"),
        ]
        assert _rows("SELECT id, state FROM plan") == [(1, "submitted")]
        db.engine.dispose()
