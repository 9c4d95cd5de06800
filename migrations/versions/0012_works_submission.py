"""Works are submitted: their state, their number, the sealed form, the recommendation.

``work`` takes the submission state machine's columns (``core.submissions``: state, the
times of submission, return and withdrawal, the return's comment and reopen day) and its
作品编号 (unique, given once); ``campaign.works_last_number`` counts the numbers given so
that a deleted work's is never given again. ``work_file`` may now hold the sealed
registration form's scan (kind ``form_scan``), with the version it was printed from and
whether its QR code was read. ``work_recommendation`` holds the requests for a
province's recommendation. ``notice`` gains recipients by account and by role (at most
one recipient of the three kinds; none means HQ). ``deadline_extension.unit_id`` gets its
foreign key. The CHECKs on enum columns are written out as the enums stand today, so
that this file never changes with them.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 21:07:01

"""

from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

WORK_STATES = ("not_submitted", "submitted", "returned")
FILE_KINDS_BEFORE = ("original", "preview_screen", "thumbnail", "poster", "playable")
FILE_KINDS = (*FILE_KINDS_BEFORE, "form_scan")
RECOMMENDATION_STATES = ("requested", "recommended", "declined", "withdrawn")
ONE_RECIPIENT = (
    "(CASE WHEN province_code IS NULL THEN 0 ELSE 1 END) + (CASE WHEN user_id IS NULL THEN 0 ELSE 1 END)"
    " + (CASE WHEN role IS NULL THEN 0 ELSE 1 END) <= 1"
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


@contextmanager
def _sqlite_foreign_keys_off():
    """SQLite adds a foreign key or a CHECK by rebuilding the table: copy, drop, rename.
    With foreign keys on, dropping ``work`` would cascade to its files, so this follows
    SQLite's own recipe (as 0005, 0006, 0008 and 0009 do): foreign keys off, the rebuild
    in one transaction, ``PRAGMA foreign_key_check``, commit, and foreign keys back as
    they were; a new transaction is begun at the end, in which Alembic records the
    revision."""
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
        "work_recommendation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_id", sa.Integer(), nullable=False),
        sa.Column("province_code", sa.String(length=2), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("text_version", sa.String(length=20), nullable=False),
        sa.CheckConstraint(_in("state", RECOMMENDATION_STATES), name=op.f("ck_work_recommendation_state")),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["user_account.id"], name=op.f("fk_work_recommendation_decided_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["province_code"], ["province.code"], name=op.f("fk_work_recommendation_province_code_province")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["user_account.id"], name=op.f("fk_work_recommendation_requested_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["work_id"], ["work.id"], name=op.f("fk_work_recommendation_work_id_work"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_recommendation")),
    )
    with op.batch_alter_table("work_recommendation", schema=None) as batch_op:
        batch_op.create_index("ix_work_recommendation_province_code_state", ["province_code", "state"], unique=False)
        batch_op.create_index(batch_op.f("ix_work_recommendation_work_id"), ["work_id"], unique=False)

    with _sqlite_foreign_keys_off():
        with op.batch_alter_table("campaign", schema=None) as batch_op:
            batch_op.add_column(sa.Column("works_last_number", sa.Integer(), server_default="0", nullable=False))

        with op.batch_alter_table("deadline_extension", schema=None) as batch_op:
            batch_op.create_foreign_key(
                batch_op.f("fk_deadline_extension_unit_id_submitting_unit"),
                "submitting_unit",
                ["unit_id"],
                ["id"],
                ondelete="CASCADE",
            )

        with op.batch_alter_table("notice", schema=None) as batch_op:
            batch_op.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
            batch_op.add_column(sa.Column("role", sa.String(length=20), nullable=True))
            batch_op.create_index(batch_op.f("ix_notice_role"), ["role"], unique=False)
            batch_op.create_index(batch_op.f("ix_notice_user_id"), ["user_id"], unique=False)
            batch_op.create_foreign_key(
                batch_op.f("fk_notice_user_id_user_account"), "user_account", ["user_id"], ["id"], ondelete="CASCADE"
            )
            batch_op.create_check_constraint(batch_op.f("ck_notice_one_recipient"), ONE_RECIPIENT)

        with op.batch_alter_table("work", schema=None) as batch_op:
            batch_op.add_column(sa.Column("number", sa.String(length=20), nullable=True))
            batch_op.add_column(sa.Column("first_submitted_at", sa.DateTime(), nullable=True))
            batch_op.add_column(sa.Column("submitted_at", sa.DateTime(), nullable=True))
            batch_op.add_column(sa.Column("late", sa.Boolean(), server_default=sa.false(), nullable=False))
            batch_op.add_column(sa.Column("returned_at", sa.DateTime(), nullable=True))
            batch_op.add_column(sa.Column("return_comment", sa.Text(), server_default="", nullable=False))
            batch_op.add_column(sa.Column("reopen_until", sa.Date(), nullable=True))
            batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(), nullable=True))
            batch_op.add_column(
                sa.Column("state", sa.String(length=20), server_default="not_submitted", nullable=False)
            )
            batch_op.create_check_constraint(batch_op.f("ck_work_state"), _in("state", WORK_STATES))
            batch_op.create_unique_constraint(batch_op.f("uq_work_number"), ["number"])

        with op.batch_alter_table("work_file", schema=None) as batch_op:
            batch_op.add_column(sa.Column("form_hash", sa.String(length=16), server_default="", nullable=False))
            batch_op.add_column(sa.Column("form_read", sa.Boolean(), server_default=sa.false(), nullable=False))
            batch_op.drop_constraint(batch_op.f("ck_work_file_kind"), type_="check")
            batch_op.create_check_constraint(batch_op.f("ck_work_file_kind"), _in("kind", FILE_KINDS))

    # the defaults were for the rows already there; the models give every new row its values
    with op.batch_alter_table("work", schema=None) as batch_op:
        for column in ("late", "return_comment", "state"):
            batch_op.alter_column(column, server_default=None)
    with op.batch_alter_table("work_file", schema=None) as batch_op:
        for column in ("form_hash", "form_read"):
            batch_op.alter_column(column, server_default=None)


def downgrade():
    # A form scan has no place in the old CHECK: the scans' rows go (their bytes are swept).
    op.execute("DELETE FROM work_file WHERE kind = 'form_scan'")
    op.execute("DELETE FROM notice WHERE user_id IS NOT NULL OR role IS NOT NULL")
    with _sqlite_foreign_keys_off():
        with op.batch_alter_table("work_file", schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f("ck_work_file_kind"), type_="check")
            batch_op.create_check_constraint(batch_op.f("ck_work_file_kind"), _in("kind", FILE_KINDS_BEFORE))
            batch_op.drop_column("form_read")
            batch_op.drop_column("form_hash")

        with op.batch_alter_table("work", schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f("uq_work_number"), type_="unique")
            batch_op.drop_constraint(batch_op.f("ck_work_state"), type_="check")
            for column in (
                "state",
                "withdrawn_at",
                "reopen_until",
                "return_comment",
                "returned_at",
                "late",
                "submitted_at",
                "first_submitted_at",
                "number",
            ):
                batch_op.drop_column(column)

        with op.batch_alter_table("notice", schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f("ck_notice_one_recipient"), type_="check")
            batch_op.drop_constraint(batch_op.f("fk_notice_user_id_user_account"), type_="foreignkey")
            batch_op.drop_index(batch_op.f("ix_notice_user_id"))
            batch_op.drop_index(batch_op.f("ix_notice_role"))
            batch_op.drop_column("role")
            batch_op.drop_column("user_id")

        with op.batch_alter_table("deadline_extension", schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f("fk_deadline_extension_unit_id_submitting_unit"), type_="foreignkey")

        with op.batch_alter_table("campaign", schema=None) as batch_op:
            batch_op.drop_column("works_last_number")

    with op.batch_alter_table("work_recommendation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_work_recommendation_work_id"))
        batch_op.drop_index("ix_work_recommendation_province_code_state")
    op.drop_table("work_recommendation")
