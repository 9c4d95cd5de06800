"""What the scanner's tests share: an event open for check-in now, its staff and a token.
(A test module that needs another event defines its own fixture of the same name.)"""

from datetime import timedelta

import pytest

from experience.accounts.models import Role
from experience.checkin import services
from experience.extensions import db


@pytest.fixture
def event(app, make_event):
    event = make_event(title="北京站体验活动")
    app.config["FROZEN_NOW"] = event.starts_at + timedelta(minutes=10)
    return event


@pytest.fixture
def staff(make_user):
    return make_user(Role.PROVINCE, "11", username="hotstaff")


@pytest.fixture
def token(app, event, staff):
    _, plain = services.create_api_token(event, "闸机", actor=staff, now=app.config["FROZEN_NOW"])
    db.session.commit()
    return plain
