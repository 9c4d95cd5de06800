"""SQLite's writers in one process queue on the gate, not in SQLite's busy handler
(experience/core/sqlite_gate.py)."""

from __future__ import annotations

import sqlite3
import threading

import pytest
import sqlalchemy as sa

from experience.core.sqlite_gate import GatedConnection, gate_for
from experience.extensions import db
from tests.conftest import ENGINE

pytestmark = pytest.mark.skipif(ENGINE != "sqlite", reason="the gate is SQLite's")


def _statements(app) -> list[tuple[str, str]]:
    """(thread name, statement) of every statement the app's engine sends, in order."""
    seen: list[tuple[str, str]] = []
    sa.event.listen(db.engine, "before_cursor_execute", lambda *a: seen.append((threading.current_thread().name, a[2])))
    return seen


def _in_thread(app, name: str, body) -> tuple[threading.Thread, list]:
    errors: list = []

    def run():
        try:
            with app.app_context():
                body()
                db.session.remove()
        except BaseException as exc:  # shown by the test
            errors.append(exc)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread, errors


def _write(app, note: str):
    """What a POST does: its first statement takes the write lock (BEGIN IMMEDIATE)."""
    with app.test_request_context("/", method="POST"):
        db.session.execute(sa.text("INSERT INTO province_stub (note) VALUES (:n)"), {"n": note})


def _first_writer_holding_the_lock(app):
    """A thread that has begun writing "first" and holds the write lock until the returned
    event is set: (thread, its errors, the event)."""
    holds, let_commit = threading.Event(), threading.Event()

    def first():
        _write(app, "first")
        holds.set()
        let_commit.wait(10)
        db.session.commit()

    thread, errors = _in_thread(app, "first", first)
    assert holds.wait(10)
    return thread, errors, let_commit


@pytest.fixture
def stub(app):
    with db.engine.begin() as c:
        c.exec_driver_sql("CREATE TABLE province_stub (id INTEGER PRIMARY KEY, note TEXT)")
    return app


def test_a_second_writer_waits_its_turn_before_sqlite_and_writes_when_the_first_commits(stub):
    app = stub
    seen = _statements(app)

    def second():
        _write(app, "second")
        db.session.commit()

    a, a_errors, let_first_commit = _first_writer_holding_the_lock(app)
    b, b_errors = _in_thread(app, "second", second)
    b.join(0.3)
    # the second writer is waiting, and SQLite has not even been asked for the lock
    assert b.is_alive()
    assert ("second", "BEGIN IMMEDIATE") not in seen
    let_first_commit.set()
    a.join(10)
    b.join(10)
    assert not a_errors and not b_errors and not b.is_alive()
    assert ("second", "BEGIN IMMEDIATE") in seen
    notes = db.session.scalars(sa.text("SELECT note FROM province_stub ORDER BY id")).all()
    assert notes == ["first", "second"]


def test_a_reader_never_waits_on_the_gate(stub):
    app = stub

    def reader():
        with app.test_request_context("/", method="GET"):
            found.append(db.session.scalar(sa.text("SELECT count(*) FROM province_stub")))

    found: list = []
    a, _, let_first_commit = _first_writer_holding_the_lock(app)
    r, r_errors = _in_thread(app, "reader", reader)
    r.join(10)
    still_writing = not let_first_commit.is_set()
    let_first_commit.set()
    a.join(10)
    assert not r_errors and still_writing and found == [0]  # read beside the writer, before its commit


@pytest.mark.parametrize("end", ["commit", "rollback", "close"])
def test_the_gate_is_let_go_however_the_transaction_ends(tmp_path, end):
    conn = sqlite3.connect(tmp_path / "x.db", factory=GatedConnection, isolation_level=None)
    conn.gate = threading.Lock()
    conn.wait_turn(1)
    conn.execute("BEGIN IMMEDIATE")
    assert conn.gate.locked()
    getattr(conn, end)()
    assert not conn.gate.locked()


def test_a_writer_that_cannot_get_its_turn_hears_what_sqlite_would_say(tmp_path):
    gate = gate_for(str(tmp_path / "x.db"))
    holder = sqlite3.connect(tmp_path / "x.db", factory=GatedConnection, isolation_level=None)
    waiter = sqlite3.connect(tmp_path / "x.db", factory=GatedConnection, isolation_level=None)
    holder.gate = waiter.gate = gate
    holder.wait_turn(1)
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        waiter.wait_turn(0.05)
    assert not waiter.holding
    holder.rollback()
    waiter.wait_turn(1)  # free again
    waiter.rollback()
    assert not gate.locked()


def test_a_failed_begin_lets_the_gate_go(stub):
    """Another process holds SQLite's lock past the busy timeout: the request fails as it
    did before the gate, and the next writer of this process is not stuck behind it."""
    app = stub
    other = sqlite3.connect(db.engine.url.database, isolation_level=None)  # not gated: another process
    other.execute("BEGIN IMMEDIATE")
    try:
        with app.test_request_context("/", method="POST"), db.engine.connect() as c:
            c.connection.dbapi_connection.execute("PRAGMA busy_timeout=50")  # not 10 s
            with pytest.raises(sa.exc.OperationalError, match="database is locked"):
                c.exec_driver_sql("INSERT INTO province_stub (note) VALUES ('x')")
            assert not c.connection.dbapi_connection.holding
    finally:
        other.rollback()
        other.close()
    assert not gate_for(db.engine.url.database).locked()


def test_a_writer_that_waited_its_turn_leaves_sqlite_only_the_rest_of_the_bound(stub, monkeypatch):
    """The whole wait stays within the busy timeout: what was spent at the gate is taken
    off what SQLite's busy handler may add, and the timeout is restored after."""
    import experience

    monkeypatch.setattr(experience, "BUSY_TIMEOUT_MS", 10000)
    gate = gate_for(db.engine.url.database)
    gate.acquire()  # another writer of this process
    wait_turn = GatedConnection.wait_turn

    def released_soon_after_the_wait_began(self, timeout):
        # timed from the writer's wait, not from here: a slow machine cannot make it moot
        if gate.locked() and not self.holding:
            threading.Timer(0.3, gate.release).start()
        return wait_turn(self, timeout)

    monkeypatch.setattr(GatedConnection, "wait_turn", released_soon_after_the_wait_began)
    traced: list[str] = []
    with stub.test_request_context("/", method="POST"), db.engine.connect() as c:
        c.connection.dbapi_connection.set_trace_callback(traced.append)
        c.exec_driver_sql("INSERT INTO province_stub (note) VALUES ('x')")
        c.commit()
        c.connection.dbapi_connection.set_trace_callback(None)
    pragmas = [t for t in traced if "busy_timeout" in t]
    assert len(pragmas) == 2 and pragmas[1] == "PRAGMA busy_timeout=10000", traced
    assert 0 < int(pragmas[0].split("=")[1]) < 10000  # the time spent at the gate was taken off
    assert not gate.locked()


def test_a_database_in_memory_has_no_gate():
    assert gate_for(":memory:") is None and gate_for("") is None and gate_for(None) is None
