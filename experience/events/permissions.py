"""Who may see and change an event, and which events a list shows each role."""

from __future__ import annotations

import sqlalchemy as sa

from experience.accounts.models import Role, User
from experience.core.permissions import rule
from experience.events.models import Event, event_organizer
from experience.extensions import db


@rule("edit_event")
def _edit_event(user, event) -> bool:
    return _reaches(user, event)


@rule("view_event")
def _view_event(user, event) -> bool:
    return user.role is Role.HQ or _reaches(user, event)


@rule("assign_organizers")
def _assign_organizers(user, event) -> bool:
    """Province staff choose an event's organisers; organisers do not choose each other."""
    return user.role is Role.PROVINCE and _reaches(user, event)


@rule("organise_event")
def _organise_event(user, event) -> bool:
    """Whether the user can be one of the event's organisers."""
    return user.role is Role.ORGANIZER and user.province_code == event.province_code


def _reaches(user, event) -> bool:
    """Province staff reach every event of their province; organisers the ones assigned to them."""
    if user.role not in (Role.PROVINCE, Role.ORGANIZER) or event.province_code != user.province_code:
        return False
    if user.role is Role.ORGANIZER:
        return any(o.id == user.id for o in event.organizers)
    return True


def visible_events(user, stmt):
    """Narrow a select of events to those ``user`` may see."""
    if user.role is Role.HQ:
        return stmt
    if user.role is Role.PROVINCE:
        return stmt.where(Event.province_code == user.province_code)
    if user.role is Role.ORGANIZER:
        return stmt.where(
            Event.province_code == user.province_code,
            Event.id.in_(sa.select(event_organizer.c.event_id).where(event_organizer.c.user_id == user.id)),
        )
    return stmt.where(sa.false())


def organizer_candidates(event) -> list[User]:
    """The active organiser accounts of the event's province, who may be assigned to it."""
    return db.session.scalars(
        sa.select(User)
        .where(User.role == Role.ORGANIZER, User.province_code == event.province_code, User.active.is_(True))
        .order_by(User.username)
    ).all()
