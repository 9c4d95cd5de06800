"""Works (作品): a unit's works for a campaign, and their stored files.

``work`` holds the fields of 附件2's registration form, where its checks stand
(``check_state``) and the acceptance of the 承诺书 and the licence of 附件1 四 (who, when,
from where, which version, for which title). ``work_file`` holds one row per stored file:
an original or a file derived from it (``source_id``), with its key in the storage, its
size and SHA-256, what the checks found and a photo's caption. The CHECKs on enum columns
are written out as the enums stand today, so that this file never changes with them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 12:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

CATEGORIES = ("text", "photo", "video")
CHECK_STATES = ("draft", "processing", "ready", "failed")
FILE_KINDS = ("original", "preview_screen", "thumbnail", "poster", "playable")
FILE_CHECKS = ("pending", "passed", "failed")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade():
    op.create_table(
        "work",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("completed_on", sa.Date(), nullable=False),
        sa.Column("contact_name", sa.String(length=60), nullable=False),
        sa.Column("contact_phone", sa.String(length=30), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("check_state", sa.String(length=20), nullable=False),
        sa.Column("declared_by_id", sa.Integer(), nullable=True),
        sa.Column("declared_at", sa.DateTime(), nullable=True),
        sa.Column("declared_ip", sa.String(length=64), nullable=False),
        sa.Column("declaration_version", sa.String(length=20), nullable=False),
        sa.Column("declared_title", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(_in("category", CATEGORIES), name=op.f("ck_work_category")),
        sa.CheckConstraint(_in("check_state", CHECK_STATES), name=op.f("ck_work_check_state")),
        sa.CheckConstraint("(declared_at IS NULL) = (declared_by_id IS NULL)", name=op.f("ck_work_declared_by_whom")),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaign.id"], name=op.f("fk_work_campaign_id_campaign")),
        sa.ForeignKeyConstraint(
            ["declared_by_id"], ["user_account.id"], name=op.f("fk_work_declared_by_id_user_account")
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["submitting_unit.id"], name=op.f("fk_work_unit_id_submitting_unit")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work")),
    )
    with op.batch_alter_table("work", schema=None) as batch_op:
        batch_op.create_index("ix_work_campaign_id_category", ["campaign_id", "category"], unique=False)
        batch_op.create_index(batch_op.f("ix_work_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "work_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("storage_key", sa.String(length=80), nullable=True),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("duration_s", sa.Double(), nullable=True),
        sa.Column("creator", sa.String(length=100), nullable=False),
        sa.Column("taken_at", sa.String(length=50), nullable=False),
        sa.Column("place", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("key_people", sa.String(length=200), nullable=False),
        sa.Column("background", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("check_state", sa.String(length=20), nullable=False),
        sa.Column("check_code", sa.String(length=40), nullable=False),
        sa.Column("check_params", sa.JSON(), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(_in("kind", FILE_KINDS), name=op.f("ck_work_file_kind")),
        sa.CheckConstraint(_in("check_state", FILE_CHECKS), name=op.f("ck_work_file_check_state")),
        sa.ForeignKeyConstraint(
            ["source_id"], ["work_file.id"], name=op.f("fk_work_file_source_id_work_file"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["work_id"], ["work.id"], name=op.f("fk_work_file_work_id_work"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_file")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_work_file_storage_key")),
    )
    with op.batch_alter_table("work_file", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_work_file_source_id"), ["source_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_work_file_work_id"), ["work_id"], unique=False)


def downgrade():
    with op.batch_alter_table("work_file", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_work_file_work_id"))
        batch_op.drop_index(batch_op.f("ix_work_file_source_id"))
    op.drop_table("work_file")
    with op.batch_alter_table("work", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_work_unit_id"))
        batch_op.drop_index("ix_work_campaign_id_category")
    op.drop_table("work")
