"""Printout figures (run by run.py, one process per measurement, each on its own database).

Seeds one event with N invited guests (SQLAlchemy Core), then renders, in this process,
what a background job renders for it — the invitation cards (``--what invitations``) or
the paper sign-in sheet (``--what sheet``) — and prints one JSON object: the seconds, the
pages, and this process's peak resident memory (``ru_maxrss``), seeding included.

run.py compares seconds per guest for 5,000 guests with those for 100 in the same run
(``print.*_growth_ratio``: 1.0 is linear) and reports the peak memory of the 5,000 run.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--uploads", required=True)
    parser.add_argument("--guests", type=int, required=True)
    parser.add_argument("--what", choices=("invitations", "sheet"), required=True)
    args = parser.parse_args()
    from flask_migrate import upgrade
    from pypdf import PdfReader

    from experience import create_app
    from experience.accounts.models import Role
    from experience.accounts.services import create_user
    from experience.campaigns.services import default_campaign
    from experience.checkin.printouts import sign_in_sheet_pdf
    from experience.core.tokens import new_code
    from experience.events.models import Event, GuestCategory
    from experience.extensions import db
    from experience.guests.models import Guest
    from experience.guests.printouts import invitations_pdf

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{args.db}", "UPLOAD_DIR": args.uploads, "SECRET_KEY": "bench"}
    )
    now = datetime(2024, 9, 1)
    with app.app_context():
        upgrade()
        campaign = default_campaign(2024)
        db.session.add(campaign)
        db.session.flush()
        staff = create_user(
            username="bench-bj", password="Printout-Bench-Week-2024!", role=Role.PROVINCE, province_code="11", now=now
        )
        start = datetime(2024, 9, 10, 1, 0)
        event = Event(
            campaign=campaign, province_code="11", created_by=staff, created_at=now, updated_at=now,
            title="养老服务认证体验日", service_name="居家养老服务认证", certified_org="康乐养老有限公司",
            certificate_no="CSC-001", certification_body="中国质量认证中心", sector="养老", venue_name="康乐中心",
            city="北京市", address="朝阳区望京街1号", starts_at=start, ends_at=start.replace(hour=4),
            expected_guests={}, highlights="", agenda="", contact_name="王老师", contact_phone="010-82260862",
        )  # fmt: skip
        db.session.add(event)
        db.session.flush()
        categories = list(GuestCategory)
        db.session.execute(
            sa.insert(Guest),
            [
                dict(
                    event_id=event.id,
                    name=f"嘉宾{i:05d}",
                    category=categories[i % len(categories)],
                    organisation="某某市市场监督管理局认证监督管理处" if i % 3 else "",
                    phone=f"138{i:08d}",
                    code=new_code(),
                    created_at=now,
                )
                for i in range(args.guests)
            ],
        )
        db.session.commit()
        render = invitations_pdf if args.what == "invitations" else sign_in_sheet_pdf
        with app.test_request_context():
            t = time.perf_counter()
            data = render(db.session.get(Event, event.id))
            seconds = time.perf_counter() - t
    pages = len(PdfReader(io.BytesIO(data)).pages)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": round(seconds, 3), "pages": pages, "peak_rss_mb": round(peak_mb, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
