"""Fixtures for the public platform: screening's (units, works really submitted and
selected) and a 公示 from Sep 10 to Sep 16, 2024."""

from __future__ import annotations

from datetime import date, datetime

import pytest
import sqlalchemy as sa

from experience.core import clock
from experience.extensions import db
from experience.screening import decisions, rounds
from experience.screening.models import Entry, Outcome, Publication
from tests.screening.conftest import (  # noqa: F401 (fixtures)
    AFTER,
    after_the_deadline,
    h264_video,
    make_expert,
    make_unit,
    other_unit,
    photo_bytes,
    screening_round,
    secretariat,
    submitted_work,
    unit,
)
from tests.works.conftest import hevc_video  # noqa: F401 (fixture)

#: the 公示: Sep 10 to Sep 16, 2024 (Beijing dates, both included)
STARTS, ENDS = date(2024, 9, 10), date(2024, 9, 16)
#: the last instant before it (Sep 9, 23:59:59 Beijing) and its first (Sep 10, 00:00:00 Beijing)
BEFORE = clock.from_beijing(datetime(2024, 9, 9, 23, 59, 59))
START = clock.from_beijing(datetime(2024, 9, 10, 0, 0, 0))
DURING = clock.from_beijing(datetime(2024, 9, 12, 10, 0))
AFTERWARDS = clock.from_beijing(datetime(2024, 9, 20, 10, 0))


@pytest.fixture
def select(secretariat, make_expert, screening_round):  # noqa: F811
    """``select(chosen, others=())``: a round opened over every submitted work, 入选 for
    ``chosen`` and 未入选 for ``others``, applied together."""

    def run(chosen, others=()):
        make_expert("expert1")
        make_expert("expert2")
        round_ = screening_round(experts_per_work=2)
        rounds.open_round(round_, actor=secretariat, now=AFTER)
        db.session.commit()
        for works, outcome in ((chosen, Outcome.SELECTED), (others, Outcome.NOT_SELECTED)):
            for work in works:
                entry = db.session.scalar(sa.select(Entry).where(Entry.round_id == round_.id, Entry.work_id == work.id))
                decisions.decide(entry, outcome, "", None, actor=secretariat, now=AFTER)
        db.session.commit()
        preview = decisions.preview(round_)
        decisions.apply_pending(round_, actor=secretariat, now=AFTER, expected=set(preview.ids))
        db.session.commit()

    return run


@pytest.fixture
def publish(campaign, secretariat):  # noqa: F811
    """``publish()``: the campaign's 公示 from STARTS to ENDS (the row screening's publish
    service writes)."""

    def run():
        pub = Publication(
            campaign_id=campaign.id,
            starts_on=STARTS,
            ends_on=ENDS,
            published_by_id=secretariat.id,
            published_at=AFTER,
        )
        db.session.add(pub)
        db.session.commit()
        return pub

    return run
