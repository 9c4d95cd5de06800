"""SQLite's writers wait their turn in line, not in SQLite's busy handler.

SQLite lets one writer at a time hold its write lock. A writer that finds it taken is
put to sleep by SQLite's busy handler for 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms
in turn until the lock is free or ``busy_timeout`` has passed: it never hears that the
lock was released. Under a check-in rush, a worker's 16 threads and the other workers'
threads all sleep this way. The lock stays idle while they sleep (a check-in holds it for
well under a millisecond), and the unlucky ones wait half a second or more: the bench
measured check-ins at p50 15 ms and p99 600–800 ms at only 8 connections.

So within a process the writers wait on a lock of ours before ``BEGIN IMMEDIATE``. A
thread waiting on it wakes the moment the previous writer commits or rolls back (in no
fixed order among the waiters, as with SQLite's own lock). Only one writer per process then
meets SQLite's busy handler, against the other processes' one each (and the background
worker's), which keeps those sleeps rare and short. The bound stays SQLite's
``busy_timeout`` in total: what a writer spent waiting here is taken off what SQLite may
make it wait (``_tune_sqlite``), and past it the writer gets "database is locked", as it
would have from SQLite.

A database in memory has no gate: it is one connection, shared.

Nothing changes in what is written or when it is committed: the gate is held exactly
from ``BEGIN IMMEDIATE`` to the end of that transaction (the DBAPI connection's commit,
rollback or close; ``GatedConnection`` below, sqlite3's ``factory``).
"""

from __future__ import annotations

import sqlite3
import threading
import time

import sqlalchemy as sa

#: one line per database file in this process (several apps in one process, as in the
#: tests, share a file's line only when they share the file)
_gates: dict[str, threading.Lock] = {}
_gates_lock = threading.Lock()


def gate_for(database: str | None) -> threading.Lock | None:
    """The gate of a database file; none in memory."""
    if database in (None, "", ":memory:"):
        return None
    with _gates_lock:
        return _gates.setdefault(database, threading.Lock())


class GatedConnection(sqlite3.Connection):
    """A sqlite3 connection that lets go of its gate when its write transaction ends."""

    gate: threading.Lock | None = None
    holding: bool = False

    def wait_turn(self, timeout: float) -> float:
        """Called just before ``BEGIN IMMEDIATE``: wait for this process's earlier writers
        (SQLite's "database is locked" after ``timeout`` seconds, as from SQLite itself).
        Returns the seconds waited."""
        if self.gate is None or self.holding:
            return 0.0
        if self.gate.acquire(blocking=False):  # the common case: nobody writing
            self.holding = True
            return 0.0
        started = time.monotonic()
        if not self.gate.acquire(timeout=timeout):
            raise sqlite3.OperationalError("database is locked")
        self.holding = True
        return time.monotonic() - started

    def let_go(self) -> None:
        if self.holding:
            self.holding = False
            self.gate.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.let_go()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.let_go()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.let_go()


def begin_immediate(conn: sa.Connection, busy_timeout_ms: int) -> None:
    """``BEGIN IMMEDIATE`` on ``conn``, after this process's earlier writers; the whole wait
    bounded by ``busy_timeout_ms``, as SQLite's alone was."""
    dbapi_conn = conn.connection.dbapi_connection
    if not isinstance(dbapi_conn, GatedConnection):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        return
    try:
        waited = dbapi_conn.wait_turn(busy_timeout_ms / 1000)
    except sqlite3.OperationalError as exc:  # as SQLAlchemy reports SQLite's own
        raise sa.exc.OperationalError("BEGIN IMMEDIATE", None, exc) from exc
    if waited:  # SQLite may make it wait only what is left of the bound
        dbapi_conn.execute(f"PRAGMA busy_timeout={max(1, busy_timeout_ms - int(waited * 1000))}")
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        dbapi_conn.let_go()
        raise
    finally:
        if waited:
            dbapi_conn.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
