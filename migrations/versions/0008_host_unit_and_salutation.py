"""What an invitation card needs: the event's host unit (主办单位) and a guest's salutation
(称谓, 先生 / 女士).

``event.host_unit`` is filled for every existing event with the organisation of the
account that created it, which is what a new event gets when the field is left blank.
``guest.salutation`` is optional and stays empty for every existing guest: it is never
guessed from a name. Its CHECK is written out here as the enum stands today, so that this
file never changes with the enum.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 10:00:00

"""

from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: Salutation's values on the day of this migration
SALUTATIONS = ("mr", "ms")


@contextmanager
def _sqlite_foreign_keys_off():
    """SQLite drops a column's default or adds a CHECK by rebuilding the table: copy, drop,
    rename. With foreign keys on, dropping ``event`` first deletes its rows, which cascades
    (event_organizer) or fails, so this follows SQLite's own recipe (as 0005 and 0006 do):
    foreign keys off, the rebuilds in one transaction, ``PRAGMA foreign_key_check``,
    commit, and foreign keys back as they were. The pragma does nothing inside a
    transaction, so the migration's own transaction is ended first and a new one begun at
    the end, in which Alembic records the revision.
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
        with op.batch_alter_table("event", schema=None) as batch_op:
            batch_op.add_column(sa.Column("host_unit", sa.String(length=200), nullable=False, server_default=""))
        op.execute(
            "UPDATE event SET host_unit = COALESCE("
            "(SELECT organisation FROM user_account WHERE user_account.id = event.created_by_id), '')"
        )
        with op.batch_alter_table("event", schema=None) as batch_op:
            batch_op.alter_column("host_unit", existing_type=sa.String(length=200), server_default=None)

        with op.batch_alter_table("guest", schema=None) as batch_op:
            batch_op.add_column(sa.Column("salutation", sa.String(length=20), nullable=True))
            batch_op.create_check_constraint(
                batch_op.f("ck_guest_salutation"), f"salutation IN ({', '.join(repr(s) for s in SALUTATIONS)})"
            )


def downgrade():
    with _sqlite_foreign_keys_off():
        with op.batch_alter_table("guest", schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f("ck_guest_salutation"), type_="check")
            batch_op.drop_column("salutation")
        with op.batch_alter_table("event", schema=None) as batch_op:
            batch_op.drop_column("host_unit")
