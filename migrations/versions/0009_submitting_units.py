"""Submitting units (作品报送单位): the units that register themselves to submit works.

``submitting_unit`` holds a unit with its credit code (unique: one account per code), its
declaration of 附件1 三 (which text, when, from where) and whether the secretariat has
disabled it. ``user_account`` gets ``unit_id`` (unique: one account per unit) and the role
``submitter``; a CHECK ties the two together (a submitter has a unit, no one else has).
The CHECKs on enum columns are written out as the enums stand today, so that this file
never changes with them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 10:00:00

"""

from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: Role's values before and after this migration
ROLES_BEFORE = ("hq", "secretariat", "province", "organizer")
ROLES = (*ROLES_BEFORE, "submitter")
#: UnitType's values on the day of this migration
UNIT_TYPES = (
    "market_regulator",
    "industry_authority",
    "association",
    "certified_organisation",
    "related_enterprise",
    "certification_body",
    "other",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


@contextmanager
def _sqlite_foreign_keys_off():
    """SQLite adds a column with a foreign key, or replaces a CHECK, by rebuilding the
    table: copy, drop, rename. With foreign keys on, dropping ``user_account`` first fails
    (every table that names an account points at it), so this follows SQLite's own recipe
    (as 0005, 0006 and 0008 do): foreign keys off, the rebuild in one transaction,
    ``PRAGMA foreign_key_check``, commit, and foreign keys back as they were. The pragma
    does nothing inside a transaction, so the migration's own transaction is ended first
    and a new one begun at the end, in which Alembic records the revision.
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
    op.create_table(
        "submitting_unit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("credit_code", sa.String(length=18), nullable=False),
        sa.Column("unit_type", sa.String(length=30), nullable=False),
        sa.Column("province_code", sa.String(length=2), nullable=False),
        sa.Column("contact_name", sa.String(length=60), nullable=False),
        sa.Column("contact_mobile", sa.String(length=20), nullable=False),
        sa.Column("contact_email", sa.String(length=254), nullable=True),
        sa.Column("declaration_version", sa.String(length=20), nullable=False),
        sa.Column("declaration_accepted_at", sa.DateTime(), nullable=False),
        sa.Column("declaration_ip", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("disabled_at", sa.DateTime(), nullable=True),
        sa.Column("disabled_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(_in("unit_type", UNIT_TYPES), name=op.f("ck_submitting_unit_unit_type")),
        sa.CheckConstraint(
            "(disabled_at IS NULL) = (disabled_by_id IS NULL)", name=op.f("ck_submitting_unit_disabled_by_whom")
        ),
        sa.ForeignKeyConstraint(
            ["disabled_by_id"], ["user_account.id"], name=op.f("fk_submitting_unit_disabled_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["province_code"], ["province.code"], name=op.f("fk_submitting_unit_province_code_province")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submitting_unit")),
        sa.UniqueConstraint("credit_code", name=op.f("uq_submitting_unit_credit_code")),
    )
    with op.batch_alter_table("submitting_unit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_submitting_unit_province_code"), ["province_code"], unique=False)

    with _sqlite_foreign_keys_off(), op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("unit_id", sa.Integer(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_user_account_unit_id"), ["unit_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_user_account_unit_id_submitting_unit"), "submitting_unit", ["unit_id"], ["id"]
        )
        batch_op.drop_constraint(batch_op.f("ck_user_account_role"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_user_account_role"), _in("role", ROLES))
        batch_op.create_check_constraint(
            batch_op.f("ck_user_account_unit_matches_role"), "(role = 'submitter') = (unit_id IS NOT NULL)"
        )


def downgrade():
    # The units' accounts go with the units: the old role CHECK has no place for them.
    op.execute("DELETE FROM user_account WHERE role = 'submitter'")
    with _sqlite_foreign_keys_off(), op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_user_account_unit_matches_role"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_user_account_role"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_user_account_role"), _in("role", ROLES_BEFORE))
        batch_op.drop_constraint(batch_op.f("fk_user_account_unit_id_submitting_unit"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_user_account_unit_id"), type_="unique")
        batch_op.drop_column("unit_id")
    with op.batch_alter_table("submitting_unit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_submitting_unit_province_code"))
    op.drop_table("submitting_unit")
