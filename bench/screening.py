"""The automatic assignment's figure (``--only=screening-assign``; run by run.py in a process
of its own, in process: no server).

For each size, 200 then 2,000 submitted works, a throwaway SQLite database is made by the
migrations and seeded with SQLAlchemy Core (rows only, as bench/works_desk.py seeds works:
the bench is not the demo): 40 experts, the works (ten per unit, units in every province,
the three categories, one in six recommended by its province's market regulation
department), and an open round that takes 3 experts per work, excludes experts of the
work's province and assigns by category. The experts are drawn as a secretariat would:
from every region, a third scoring one category only, a few from a submitting unit (by
credit code or by name) and a few from a provincial department that recommends works, so
that every rule of conflict has cases to exclude.

Then ``assignment.assign`` is timed on the round with nobody assigned yet, 7 times, each
in a transaction rolled back afterwards (the first run warms the caches; the median is
kept). SQLite runs in this process, so its CPU time is the whole cost, and it moves far
less than the wall clock when other work shares the machine:

- ``works.assign_200_cpu_s`` and ``works.assign_2000_cpu_s``: the medians of CPU time;
- ``works.assign_growth_ratio`` = 2,000's ÷ 200's CPU time (goal ≤ 12: ten times the
  works cost about ten times the time; a quadratic assignment would cost a hundred);
- ``works.assign_200_s``, ``works.assign_2000_s`` and ``works.assign_growth_ratio_wall``:
  the same by the wall clock;
- ``works.assign_2000_load_spread``: the largest load minus the smallest after the 2,000
  works' assignment (1 when balanced within one), and ``works.assign_2000_unfilled``: the
  works that could not get 3 eligible experts (0 expected with these experts).

Prints one JSON object of ``{"name": [value, "unit"]}`` on stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EXPERTS = 40
PER_WORK = 3
WORKS_PER_UNIT = 10
SIZES = (200, 2000)
RUNS = 7
NOW = datetime(2024, 9, 2, 2, 0)


def seed(db, works: int):
    """The campaign, its experts and ``works`` submitted works, and an open round with
    every work entered; returns the round."""
    import sqlalchemy as sa

    from experience.accounts.models import Province, Role, User
    from experience.campaigns.services import default_campaign
    from experience.screening.models import Entry, EntryRule, Expert, Round, RoundState
    from experience.units.models import Unit, UnitType
    from experience.works.models import CheckState, Recommendation, RecommendationState, Work, WorkCategory, WorkState
    from experience.works.recommendations import recommender_name

    campaign = default_campaign(2024)
    db.session.add(campaign)
    db.session.flush()
    provinces = db.session.scalars(sa.select(Province.code).order_by(Province.code)).all()
    user = User.__table__

    def users(rows: list[dict]) -> list[int]:
        base = dict(password_hash="bench", created_at=NOW, display_name="", organisation="", active=True)
        return (
            db.session.execute(
                sa.insert(user).returning(user.c.id, sort_by_parameter_order=True), [{**base, **r} for r in rows]
            )
            .scalars()
            .all()
        )

    # each province's department staff, who give its recommendations
    staff = dict(
        zip(
            provinces,
            users(
                [
                    dict(
                        username=f"bench-staff-{p}",
                        role=Role.PROVINCE,
                        province_code=p,
                        organisation=recommender_name(p),
                    )
                    for p in provinces
                ]
            ),
            strict=True,
        )
    )
    units = [
        dict(
            name=f"基准测试报送单位{n:04d}有限公司",
            credit_code=f"91BENCH{n:011d}",
            unit_type=list(UnitType)[n % len(UnitType)],
            province_code=provinces[n % len(provinces)],
            contact_name="王小明",
            contact_mobile="13812345678",
            declaration_version="bench",
            declaration_accepted_at=NOW,
            created_at=NOW,
        )
        for n in range(-(-works // WORKS_PER_UNIT))
    ]
    unit_ids = (
        db.session.execute(sa.insert(Unit).returning(Unit.id, sort_by_parameter_order=True), units).scalars().all()
    )

    categories = list(WorkCategory)
    expert_rows, expert_facts = [], []
    for n in range(EXPERTS):
        province = provinces[(n * 7) % len(provinces)]
        organisation, code = f"评审专家单位{n:02d}", ""
        if n % 10 == 3:  # from a submitting unit, known by its credit code
            code = units[n % len(units)]["credit_code"]
        elif n % 10 == 6:  # from a submitting unit, known by its name only
            organisation = units[(n * 3) % len(units)]["name"]
        elif n % 10 == 9:  # from a provincial department that recommends works
            organisation = recommender_name(province)
        expert_rows.append(
            dict(
                username=f"bench-expert-{n:02d}", role=Role.REVIEWER, province_code=province, organisation=organisation
            )
        )
        expert_facts.append((code, [categories[(n // 3) % 3].value] if n % 3 == 0 else []))
    expert_ids = users(expert_rows)
    db.session.execute(
        sa.insert(Expert),
        [
            dict(user_id=i, credit_code=code, categories=cats, created_at=NOW)
            for i, (code, cats) in zip(expert_ids, expert_facts, strict=True)
        ],
    )

    work_rows = [
        dict(
            campaign_id=campaign.id,
            unit_id=unit_ids[i // WORKS_PER_UNIT],
            title=f"认证让服务更放心（第{i}号）",
            category=categories[i % 3],
            completed_on=date(2024, 1 + i % 6, 1 + i % 28),
            contact_name="王小明",
            contact_phone="13812345678",
            summary="记录一家养老机构通过服务认证后的变化。",
            check_state=CheckState.READY,
            number=f"2024-ZP-{i + 1:05d}",
            state=WorkState.SUBMITTED,
            first_submitted_at=NOW,
            submitted_at=NOW,
            late=False,
            created_at=NOW,
            updated_at=NOW,
        )
        for i in range(works)
    ]
    work_ids = (
        db.session.execute(sa.insert(Work).returning(Work.id, sort_by_parameter_order=True), work_rows).scalars().all()
    )
    recommended = []
    for i, work_id in enumerate(work_ids):
        if i % 6 == 0:
            province = units[i // WORKS_PER_UNIT]["province_code"]
            recommended.append(
                dict(
                    work_id=work_id,
                    province_code=province,
                    state=RecommendationState.RECOMMENDED,
                    requested_by_id=staff[province],
                    requested_at=NOW,
                    decided_by_id=staff[province],
                    decided_at=NOW,
                )
            )
    db.session.execute(sa.insert(Recommendation), recommended)

    round_ = Round(
        campaign_id=campaign.id,
        position=1,
        name="初评",
        state=RoundState.OPEN,
        experts_per_work=PER_WORK,
        entry_rule=EntryRule.ALL_SUBMITTED,
        exclude_same_province=True,
        by_category=True,
        created_at=NOW,
        opened_at=NOW,
    )
    db.session.add(round_)
    db.session.flush()
    db.session.execute(
        sa.insert(Entry), [dict(round_id=round_.id, work_id=w, pass_no=1, entered_at=NOW) for w in work_ids]
    )
    db.session.commit()
    return round_


def measure(db_path: Path, works: int) -> dict:
    """Seed a fresh database for ``works`` and time the assignment (median of RUNS, each rolled back)."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from experience import create_app
    from experience.extensions import db
    from experience.screening import assignment
    from experience.screening.models import Assignment, Round

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
        started = time.perf_counter()
        round_id = seed(db, works).id
        seeded = time.perf_counter() - started
        walls, cpus, spread, unfilled, added = [], [], 0, 0, 0
        for _ in range(RUNS):
            round_ = db.session.get(Round, round_id)
            started, cpu = time.perf_counter(), time.process_time()
            result = assignment.assign(round_, now=NOW)
            walls.append(time.perf_counter() - started)
            cpus.append(time.process_time() - cpu)
            loads = db.session.scalars(
                sa.select(sa.func.count(Assignment.id))
                .where(Assignment.round_id == round_id)
                .group_by(Assignment.expert_id)
            ).all()
            spread, unfilled, added = max(loads) - min(loads), len(result.unfilled), result.added
            db.session.rollback()
        db.engine.dispose()
    return {
        "wall": statistics.median(walls),
        "cpu": statistics.median(cpus),
        "seed_s": round(seeded, 2),
        "spread": spread,
        "unfilled": unfilled,
        "added": added,
    }


def part_screening_assign(ctx) -> dict:
    """For bench/run.py: the assignment of 200 and of 2,000 works in a fresh process."""
    from servers import figures_from_fresh_process

    return figures_from_fresh_process(__file__, ["--dir", str(ctx.tmp)], "screening")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, required=True, help="where the throwaway databases go")
    args = parser.parse_args()
    runs = {}
    for works in SIZES:
        runs[works] = measure(args.dir / f"screening-{works}.db", works)
        print(f"bench: {works} works: {runs[works]}", file=sys.stderr, flush=True)
    small, big = runs[SIZES[0]], runs[SIZES[1]]
    print(
        json.dumps(
            {
                "works.assign_200_cpu_s": [round(small["cpu"], 4), "s"],
                "works.assign_2000_cpu_s": [round(big["cpu"], 4), "s"],
                "works.assign_growth_ratio": [round(big["cpu"] / small["cpu"], 2), "ratio"],
                "works.assign_200_s": [round(small["wall"], 4), "s"],
                "works.assign_2000_s": [round(big["wall"], 4), "s"],
                "works.assign_growth_ratio_wall": [round(big["wall"] / small["wall"], 2), "ratio"],
                "works.assign_2000_load_spread": [big["spread"], "count"],
                "works.assign_2000_unfilled": [big["unfilled"], "count"],
            }
        )
    )


if __name__ == "__main__":
    main()
