"""Each reader has their own read mark on a notice.

A notice to a province's staff or to a role (the works secretariat) has several readers;
one ``read_at`` on the notice made one reader's "mark all read" clear everyone's badge.
``notice_read`` holds one row per reader who read a notice. The marks already there are
kept: a notice read before counts as read for each reader it is addressed to today.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 22:40:00

"""

from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

#: who received a notice, in SQL (as notices.services.addressed_to says it on this day)
_ADDRESSED = """
    n.user_id = u.id
    OR n.role = u.role
    OR (u.role = 'province' AND n.province_code = u.province_code)
    OR (u.role = 'hq' AND n.province_code IS NULL AND n.user_id IS NULL AND n.role IS NULL)
"""


@contextmanager
def _sqlite_foreign_keys_off():
    """SQLite drops a column by rebuilding the table; with foreign keys on, dropping
    ``notice`` would take the ``notice_read`` rows just copied with it. SQLite's own
    recipe, as in 0005–0012: foreign keys off, the rebuild in one transaction, checked,
    committed, and a new transaction for Alembic to record the revision in."""
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
    op.create_table(
        "notice_read",
        sa.Column("notice_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["notice_id"], ["notice.id"], name=op.f("fk_notice_read_notice_id_notice"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_notice_read_user_id_user_account"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("notice_id", "user_id", name=op.f("pk_notice_read")),
    )
    op.execute(
        "INSERT INTO notice_read (notice_id, user_id, read_at) "
        f"SELECT n.id, u.id, n.read_at FROM notice n JOIN user_account u ON ({_ADDRESSED}) "
        "WHERE n.read_at IS NOT NULL"
    )
    with _sqlite_foreign_keys_off(), op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.drop_column("read_at")


def downgrade():
    with _sqlite_foreign_keys_off(), op.batch_alter_table("notice", schema=None) as batch_op:
        batch_op.add_column(sa.Column("read_at", sa.DateTime(), nullable=True))
    # a notice is read again once any of its readers read it (the one mark it had before)
    op.execute("UPDATE notice SET read_at = (SELECT MIN(r.read_at) FROM notice_read r WHERE r.notice_id = notice.id)")
    op.drop_table("notice_read")
