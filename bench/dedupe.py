"""The duplicate search's figure (``--only=works-dedupe``; run by run.py in a process of its
own, in process: no server).

For each size, 200 then 2,000 photo works with one photo each, a throwaway SQLite database
is made by the migrations and seeded with SQLAlchemy Core (rows only: the works submitted,
their originals with a SHA-256 each, and one ``Fingerprint`` per photo). The hash values
are synthetic, since the figure is the search's growth, not pHash's: of every 20 photos,
12 have a random 64-bit hash, 6 belong to one of the campaign's "scene families" (a random
hash with 14–20 of its bits flipped, as different photos of a similar scene measured here:
16 bits and more apart, clustered as real pHashes are), one is a near copy of an earlier
photo (1–6 bits flipped) and one is the same file as an earlier photo (the same SHA-256).

Then ``duplicates.campaign_pairs`` (the secretariat's list: the fingerprints read in one
query, one index built over them, each asked once, the pairs' works loaded; and the
SHA-256 groups) is timed 7 times; the first warms the caches; the median is kept:

- ``works.dedupe_200_cpu_s`` and ``works.dedupe_2000_cpu_s``: the medians of CPU time;
- ``works.dedupe_growth_ratio`` = 2,000's ÷ 200's CPU time (goal ≤ 20: ten times the
  photos cost about ten times the time, plus the pairs found, which grow with them; comparing
  every photo with every other would cost a hundred);
- ``works.dedupe_200_s``, ``works.dedupe_2000_s``, ``works.dedupe_growth_ratio_wall``: the
  same by the wall clock;
- ``works.dedupe_2000_pairs`` and ``works.dedupe_2000_planted``: the pairs found among
  the 2,000 and the near copies and same files planted. Found ≥ planted when nothing is
  missed: a copy of a photo that is itself a copy also pairs with the first.

Prints one JSON object of ``{"name": [value, "unit"]}`` on stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import time
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = (200, 2000)
RUNS = 7
NOW = datetime(2024, 9, 2, 2, 0)
FAMILIES = 50


def _flip(r: random.Random, value: int, low: int, high: int) -> int:
    return value ^ sum(1 << b for b in r.sample(range(64), r.randint(low, high)))


def seed(db, photos: int) -> tuple[int, int]:
    """The campaign and ``photos`` submitted photo works; returns (campaign id, planted pairs)."""
    import sqlalchemy as sa

    from experience.campaigns.services import default_campaign
    from experience.screening.models import Fingerprint, FingerprintKind
    from experience.works.models import CheckState, FileCheck, FileKind, Work, WorkCategory, WorkFile, WorkState

    r = random.Random(photos)
    campaign = default_campaign(2024)
    db.session.add(campaign)
    db.session.flush()
    from servers import insert_units

    unit_ids = insert_units(-(-photos // 10), code_prefix="91DEDUP", now=NOW)
    work_ids = (
        db.session.execute(
            sa.insert(Work).returning(Work.id, sort_by_parameter_order=True),
            [
                dict(
                    campaign_id=campaign.id,
                    unit_id=unit_ids[i // 10],
                    title=f"服务认证摄影作品（第{i}号）",
                    category=WorkCategory.PHOTO,
                    completed_on=date(2024, 1 + i % 6, 1 + i % 28),
                    contact_name="王小明",
                    contact_phone="13812345678",
                    summary="记录服务认证带来的变化。",
                    check_state=CheckState.READY,
                    number=f"2024-ZP-{i + 1:05d}",
                    state=WorkState.SUBMITTED,
                    first_submitted_at=NOW,
                    submitted_at=NOW,
                    late=False,
                    created_at=NOW,
                    updated_at=NOW,
                )
                for i in range(photos)
            ],
        )
        .scalars()
        .all()
    )
    families = [r.getrandbits(64) for _ in range(FAMILIES)]
    values, digests, planted = [], [], 0
    for i in range(photos):
        kind = i % 20
        if kind == 19 and i:  # the same file as an earlier photo
            j = r.randrange(i)
            values.append(values[j])
            digests.append(digests[j])
            planted += 1
            continue
        if kind == 18 and i:  # a near copy of an earlier photo (re-saved, resized)
            values.append(_flip(r, values[r.randrange(i)], 1, 6))
            planted += 1
        elif kind >= 12:  # another photo of a similar scene
            values.append(_flip(r, r.choice(families), 14, 20))
        else:
            values.append(r.getrandbits(64))
        digests.append(hashlib.sha256(f"photo {photos} {i}".encode()).hexdigest())
    file_ids = (
        db.session.execute(
            sa.insert(WorkFile).returning(WorkFile.id, sort_by_parameter_order=True),
            [
                dict(
                    work_id=w,
                    kind=FileKind.ORIGINAL,
                    storage_key=None,
                    filename="photo.jpg",
                    size=5 * 1_048_576,
                    sha256=digests[i],
                    content_type="image/jpeg",
                    position=1,
                    check_state=FileCheck.PASSED,
                    created_at=NOW,
                )
                for i, w in enumerate(work_ids)
            ],
        )
        .scalars()
        .all()
    )
    db.session.execute(
        sa.insert(Fingerprint),
        [
            dict(
                file_id=f,
                work_id=w,
                campaign_id=campaign.id,
                kind=FingerprintKind.IMAGE,
                position=1,
                value=f"{values[i]:016x}",
                created_at=NOW,
            )
            for i, (w, f) in enumerate(zip(work_ids, file_ids, strict=True))
        ],
    )
    db.session.commit()
    return campaign.id, planted


def measure(db_path: Path, photos: int) -> dict:
    """Seed a fresh database with ``photos`` photo works and time the search (median of RUNS)."""
    from flask_migrate import upgrade

    from experience import create_app
    from experience.extensions import db
    from experience.screening import duplicates

    db_path.unlink(missing_ok=True)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_path}",
            "UPLOAD_DIR": str(db_path.with_suffix(".uploads")),
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": False,
            "FROZEN_NOW": NOW,
        }
    )
    with app.app_context(), app.test_request_context():
        upgrade()
        campaign_id, planted = seed(db, photos)
        walls, cpus, pairs = [], [], 0
        for _ in range(RUNS):
            db.session.expunge_all()
            started, cpu = time.perf_counter(), time.process_time()
            found = duplicates.campaign_pairs(campaign_id)
            walls.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu)
            pairs = len(found)
            db.session.rollback()
        db.engine.dispose()
    return {"wall": statistics.median(walls), "cpu": statistics.median(cpus), "pairs": pairs, "planted": planted}


def part_works_dedupe(ctx) -> dict:
    """For bench/run.py: the duplicate search over 200 and over 2,000 photos in a fresh process."""
    from servers import figures_from_fresh_process

    return figures_from_fresh_process(__file__, ["--dir", str(ctx.tmp)], "dedupe")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, required=True, help="where the throwaway databases go")
    args = parser.parse_args()
    runs = {}
    for photos in SIZES:
        runs[photos] = measure(args.dir / f"dedupe-{photos}.db", photos)
        print(f"bench: {photos} photos: {runs[photos]}", file=sys.stderr, flush=True)
    small, big = runs[SIZES[0]], runs[SIZES[1]]
    print(
        json.dumps(
            {
                "works.dedupe_200_cpu_s": [round(small["cpu"], 4), "s"],
                "works.dedupe_2000_cpu_s": [round(big["cpu"], 4), "s"],
                "works.dedupe_growth_ratio": [round(big["cpu"] / small["cpu"], 2), "ratio"],
                "works.dedupe_200_s": [round(small["wall"], 4), "s"],
                "works.dedupe_2000_s": [round(big["wall"], 4), "s"],
                "works.dedupe_growth_ratio_wall": [round(big["wall"] / small["wall"], 2), "ratio"],
                "works.dedupe_2000_pairs": [big["pairs"], "count"],
                "works.dedupe_2000_planted": [big["planted"], "count"],
            }
        )
    )


if __name__ == "__main__":
    main()
