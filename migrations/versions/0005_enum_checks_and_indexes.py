"""An honest schema: a CHECK on every enum column, and indexes for the hot queries.

Every column holding an enum's value (including the scan log's result, now the
ScanOutcome enum) gets ``CHECK (column IN (...))`` named ``ck_<table>_<column>``; the
values are written out here, as they stood, so that this file never changes with the
enums. Guests get (event_id, checked_in_at) for an event's arrivals, replacing the index
on checked_in_at alone, which no query used by itself; the audit log gets
(action, target_id, at) and (action, ip, at) for the login throttle's counts.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 12:11:26.000000

"""

from contextlib import contextmanager

from alembic import op

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

#: table -> column -> the enum's values on the day of this migration
CHECKS = {
    "user_account": {"role": ("hq", "secretariat", "province", "organizer")},
    "event": {"status": ("planned", "cancelled")},
    "plan": {"state": ("not_submitted", "submitted", "returned", "confirmed")},
    "guest": {
        "category": ("npc_deputy", "cppcc_member", "consumer", "media", "enterprise", "association", "other"),
        "checked_in_via": ("phone", "desk", "api", "walk_in"),
    },
    "scan": {
        "result": (
            "ok",
            "already_checked_in",
            "unknown",
            "revoked",
            "not_open",
            "wrong_event",
            "walk_ins_closed",
            "full",
            "undone",
        ),
        "via": ("phone", "desk", "api", "walk_in"),
    },
    "rating": {"display": ("name", "category", "none")},
    "province_summary": {"state": ("not_submitted", "submitted", "returned")},
}


@contextmanager
def _sqlite_foreign_keys_off():
    """SQLite adds a CHECK by rebuilding the table: copy, drop, rename. With foreign keys
    on, dropping a table first deletes its rows, which cascades (event_organizer,
    rating_score) or fails, so this follows SQLite's own recipe for such changes: foreign
    keys off, the rebuilds in one transaction, ``PRAGMA foreign_key_check``, commit, and
    foreign keys back as they were. The pragma does nothing inside a transaction, so the
    migration's own transaction is ended first and a new one begun at the end, in which
    Alembic records the revision.
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


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade():
    with _sqlite_foreign_keys_off():
        for table, columns in CHECKS.items():
            with op.batch_alter_table(table, schema=None) as batch_op:
                for column, values in columns.items():
                    batch_op.create_check_constraint(batch_op.f(f"ck_{table}_{column}"), _in(column, values))
                if table == "guest":
                    batch_op.drop_index(batch_op.f("ix_guest_checked_in_at"))
                    batch_op.create_index("ix_guest_event_id_checked_in_at", ["event_id", "checked_in_at"])

    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.create_index("ix_audit_entry_action_target_id_at", ["action", "target_id", "at"])
        batch_op.create_index("ix_audit_entry_action_ip_at", ["action", "ip", "at"])


def downgrade():
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_entry_action_ip_at")
        batch_op.drop_index("ix_audit_entry_action_target_id_at")

    with _sqlite_foreign_keys_off():
        for table, columns in reversed(CHECKS.items()):
            with op.batch_alter_table(table, schema=None) as batch_op:
                if table == "guest":
                    batch_op.drop_index("ix_guest_event_id_checked_in_at")
                    batch_op.create_index(batch_op.f("ix_guest_checked_in_at"), ["checked_in_at"])
                for column in columns:
                    batch_op.drop_constraint(batch_op.f(f"ck_{table}_{column}"), type_="check")
