"""Seed a freshly migrated database for the benchmark (run by run.py, in its own process).

The environment (DATABASE_URL, EXPERIENCE_ENV, ...) must already point at the temporary
database: the app reads it at import. Writes, into ``--out``:

- ``codes.txt``       one fresh invitation code per line (a guest not checked in), in
  insertion order (run.py splits them between the flows);
- ``checked_in.txt``  the codes of the ``--checked-in`` guests seeded as already checked in
  at the desk (with their scan rows, so the scan log still matches): the guests who rate,
  whether or not the check-in flows ran before;
- ``tokens.txt``      one plain scanner API token per line;
- ``seed.json``       the ids and counts, for the record.

Guests go in with SQLAlchemy Core ``executemany`` in batches (a few seconds for 200,000);
the campaign, the user and the tokens go through the app's own services, as in real use.
SQLite or PostgreSQL alike: whatever DATABASE_URL names.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

BATCH = 20_000
PASSWORD = "Bench-check-in-2024!"


def seed(guests: int, tokens: int, out: Path, checked_in: int = 0) -> dict:
    from experience import create_app
    from experience.accounts.models import Role
    from experience.accounts.services import create_user
    from experience.campaigns.services import default_campaign
    from experience.checkin.services import create_api_token
    from experience.core import clock
    from experience.core.tokens import new_code
    from experience.events.models import Event, GuestCategory
    from experience.extensions import db
    from experience.guests.models import CheckInVia, Guest

    app = create_app()
    started = time.perf_counter()
    with app.app_context():
        now = clock.utcnow()
        campaign = default_campaign(now.year)
        db.session.add(campaign)
        db.session.flush()
        from experience.ratings.services import ensure_default_dimensions

        ensure_default_dimensions(campaign)
        user = create_user(
            username="bench-province",
            password=PASSWORD,
            role=Role.PROVINCE,
            province_code="11",
            display_name="北京市市场监管局",
            now=now,
        )
        db.session.flush()
        event_id = db.session.execute(
            sa.insert(Event.__table__)
            .values(
                campaign_id=campaign.id,
                province_code="11",
                title="签到压力测试活动",
                service_name="居家养老服务认证",
                certified_org="北京康乐养老服务有限公司",
                certificate_no="CSC-BENCH-0001",
                certification_body="中国质量认证中心",
                sector="养老",
                venue_name="康乐养老服务中心",
                city="北京市",
                address="朝阳区望京街1号",
                # the check-in window is open now, on the real clock the server uses
                starts_at=now - timedelta(minutes=30),
                ends_at=now + timedelta(hours=6),
                contact_name="王老师",
                contact_phone="010-82260862",
                created_by_id=user.id,
                created_at=now,
                updated_at=now,
            )
            .returning(Event.__table__.c.id)
        ).scalar_one()
        event = db.session.get(Event, event_id)

        codes = [new_code() for _ in range(guests)]
        table = Guest.__table__
        categories = list(GuestCategory)
        for start in range(0, guests, BATCH):
            db.session.execute(
                table.insert(),
                [
                    dict(
                        event_id=event_id,
                        name=f"嘉宾{i:06d}",
                        category=categories[i % len(categories)],
                        code=codes[i],
                        created_at=now,
                        checked_in_at=now if i < checked_in else None,
                        checked_in_via=CheckInVia.DESK if i < checked_in else None,
                        checked_in_by_id=user.id if i < checked_in else None,
                    )
                    for i in range(start, min(start + BATCH, guests))
                ],
            )
        seed_desk_scans(event_id, user.id, now)

        plain_tokens = [create_api_token(event, f"scanner-{i:02d}", actor=user, now=now)[1] for i in range(tokens)]
        db.session.commit()

    out.mkdir(parents=True, exist_ok=True)
    (out / "codes.txt").write_text("\n".join(codes[checked_in:]) + "\n")
    (out / "checked_in.txt").write_text("\n".join(codes[:checked_in]) + "\n")
    (out / "tokens.txt").write_text("\n".join(plain_tokens) + "\n")
    info = {
        "event_id": event_id,
        "guests": guests,
        "checked_in": checked_in,
        "tokens": tokens,
        "seconds": round(time.perf_counter() - started, 2),
    }
    (out / "seed.json").write_text(json.dumps(info))
    return info


def seed_desk_scans(event_id: int, user_id: int, now) -> None:
    """One 'ok' desk scan per guest seeded as checked in: the scan log stays the record of
    every check-in (run.py's exactly-once check compares the two)."""
    from experience.checkin.models import Scan, ScanOutcome
    from experience.extensions import db
    from experience.guests.models import CheckInVia, Guest

    ids = db.session.scalars(sa.select(Guest.id).where(Guest.checked_in_at.is_not(None))).all()
    for start in range(0, len(ids), BATCH):
        db.session.execute(
            sa.insert(Scan.__table__),
            [
                dict(
                    at=now,
                    event_id=event_id,
                    guest_id=i,
                    result=ScanOutcome.OK,
                    via=CheckInVia.DESK,
                    actor_id=user_id,
                    code_hint="",
                    ip="",
                )
                for i in ids[start : start + BATCH]
            ],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guests", type=int, required=True)
    parser.add_argument("--tokens", type=int, required=True)
    parser.add_argument("--checked-in", type=int, default=0, help="of the guests, how many are already checked in")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    print(json.dumps(seed(args.guests, args.tokens, args.out, min(args.checked_in, args.guests))))


if __name__ == "__main__":
    main()
