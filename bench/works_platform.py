"""The public platform's figure (``--only=works-platform``; run by run.py in a process of
its own, in process: no server).

Two throwaway SQLite databases are made by the migrations and seeded with SQLAlchemy Core
(rows only, as bench/screening.py seeds works: the bench is not the demo): a campaign
whose 公示 has started, with 20 and with 500 selected works (the three categories, ten per
unit, units in every province; a photo work's two photos with their previews and
thumbnails, a video with its poster and, for one in four, a playable copy; the sealed
form of each), as many works not selected beside them (entered in the same round,
未入选 applied), and one selected work withdrawn.

Then the public list's first page (``/showcase``, anonymous, no filter) is asked of each
app in turn through Flask's test client (one request to one, then to the other, so that
whatever else the machine does weighs on both alike): 10 rounds to warm up, then the
median of 60 each. The page renders 20 works either way, so the ratio carries only what
grows with the campaign (the selection's subquery, the counts, the choice of the page):

- ``works.platform_p50_ms_20`` and ``works.platform_p50_ms_500``;
- ``works.platform_growth_ratio`` = 500's ÷ 20's (goal ≤ 1.5).

Prints one JSON object of ``{"name": [value, "unit"]}`` on stdout. (Named works_platform,
not platform: run.py puts bench/ first on the import path, where a ``platform.py`` would
stand in for the standard library's module that SQLAlchemy and others import.)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = (20, 500)
WORKS_PER_UNIT = 10
WARMUP, SAMPLES = 10, 60
#: Sep 12, 2024, 10:00 Beijing: the 公示 (Sep 10 to 16) is on
NOW = datetime(2024, 9, 12, 2, 0)
MARK = b"showcase-list"


def seed(db, selected: int) -> None:
    """A campaign in its 公示 with ``selected`` selected works and as many not selected."""
    import sqlalchemy as sa

    from experience.accounts.models import Role, User
    from experience.campaigns.services import default_campaign
    from experience.screening.models import Decision, Entry, Outcome, Publication, Round, RoundState, Withdrawal
    from experience.works.models import CheckState, FileCheck, FileKind, Work, WorkCategory, WorkFile, WorkState

    campaign = default_campaign(2024)
    db.session.add(campaign)
    db.session.flush()
    secretariat = db.session.execute(
        sa.insert(User.__table__).returning(User.__table__.c.id),
        dict(
            username="bench-secretariat",
            password_hash="bench",
            role=Role.SECRETARIAT,
            display_name="作品征集秘书处",
            organisation="",
            active=True,
            created_at=NOW,
        ),
    ).scalar_one()
    total = 2 * selected
    from servers import insert_units

    unit_ids = insert_units(-(-total // WORKS_PER_UNIT), code_prefix="91BENCH", now=NOW)
    categories = list(WorkCategory)
    work_rows = [
        dict(
            campaign_id=campaign.id,
            unit_id=unit_ids[i // WORKS_PER_UNIT],
            title=f"认证让服务更放心（第{i}号）",
            category=categories[i % 3],
            completed_on=date(2024, 1 + i % 6, 1 + i % 28),
            contact_name="王小明",
            contact_phone="13812345678",
            summary="记录一家养老机构通过服务认证后的变化。" * 5,
            body="服务认证让老人更安心。" * 100 if categories[i % 3] is WorkCategory.TEXT else "",
            check_state=CheckState.READY,
            number=f"2024-ZP-{i + 1:05d}",
            state=WorkState.SUBMITTED,
            first_submitted_at=NOW - timedelta(days=20),
            submitted_at=NOW - timedelta(days=20),
            late=False,
            created_at=NOW,
            updated_at=NOW,
        )
        for i in range(total)
    ]
    work_ids = (
        db.session.execute(sa.insert(Work).returning(Work.id, sort_by_parameter_order=True), work_rows).scalars().all()
    )

    def file(work_id, kind, key, position=0, source_id=None, content_type="image/jpeg"):
        return dict(
            work_id=work_id,
            kind=kind,
            source_id=source_id,
            storage_key=key,
            filename="",
            size=1000,
            sha256="0" * 64,
            content_type=content_type,
            position=position,
            check_state=FileCheck.PASSED,
            creator="李摄影",
            taken_at="2024-06-18",
            place="北京市朝阳区",
            description="护理员为老人讲解服务认证标志",
            key_people="无",
            background="养老服务认证体验日活动现场",
            created_at=NOW,
        )

    originals, keys = [], []
    for i, work_id in enumerate(work_ids):
        if categories[i % 3] is WorkCategory.PHOTO:
            for n in (1, 2):
                originals.append(file(work_id, FileKind.ORIGINAL, f"b-{work_id}-p{n}", n))
                keys.append((work_id, (FileKind.PREVIEW_SCREEN, FileKind.THUMBNAIL)))
        elif categories[i % 3] is WorkCategory.VIDEO:
            originals.append(file(work_id, FileKind.ORIGINAL, f"b-{work_id}-v", 1, content_type="video/mp4"))
            kinds = (FileKind.POSTER, FileKind.PLAYABLE) if i % 4 == 2 else (FileKind.POSTER,)
            keys.append((work_id, kinds))
        originals.append(file(work_id, FileKind.FORM_SCAN, f"b-{work_id}-scan", content_type="application/pdf"))
        keys.append(None)
    original_ids = (
        db.session.execute(sa.insert(WorkFile).returning(WorkFile.id, sort_by_parameter_order=True), originals)
        .scalars()
        .all()
    )
    derived = [
        file(spec[0], kind, f"b-{source}-{kind.value}", source_id=source)
        for source, spec in zip(original_ids, keys, strict=True)
        if spec is not None
        for kind in spec[1]
    ]
    db.session.execute(sa.insert(WorkFile), derived)

    round_id = db.session.execute(
        sa.insert(Round).returning(Round.id),
        dict(campaign_id=campaign.id, position=1, name="初评", state=RoundState.CLOSED, created_at=NOW, opened_at=NOW),
    ).scalar_one()
    entry_ids = (
        db.session.execute(
            sa.insert(Entry).returning(Entry.id, sort_by_parameter_order=True),
            [dict(round_id=round_id, work_id=w, pass_no=1, entered_at=NOW) for w in work_ids],
        )
        .scalars()
        .all()
    )
    db.session.execute(
        sa.insert(Decision),
        [
            dict(
                entry_id=e,
                pass_no=1,
                outcome=Outcome.SELECTED if n % 2 == 0 else Outcome.NOT_SELECTED,
                decided_by_id=secretariat,
                decided_at=NOW,
                applied_at=NOW,
                applied_by_id=secretariat,
            )
            for n, e in enumerate(entry_ids)
        ],
    )
    db.session.execute(
        sa.insert(Publication),
        dict(
            campaign_id=campaign.id,
            starts_on=date(2024, 9, 10),
            ends_on=date(2024, 9, 16),
            published_by_id=secretariat,
            published_at=NOW,
        ),
    )
    db.session.execute(
        sa.insert(Withdrawal),
        dict(work_id=work_ids[0], reason="基准测试", withdrawn_by_id=secretariat, withdrawn_at=NOW),
    )
    db.session.commit()


def make_app(db_path: Path, selected: int):
    from flask_migrate import upgrade

    from experience import create_app
    from experience.extensions import db

    db_path.unlink(missing_ok=True)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
            "UPLOAD_DIR": str(db_path.with_suffix(".uploads")),
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": False,
            "FROZEN_NOW": NOW,
            "PUBLIC_BASE_URL": "https://tiyan.example.gov.cn",
        }
    )
    with app.app_context():
        upgrade()
        seed(db, selected)
        db.engine.dispose()
    return app


def measure(directory: Path) -> dict:
    apps = [make_app(directory / f"platform-{n}.db", n) for n in SIZES]
    clients = [app.test_client() for app in apps]
    times: list[list[float]] = [[] for _ in apps]
    for n in range(WARMUP + SAMPLES):
        for client, taken in zip(clients, times, strict=True):
            started = time.perf_counter()
            response = client.get("/showcase")
            took = time.perf_counter() - started
            if response.status_code != 200 or MARK not in response.data:
                raise SystemExit(f"/showcase answered {response.status_code}")
            if n >= WARMUP:
                taken.append(took)
    few, many = (statistics.median(t) * 1000 for t in times)
    return {
        f"works.platform_p50_ms_{SIZES[0]}": [round(few, 2), "ms"],
        f"works.platform_p50_ms_{SIZES[1]}": [round(many, 2), "ms"],
        "works.platform_growth_ratio": [round(many / few, 3), "ratio"],
    }


def part_works_platform(ctx) -> dict:
    """For bench/run.py: the public list with 20 and 500 selected works, in a fresh process."""
    from servers import figures_from_fresh_process

    return figures_from_fresh_process(__file__, ["--dir", str(ctx.tmp)], "works-platform", timeout=1200)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, required=True, help="where the throwaway databases go")
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    print(json.dumps(measure(args.dir)))


if __name__ == "__main__":
    main()
