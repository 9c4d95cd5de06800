"""Fixtures for screening: the secretariat, experts, units with works really submitted
through works.submission, rounds made by rounds.create_round, and a clock after the
works deadline.

Screening happens after the 2024 campaign's works deadline (Aug 30, 23:59:59 Beijing
time): every screening test runs with the pages' clock at ``AFTER`` (``after_the_deadline``,
autouse). Works are submitted at ``NOW`` (Aug 13), as a unit would before the deadline.
"""

from __future__ import annotations

import itertools
from contextlib import contextmanager
from datetime import datetime

import pytest

from experience.accounts.models import Role
from experience.core import clock
from experience.extensions import db
from experience.screening import experts, rounds
from experience.works import jobs as work_jobs
from experience.works import services, submission
from experience.works.models import FileCheck, FileKind, WorkCategory, WorkFile, WorkState
from tests.conftest import NOW, PASSWORD
from tests.units.helpers import REAL_CODES, register_unit
from tests.works.conftest import CAPTION, h264_video, photo_bytes, stored, work_fields  # noqa: F401

#: a moment in screening: Sep 2, 2024, 10:00 Beijing time, after the works deadline
AFTER = clock.from_beijing(datetime(2024, 9, 2, 10, 0))
#: an expert's first password (the project's rules); they must change it at first login
EXPERT_PASSWORD = PASSWORD

#: the published credit codes the units get, one each
_UNIT_CODES = list(REAL_CODES)


@contextmanager
def clock_at(app, moment: datetime):
    """The pages' clock at ``moment`` inside the block (e.g. NOW, to walk a unit's pages
    before the deadline), back to what it was after."""
    before = app.config.get("FROZEN_NOW")
    app.config["FROZEN_NOW"] = moment
    try:
        yield moment
    finally:
        app.config["FROZEN_NOW"] = before


@pytest.fixture(autouse=True)
def after_the_deadline(app):
    """The pages' clock (FROZEN_NOW) at AFTER, after the works deadline; returns AFTER."""
    app.config["FROZEN_NOW"] = AFTER
    return AFTER


@pytest.fixture
def secretariat(make_user):
    """The works secretariat (秘书处), who runs screening."""
    return make_user(Role.SECRETARIAT, province=None)


@pytest.fixture
def make_unit(app):
    """``make_unit(province_code="11", name=..., credit_code=None)``: a registered unit with
    its account. Each unit gets its own published credit code unless one is given (8 at
    most); ``credit_code=""`` is not allowed by registration: units always have one."""
    counter = itertools.count(1)
    free = iter(_UNIT_CODES)

    def make(province_code: str = "11", name: str | None = None, credit_code: str | None = None, **kw):
        n = next(counter)
        return register_unit(
            province_code=province_code,
            name=name or f"测试报送单位{n}有限公司",
            credit_code=credit_code or next(free),
            **kw,
        )

    return make


@pytest.fixture
def unit(make_unit):
    """A unit in Beijing (11)."""
    return make_unit("11", name="北京康乐养老服务有限公司")


@pytest.fixture
def other_unit(make_unit):
    """A unit in Zhejiang (33)."""
    return make_unit("33", name="浙江安心物业服务有限公司")


def _seal(work) -> None:
    """What the sealed registration form's upload leaves when its scan matches the work
    (tests/works/test_submission.py's ``seal``)."""
    submission.assign_number(work, actor=work.unit.account, now=NOW)
    scan = work.form_scan
    if scan is None:
        scan = WorkFile(kind=FileKind.FORM_SCAN, check_state=FileCheck.PASSED, created_at=NOW)
        work.files.append(scan)
    scan.form_hash, scan.form_read = submission.form_hash(work), True
    db.session.flush()


@pytest.fixture
def submitted_work(app, campaign, unit, request):
    """``submitted_work(unit=None, category=WorkCategory.TEXT, prepare=None, **fields)``: a
    work submitted through works.submission at NOW (before the deadline), committed.

    - TEXT: its text (set_text), no file;
    - PHOTO: one real 5 MB JPEG with its caption, checked by the worker;
    - VIDEO: a short H.264 MP4, checked by the worker;
    - ``prepare(work)``: called on the draft instead of adding the category's default
      content (attach your own files there, e.g. with planted metadata); it must leave
      the work complete. The worker checks the files either way.
    """

    def make(owner=None, category: WorkCategory = WorkCategory.TEXT, prepare=None, **fields):
        owner = owner or unit
        account = owner.account
        with clock_at(app, NOW):
            work = services.create_work(
                owner, campaign, actor=account, now=NOW, **work_fields(category=category, **fields)
            )
            if prepare is not None:
                prepare(work)
            elif category is WorkCategory.TEXT:
                services.set_text(work, "服务认证让生活更美好。" * 20, actor=account, now=NOW)
            elif category is WorkCategory.PHOTO:
                data = request.getfixturevalue("photo_bytes")
                services.attach_photo(work, stored(data, "photo.jpg", "jpg"), CAPTION, actor=account, now=NOW)
            else:
                data = request.getfixturevalue("h264_video")
                services.attach_video(work, stored(data, "clip.mp4", "mp4"), actor=account, now=NOW)
            job = services.start_checks(work, actor=account, now=NOW)
            db.session.commit()
            if job is not None:
                work_jobs.enqueue(job)  # runs at once in the tests
                db.session.expire_all()
            services.accept_declarations(
                work, version=services.DECLARATION_VERSION, title=work.title, actor=account, now=NOW
            )
            _seal(work)
            submission.submit(work, actor=account, now=NOW)
            db.session.commit()
        assert work.state is WorkState.SUBMITTED
        return work

    return make


@pytest.fixture
def make_expert(app, secretariat):
    """``make_expert(username, organisation="中国质量认证中心", credit_code="",
    province_code="11", categories=(), display_name=None, must_change_password=False)``:
    an expert made by the secretariat through experts.create_expert, committed; returns
    the User. The password is EXPERT_PASSWORD. create_expert makes the expert choose a
    new password at the first login; here they have done so already, unless
    ``must_change_password=True``."""

    def make(
        username: str,
        organisation: str = "中国质量认证中心",
        credit_code: str = "",
        province_code: str = "11",
        categories=(),
        display_name: str | None = None,
        must_change_password: bool = False,
    ):
        user = experts.create_expert(
            username=username,
            display_name=display_name or f"专家{username}",
            organisation=organisation,
            credit_code=credit_code,
            province_code=province_code,
            categories=categories,
            password=EXPERT_PASSWORD,
            actor=secretariat,
            now=NOW,
        )
        user.must_change_password = must_change_password
        db.session.commit()
        return user

    return make


@pytest.fixture
def screening_round(app, campaign, secretariat):
    """``screening_round(**settings)``: the campaign's next round (初评, then 复评 / 终评)
    made by rounds.create_round at AFTER, still being set up; committed. Settings as
    create_round takes them (name, scale_max, experts_per_work, entry_rule, blind,
    exclude_same_province, by_category, disagreement_points, criteria)."""

    def make(**settings):
        round_ = rounds.create_round(campaign, actor=secretariat, now=AFTER, **settings)
        db.session.commit()
        return round_

    return make
