"""A display screen's offline cache and the media it could not play, from its heartbeat.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 07:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    # server defaults: the screens that exist already get "" (not said yet)
    with op.batch_alter_table("display_screen", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cache_state", sa.String(length=12), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("bad_media", sa.String(length=200), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("bad_media_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("display_screen", schema=None) as batch_op:
        batch_op.drop_column("bad_media_at")
        batch_op.drop_column("bad_media")
        batch_op.drop_column("cache_state")
