"""The database's own CHECK constraints agree with the Python enums.

Alembic compares tables, columns, types and indexes, but not CHECK constraints, so
``flask db check`` stays quiet when a value is added to an enum without a migration.
These tests read each enum column's CHECK back from the database (SQLite and PostgreSQL)
and compare it with the enum; the enum columns are found in the models' metadata, so a
new one is covered without touching this file.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import experience
from experience.accounts.models import User
from experience.checkin import services as checkin
from experience.core.jobs import Job
from experience.extensions import db
from experience.guests.models import CheckInVia
from experience.plans.models import DeadlineExtension, DeadlineKind, Plan
from experience.ratings.models import Rating
from experience.reports.models import ProvinceSummary
from experience.screening.models import (
    Assignment,
    BlindCopy,
    Decision,
    Entry,
    Fingerprint,
    FingerprintKind,
    Outcome,
    Round,
)
from experience.units.models import Unit, UnitType
from experience.works.models import FileKind, Recommendation, Work, WorkCategory, WorkFile

NOT_A_VALUE = "not_a_value"


def _import_all_models() -> None:
    for module in pkgutil.iter_modules(experience.__path__):
        if module.ispkg and (Path(experience.__path__[0]) / module.name / "models.py").exists():
            importlib.import_module(f"experience.{module.name}.models")


def enum_columns(metadata: sa.MetaData) -> list[sa.Column]:
    return sorted(
        (column for table in metadata.tables.values() for column in table.columns if isinstance(column.type, sa.Enum)),
        key=lambda c: (c.table.name, c.name),
    )


_import_all_models()
ENUM_COLUMNS = enum_columns(db.metadata)
COLUMN_IDS = [f"{c.table.name}.{c.name}" for c in ENUM_COLUMNS]


def enum_values(column: sa.Column) -> set[str]:
    """What the Python enum allows, as stored (its values)."""
    enum_class = column.type.enum_class
    return {m.value for m in enum_class} if enum_class is not None else set(column.type.enums)


def check_name(column: sa.Column) -> str:
    return f"ck_{column.table.name}_{column.name}"


def database_check(column: sa.Column) -> str:
    """The CHECK's text as the database holds it."""
    found = [
        c["sqltext"]
        for c in sa.inspect(db.engine).get_check_constraints(column.table.name)
        if c["name"] == check_name(column)
    ]
    assert len(found) == 1, f"no {check_name(column)} in the database: a migration is missing"
    return found[0]


def test_enum_columns_are_found():
    # the discovery itself: a loop over nothing would pass whatever the schema says
    assert {"user_account.role", "guest.category", "scan.result", "scan.via"} <= set(COLUMN_IDS)


def test_every_enum_column_of_the_app_is_covered(app):
    # models outside a capability's models.py (core/audit.py, say) are imported by the app
    assert [f"{c.table.name}.{c.name}" for c in enum_columns(db.metadata)] == COLUMN_IDS


@pytest.mark.parametrize("column", ENUM_COLUMNS, ids=COLUMN_IDS)
def test_check_allows_exactly_the_enum_values(app, column):
    sqltext = database_check(column)
    # SQLite keeps the text as written: state IN ('a', 'b'); PostgreSQL rewrites it as
    # ((state)::text = ANY ((ARRAY['a'::character varying, ...])::text[])).
    assert re.search(rf"\b{column.name}\b", sqltext), sqltext
    assert set(re.findall(r"'([^']*)'", sqltext)) == enum_values(column)


@pytest.fixture
def one_row_each(app, make_event, make_guest, make_user, campaign, now):
    """A row in every table that has an enum column, to copy and to update."""
    granter = make_user()  # province staff: an HQ row (no province) would trip another CHECK first
    event = make_event()
    guest = make_guest(event)
    checkin.check_in(guest.code, via=CheckInVia.DESK, now=event.starts_at + timedelta(minutes=5))
    db.session.add_all(
        [
            Plan(campaign_id=campaign.id, province_code="11"),
            ProvinceSummary(campaign_id=campaign.id, province_code="11"),
            Rating(guest_id=guest.id, event_id=event.id, created_at=now, updated_at=now),
            Job(kind="invitations", owner_id=granter.id, created_at=now),
            DeadlineExtension(
                campaign_id=campaign.id,
                province_code="11",
                kind=DeadlineKind.PLAN,
                new_deadline=campaign.plan_deadline,
                granted_by_id=granter.id,
                granted_at=now,
            ),
            Unit(
                name="华为技术有限公司",
                credit_code="914403001922038216",
                unit_type=UnitType.RELATED_ENTERPRISE,
                province_code="44",
                contact_name="联系人",
                contact_mobile="13800138000",
                declaration_version="2024-1",
                declaration_accepted_at=now,
                created_at=now,
            ),
        ]
    )
    db.session.flush()
    work = Work(
        campaign_id=campaign.id,
        unit_id=db.session.scalar(sa.select(Unit.id)),
        title="作品",
        category=WorkCategory.TEXT,
        completed_on=campaign.week_start,
        contact_name="联系人",
        contact_phone="13800138000",
        summary="简介",
        created_at=now,
        updated_at=now,
    )
    db.session.add(work)
    db.session.flush()
    original = WorkFile(work_id=work.id, kind=FileKind.ORIGINAL, created_at=now)
    db.session.add(original)
    screening_round = Round(campaign_id=campaign.id, position=1, name="初评", created_at=now)
    db.session.add(screening_round)
    db.session.flush()
    entry = Entry(round_id=screening_round.id, work_id=work.id, entered_at=now)
    fingerprint = Fingerprint(
        file_id=original.id,
        work_id=work.id,
        campaign_id=campaign.id,
        kind=FingerprintKind.IMAGE,
        value="0" * 16,
        created_at=now,
    )
    db.session.add_all([entry, BlindCopy(file_id=original.id, created_at=now), fingerprint])
    db.session.flush()
    someone = db.session.scalar(sa.select(User.id))
    db.session.add_all(
        [
            Assignment(entry_id=entry.id, round_id=screening_round.id, expert_id=someone, assigned_at=now),
            Decision(entry_id=entry.id, pass_no=1, outcome=Outcome.SELECTED, decided_by_id=someone, decided_at=now),
        ]
    )
    db.session.add(
        Recommendation(
            work_id=work.id,
            province_code=db.session.scalar(sa.select(Unit.province_code)),
            requested_by_id=db.session.scalar(sa.select(User.id)),
            requested_at=now,
        )
    )
    db.session.commit()
    db.session.close()


def _assert_has_rows(table: sa.Table) -> None:
    with db.engine.connect() as conn:
        rows = conn.scalar(sa.select(sa.func.count()).select_from(table))
    assert rows, f"one_row_each puts no row in {table.name}: the statement would prove nothing"


def _refused(statement: str, column: sa.Column) -> None:
    _assert_has_rows(column.table)
    with pytest.raises(sa.exc.IntegrityError) as refused, db.engine.begin() as conn:
        conn.execute(sa.text(statement))
    # refused by this CHECK, not by a NOT NULL or a unique constraint on the way
    assert check_name(column) in str(refused.value)


@pytest.mark.parametrize("column", ENUM_COLUMNS, ids=COLUMN_IDS)
def test_raw_insert_of_an_unknown_value_fails(one_row_each, column):
    table = column.table
    quote = db.engine.dialect.identifier_preparer.quote
    # a copy of a valid row with only the enum column changed; CHECK comes before UNIQUE on both engines
    columns = [c for c in table.columns if c is not table.autoincrement_column]
    names = ", ".join(quote(c.name) for c in columns)
    values = ", ".join(f"'{NOT_A_VALUE}'" if c is column else quote(c.name) for c in columns)
    _refused(f"INSERT INTO {quote(table.name)} ({names}) SELECT {values} FROM {quote(table.name)}", column)


@pytest.mark.parametrize("column", ENUM_COLUMNS, ids=COLUMN_IDS)
def test_raw_update_to_an_unknown_value_fails(one_row_each, column):
    quote = db.engine.dialect.identifier_preparer.quote
    _refused(f"UPDATE {quote(column.table.name)} SET {quote(column.name)} = '{NOT_A_VALUE}'", column)
