"""Fixtures for resumable uploads: a unit's video work, a logged-in client, and a small
tus client speaking the protocol as tus-js-client does."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest

from experience.accounts.models import Role
from experience.core import clock
from experience.extensions import db
from experience.works import submission
from experience.works.models import WorkCategory
from tests.conftest import PASSWORD
from tests.works.conftest import (  # noqa: F401  (fixtures)
    before_the_deadline,
    h264_video,
    make_work,
    other_unit,
    unit,
)

TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"


def metadata(**values) -> str:
    return ",".join(f"{k} {base64.b64encode(str(v).encode()).decode()}" for k, v in values.items())


class Tus:
    """tus requests through a Flask test client."""

    def __init__(self, client, csrf_token: str | None = None):
        self.client = client
        self.headers = dict(TUS, **({"X-CSRFToken": csrf_token} if csrf_token else {}))

    def create(self, length: int, *, purpose="work-video", target="", filename="clip.mp4", **extra):
        headers = dict(self.headers, **{"Upload-Length": str(length)})
        headers["Upload-Metadata"] = metadata(filename=filename, filetype="video/mp4", purpose=purpose, target=target)
        headers.update(extra)
        return self.client.post("/transfers/", headers=headers)

    def head(self, url: str):
        return self.client.head(url, headers=self.headers)

    def patch(self, url: str, data: bytes, offset: int, **extra):
        headers = dict(self.headers, **{"Upload-Offset": str(offset), "Content-Type": OCTETS})
        headers.update(extra)
        return self.client.patch(url, data=data, headers=headers)

    def delete(self, url: str):
        return self.client.delete(url, headers=self.headers)

    def send(self, data: bytes, *, chunk: int, target: str, **create):
        """The whole file in chunks; returns the last answer and the upload's URL."""
        r = self.create(len(data), target=target, **create)
        assert r.status_code == 201, r.get_data(as_text=True)
        url = r.headers["Location"]
        for at in range(0, len(data), chunk):
            r = self.patch(url, data[at : at + chunk], at)
            assert r.status_code in (204, 422), r.get_data(as_text=True)
        return r, url


def login(app, username: str):
    client = app.test_client()
    assert client.post("/login", data={"username": username, "password": PASSWORD}).status_code == 302
    return client


@pytest.fixture
def video_work(make_work):  # noqa: F811
    return make_work(category=WorkCategory.VIDEO)


@pytest.fixture
def open_on_the_real_clock(app, campaign, unit, make_user):  # noqa: F811
    """A server in its own process runs on the real clock, long after the 2024 campaign's
    works deadline: the secretariat gives the unit an extension to a month from today."""
    secretariat = make_user(Role.SECRETARIAT, province=None)
    today = clock.beijing_today(clock.utcnow())
    submission.extend_deadline(
        unit, campaign, today + timedelta(days=30), "test", actor=secretariat, now=clock.utcnow()
    )
    db.session.commit()


@pytest.fixture
def tus(app, unit):  # noqa: F811
    return Tus(login(app, unit.credit_code))
