"""experience: the web system for the Service Certification Experience Week."""

from __future__ import annotations

from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, g, has_app_context, has_request_context, jsonify, session
from sqlalchemy import event as sa_event
from werkzeug.middleware.proxy_fix import ProxyFix

import experience.core.ratelimit  # noqa: F401  (registers the sqlitefile:// limits storage)
from experience.config import ROOT, Config, config_from_env
from experience.core import sqlite_gate, web
from experience.core.web import request_writes
from experience.extensions import babel, csrf, db, limiter, migrate, talisman

#: Content-Security-Policy: only our own assets; no inline script anywhere.
CSP = {
    "default-src": "'self'",
    "img-src": "'self' data: blob:",
    "style-src": "'self'",
    "script-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def create_app(config: type[Config] | dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    web.register_converters(app)
    app.config.from_object(config_from_env() if config is None or isinstance(config, dict) else config)
    if isinstance(config, dict):
        app.config.update(config)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    if not app.config["SQLALCHEMY_DATABASE_URI"]:
        app.config["SQLALCHEMY_DATABASE_URI"] = f"sqlite:///{Path(app.instance_path) / 'experience.db'}"
    if not app.config["RATELIMIT_STORAGE_URI"]:
        app.config["RATELIMIT_STORAGE_URI"] = f"sqlitefile://{Path(app.instance_path) / 'ratelimits.db'}"
    if not app.config["UPLOAD_DIR"]:
        app.config["UPLOAD_DIR"] = str(Path(app.instance_path) / "uploads")

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # writers queue in the process before SQLite's lock (core/sqlite_gate.py)
        options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
        options.setdefault("connect_args", {}).setdefault("factory", sqlite_gate.GatedConnection)
    db.init_app(app)
    with app.app_context():
        _tune_sqlite(db.engine)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(
        app, locale_selector=_select_locale, default_translation_directories=str(ROOT / "experience" / "translations")
    )
    talisman.init_app(
        app,
        force_https=False,
        content_security_policy=CSP,
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        strict_transport_security=app.config["SESSION_COOKIE_SECURE"],
        frame_options="DENY",
        referrer_policy="same-origin",
        x_content_type_options=True,
    )

    from experience.core import errors

    errors.register(app)

    web.register(app)

    from experience.core import jobs

    jobs.register(app)

    # Importing a capability's views (and CLI) attaches them to its blueprint.
    from experience.accounts import cli as _accounts_cli  # noqa: F401
    from experience.accounts import views as accounts
    from experience.campaigns import views as campaigns
    from experience.checkin import views as checkin
    from experience.displays import views as displays
    from experience.events import views as events
    from experience.guests import views as guests
    from experience.notices import views as notices
    from experience.plans import views as plans
    from experience.platform import views as platform
    from experience.ratings import views as ratings
    from experience.reports import cli as _reports_cli  # noqa: F401
    from experience.reports import views as reports
    from experience.screening import views as screening
    from experience.transfers import views as transfers
    from experience.units import views as units
    from experience.works import transfers as _works_transfers  # noqa: F401  (a video's resumable upload)
    from experience.works import views as works

    for module in (
        accounts,
        campaigns,
        units,
        transfers,
        events,
        plans,
        notices,
        guests,
        checkin,
        ratings,
        works,
        screening,
        platform,
        displays,
        reports,
    ):
        app.register_blueprint(module.bp)

    # the screens' polls and the scanners' check-ins, answered before Flask's request
    # machinery (core/fastpath.py)
    from experience.checkin.fastpath import ScannerCheckIns
    from experience.displays.fastpath import ScreenPolls

    app.wsgi_app = ScreenPolls(app, ScannerCheckIns(app, app.wsgi_app))
    if app.config["TRUSTED_PROXIES"]:  # outermost: the client's address is set for everything inside
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    from experience import demo

    demo.register(app)

    @app.get("/healthz")
    @limiter.exempt
    def healthz():
        """Liveness and database state, for load balancers and monitoring."""
        try:
            db.session.execute(sa.text("SELECT 1"))
            revision = db.session.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
            return jsonify(
                status="ok", database={"state": "ok", "engine": db.engine.dialect.name, "revision": revision}
            )
        except Exception as exc:  # the probe must answer, whatever the database does
            db.session.rollback()
            return jsonify(status="error", database={"state": "unavailable", "error": type(exc).__name__}), 503

    return app


#: how long a SQLite writer waits for the write lock before "database is locked"
BUSY_TIMEOUT_MS = 10_000


def _select_locale() -> str:
    chosen = session.get("lang") if has_request_context() else None
    if chosen in ("zh_CN", "en"):
        return chosen
    return "zh_CN"


def _tune_sqlite(engine) -> None:
    """SQLite for several workers: WAL so reads never wait on a writer, a busy timeout,
    foreign keys on, and BEGIN IMMEDIATE so a write transaction takes the lock at its
    start instead of failing later when it upgrades from a read."""
    if engine.dialect.name != "sqlite":
        return

    @sa_event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys=ON")
        # REPLACE's implicit delete fires DELETE triggers only with this on: without it,
        # INSERT OR REPLACE would rewrite an append-only audit row.
        cur.execute("PRAGMA recursive_triggers=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()
        if isinstance(dbapi_conn, sqlite_gate.GatedConnection):
            # (it is let go in the connection's commit and rollback: an engine option that
            # skips the driver's rollback, such as skip_autocommit_rollback, must stay off)
            dbapi_conn.gate = sqlite_gate.gate_for(engine.url.database)

    @sa_event.listens_for(engine, "begin")
    def _on_begin(conn):
        # GET pages only read (or write first thing, after a rollback): a deferred BEGIN
        # lets them run beside a writer. Other requests and commands lock for writing up
        # front. Code outside both (a test or a script looking at the data) only reads
        # here, and must not hold the lock the server needs.
        # Outside a request, a command (flask ...) writes; anything else only reads.
        # (A fast path, answering before Flask, says in g whether it writes: core/fastpath.py.)
        if has_request_context():
            reading = not request_writes()
        elif has_app_context() and "writes" in g:
            reading = g.get("read_phase", False) or not g.writes
        else:
            reading = click.get_current_context(silent=True) is None
        if reading:
            conn.exec_driver_sql("BEGIN")
            return
        sqlite_gate.begin_immediate(conn, BUSY_TIMEOUT_MS)
