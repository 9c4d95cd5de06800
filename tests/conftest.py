"""Test fixtures: a migrated database per test, on SQLite or PostgreSQL.

``TEST_DB=postgresql`` runs the suite against a throwaway PostgreSQL server started
here (as the ``postgres`` user when running as root); the default is SQLite. The schema
is built once per run by the migrations, then every test gets its own copy of it (on
PostgreSQL, each process's copy emptied before each test: ``ReusedDatabase``).
"""

from __future__ import annotations

import glob
import io
import itertools
import os
import queue
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import has_app_context
from flask.testing import FlaskClient
from werkzeug.routing.rules import Rule

from experience import create_app
from experience.accounts.models import Role
from experience.config import TestConfig
from experience.core.jobs import huey
from experience.extensions import db

# Jobs run inside the request or test that starts them (huey's immediate mode, in memory);
# tests/core/test_jobs.py also runs one through a real consumer process.
huey.immediate = True

PASSWORD = "Correct-Horse-9"
ENGINE = os.environ.get("TEST_DB", "sqlite")


# Each test makes its own app (create_app), and most of that is Werkzeug compiling a URL
# builder for each of the ~130 rules, every time the same code from the same rule. The
# builder is a pure function of what the key holds (it reaches the rule's converters
# through the rule it is bound to), so the tests compile each once. The app is unchanged.
_builders: dict = {}
_compile_builder = Rule._compile_builder


def _compile_builder_once(self, append_unknown=True):
    defaults = repr(sorted((self.defaults or {}).items()))
    key = (self.rule, self.host, self.subdomain, tuple(self._trace), defaults, append_unknown)
    builder = _builders.get(key)
    if builder is None:
        builder = _builders[key] = _compile_builder(self, append_unknown)
    return builder


Rule._compile_builder = _compile_builder_once


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="session")
def server_url(tmp_path_factory):
    """The URL of a database server for the run: a file path for SQLite."""
    if ENGINE == "sqlite":
        yield None
        return
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not bins:
        pytest.exit("TEST_DB=postgresql but PostgreSQL is not installed (make test installs it)", 2)
    bindir = Path(bins[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    port = _free_port()
    subprocess.run(
        _as_postgres(
            [
                str(bindir / "initdb"),
                "-D",
                f"{root}/data",
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
        ),
        check=True,
        capture_output=True,
    )
    subprocess.run(
        _as_postgres(
            [
                str(bindir / "pg_ctl"),
                "-D",
                f"{root}/data",
                "-l",
                f"{root}/log",
                "-w",
                "-o",
                f"-p {port} -k {root} -c listen_addresses='' -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://postgres@/{{db}}?host={root}&port={port}"
    finally:
        subprocess.run(
            _as_postgres([str(bindir / "pg_ctl"), "-D", f"{root}/data", "-m", "immediate", "stop"]), capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)


def _migrate(url: str) -> None:
    from flask_migrate import upgrade

    app = create_app(type("C", (TestConfig,), {"SQLALCHEMY_DATABASE_URI": url}))
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def template_db(server_url, tmp_path_factory):
    """Run the migrations once; returns what each test copies."""
    if server_url is None:
        path = tmp_path_factory.mktemp("db") / "template.db"
        _migrate(f"sqlite:///{path}")
        return path
    admin = sa.create_engine(server_url.format(db="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text("CREATE DATABASE template_exp"))
    _migrate(server_url.format(db="template_exp"))
    admin.dispose()
    return "template_exp"


_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_admin(server_url):
    """One admin connection pool for the run, and a thread that drops databases given up
    on (see ``pg_reused``) while the next test runs."""
    if server_url is None:
        yield None
        return
    admin = sa.create_engine(server_url.format(db="postgres"), isolation_level="AUTOCOMMIT")
    finished: queue.SimpleQueue[str | None] = queue.SimpleQueue()

    def drop_finished():
        with admin.connect() as c:
            while (name := finished.get()) is not None:
                c.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))

    dropper = threading.Thread(target=drop_finished, name="drop-test-databases", daemon=True)
    dropper.start()
    yield admin, finished
    finished.put(None)
    dropper.join(120)
    admin.dispose()


class ReusedDatabase:
    """This process's PostgreSQL database, copied from the template once and emptied
    before each test: a copy per test (CREATE DATABASE … TEMPLATE, two checkpoints, then
    a DROP) cost 0.3 s of each of 1,700 tests, the largest part of the PostgreSQL pass.
    Emptying is one round trip: a DELETE per table (triggers and foreign keys off, as for
    a restore: the audit log refuses deletes otherwise) and every sequence restarted, so
    each test sees what a fresh copy would show, ids from 1. The rows the migrations
    themselves seed (the provinces) are left as they are. A database that cannot be
    emptied (a lock still held by something a test left behind) is given up and a new
    copy made."""

    def __init__(self, server_url: str, template: str, admin, finished):
        self.server_url, self.template, self.admin, self.finished = server_url, template, admin, finished
        self.engine = None
        self._fresh()
        with self.engine.connect() as c:
            tables = c.scalars(sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).all()
            seeded = {t for t in tables if c.scalar(sa.text(f'SELECT EXISTS (SELECT 1 FROM "{t}")'))}
            sequences = c.execute(
                sa.text(
                    "SELECT s.relname, t.relname FROM pg_class s "
                    "LEFT JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i') "
                    "LEFT JOIN pg_class t ON t.oid = d.refobjid "
                    "WHERE s.relkind = 'S' AND s.relnamespace = 'public'::regnamespace"
                )
            ).all()
        self.emptying = ";".join(
            [
                "SET LOCAL lock_timeout = '5s'",
                "SET LOCAL session_replication_role = replica",
                *(f'DELETE FROM "{t}"' for t in tables if t not in seeded),
                *(f'ALTER SEQUENCE "{s}" RESTART' for s, t in sequences if t not in seeded),
            ]
        )
        self.dirty = False

    def _fresh(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
            self.finished.put(self.name)
        self.name = f"t{os.getpid()}_{next(_counter)}"
        with self.admin.connect() as c:
            # FILE_COPY (PostgreSQL 15+) copies the template's few files: quicker than WAL-logging each page
            c.execute(sa.text(f"CREATE DATABASE {self.name} TEMPLATE {self.template} STRATEGY FILE_COPY"))
        self.url = self.server_url.format(db=self.name)
        self.engine = sa.create_engine(self.url, poolclass=sa.pool.NullPool)

    def url_for_test(self) -> str:
        if self.dirty:
            try:
                with self.engine.begin() as c:
                    c.exec_driver_sql(self.emptying)
            except sa.exc.OperationalError:
                self._fresh()
        self.dirty = True
        return self.url

    def close(self) -> None:
        self.engine.dispose()
        self.finished.put(self.name)


@pytest.fixture(scope="session")
def pg_reused(server_url, template_db, pg_admin):
    if server_url is None:
        yield None
        return
    reused = ReusedDatabase(server_url, template_db, *pg_admin)
    yield reused
    reused.close()


@pytest.fixture(autouse=True)
def scans_read_unhurried(monkeypatch):
    """A sealed scan is read by a child process that production gives 20 s before it
    accepts the scan unread. Tests that expect the code read get more time: both suites
    and a 5,000-card printout share two cores."""
    from experience.works import regform

    monkeypatch.setattr(regform, "SCAN_READ_SECONDS", 120)


@pytest.fixture
def database_url(server_url, template_db, pg_reused, tmp_path):
    if server_url is None:
        path = tmp_path / "test.db"
        shutil.copyfile(template_db, path)
        return f"sqlite:///{path}"
    return pg_reused.url_for_test()


class FreshContextClient(FlaskClient):
    """Each request gets its own app context, hence its own database session, as it
    does in production. The test's own session is committed first: it ends the test's
    transaction (so the request does not wait for its lock) and expires what the test
    holds, so the test reads the request's effects afterwards."""

    def open(self, *args, **kwargs):
        if has_app_context():  # not in a thread of a concurrency test
            db.session.commit()
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def app(database_url, tmp_path):
    cfg = type(
        "C",
        (TestConfig,),
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "UPLOAD_DIR": str(tmp_path / "uploads"),
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_STORAGE_URI": f"sqlitefile://{tmp_path / 'limits.db'}",
        },
    )
    app = create_app(cfg)
    app.test_client_class = FreshContextClient
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


class Auth:
    def __init__(self, client):
        self.client = client

    def login(self, username: str, password: str = PASSWORD):
        return self.client.post("/login", data={"username": username, "password": password})

    def logout(self):
        return self.client.post("/logout")


@pytest.fixture
def auth(client):
    return Auth(client)


# A fixed moment in the 2024 campaign: 10 days before plans are due.
NOW = datetime(2024, 8, 13, 2, 0)  # 10:00 Beijing time


@pytest.fixture
def now():
    return NOW


@pytest.fixture
def campaign(app):
    from experience.campaigns.services import default_campaign
    from experience.ratings.services import ensure_default_dimensions

    c = default_campaign(2024)
    db.session.add(c)
    db.session.flush()
    ensure_default_dimensions(c)
    db.session.commit()
    return c


@pytest.fixture
def make_user(app):
    from experience.accounts.services import create_user

    counter = itertools.count(1)

    def make(role: str | Role = Role.PROVINCE, province: str | None = "11", username: str | None = None, **kw):
        role = Role(role) if isinstance(role, str) else role
        user = create_user(
            username=username or f"{role.value}{next(counter)}",
            password=PASSWORD,
            role=role,
            province_code=province if role in (Role.PROVINCE, Role.ORGANIZER) else None,
            now=NOW,
            **kw,
        )
        db.session.commit()
        return user

    return make


def event_data(**overrides):
    start = datetime(2024, 9, 10, 1, 0)  # 09:00 Beijing
    data = dict(
        title="养老服务认证体验日",
        service_name="居家养老服务认证",
        certified_org="康乐养老有限公司",
        certificate_no="CSC-001",
        certification_body="中国质量认证中心",
        sector="养老",
        venue_name="康乐中心",
        city="北京市",
        address="朝阳区望京街1号",
        starts_at=start,
        ends_at=start + timedelta(hours=3),
        expected_guests={"consumer": 10, "media": 2},
        highlights="",
        agenda="",
        contact_name="王老师",
        contact_phone="010-82260862",
    )
    data.update(overrides)
    return data


@pytest.fixture
def make_event(app, campaign, make_user):
    from experience.events.services import create_event

    staff = {}

    def make(province: str = "11", actor=None, **overrides):
        if actor is None:
            actor = staff.get(province) or staff.setdefault(province, make_user(Role.PROVINCE, province))
        event = create_event(campaign, actor=actor, now=NOW, province_code=province, **event_data(**overrides))
        db.session.commit()
        return event

    return make


@pytest.fixture
def pdf_bytes():
    """A small real PDF (one blank A4 page, with its cross-reference table)."""
    from pypdf import PdfWriter

    writer, out = PdfWriter(), io.BytesIO()
    writer.add_blank_page(595, 842)
    writer.write(out)
    return out.getvalue()


#: the longest tests (a real worker, Chromium, every route for every role), started first:
#: each pass runs in two processes (pytest-xdist), and a long test picked up at the end
#: would leave one process working alone
SLOW_FIRST = (
    "tests/guests/test_printouts.py::test_5000",
    "tests/browser/",
    "tests/test_access_matrix.py",
    "tests/test_fuzz.py",
    "tests/test_chinese_text.py",
    "tests/test_cli.py",
    "tests/works/test_regform.py",
)


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        return next((n for n, prefix in enumerate(SLOW_FIRST) if item.nodeid.startswith(prefix)), len(SLOW_FIRST))

    items.sort(key=rank)  # stable: the rest keep their order


def server_env(app, database_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of an app server (gunicorn) a test starts on its own database, its
    uploads, a limits store and a job queue of its own."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "UPLOAD_DIR": app.config["UPLOAD_DIR"],
        "SECRET_KEY": "s" * 40,
        "RATELIMIT_STORAGE_URI": f"sqlitefile://{tmp_path / 'limits.db'}",
        "JOBS_DB": str(tmp_path / "jobs.db"),
    }


def stop_process(proc, grace: float = 30) -> None:
    """Stop a server or worker the test started: SIGTERM, and SIGKILL if it has not gone
    within ``grace`` seconds (on a loaded machine gunicorn's graceful stop can take a while;
    a teardown must not fail the test for that)."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def wait_for(predicate, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def make_guest(app):
    from experience.events.models import GuestCategory
    from experience.guests.services import add_guest

    counter = itertools.count(1)

    def make(event, actor=None, **overrides):
        n = next(counter)
        data = dict(
            name=f"嘉宾{n}", category=GuestCategory.CONSUMER, level=None, organisation="", title="", phone=None, note=""
        )
        data.update(overrides)
        guest = add_guest(event, actor=actor, now=NOW, **data)
        db.session.commit()
        return guest

    return make


def field_errors(page: str) -> dict[str, list[str]]:
    """The error messages shown under each form field, by field name."""
    blocks = re.findall(
        r'<div class="field [^"]*has-error">\s*<label for="(\w+)">.*?<ul class="errors">(.*?)</ul>', page, re.S
    )
    return {name: re.findall(r"<li>(.*?)</li>", errors) for name, errors in blocks}
