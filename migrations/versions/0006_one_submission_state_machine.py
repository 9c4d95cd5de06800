"""One submission state machine: plans and provincial summaries share core.submissions,
and a deadline extension's subject may be a province or a submitting unit.

Plans and summaries get the two columns the shared machine adds: ``reopen_until`` (after
a return, the last Beijing day it may come back; NULL, as for every row today, means any
time) and ``withdrawn_at``. ``deadline_extension`` gets ``unit_id`` (works' submitting
units; its foreign key comes with their table), ``province_code`` becomes nullable, and
two CHECKs: exactly one subject, and ``kind`` one of the campaign's deadlines, written
out here as they stand so that this file never changes with the enum. Every existing
row is kept: the new columns are NULL and every extension has its province.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 09:30:00.000000

"""

from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

#: DeadlineKind's values on the day of this migration
KINDS = ("plan", "summary", "works")
ONE_SUBJECT = "(province_code IS NOT NULL AND unit_id IS NULL) OR (province_code IS NULL AND unit_id IS NOT NULL)"
SUBMISSIONS = ("plan", "province_summary")


@contextmanager
def _sqlite_foreign_keys_off():
    """SQLite changes a column's nullability or adds a CHECK by rebuilding the table: copy,
    drop, rename. With foreign keys on, dropping a table first deletes its rows, which
    cascades or fails, so this follows SQLite's own recipe for such changes (as 0005
    does): foreign keys off, the rebuilds in one transaction, ``PRAGMA
    foreign_key_check``, commit, and foreign keys back as they were. The pragma does
    nothing inside a transaction, so the migration's own transaction is ended first and a
    new one begun at the end, in which Alembic records the revision.
    """
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    if bind.connection.dbapi_connection.in_transaction:
        bind.exec_driver_sql("COMMIT")
    was = bind.exec_driver_sql("PRAGMA foreign_keys").scalar()
    bind.exec_driver_sql("PRAGMA foreign_keys=OFF")
    bind.exec_driver_sql("BEGIN IMMEDIATE")
    try:
        yield
        broken = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
        if broken:
            raise RuntimeError(f"foreign keys broken by the rebuild: {broken[:5]}")
        bind.exec_driver_sql("COMMIT")
    except BaseException:
        bind.exec_driver_sql("ROLLBACK")
        raise
    finally:
        bind.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if was else 'OFF'}")
        bind.exec_driver_sql("BEGIN")


def upgrade():
    with _sqlite_foreign_keys_off():
        for table in SUBMISSIONS:
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.add_column(sa.Column("reopen_until", sa.Date(), nullable=True))
                batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(), nullable=True))

        with op.batch_alter_table("deadline_extension", schema=None) as batch_op:
            batch_op.add_column(sa.Column("unit_id", sa.Integer(), nullable=True))
            batch_op.alter_column("province_code", existing_type=sa.String(length=2), nullable=True)
            batch_op.create_check_constraint(
                batch_op.f("ck_deadline_extension_kind"), f"kind IN ({', '.join(repr(k) for k in KINDS)})"
            )
            batch_op.create_check_constraint(batch_op.f("ck_deadline_extension_one_subject"), ONE_SUBJECT)
            batch_op.create_index("ix_deadline_extension_unit_lookup", ["campaign_id", "unit_id", "kind"])


def downgrade():
    # a unit's extension has no province to go back to
    op.execute(sa.text("DELETE FROM deadline_extension WHERE province_code IS NULL"))
    with _sqlite_foreign_keys_off():
        with op.batch_alter_table("deadline_extension", schema=None) as batch_op:
            batch_op.drop_index("ix_deadline_extension_unit_lookup")
            batch_op.drop_constraint(batch_op.f("ck_deadline_extension_one_subject"), type_="check")
            batch_op.drop_constraint(batch_op.f("ck_deadline_extension_kind"), type_="check")
            batch_op.alter_column("province_code", existing_type=sa.String(length=2), nullable=False)
            batch_op.drop_column("unit_id")

        for table in reversed(SUBMISSIONS):
            with op.batch_alter_table(table, schema=None) as batch_op:
                batch_op.drop_column("withdrawn_at")
                batch_op.drop_column("reopen_until")
