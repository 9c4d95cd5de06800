"""Fixtures for works: a unit with its account, works made through the services, and
real photos and videos made in the test."""

from __future__ import annotations

import io
import itertools
from datetime import date

import pytest
from werkzeug.datastructures import FileStorage

from experience.extensions import db
from experience.works import services
from experience.works.models import WorkCategory
from tests.conftest import NOW
from tests.units.helpers import register_unit
from tests.works.media_files import MB, make_video, padded_to, random_jpeg

CAPTION = {
    "creator": "李摄影",
    "taken_at": "2024-06-18",
    "place": "北京市朝阳区康乐养老中心",
    "description": "护理员为老人讲解服务认证标志",
    "key_people": "无",
    "background": "养老服务认证体验日活动现场",
}


def work_fields(**overrides) -> dict:
    data = dict(
        title="认证让养老更安心",
        category=WorkCategory.PHOTO,
        completed_on=date(2024, 6, 20),
        contact_name="王小明",
        contact_phone="13812345678",
        summary="记录一家养老机构通过服务认证后的变化。",
    )
    data.update(overrides)
    return data


@pytest.fixture(autouse=True)
def before_the_deadline(app):
    """The works' pages run at NOW, before the 2024 campaign's works deadline (Aug 30): the
    deadline's own tests move the clock themselves."""
    app.config["FROZEN_NOW"] = NOW


@pytest.fixture
def unit(app):
    """A unit in Beijing (11) with its account."""
    return register_unit(province_code="11", credit_code="914403001922038216")


@pytest.fixture
def other_unit(app):
    """A unit in Zhejiang (33)."""
    return register_unit(province_code="33", credit_code="91440300MA5H0HLK5U", name="柯兴科技（深圳）有限公司")


@pytest.fixture
def make_work(app, campaign, unit):
    """``make_work(unit=None, **fields)``: a draft made through the service, committed."""

    def make(owner=None, **overrides):
        owner = owner or unit
        work = services.create_work(owner, campaign, actor=owner.account, now=NOW, **work_fields(**overrides))
        db.session.commit()
        return work

    return make


_sizes = itertools.count()


@pytest.fixture(scope="session")
def photo_bytes():
    """A real JPEG of exactly 5 MB (a noise picture padded with comment segments)."""
    return padded_to(random_jpeg((640, 480)), 5 * MB)


def upload(data: bytes, name: str) -> FileStorage:
    return FileStorage(io.BytesIO(data), name)


def stored(data: bytes, name: str, extension: str) -> services.Stored:
    """Bytes received as a form upload would be (nothing checked but the size)."""
    return services.receive(upload(data, name), extension, lambda size: None)


@pytest.fixture(scope="session")
def h264_video(tmp_path_factory):
    """A short H.264/AAC MP4 that browsers play as it is."""
    return make_video(tmp_path_factory.mktemp("video") / "h264.mp4", seconds=2).read_bytes()


@pytest.fixture(scope="session")
def hevc_video(tmp_path_factory):
    """A short HEVC MP4 as an iPhone makes (tagged hvc1): browsers need a copy."""
    return make_video(tmp_path_factory.mktemp("video") / "hevc.mp4", codec="libx265", seconds=2).read_bytes()
