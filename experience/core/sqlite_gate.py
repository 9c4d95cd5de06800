"""SQLite's writers wait their turn in line, not in SQLite's busy handler.

SQLite lets one writer at a time hold its write lock. A writer that finds it taken is
put to sleep by SQLite's busy handler for 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms
in turn until the lock is free or ``busy_timeout`` has passed: it never hears that the
lock was released. Under a check-in rush, a worker's 16 threads and the other workers'
threads all sleep this way. The lock stays idle while they sleep (a check-in holds it for
well under a millisecond), and the unlucky ones wait half a second or more: the bench
measured check-ins at p50 15 ms and p99 600–800 ms at only 8 connections.

So within a process the writers queue on a lock of ours before ``BEGIN IMMEDIATE``. A
thread waiting on it wakes the moment the previous writer commits or rolls back. Only one
writer per process then meets SQLite's busy handler, against the other processes' one each
(and the background worker's), which keeps those sleeps rare and short. The wait keeps
SQLite's bound: after ``busy_timeout`` the writer gets SQLite's own "database is locked"
error, as it would have from SQLite.

Nothing changes in what is written or when it is committed: the gate is held exactly
from ``BEGIN IMMEDIATE`` to the end of that transaction (the DBAPI connection's commit,
rollback or close; ``GatedConnection`` below, sqlite3's ``factory``).
"""

from __future__ import annotations

import sqlite3
import threading

#: one line per database file in this process (several apps in one process, as in the
#: tests, share a file's line only when they share the file)
_gates: dict[str, threading.Lock] = {}
_gates_lock = threading.Lock()


def gate_for(database: str) -> threading.Lock:
    with _gates_lock:
        return _gates.setdefault(database, threading.Lock())


class GatedConnection(sqlite3.Connection):
    """A sqlite3 connection that lets go of its gate when its write transaction ends."""

    gate: threading.Lock | None = None
    holding: bool = False

    def wait_turn(self, timeout: float) -> None:
        """Called just before ``BEGIN IMMEDIATE``: wait for this process's earlier writers
        (SQLite's "database is locked" after ``timeout`` seconds, as from SQLite itself)."""
        if self.gate is not None and not self.holding:
            if not self.gate.acquire(timeout=timeout):
                raise sqlite3.OperationalError("database is locked")
            self.holding = True

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
