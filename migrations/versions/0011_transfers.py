"""Resumable uploads (tus): one row per upload in progress or just finished.

``upload`` holds what the protocol needs across requests and workers: the owner, the
purpose and its target, the announced length, the offset reached, the stored object's
key, and once complete the time and the SHA-256 the server computed.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 14:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "upload",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.Column("upload_offset", sa.BigInteger(), nullable=False),
        sa.Column("storage_key", sa.String(length=80), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "upload_offset >= 0 AND upload_offset <= length", name=op.f("ck_upload_offset_within_length")
        ),
        sa.CheckConstraint("(completed_at IS NULL) = (sha256 IS NULL)", name=op.f("ck_upload_complete_with_digest")),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["user_account.id"], name=op.f("fk_upload_owner_id_user_account"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_upload_storage_key")),
    )
    with op.batch_alter_table("upload", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_upload_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_upload_updated_at"), ["updated_at"], unique=False)


def downgrade():
    with op.batch_alter_table("upload", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_upload_updated_at"))
        batch_op.drop_index(batch_op.f("ix_upload_owner_id"))
    op.drop_table("upload")
