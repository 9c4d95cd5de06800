"""Summary and live-view figures (run by run.py in a process of its own, on its own database).

Seeds, with SQLAlchemy Core, 32 provinces × N events (default 10), each with 1,000
invited guests, 900 check-ins and 800 ratings over the campaign's five questions; then
times, in this process, what a person waits for:

- ``summary.event_pdf_s``: one event's summary PDF (GET, as its province's staff);
- ``summary.national_pdf_s``: HQ's national report PDF over all of it;
- ``summary.reference_pdf_s``: a fixed document through the same renderer (12 A4 pages:
  a 320-row table and 12 SVG charts in Chinese), so the two read as ratios on any machine;
- ``rating.live_view.ms_p50``: the organisers' live ratings page of an event with 1,000
  ratings (median of repeated GETs).

Prints one JSON object of ``{"name": [value, "unit"]}`` on stdout.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

PASSWORD = "Bench-reports-2024!"


def seed(db, events_per_province: int, live_ratings: int) -> dict:
    from experience.accounts.models import Province, Role
    from experience.accounts.services import create_user
    from experience.campaigns.services import default_campaign
    from experience.core.tokens import new_code
    from experience.events.models import Event, GuestCategory
    from experience.guests.models import Guest
    from experience.ratings.models import Rating, Score
    from experience.ratings.services import dimensions, ensure_default_dimensions

    now = datetime(2024, 10, 1)
    campaign = default_campaign(2024)
    db.session.add(campaign)
    db.session.flush()
    ensure_default_dimensions(campaign)
    dims = [d.id for d in dimensions(campaign.id)]
    staff = create_user(username="bench-bj", password=PASSWORD, role=Role.PROVINCE, province_code="11", now=now)
    create_user(username="bench-hq", password=PASSWORD, role=Role.HQ, now=now)
    rng = random.Random(2024)
    categories = [c for c in GuestCategory]
    codes = [p.code for p in db.session.scalars(sa.select(Province).order_by(Province.code))]
    guest_table, rating_table, score_table = Guest.__table__, Rating.__table__, Score.__table__
    first_event = live_event = None
    for code in codes:
        for n in range(events_per_province):
            start = datetime(2024, 9, 2 + n, 1, 0)
            event_id = db.session.execute(
                sa.insert(Event.__table__)
                .values(
                    campaign_id=campaign.id,
                    province_code=code,
                    title=f"服务认证体验活动{code}-{n + 1}",
                    service_name="养老服务认证",
                    certified_org="某某养老服务有限公司",
                    certificate_no=f"CSC-{code}-{n}",
                    certification_body="中国质量认证中心",
                    sector="养老",
                    venue_name="体验中心",
                    city="某市",
                    address="某区某路1号",
                    starts_at=start,
                    ends_at=start + timedelta(hours=3),
                    contact_name="王老师",
                    contact_phone="010-82260862",
                    expected_guests={},
                    created_by_id=staff.id,
                    created_at=now,
                    updated_at=now,
                    walk_in_code=new_code(),
                )
                .returning(Event.__table__.c.id)
            ).scalar_one()
            first_event = first_event or event_id
            rated = live_ratings if (code == "11" and n == 1) else 800
            live_event = event_id if (code == "11" and n == 1) else live_event
            guests = [
                dict(
                    event_id=event_id,
                    name=f"嘉宾{i}",
                    category=rng.choice(categories),
                    organisation="某单位",
                    code=new_code(),
                    created_at=now,
                    walk_in=False,
                    checked_in_at=start - timedelta(minutes=rng.randint(0, 120)) if i < max(900, rated) else None,
                )
                for i in range(max(1000, rated))
            ]
            ids = db.session.execute(sa.insert(guest_table).returning(guest_table.c.id), guests).scalars().all()
            ratings = [
                dict(
                    guest_id=g,
                    event_id=event_id,
                    comment="体验很好" if i % 50 == 0 else "",
                    display="category",
                    photo_consent=False,
                    created_at=now,
                    updated_at=now,
                )
                for i, g in enumerate(ids[:rated])
            ]
            rating_ids = (
                db.session.execute(sa.insert(rating_table).returning(rating_table.c.id), ratings).scalars().all()
            )
            db.session.execute(
                sa.insert(score_table),
                [
                    dict(rating_id=r, dimension_id=d, stars=rng.choice((3, 4, 4, 5, 5)))
                    for r in rating_ids
                    for d in dims
                ],
            )
        db.session.commit()
    return {"event": first_event, "live_event": live_event}


def reference_html() -> str:
    """A fixed document: 12 A4 pages of a 320-row table and 12 SVG charts, in Chinese."""
    from flask import render_template_string

    from experience.core.charts import bar_chart

    rows = "".join(
        f"<tr><td>{i}</td><td>服务认证体验活动第{i}场</td><td>北京市朝阳区</td><td class='num'>{i * 7 % 997}</td>"
        f"<td class='num'>{(i * 13) % 101 / 20:.2f}</td></tr>"
        for i in range(1, 321)
    )
    charts = "".join(
        "<div class='chart'>"
        + bar_chart([(f"维度{j}", (i + j) % 5 + 0.5) for j in range(8)], maximum=5, title=f"图表{i}：各维度平均星级")
        + "</div>"
        for i in range(1, 13)
    )
    return render_template_string(
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><style>{% include '_pdf/base.css' %}</style>"
        "</head><body><h1>参考文档</h1><table><thead><tr><th>序号</th><th>活动</th><th>地点</th><th>人数</th><th>均分</th></tr>"
        "</thead><tbody>" + rows + "</tbody></table>" + charts + "</body></html>"
    )


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--uploads", required=True)
    parser.add_argument("--events-per-province", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from flask_migrate import upgrade

    from experience import create_app
    from experience.core.pdf import render_pdf
    from experience.extensions import db

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{args.db}",
            "UPLOAD_DIR": args.uploads,
            "SECRET_KEY": "bench",
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "FROZEN_NOW": datetime(2024, 10, 1, 2, 0),
        }
    )
    with app.app_context():
        upgrade()
        t = time.perf_counter()
        ids = seed(db, args.events_per_province, 1000)
        seeded = time.perf_counter() - t
    province, hq = app.test_client(), app.test_client()
    province.post("/login", data={"username": "bench-bj", "password": PASSWORD})
    hq.post("/login", data={"username": "bench-hq", "password": PASSWORD})

    def get(client, url):
        r = client.get(url)
        assert r.status_code == 200, (url, r.status_code)
        r.close()

    event = timed(lambda: get(province, f"/events/{ids['event']}/summary.pdf"), args.repeat)
    national = timed(lambda: get(hq, "/hq/summaries.pdf"), args.repeat)
    with app.test_request_context():
        html = reference_html()
        reference = timed(lambda: render_pdf(html), args.repeat)
    live = timed(lambda: get(province, f"/events/{ids['live_event']}/ratings"), max(10, args.repeat * 5))
    med = statistics.median
    print(
        json.dumps(
            {
                "summary.event_pdf_s": [round(med(event), 3), "s"],
                "summary.national_pdf_s": [round(med(national), 3), "s"],
                "summary.reference_pdf_s": [round(med(reference), 3), "s"],
                "summary.event_pdf_ratio_to_reference": [round(med(event) / med(reference), 3), "ratio"],
                "summary.national_pdf_ratio_to_reference": [round(med(national) / med(reference), 3), "ratio"],
                "rating.live_view.ms_p50": [round(med(live) * 1000, 1), "ms"],
                "summary.seed_s": [round(seeded, 1), "s"],
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
