"""Fixtures for the display screens: an event on Sep 14, 2024 (09:00–12:00 Beijing), its
province's staff, and screens made through the rules."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from experience.accounts.models import Role
from experience.core import clock
from experience.displays import screens
from experience.extensions import db
from experience.ratings.models import Display, Rating

#: the event's start (09:00 Beijing) and a moment during it
STARTS = clock.from_beijing(datetime(2024, 9, 14, 9, 0))
DURING = STARTS + timedelta(hours=1)


@pytest.fixture
def staff(make_user):
    return make_user(Role.PROVINCE, "11", username="bj-staff")


@pytest.fixture
def event(make_event, staff):
    return make_event("11", actor=staff, starts_at=STARTS, ends_at=STARTS + timedelta(hours=3))


@pytest.fixture
def make_screen(staff):
    def make(event, name="主屏"):
        screen = screens.create_screen(event, name, actor=staff, now=DURING)
        db.session.commit()
        return screen

    return make


@pytest.fixture
def screen(event, make_screen):
    return make_screen(event)


@pytest.fixture
def rate(make_guest):
    """``rate(event, comment="…", approved=True, display=Display.CATEGORY, **guest)``: a
    checked-in guest's rating, its comment approved or not."""

    def make(event, comment="服务很好", approved=True, display=Display.CATEGORY, **guest):
        g = make_guest(event, **guest)
        g.checked_in_at = DURING
        rating = Rating(
            guest_id=g.id,
            event_id=event.id,
            comment=comment,
            display=display,
            created_at=DURING,
            updated_at=DURING,
            comment_approved_at=DURING if approved else None,
        )
        db.session.add(rating)
        db.session.commit()
        return rating

    return make
