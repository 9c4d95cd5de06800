"""The ratings tests' guest: checked in at the start of a Beijing event, rating an hour
after its end (the window is open)."""

from datetime import timedelta

import pytest

from experience.accounts.models import Role
from experience.checkin.services import check_in
from experience.extensions import db
from experience.guests.models import CheckInVia


@pytest.fixture
def setup(app, make_user, make_event, make_guest):
    staff = make_user(Role.PROVINCE, "11", username="bjstaff")
    event = make_event(actor=staff)
    guest = make_guest(event, name="王记者", phone="13800002222")
    check_in(guest.code, via=CheckInVia.PHONE, now=event.starts_at)
    db.session.commit()
    app.config["FROZEN_NOW"] = event.ends_at + timedelta(hours=1)
    return staff, event, guest
