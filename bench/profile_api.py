"""Where a check-in's or a rating's CPU goes, in process: `.venv/bin/python bench/profile_api.py
[--flow api|phone|rating]`.

Not a benchmark (no server, no concurrency; the profiler itself slows everything): a
profile of 1,000 API check-ins, phone taps or text-only rating submits (by guests the API
checked in first) through Flask's test client on a throwaway SQLite database,
sorted by the time spent inside each function, to decide what to trim next. `make bench`
says how fast it is; this says why.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from experience import create_app  # noqa: E402
from experience.accounts.models import Role  # noqa: E402
from experience.accounts.services import create_user  # noqa: E402
from experience.campaigns.services import default_campaign  # noqa: E402
from experience.checkin.services import create_api_token  # noqa: E402
from experience.config import Config  # noqa: E402
from experience.core.tokens import new_code  # noqa: E402
from experience.events.models import Event, GuestCategory  # noqa: E402
from experience.extensions import db  # noqa: E402
from experience.guests.models import Guest  # noqa: E402
from experience.ratings.services import ensure_default_dimensions  # noqa: E402


def _database_url(pg: bool, tmp: str) -> str:
    """A SQLite file in ``tmp``, or a database on a throwaway PostgreSQL stopped at exit."""
    if not pg:
        return f"sqlite:///{tmp}/app.db"
    import atexit

    from bench.servers import PgServer

    server = PgServer.start()
    atexit.register(server.stop)
    with sa.create_engine(server.url("postgres"), isolation_level="AUTOCOMMIT").connect() as c:
        c.execute(sa.text("CREATE DATABASE profile"))
    return server.url("profile")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--flow", choices=["api", "phone", "rating"], default="api")
    parser.add_argument("--plain", action="store_true", help="time without the profiler (its overhead skews)")
    parser.add_argument("--pg", action="store_true", help="on a throwaway PostgreSQL (its CPU is not counted)")
    parser.add_argument("--sort", default="tottime", help="pstats sort key (tottime, cumulative, …)")
    parser.add_argument("--lines", type=int, default=30)
    parser.add_argument("--callers", default="", help="also print who calls the functions matching this")
    parser.add_argument(
        "--cookies",
        action="store_true",
        help="keep cookies between requests (a browser); by default each request has none, as with wrk",
    )
    args = parser.parse_args()
    tmp = tempfile.mkdtemp()
    url = _database_url(args.pg, tmp)

    class ProfileConfig(Config):
        SQLALCHEMY_DATABASE_URI = url
        UPLOAD_DIR = tmp
        RATELIMIT_STORAGE_URI = f"sqlitefile://{tmp}/limits.db"
        SECRET_KEY = "profile-only-" + "x" * 32

    app = create_app(ProfileConfig)
    now = datetime(2024, 9, 10, 1, 30)
    with app.app_context():
        upgrade()
        campaign = default_campaign(2024)
        db.session.add(campaign)
        db.session.flush()
        ensure_default_dimensions(campaign)
        staff = create_user(
            username="profiler", password="Profile-Check-In-Week-24", role=Role.PROVINCE, province_code="11", now=now
        )
        start = datetime(2024, 9, 10, 1)
        event = Event(
            campaign=campaign,
            province_code="11",
            created_by=staff,
            created_at=now,
            updated_at=now,
            title="profile",
            service_name="s",
            certified_org="o",
            certificate_no="n",
            certification_body="b",
            sector="养老",
            venue_name="v",
            city="c",
            address="a",
            starts_at=start,
            ends_at=start + timedelta(hours=3),
            expected_guests={},
            contact_name="c",
            contact_phone="010-82260862",
        )
        db.session.add(event)
        db.session.flush()
        codes = [new_code() for _ in range(args.requests + 100)]
        db.session.execute(
            sa.insert(Guest),
            [
                dict(event_id=event.id, name=f"g{i}", category=GuestCategory.CONSUMER, code=c, created_at=now)
                for i, c in enumerate(codes)
            ],
        )
        _, plain = create_api_token(event, "profile", actor=staff, now=now)
        db.session.commit()
    app.config["FROZEN_NOW"] = now
    client = app.test_client(use_cookies=args.cookies)
    headers = {"Authorization": f"Bearer {plain}"}

    def api(code):
        return client.post("/api/v1/checkins", json={"code": code, "nonce": code[:8]}, headers=headers)

    def phone(code):
        return client.post(f"/c/{code}", data={"consent": "y"})

    with app.app_context():
        dims = db.session.scalars(sa.text("SELECT id FROM rating_dimension WHERE retired_at IS NULL")).all()
    answers = {**{f"d{d}": "4" for d in dims}, "comment": "很好", "display": "category"}

    def rating(code):
        return client.post(f"/c/{code}/rate", data=answers)

    flow = {"api": api, "phone": phone, "rating": rating}[args.flow]
    if args.flow == "rating":
        for code in codes:
            assert api(code).status_code == 201
    for code in codes[:100]:  # warm: caches, compiled statements
        assert flow(code).status_code in (200, 201), flow(code).get_data(as_text=True)[:500]
    statements: list[str] = []  # what the measured requests send to the database
    with app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2].split(None, 1)[0]))
    profile = cProfile.Profile()
    started = time.process_time()
    if not args.plain:
        profile.enable()
    for code in codes[100:]:
        flow(code)
    profile.disable()
    report(args, profile, (time.process_time() - started) * 1000 / args.requests, statements)


def report(args: argparse.Namespace, profile: cProfile.Profile, spent: float, statements: list[str]) -> None:
    print(f"{spent:.2f} ms CPU per request ({'not ' if args.plain else ''}profiled)")
    kinds = ", ".join(f"{k} {n / args.requests:g}" for k, n in Counter(statements).most_common())
    print(f"{len(statements) / args.requests:g} statements per request ({kinds}; the driver's own BEGIN not counted)")
    if args.plain:
        return
    pstats.Stats(profile).sort_stats(args.sort).print_stats(args.lines)
    if args.callers:
        pstats.Stats(profile).print_callers(args.callers)


if __name__ == "__main__":
    main()
