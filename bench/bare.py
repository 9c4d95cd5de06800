"""The reference for the check-in benchmark: the cheapest write request this stack can serve.

One Flask route that makes one ORM INSERT of one row and commits it, into the database
``DATABASE_URL`` names: a SQLite file set up exactly as the app sets up its own
(experience/__init__.py ``_tune_sqlite``: WAL, synchronous=NORMAL, busy_timeout, foreign
keys, and BEGIN IMMEDIATE for writes), or a PostgreSQL database (the app's engine options
there are SQLAlchemy's defaults, and so are these), under the same gunicorn settings as
the app. No templates, no sessions, no limiter, no security headers: what is left is
Flask + SQLAlchemy + one write transaction, the floor under any check-in.

    DATABASE_URL=sqlite:////tmp/x/bare.db python bench/bare.py init   # create the table (once)
    DATABASE_URL=sqlite:////tmp/x/bare.db gunicorn --chdir bench bare:app   # run.py does both

``BARE_DATABASE=/path/bare.db`` (a SQLite file) still works in place of DATABASE_URL.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event as sa_event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Hit(db.Model):
    """About the size of a scan row: a time, a couple of ids, two short strings."""

    __tablename__ = "hit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    event_id: Mapped[int | None]
    result: Mapped[str] = mapped_column(sa.String(20))
    ip: Mapped[str] = mapped_column(sa.String(64), default="")


def _tune_sqlite(engine) -> None:
    """The same connection settings as the app's."""

    @sa_event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA recursive_triggers=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @sa_event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def database_url() -> str | None:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    return "sqlite:///" + os.environ["BARE_DATABASE"] if os.environ.get("BARE_DATABASE") else None


def create_app(url: str) -> Flask:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _tune_sqlite(db.engine)

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.post("/insert")
    def insert():
        db.session.add(Hit(at=datetime.now(UTC).replace(tzinfo=None), event_id=1, result="ok", ip="127.0.0.1"))
        db.session.commit()
        return {"result": "ok"}, 201

    return app


app = create_app(database_url()) if database_url() else None

if __name__ == "__main__" and sys.argv[1:] == ["init"]:
    with app.app_context():
        db.create_all()
