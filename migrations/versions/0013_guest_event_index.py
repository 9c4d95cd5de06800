"""A guest's event has no index of its own.

``ix_guest_event_id`` repeated the first column of ``ix_guest_event_id_checked_in_at``
(and of ``uq_guest_event_phone``): every lookup by event uses either, and a check-in,
which sets ``checked_in_at`` (an indexed column, so on PostgreSQL an update that writes
every index of the row), had one index more to write (issue 14).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 22:30:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_guest_event_id", table_name="guest")


def downgrade():
    op.create_index("ix_guest_event_id", "guest", ["event_id"], unique=False)
